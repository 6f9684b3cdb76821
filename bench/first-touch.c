/*
 * What a first write to fresh anonymous memory costs on this machine, with small pages and
 * with transparent huge pages (bench/results/2026-11-30-mock-vs-bare-hyper.md, "What keeping
 * every order costs on this VM"). A process whose memory only grows, like the mock under
 * bench/mock-vs-bare-wrk.sh, pays this for every byte it keeps. On a virtual machine the figure
 * depends on whether the guest used that memory recently: run it twice in a row, or with a larger
 * size, to see both.
 *
 * Usage:  gcc -O2 -o /tmp/first-touch bench/first-touch.c
 *         /tmp/first-touch 1024          # 1 GiB, small pages
 *         /tmp/first-touch 1024 huge     # 1 GiB, madvise(MADV_HUGEPAGE) first
 *
 * Prints the first pass (one byte written per 4 KiB: the kernel zeroes and maps each page)
 * and a second pass over the same memory (memset: already mapped), in ns per byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MIB [huge]\n", argv[0]);
        return 2;
    }
    size_t bytes = (size_t)atol(argv[1]) << 20;
    int huge = argc > 2 && strcmp(argv[2], "huge") == 0;
    char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    if (huge && madvise(p, bytes, MADV_HUGEPAGE) != 0) {
        perror("madvise(MADV_HUGEPAGE)");
        return 1;
    }
    double start = seconds();
    for (size_t i = 0; i < bytes; i += 4096)
        p[i] = 1;
    double first = seconds() - start;
    start = seconds();
    memset(p, 2, bytes);
    double second = seconds() - start;
    printf("%s pages: first touch %.2f ns/byte (%.2f us per 4 KiB), second pass %.3f ns/byte\n",
           huge ? "huge" : "small", first * 1e9 / bytes, first * 1e6 / (bytes / 4096),
           second * 1e9 / bytes);
    return 0;
}

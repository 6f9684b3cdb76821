//! What a process tree holds right now, read from `/proc`: resident memory, CPU time, open
//! file descriptors, threads.
//!
//! In: a process group (the engine's: [`crate::process::ChildGuard`] starts every child in
//! its own) or the runner itself, and a directory. Out: a [`Usage`] and a byte count, which
//! the pipeline publishes with every scrape as `cowload_engine_*` and `cowload_runner_*`
//! series.
//!
//! Why from `/proc` and per group: an engine's own metrics cannot be trusted to show its
//! leaks (a Node.js engine reports its heap, not what the kernel holds for it), and an engine
//! is often a shell or package manager in front of the real process, so the whole group is
//! summed. Reading is a few small files per process, cheap enough for every block. On a
//! system without `/proc` nothing is read and the series are absent (a bar on them has no
//! data and fails).

use std::path::Path;

/// What a process tree holds at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Resident memory, summed over the processes.
    pub rss_bytes: u64,
    /// User and system CPU time used so far, summed.
    pub cpu_seconds: f64,
    /// Open file descriptors (sockets included), summed.
    pub open_fds: u64,
    /// Threads, summed.
    pub threads: u64,
    /// Processes in the tree.
    pub processes: u64,
}

/// Every live process whose process group is `pgid`, summed; `None` when there is none
/// (the group has exited) or `/proc` cannot be read.
pub fn of_group(pgid: u32) -> Option<Usage> {
    imp::of_group(pgid)
}

/// The runner itself (its threads included).
pub fn of_self() -> Option<Usage> {
    imp::of_self()
}

/// Bytes of every regular file under `dir`, symlinks not followed; 0 for a missing directory.
/// A file that vanishes while it is read (an engine rewriting its state) is skipped.
pub fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file() {
                total += meta.len();
            }
        }
    }
    total
}

#[cfg(target_os = "linux")]
mod imp {
    use procfs::process::{all_processes, Process};

    use super::Usage;

    pub(super) fn of_group(pgid: u32) -> Option<Usage> {
        let pgid = i32::try_from(pgid).ok()?;
        let mut usage = Usage::default();
        for process in all_processes().ok()?.flatten() {
            // A process may exit between the listing and the read: skip it.
            let Ok(stat) = process.stat() else { continue };
            // A zombie holds nothing but its exit status.
            if stat.pgrp == pgid && stat.state != 'Z' {
                add(&mut usage, &process, &stat);
            }
        }
        (usage.processes > 0).then_some(usage)
    }

    pub(super) fn of_self() -> Option<Usage> {
        let process = Process::myself().ok()?;
        let stat = process.stat().ok()?;
        let mut usage = Usage::default();
        add(&mut usage, &process, &stat);
        Some(usage)
    }

    fn add(usage: &mut Usage, process: &Process, stat: &procfs::process::Stat) {
        let ticks = procfs::ticks_per_second() as f64;
        usage.rss_bytes += stat.rss * procfs::page_size();
        usage.cpu_seconds += (stat.utime + stat.stime) as f64 / ticks;
        usage.open_fds += process.fd_count().unwrap_or(0) as u64;
        usage.threads += u64::try_from(stat.num_threads).unwrap_or(0);
        usage.processes += 1;
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::Usage;

    pub(super) fn of_group(_pgid: u32) -> Option<Usage> {
        None
    }

    pub(super) fn of_self() -> Option<Usage> {
        None
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_runner_reads_itself_and_a_group_it_started() {
        let me = of_self().expect("/proc/self is readable");
        assert!(me.rss_bytes > 1 << 20, "{me:?}");
        assert!(
            me.threads >= 1 && me.open_fds >= 3 && me.processes == 1,
            "{me:?}"
        );

        // A group of two sleeping processes: a shell and its child.
        let mut child = std::process::Command::new("sh");
        child.args(["-c", "sleep 30 & sleep 30; wait"]);
        std::os::unix::process::CommandExt::process_group(&mut child, 0);
        let mut child = child.spawn().unwrap();
        let pgid = child.id();
        let mut group = None;
        for _ in 0..100 {
            group = of_group(pgid).filter(|u| u.processes >= 3);
            if group.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pgid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = child.wait();
        let group = group.expect("the shell and both sleeps are seen");
        assert_eq!(group.processes, 3);
        assert!(group.rss_bytes > 0 && group.threads >= 3, "{group:?}");
        // Killed children are reaped by init, not by us; until then they are zombies.
        let gone = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            of_group(pgid).is_none()
        });
        assert!(gone, "a gone group reads as nothing");
    }

    #[test]
    fn a_directory_counts_its_files_recursively() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), [0u8; 100]).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b"), [0u8; 23]).unwrap();
        assert_eq!(dir_bytes(dir.path()), 123);
        assert_eq!(dir_bytes(&dir.path().join("missing")), 0);
    }
}

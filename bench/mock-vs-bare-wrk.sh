#!/usr/bin/env bash
# The mock orderbook's POST /api/v1/orders rate against a bare hyper server (the example
# mock-orderbook/examples/bare.rs: reads the body, answers 201) on the same machine, with the
# same client (wrk: 1 thread, 64 connections, a unique valid EIP-1271 order per request).
# Both servers run two tokio workers on 127.0.0.1. Rounds alternate bare, mock, bare, mock…
# so machine load hits both alike; the script prints each round, then the medians, the ratio
# mock/bare, and each server's CPU time per request (from /proc, user + system).
#
# Usage, from the repository root:  bench/mock-vs-bare-wrk.sh [ROUNDS] [SECONDS]   (default 5 4)
#                                   MOCK_BIN=path/to/mock-orderbook bench/mock-vs-bare-wrk.sh
# Needs wrk (apt-get install -y wrk). Builds both servers with `cargo build --release`.
set -euo pipefail
rounds=${1:-5}
seconds=${2:-4}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
command -v wrk >/dev/null || { echo "wrk not found (apt-get install -y wrk)" >&2; exit 2; }
# Both servers with fat LTO and one codegen unit (as the shared script builds its bare server);
# the workspace's release profile has neither, to keep `cargo install` fast.
(cd "$root" && CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
  cargo build --quiet --release -p mock-orderbook --bin mock-orderbook --example bare)
# MOCK_BIN measures another build of the mock (e.g. an older commit's) against the same bare server.
mock_bin=${MOCK_BIN:-$root/target/release/mock-orderbook}
bare_bin=$root/target/release/examples/bare
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mock_port=$(port)
bare_port=$(port)
"$mock_bin" --port "$mock_port" --seed 1 >/dev/null 2>&1 &
mock_pid=$!
WORKERS=2 "$bare_bin" "127.0.0.1:$bare_port" >/dev/null 2>&1 &
bare_pid=$!
trap 'kill "$mock_pid" "$bare_pid" 2>/dev/null || true' EXIT
sleep 1
# A server that could not bind its port has exited by now; say so instead of measuring nothing.
kill -0 "$mock_pid" 2>/dev/null || { echo "the mock did not start on port $mock_port" >&2; exit 1; }
kill -0 "$bare_pid" 2>/dev/null || { echo "the bare server did not start on port $bare_port" >&2; exit 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_s=$(getconf CLK_TCK)
phase=0
results=()
for round in $(seq 1 "$rounds"); do
  for who in bare mock; do
    if [ "$who" = mock ]; then pid=$mock_pid; p=$mock_port; else pid=$bare_pid; p=$bare_port; fi
    phase=$((phase + 1))
    before=$(cpu_ticks "$pid")
    out=$(PHASE=$phase wrk -t1 -c64 -d"${seconds}s" -s "$here/unique-order.lua" \
      "http://127.0.0.1:$p/api/v1/orders" 2>&1)
    after=$(cpu_ticks "$pid")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
    us=$(python3 -c "print(round(($after - $before) * 1e6 / $ticks_per_s / max($reqs, 1), 2))")
    printf 'round %d %-4s %9.0f POST/s  %6.2f us CPU/request  non-2xx %s\n' \
      "$round" "$who" "$rps" "$us" "${non2xx:-0}"
    results+=("$who $rps $us ${non2xx:-0}")
  done
done
printf '%s\n' "${results[@]}" | python3 -c '
import statistics, sys
rows = [line.split() for line in sys.stdin if line.strip()]
def col(who, i):
    return [float(r[i]) for r in rows if r[0] == who]
bare, mock = statistics.median(col("bare", 1)), statistics.median(col("mock", 1))
ratios = [m / b for m, b in zip(col("mock", 1), col("bare", 1))]
print(f"median: mock {mock:.0f} POST/s, bare {bare:.0f} POST/s, ratio {mock / bare:.2f} "
      f"(per round {min(ratios):.2f}-{max(ratios):.2f})")
mock_us, bare_us = statistics.median(col("mock", 2)), statistics.median(col("bare", 2))
failed = sum(int(x) for x in col("mock", 3))
print(f"median CPU per request: mock {mock_us:.2f} us, bare {bare_us:.2f} us; "
      f"non-2xx from the mock: {failed}")
'

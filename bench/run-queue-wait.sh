#!/usr/bin/env bash
# Where the time of a server and of wrk goes during the wrk load of bench/mock-vs-bare-wrk.sh:
# for each thread, the cores it ran on average and the time it was runnable but waiting for a
# CPU (/proc/PID/task/TID/schedstat), and the cores the machine left idle (/proc/stat), over
# 3 s of a 5 s wrk run that follows a 2 s warm-up. On a 2-core machine the server's workers and
# wrk are three busy threads on two CPUs; this shows whether a CPU idles while one of them waits.
#
# Usage, from the repository root, after bench/mock-vs-bare-wrk.sh has built both servers:
#   bench/run-queue-wait.sh mock [path/to/mock-orderbook]
#   bench/run-queue-wait.sh bare [path/to/bare]
# Needs wrk. Loopback only.
set -euo pipefail
who=${1:-}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
case "$who" in
  mock) bin=${2:-$root/target/release/mock-orderbook} ;;
  bare) bin=${2:-$root/target/release/examples/bare} ;;
  *) echo "usage: bench/run-queue-wait.sh mock|bare [binary]" >&2; exit 2 ;;
esac
[ -x "$bin" ] || { echo "$bin not built (run bench/mock-vs-bare-wrk.sh once)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk not found (apt-get install -y wrk)" >&2; exit 2; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if [ "$who" = mock ]; then
  "$bin" --port "$port" --seed 1 >/dev/null 2>&1 &
else
  WORKERS=2 "$bin" "127.0.0.1:$port" >/dev/null 2>&1 &
fi
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
sleep 1
kill -0 "$server" 2>/dev/null || { echo "the $who server did not start on port $port" >&2; exit 1; }
url="http://127.0.0.1:$port/api/v1/orders"
PHASE=1 wrk -t1 -c64 -d2s -s "$here/unique-order.lua" "$url" >/dev/null 2>&1
out=$(mktemp)
PHASE=2 wrk -t1 -c64 -d5s -s "$here/unique-order.lua" "$url" >"$out" 2>&1 &
client=$!
sleep 0.5
# One line per thread: pid/tid, name, ns on CPU, ns waiting on a run queue, time slices.
threads() {
  for t in /proc/"$server"/task/* /proc/"$client"/task/*; do
    echo "$(basename "$(dirname "$(dirname "$t")")")/$(basename "$t") $(cat "$t/comm") $(cat "$t/schedstat")"
  done | sort
}
idle() { awk '/^cpu / {print $5 + $6}' /proc/stat; }
ticks_per_s=$(getconf CLK_TCK)
before=$(threads); idle_before=$(idle)
sleep 3
after=$(threads); idle_after=$(idle)
wait "$client"
awk '/Requests\/sec/ {print "wrk: " $2 " requests/s"}' "$out"
rm -f "$out"
echo "idle: $(python3 -c "print(round(($idle_after - $idle_before) / $ticks_per_s / 3, 2))") cores"
join <(echo "$before") <(echo "$after") | awk '{
  run = ($7 - $3) / 3e9; wait = ($8 - $4) / 3e9
  if (run > 0.01) printf "%-12s %-16s on CPU %.2f cores, waiting for a CPU %.2f\n", $1, $2, run, wait
}'

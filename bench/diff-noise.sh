#!/usr/bin/env bash
# Self-noise and power of `runner diff` on a busy machine (issue #14; figures in
# docs/benchmarks.md, "runner diff: self-noise and power").
#
#   bench/diff-noise.sh collect OUT ROUNDS REPEATS [SLOW_COST]
#   bench/diff-noise.sh judge OUT
#
# collect: ROUNDS rounds, each three sets of REPEATS runs of scenarios/baseline.yaml
#   (OUT/a-I, OUT/b-I: the reference engine as built; OUT/s-I: the same engine with
#   REFERENCE_PER_EVENT_COST=SLOW_COST, default 2500us), every run with one unrelated
#   busy process (`yes > /dev/null`) beside it, as on a shared CI runner. A set is a
#   repeat directory (OUT/a-I/1..REPEATS), the layout `runner --repeat` writes.
#   Rounds interleave the three sets so slow drift of the machine hits all alike.
#   Stops starting new rounds after $DEADLINE (a `date -d` string) when set.
# judge: for every complete round I, `runner diff OUT/a-I OUT/b-I` (self-noise:
#   the same build on both sides) and `runner diff OUT/a-I OUT/s-I` (power), and
#   prints one line per pair with the flagged readings' count.
#
# Uses target/debug/runner (build it first: cargo build -p runner -p reference-engine).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNNER=${RUNNER:-target/debug/runner}
SCENARIO=${SCENARIO:-scenarios/baseline.yaml}

hog_pid=""
stop_hog() { if [ -n "$hog_pid" ]; then kill "$hog_pid" 2>/dev/null || true; wait "$hog_pid" 2>/dev/null || true; hog_pid=""; fi; }
trap stop_hog EXIT
trap 'stop_hog; exit 130' INT TERM

one_run() { # DIR [COST] -> the runner's exit code
  local dir=$1 cost=${2:-} code=0
  if [ -n "$cost" ]; then
    REFERENCE_PER_EVENT_COST=$cost "$RUNNER" "$SCENARIO" --out "$dir" >"$dir.log" 2>&1 || code=$?
  else
    "$RUNNER" "$SCENARIO" --out "$dir" >"$dir.log" 2>&1 || code=$?
  fi
  return "$code"
}

one_set() { # DIR REPEATS [COST]
  local dir=$1 repeats=$2 cost=${3:-}
  mkdir -p "$dir"
  for i in $(seq 1 "$repeats"); do
    local start=$SECONDS code=0
    one_run "$dir/$i" "$cost" || code=$?
    # An infrastructure failure or interruption is not a measurement: keep it aside, run again once.
    if [ "$code" -ge 2 ]; then
      echo "$(date -u +%H:%M:%S) $dir/$i exit $code: kept as $dir/$i.failed, running it again"
      mv "$dir/$i" "$dir/$i.failed"; mv "$dir/$i.log" "$dir/$i.failed.log"
      code=0; one_run "$dir/$i" "$cost" || code=$?
    fi
    echo "$(date -u +%H:%M:%S) $dir/$i $((SECONDS - start))s exit $code"
  done
}

collect() {
  local out=$1 rounds=$2 repeats=$3 cost=${4:-2500us}
  mkdir -p "$out"
  yes >/dev/null &
  hog_pid=$!
  for r in $(seq 1 "$rounds"); do
    if [ -n "${DEADLINE:-}" ] && [ "$(date +%s)" -ge "$(date -d "$DEADLINE" +%s)" ]; then
      echo "deadline $DEADLINE reached: stopping after $((r - 1)) rounds"; break
    fi
    one_set "$out/a-$r" "$repeats"
    one_set "$out/s-$r" "$repeats" "$cost"
    one_set "$out/b-$r" "$repeats"
    touch "$out/round-$r.done"
  done
  stop_hog
}

flagged() { # BASE HEAD -> "regressions improvements" from the JSON diff
  "$RUNNER" diff "$1" "$2" --format json | python3 -c '
import json, sys
d = json.load(sys.stdin)
rows = d["rows"]
bad = [r["metric"] for r in rows if r["change"] in ("worse", "now_fails")]
good = [r["metric"] for r in rows if r["change"] in ("better", "now_holds")]
print(len(bad), len(good), "; ".join(bad[:6]))'
}

judge() {
  local out=$1 r=1 noisy=0 caught=0 pairs=0
  while [ -f "$out/round-$r.done" ]; do
    read -r nb ng names < <(flagged "$out/a-$r" "$out/b-$r")
    echo "round $r self-noise: $nb regressions, $ng improvements"
    [ $((nb + ng)) -gt 0 ] && noisy=$((noisy + 1))
    read -r pb pg pnames < <(flagged "$out/a-$r" "$out/s-$r")
    echo "round $r power:      $pb regressions, $pg improvements: $pnames"
    [ "$pb" -gt 0 ] && caught=$((caught + 1))
    pairs=$((pairs + 1)); r=$((r + 1))
  done
  echo "pairs: $pairs; self-noise pairs with a flagged reading: $noisy; power pairs with a regression: $caught"
}

case "${1:-}" in
  collect) shift; collect "$@" ;;
  judge) shift; judge "$@" ;;
  *) sed -n 2,20p "$0"; exit 2 ;;
esac

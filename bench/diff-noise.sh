#!/usr/bin/env bash
# Self-noise and power of `runner diff` on a busy machine (issue #14; figures in
# docs/performance.md; method in bench/README.md, every round in bench/results/).
#
#   bench/diff-noise.sh collect OUT ROUNDS REPEATS [SLOW_COST]
#   bench/diff-noise.sh judge OUT [K]
#   bench/diff-noise.sh spread OUT
#
# collect: ROUNDS rounds, each three sets of REPEATS runs of scenarios/baseline.yaml
#   (OUT/a-I, OUT/b-I: the reference engine as built; OUT/s-I: the same engine with
#   REFERENCE_PER_EVENT_COST=SLOW_COST, default 2500us), every run with one unrelated
#   busy process (`yes > /dev/null`) beside it, as on a shared CI runner. A set is a
#   repeat directory (OUT/a-I/1..REPEATS), the layout `runner --repeat` writes; the
#   runs of a round are interleaved (a-I/1, s-I/1, b-I/1, a-I/2, …) so that slow
#   drift of the machine's load hits all three sets alike.
#   With SEQUENTIAL=1, each set runs its repeats back to back instead (a-I/1..N,
#   then s-I, then b-I), as two `runner --repeat N` jobs would.
#   Stops starting new rounds after $DEADLINE (a `date -d` string) when set.
# judge: for every complete round I, `runner diff OUT/a-I OUT/b-I` (self-noise:
#   the same build on both sides) and `runner diff OUT/a-I OUT/s-I` (power), and
#   prints one line per pair with the flagged readings' count. With K, only the
#   first K repeats of every set are compared (one collection, several repeat counts).
#   DIFF_ARGS (default `--paired`: the runs of a round are interleaved, so run i
#   of one set was made beside run i of the other) are passed to `runner diff`;
#   DIFF_ARGS= compares the sets as independent (Welch), as for SEQUENTIAL=1.
# spread: the run-to-run spread of the event→order latencies in the same-build
#   sets (pooled within-set coefficient of variation) and, from it, the smallest
#   change Welch's test on N runs a side detects with 80 % power at the primary
#   family's level (docs/ci.md).
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

one_repeat() { # DIR I [COST]: run I of set DIR
  local dir=$1 i=$2 cost=${3:-} start=$SECONDS code=0
  mkdir -p "$dir"
  one_run "$dir/$i" "$cost" || code=$?
  # An infrastructure failure or interruption is not a measurement: keep it aside, run again once.
  if [ "$code" -ge 2 ]; then
    echo "$(date -u +%H:%M:%S) $dir/$i exit $code: kept as $dir/$i.failed, running it again"
    mv "$dir/$i" "$dir/$i.failed"; mv "$dir/$i.log" "$dir/$i.failed.log"
    code=0; one_run "$dir/$i" "$cost" || code=$?
  fi
  echo "$(date -u +%H:%M:%S) $dir/$i $((SECONDS - start))s exit $code"
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
    # Interleaved (a1 s1 b1 a2 s2 b2 …), as docs/ci.md recommends for CI: a burst of
    # load on the machine then lands on every set, not on one side only.
    if [ "${SEQUENTIAL:-0}" = 1 ]; then
      for i in $(seq 1 "$repeats"); do one_repeat "$out/a-$r" "$i"; done
      for i in $(seq 1 "$repeats"); do one_repeat "$out/s-$r" "$i" "$cost"; done
      for i in $(seq 1 "$repeats"); do one_repeat "$out/b-$r" "$i"; done
    else
      for i in $(seq 1 "$repeats"); do
        one_repeat "$out/a-$r" "$i"
        one_repeat "$out/s-$r" "$i" "$cost"
        one_repeat "$out/b-$r" "$i"
      done
    fi
    touch "$out/round-$r.done"
  done
  stop_hog
}

flagged() { # BASE HEAD -> "regressions improvements" from the JSON diff
  # shellcheck disable=SC2086 # DIFF_ARGS is a list of flags
  "$RUNNER" diff "$1" "$2" --format json ${DIFF_ARGS-"--paired"} | python3 -c '
import json, sys
d = json.load(sys.stdin)
rows = d["rows"]
bad = [r["metric"] for r in rows if r["change"] in ("worse", "now_fails")]
good = [r["metric"] for r in rows if r["change"] in ("better", "now_holds")]
print(len(bad), len(good), "; ".join(bad[:6]))'
}

# The first K repeats of set DIR as a repeat directory of its own (symbolic links).
first_k() { # DIR K -> path
  local dir=$1 k=$2 view
  view="$(dirname "$dir")/.first-$k/$(basename "$dir")"
  mkdir -p "$view"
  for i in $(seq 1 "$k"); do ln -sfn "$(cd "$dir/$i" && pwd)" "$view/$i"; done
  echo "$view"
}

judge() { # OUT [K]: K repeats a side (default: all)
  local out=$1 k=${2:-} r=1 noisy=0 caught=0 pairs=0 a b s
  while [ -f "$out/round-$r.done" ]; do
    a=$out/a-$r; b=$out/b-$r; s=$out/s-$r
    if [ -n "$k" ]; then a=$(first_k "$a" "$k"); b=$(first_k "$b" "$k"); s=$(first_k "$s" "$k"); fi
    read -r nb ng names < <(flagged "$a" "$b")
    echo "round $r self-noise: $nb regressions, $ng improvements${names:+: $names}"
    [ $((nb + ng)) -gt 0 ] && noisy=$((noisy + 1))
    read -r pb pg pnames < <(flagged "$a" "$s")
    echo "round $r power:      $pb regressions, $pg improvements${pnames:+: $pnames}"
    [ "$pb" -gt 0 ] && caught=$((caught + 1))
    pairs=$((pairs + 1)); r=$((r + 1))
  done
  echo "runner diff ${DIFF_ARGS-"--paired"}; repeats a side: ${k:-all}; pairs: $pairs; self-noise pairs with a flagged reading: $noisy; power pairs with a regression: $caught"
}

spread() {
  local out=$1
  python3 - "$out" <<'PY'
import glob, json, math, os, sys

out = sys.argv[1]
# runner diff: the four primary readings (event→order p50, p99 per kind) are one
# Benjamini–Hochberg family at a false discovery rate of 0.04.
FAMILY, RATE = 4, 0.04

def reading(o, kind, q):
    return o["mock"]["events"][kind]["latency_seconds"][q]

sets = sorted(d for d in glob.glob(os.path.join(out, "[ab]-*")) if os.path.isdir(d))
names = [(k, q) for k in ("twap", "ethflow") for q in ("p50", "p99")]
pooled = {}
for kind, q in names:
    ss, dof, means = 0.0, 0, []
    for d in sets:
        vals = []
        for f in sorted(glob.glob(os.path.join(d, "[0-9]*", "outcome.json"))):
            o = json.load(open(f))
            if o["status"] in ("pass", "fail"):
                vals.append(reading(o, kind, q))
        if len(vals) < 2:
            continue
        mu = sum(vals) / len(vals)
        ss += sum((v - mu) ** 2 for v in vals)
        dof += len(vals) - 1
        means.append(mu)
    grand = sum(means) / len(means)
    pooled[(kind, q)] = (math.sqrt(ss / dof) / grand, grand, dof, len(means))

def t_cdf(x, df, steps=4000):
    # Student's t CDF by Simpson's rule on the density from 0 to |x|.
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    f = lambda t: c * (1 + t * t / df) ** (-(df + 1) / 2)
    a = abs(x); h = a / steps
    s = f(0) + f(a) + sum((4 if i % 2 else 2) * f(i * h) for i in range(1, steps))
    half = s * h / 3
    return 0.5 + half if x >= 0 else 0.5 - half

def t_quantile(p, df):
    lo, hi = -200.0, 200.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if t_cdf(mid, df) < p: lo = mid
        else: hi = mid
    return (lo + hi) / 2

def detectable(cv, n, alpha, power=0.8):
    df = 2 * n - 2
    return (t_quantile(1 - alpha / 2, df) + t_quantile(power, df)) * cv * math.sqrt(2 / n)

print(f"same-build sets with two complete runs or more: {pooled[names[0]][3]}")
print("reading | mean | run-to-run CV (pooled within sets) | degrees of freedom")
for (kind, q), (cv, grand, dof, _) in pooled.items():
    print(f"event→order {q} ({kind}) | {grand*1000:.1f} ms | {cv*100:.1f} % | {dof}")
print()
for k in (1, 2):
    alpha = RATE * k / FAMILY
    print(f"smallest change detected with 80 % power by Welch's test at α = {RATE}·{k}/{FAMILY} = {alpha:.3f} "
          f"(Benjamini–Hochberg when {k} of the {FAMILY} primary readings moved); the 5 % practical threshold applies on top:")
    print("reading | " + " | ".join(f"{n} runs/side" for n in (2, 3, 5, 8, 10)))
    for (kind, q), (cv, *_rest) in pooled.items():
        cells = " | ".join(f"{detectable(cv, n, alpha)*100:.0f} %" for n in (2, 3, 5, 8, 10))
        print(f"event→order {q} ({kind}) | {cells}")
    print()
PY
}

case "${1:-}" in
  collect) shift; collect "$@" ;;
  judge) shift; judge "$@" ;;
  spread) shift; spread "$@" ;;
  *) sed -n 2,24p "$0"; exit 2 ;;
esac

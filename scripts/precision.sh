#!/usr/bin/env bash
# precision.sh — how much the capacity ratio of 2 workers to 1 moves from run to run.
#
# Runs `bench run scenarios/cpu.yaml` RUNS times (default 5; WORKERS=1,2 to measure only those) and prints each run's
# ratio capacity(2)/capacity(1) with the interval the run printed, then the median, the largest
# distance of a run from it, and how many runs' intervals contain it. Each run's line also says how
# many steps were noisy or p99-fell, and how slowly an idle core woke just before it
# (scripts/wakeup, the median round trip after a pause). With BASE=<git revision> it
# also builds bench at that revision and alternates the two binaries run by run, so that both see
# the same machine: the before and after of a change to the measurement, in one sitting.
#
#   scripts/precision.sh                 # 5 runs of the working tree's bench
#   RUNS=5 BASE=ec3240c scripts/precision.sh
#   KEEP=/tmp/runs scripts/precision.sh  # keep each run's results folder there
#   BASE_FLAGS=--pin=0 scripts/precision.sh       # the same bench with and without a flag, alternated
#
# Measure on a quiet machine: bench flags what other processes do, but the script's point is the
# spread of quiet runs. Each run takes about two minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-5}
scenario=${SCENARIO:-scenarios/cpu.yaml}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
keep=${KEEP:-}
[ -z "$keep" ] || mkdir -p "$keep"

go build -o "$tmp/bench-new" ./cmd/bench
go build -o "$tmp/wakeup" ./scripts/wakeup
bins=(new)
if [ -n "${BASE:-}" ]; then
  mkdir "$tmp/base"
  git archive "$BASE" | tar -x -C "$tmp/base"
  (cd "$tmp/base" && go build -o "$tmp/bench-base" ./cmd/bench)
  bins=(base new)
elif [ -n "${BASE_FLAGS:-}" ]; then
  cp "$tmp/bench-new" "$tmp/bench-base"
  bins=(base new)
fi
# flags BIN: the extra flags of that side (BASE_FLAGS for base).
flags() { [ "$1" = base ] && echo "${BASE_FLAGS:-}" || true; }

# ratio DIR: capacity(2)/capacity(1) and, where summary.csv has them, the speedup interval.
ratio() {
  awk -F, '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    { cap[$col["workers"]] = $col["capacity_rps"]
      if ("speedup_lo" in col && $col["workers"] == 2) { lo = $col["speedup_lo"]; hi = $col["speedup_hi"] } }
    END { if (cap[1] > 0) printf "%.3f %s %s %.1f %.1f\n", cap[2] / cap[1], (lo == "" ? "-" : lo), (hi == "" ? "-" : hi), cap[1], cap[2] }
  ' "$1/summary.csv"
}

for i in $(seq "$runs"); do
  for b in "${bins[@]}"; do
    out="$tmp/$b-$i"
    # How slowly idle cores wake just before the run (scripts/wakeup): the host's state.
    wake=$("$tmp/wakeup" -n 1000 | sed -n 's/.*, after [^ ]* \([^ ]*\) .*/\1/p')
    start=$(date +%s)
    # shellcheck disable=SC2046 # BASE_FLAGS is a list of flags
    "$tmp/bench-$b" run "$scenario" ${WORKERS:+--workers "$WORKERS"} $(flags "$b") --out "$out" --quiet >/dev/null 2>"$tmp/$b-$i.err" || true
    took=$(($(date +%s) - start))
    [ -z "$keep" ] || cp -r "$out" "$keep/"
    if [ -f "$out/summary.csv" ]; then
      read -r r lo hi c1 c2 < <(ratio "$out")
      noisy=$(grep -c noisy "$out/summary.csv" || true)
      fell=$(grep -c p99-fell "$out/summary.csv" || true)
      echo "$b $i $r $lo $hi $noisy" >>"$tmp/results"
      printf '%-4s run %d: 2/1 = %s  interval %s–%s  (%s and %s rps)  noisy steps %s  p99-fell %s  %ds  idle wake-up %s\n' "$b" "$i" "$r" "$lo" "$hi" "$c1" "$c2" "$noisy" "$fell" "$took" "$wake"
    else
      printf '%-4s run %d: no summary (%s)\n' "$b" "$i" "$(tail -n 1 "$tmp/$b-$i.err")"
    fi
  done
done

echo
for b in "${bins[@]}"; do
  awk -v b="$b" '
    $1 == b { r[++n] = $3; lo[n] = $4; hi[n] = $5 }
    END {
      if (n == 0) exit
      for (i = 1; i <= n; i++) s[i] = r[i]
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (s[j] < s[i]) { t = s[i]; s[i] = s[j]; s[j] = t }
      med = (n % 2) ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2
      dev = 0; inside = 0; known = 0
      for (i = 1; i <= n; i++) {
        d = r[i] - med; if (d < 0) d = -d; if (d > dev) dev = d
        if (lo[i] != "-") { known++; if (lo[i] <= med && med <= (hi[i] == "-" ? 1e9 : hi[i])) inside++ }
      }
      printf "%-4s %d runs: 2/1 from %.3f to %.3f, median %.3f, largest distance from it ±%.3f", b, n, s[1], s[n], med, dev
      if (known > 0) printf "; %d of %d intervals contain the median", inside, known
      printf "\n"
    }' "$tmp/results"
done

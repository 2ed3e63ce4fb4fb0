#!/usr/bin/env bash
# pinning.sh — two workers' tail latency below their capacity, pinned to a core each and not.
#
# Runs `bench run scenarios/cpu.yaml --workers 2` at fixed rates below two workers' capacity
# (RATES, default 650,700,750 rps; 6 s steps), ROUNDS times (default 4), alternating --pin 0 (the
# kernel places the workers) and --pin 1 (worker 1 on the first core, worker 2 on the next), so
# both see the same machine. It prints each run's p99 per rate, then per side the range of p99
# over all its steps and the ratio of the medians. On a 2-core VM whose idle cores wake slowly,
# unpinned workers' p99 at these rates swung between 24 and 600 ms from run to run; pinned it
# stayed within 6–24 ms, over six rounds (docs/findings.md).
#
#   scripts/pinning.sh
#   ROUNDS=2 RATES=600,800 scripts/pinning.sh
#
# Measure on a quiet machine. Each round takes about 40 s.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${ROUNDS:-4}
rates=${RATES:-650,700,750}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/bench" ./cmd/bench

for i in $(seq "$rounds"); do
  for pin in 0 1; do
    out="$tmp/pin$pin-$i"
    "$tmp/bench" run scenarios/cpu.yaml --workers 2 --rates "$rates" --duration 6s --warmup 1s \
      --pin "$pin" --raw=false --out "$out" --quiet >/dev/null 2>"$out.err" || true
    if [ ! -f "$out/summary.csv" ]; then
      printf 'pin %s run %d: no summary (%s)\n' "$pin" "$i" "$(tail -n 1 "$out.err")"
      continue
    fi
    # rate and p99 of each step, by column name
    awk -F, -v pin="$pin" -v run="$i" '
      NR == 1 { for (c = 1; c <= NF; c++) col[$c] = c; next }
      { line = line sprintf("  %s rps %s ms", $col["offered_rps"], $col["p99_ms"]); print pin, $col["p99_ms"] >> "'"$tmp/p99"'" }
      END { printf "pin %s run %d: p99%s\n", pin, run, line }
    ' "$out/summary.csv"
  done
done

echo
awk '
  { v[$1, ++n[$1]] = $2 }
  END {
    for (pin = 0; pin <= 1; pin++) {
      k = n[pin]; if (k == 0) continue
      for (i = 1; i <= k; i++) s[i] = v[pin, i]
      for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (s[j] < s[i]) { t = s[i]; s[i] = s[j]; s[j] = t }
      med[pin] = (k % 2) ? s[(k + 1) / 2] : (s[k / 2] + s[k / 2 + 1]) / 2
      printf "pin %d: %d steps, p99 from %.1f to %.1f ms, median %.1f ms\n", pin, k, s[1], s[k], med[pin]
    }
    if (med[1] > 0) printf "median p99 unpinned / pinned: %.1f×\n", med[0] / med[1]
  }' "$tmp/p99"

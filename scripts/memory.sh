#!/usr/bin/env bash
# memory.sh — is bench's memory flat under sustained load? Runs `bench run`
# at one fixed rate (default 10,000 rps for 60 s) against two built-in
# workers that answer at once (cpu workload, 1 µs), samples bench's resident
# memory (VmRSS) and open descriptors every second, and prints the series
# and its summary: peak, first and last ten seconds, and the drift between
# them. Goal of the efficiency issue: flat (drift within a few MB) at 10k rps.
#
# Usage: scripts/memory.sh                  (about 70 s after building)
#   RATE=10000 DURATION=60s PROCS=1 scripts/memory.sh
# PROCS is bench's --procs (GOMAXPROCS of generator and balancer).
set -euo pipefail

# Bound the whole run: timeout sends SIGTERM, and the trap below stops bench.
if [ -z "${MEMORY_BOUNDED:-}" ]; then
  MEMORY_BOUNDED=1 exec timeout -k 5 300 "$0" "$@"
fi

RATE=${RATE:-10000}
DURATION=${DURATION:-60s}
PROCS=${PROCS:-1}

cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
tmp=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then stop_pid INT "$pid"; fi # bench stops its workers on SIGINT
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building…" >&2
go build -o "$tmp/bench" ./cmd/bench
cat >"$tmp/memory.yaml" <<EOF
name: memory
description: sustained fixed-rate load on two workers that answer at once
target:
  builtin: cpu
  cost: 1us
  threads: 1
workers: [2]
load:
  rates: [$RATE]
  duration: $DURATION
  warmup: 2s
EOF

"$tmp/bench" run "$tmp/memory.yaml" --procs "$PROCS" --out "$tmp/results" >"$tmp/run.out" 2>&1 &
pid=$!
echo "bench run at $RATE rps for $DURATION (+2 s warm-up), --procs $PROCS; one sample per second" >&2
: >"$tmp/rss"
t=0
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
  [ -n "$rss" ] || break
  fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  echo "$t $rss $fds" >>"$tmp/rss"
  t=$((t + 1))
  sleep 1 # sampling interval
done
code=0
wait "$pid" || code=$?
pid=
if [ "$code" != 0 ]; then
  cat "$tmp/run.out" >&2
  echo "memory.sh: bench run exited $code" >&2
  exit 1
fi

echo "  s   RSS MB   fds"
awk '{ printf "%3d %8.1f %5d\n", $1, $2 / 1024, $3 }' "$tmp/rss" | awk 'NR % 5 == 1'
awk '
  { t[NR] = $1; r[NR] = $2 / 1024; if (r[NR] > peak) peak = r[NR] }
  END {
    n = NR; k = (n >= 30 ? 10 : int(n / 3)); if (k < 1) k = 1
    for (i = 1; i <= k; i++) { a += r[i + 2 < n ? i + 2 : i] }   # skip the first 2 s: start-up
    for (i = n - k + 1; i <= n; i++) b += r[i]
    a /= k; b /= k
    printf "RSS: peak %.1f MB; mean of the first %d s after start-up %.1f MB, of the last %d s %.1f MB; drift %+.1f MB\n", peak, k, a, k, b, b - a
  }' "$tmp/rss"
# The run's own row: offered, sent, throughput, p99 and CPU.
grep -E '^│ +2 │' "$tmp/run.out" | head -1

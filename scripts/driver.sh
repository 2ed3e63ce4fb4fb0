#!/usr/bin/env bash
# driver.sh — how fast and how cheaply bench's load driver (vegeta) offers
# load, on net/http's transport ("std") and on load.Transport ("lean"), next
# to wrk, against one built-in worker (cpu workload, cost 0, GOMAXPROCS=1)
# in its own process on a loopback port. Prints requests/s at the driver's
# maximum rate (closed loop, CONNS connections each), the driver's CPU per
# request (getrusage), their ratios, and CPU per request at fixed rates as
# `bench run` offers them. Issue goal: lean ≥ 0.8× wrk's requests/s.
#
# Usage: scripts/driver.sh            (about 25 s after building)
#   CONNS=16 RUN=1s ROUNDS=3 PROCS=1 BENCH=path/to/bench scripts/driver.sh
# Installs wrk with apt-get if it is missing and can be; without wrk the
# wrk columns are left out. Run on a quiet machine: the numbers are ratios
# measured in one run, interleaved, but a busy neighbour still skews them.
set -euo pipefail

CONNS=${CONNS:-16}   # connections (vegeta workers, wrk -c)
RUN=${RUN:-1s}       # one measured run of one driver (whole seconds for wrk)
ROUNDS=${ROUNDS:-3}  # interleaved runs of each driver
BENCH=${BENCH:-}     # a built bench binary for the worker (default: build one)
PROCS=${PROCS:-1}    # GOMAXPROCS of the driver: 1 is how bench runs it (--procs 1)

cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

if ! command -v wrk >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing wrk…" >&2
    apt-get install -y wrk >/dev/null 2>&1 || echo "apt-get install wrk failed; no wrk comparison" >&2
  else
    echo "wrk not installed (and cannot apt-get it): no wrk comparison" >&2
  fi
fi

tmp=$(mktemp -d)
worker=
cleanup() {
  if [ -n "$worker" ]; then stop_pid TERM "$worker"; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "$BENCH" ]; then
  BENCH=$tmp/bench
  go build -o "$BENCH" ./cmd/bench
fi
go test -c -o "$tmp/load.test" ./internal/load

port=$(free_port) || exit 1

PORT=$port GOMAXPROCS=1 BENCH_WORKER_INDEX=1 \
  "$BENCH" worker --workload cpu --cost 0 --threads 1 >"$tmp/worker.log" 2>&1 &
worker=$!
for _ in $(seq 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  kill -0 "$worker" 2>/dev/null || { cat "$tmp/worker.log" >&2; exit 1; }
  sleep 0.05 # polling interval
done
url="http://127.0.0.1:$port/"
echo "target: built-in worker (cpu, cost 0, GOMAXPROCS=1) at $url; $(nproc) cores; $CONNS connections; driver GOMAXPROCS=$PROCS"

export LOAD_DRIVER_URL=$url LOAD_DRIVER_CONNS=$CONNS LOAD_DRIVER_DURATION=$RUN LOAD_DRIVER_ROUNDS=$ROUNDS
timeout 120 "$tmp/load.test" -test.run '^$' -test.bench '^(BenchmarkDriverMax|BenchmarkAttackTransport)$' \
  -test.benchtime 1x -test.cpu "$PROCS" >"$tmp/bench.out" 2>&1 || { cat "$tmp/bench.out" >&2; exit 1; }

# Benchmark lines are "name N ns/op value unit value unit …".
awk '
  /^Benchmark/ {
    name = $1; sub(/-[0-9]+$/, "", name) # the -N of GOMAXPROCS=N
    for (i = 5; i < NF; i += 2) m[name, $(i+1)] = $i
  }
  function v(n, u) { return m[n, u] }
  END {
    d = "BenchmarkDriverMax"
    printf "\nmax rate (closed loop)   req/s    driver CPU µs/req\n"
    printf "  vegeta + net/http   %9.0f   %8.1f\n", v(d, "std-rps"), v(d, "std-cpu-µs/req")
    printf "  vegeta + lean       %9.0f   %8.1f\n", v(d, "lean-rps"), v(d, "lean-cpu-µs/req")
    if (v(d, "wrk-rps") != "")
      printf "  wrk (1 thread)      %9.0f   %8.1f\n", v(d, "wrk-rps"), v(d, "wrk-cpu-µs/req")
    printf "\nratios\n"
    printf "  lean/std req/s      %6.2f×\n", v(d, "lean/std-rps")
    printf "  lean/std CPU/req    %6.2f×\n", v(d, "lean/std-cpu")
    if (v(d, "wrk-rps") != "") {
      printf "  std/wrk req/s       %6.2f×\n", v(d, "std/wrk-rps")
      printf "  lean/wrk req/s      %6.2f×   (goal ≥ 0.80)\n", v(d, "lean/wrk-rps")
    }
    a = "BenchmarkAttackTransport"
    printf "\nfixed rate (as bench run)  CPU µs/req std → lean   allocs/req std → lean\n"
    split("1000 4000", rates, " ")
    for (k = 1; k <= 2; k++) {
      r = rates[k]
      s = v(a "/" r "/std", "cpu-µs/req"); l = v(a "/" r "/lean", "cpu-µs/req")
      printf "  %5d req/s              %6.1f → %6.1f (%.2f×)   %5.1f → %5.1f\n", r, s, l, l / s,
        v(a "/" r "/std", "allocs/req"), v(a "/" r "/lean", "allocs/req")
    }
  }
' "$tmp/bench.out"

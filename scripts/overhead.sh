#!/usr/bin/env bash
# overhead.sh — what bench's balancer hop costs, next to HAProxy, in one run.
#
# Part 1, the hop: one built-in worker (cpu, cost 0, GOMAXPROCS=1) driven at
# its maximum rate by wrk (-t1, CONNS connections) directly, through bench's
# balancer (fast engine, in its own process, GOMAXPROCS=1 like bench) and
# through HAProxy (1 thread), the two taking turns ROUNDS times (the verdict
# is the median ratio). Prints requests/s, the CPU each process used
# (from /proc/PID/stat; wrk's from the shell's `times`), and the ratios.
# Then bench's own load driver (vegeta, std and lean transports) against
# wrk on the same worker, via internal/load's BenchmarkDriverMax, with the
# driver at GOMAXPROCS=1 (how bench runs it) and 2.
#
# Part 2, the scaling the hop leaves: two workers burning COST of CPU per
# request against one, driven by wrk directly and through each balancer;
# capacity 2 workers ÷ 1 worker per path.
#
# Usage: scripts/overhead.sh          (about 2 min after building; bounded to 4 min)
#   RUN=5 CONNS=16 COST=2ms ROUNDS=3 scripts/overhead.sh
# Installs wrk and haproxy with apt-get when missing. The machine is
# shared: run it twice and trust what both runs agree on.
set -euo pipefail

# Bound the whole run: timeout sends SIGTERM, and the trap below stops
# everything this script started.
if [ -z "${OVERHEAD_BOUNDED:-}" ]; then
  OVERHEAD_BOUNDED=1 exec timeout -k 5 240 "$0" "$@"
fi

RUN=${RUN:-5}       # seconds of one measured wrk run (wrk takes whole seconds)
CONNS=${CONNS:-16}  # wrk connections
COST=${COST:-2ms}   # part 2: CPU per request of each worker
ROUNDS=${ROUNDS:-3} # part 1: bench and HAProxy rows, taking turns

cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

for tool in wrk haproxy; do
  if ! command -v "$tool" >/dev/null; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
      echo "installing $tool…" >&2
      apt-get install -y "$tool" >/dev/null 2>&1 || true
    fi
    command -v "$tool" >/dev/null || { echo "overhead.sh: $tool is not installed (Debian: apt-get install -y $tool)" >&2; exit 1; }
  fi
done

tmp=$(mktemp -d)
pids=() # every long-lived process started, stopped by cleanup
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  # The proxies stop HAProxy on SIGTERM; give them StopGrace, then insist.
  for _ in $(seq 30); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1 # polling interval
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# stop_procs PID...: stops processes this script started (SIGTERM, SIGKILL
# after 3 s), reaps them and forgets them, so that cleanup never signals a
# pid the system has since reused.
stop_procs() {
  local p q keep=()
  kill -TERM "$@" 2>/dev/null || true # all at once, then each in turn
  for p in "$@"; do stop_pid TERM "$p"; done
  for q in "${pids[@]}"; do
    for p in "$@"; do [ "$p" = "$q" ] && continue 2; done
    keep+=("$q")
  done
  pids=("${keep[@]}")
}
trap 'exit 130' INT TERM

echo "building…" >&2
go build -o "$tmp/bench" ./cmd/bench
go build -o "$tmp/overhead" ./scripts/overhead
go test -c -o "$tmp/load.test" ./internal/load

# start_worker INDEX COST: starts a built-in cpu worker; sets W_ADDR, W_PID.
start_worker() {
  local port
  port=$(free_port) || exit 1
  PORT=$port GOMAXPROCS=1 BENCH_WORKER_INDEX=$1 \
    "$tmp/bench" worker --workload cpu --cost "$2" --threads 1 >"$tmp/worker$1.log" 2>&1 &
  W_PID=$!
  pids+=("$W_PID")
  W_ADDR=127.0.0.1:$port
  for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return; fi
    kill -0 "$W_PID" 2>/dev/null || { cat "$tmp/worker$1.log" >&2; exit 1; }
    sleep 0.05 # polling interval
  done
  echo "overhead.sh: worker $1 did not listen on $W_ADDR" >&2
  exit 1
}

# start_proxy NAME balance|haproxy BACKEND...: sets P_ADDR, P_PID (the
# process that proxies: HAProxy's pid for haproxy) and P_LAUNCHER (the
# overhead process, which stops HAProxy on SIGTERM).
start_proxy() {
  local name=$1 kind=$2
  shift 2
  local flags=() b
  for b in "$@"; do flags+=(--backend "$b"); done
  # GOMAXPROCS=1: the balancer runs as `bench run` and `bench serve` run it (--procs 1).
  GOMAXPROCS=1 "$tmp/overhead" "$kind" "${flags[@]}" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  local pid=$!
  pids+=("$pid")
  P_LAUNCHER=$pid
  for _ in $(seq 200); do
    if [ -s "$tmp/$name.out" ]; then
      read -r P_ADDR P_PID <"$tmp/$name.out"
      return
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/$name.err" >&2; exit 1; }
    sleep 0.05 # polling interval
  done
  echo "overhead.sh: $name did not start" >&2
  exit 1
}

# cpu_of PID...: user+system CPU seconds of the processes so far.
cpu_of() {
  local p ticks=0 t
  for p in "$@"; do
    # Fields after the ") " closing the command name start at field 3:
    # utime and stime (fields 14, 15) are the 12th and 13th of them.
    t=$(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')
    ticks=$((ticks + t))
  done
  awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}

# children_cpu: sets REPLY to the CPU seconds of this shell's reaped
# children (wrk), read with the `times` builtin. Call it without $(…): a
# subshell's `times` would count the subshell's children only.
children_cpu() {
  times >"$tmp/times"
  REPLY=$(awk 'NR == 2 {
    s = 0
    for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] }
    printf "%.2f", s
  }' "$tmp/times")
}

# wrk_run URL SECONDS CONNS OUT: one wrk run, bounded.
wrk_run() {
  timeout $(($2 + 20)) wrk -t1 -c"$3" -d"$2"s "$1" >"$4" 2>&1 || { cat "$4" >&2; exit 1; }
}

# rps_of OUT / errors_of OUT: wrk's Requests/sec and its error count.
rps_of() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }
errors_of() {
  awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$1"
}

# measure KEY LABEL "WORKER PIDS" "PROXY PID" URL...: warms up, then runs
# wrk for RUN seconds against each URL at once (CONNS split among them),
# prints a table row and sets RPS[KEY].
declare -A RPS
measure() {
  local key=$1 label=$2 wpids=$3 ppid=$4
  shift 4
  local n=$# conns=$((CONNS / $#)) u i
  for u in "$@"; do wrk_run "$u" 1 "$conns" "$tmp/warm.out"; done
  # shellcheck disable=SC2086 # pid lists split on purpose
  local w0 p0=0 c0 w1 p1=0 c1
  w0=$(cpu_of $wpids)
  [ -n "$ppid" ] && p0=$(cpu_of "$ppid")
  children_cpu
  c0=$REPLY
  local wrks=()
  i=0
  for u in "$@"; do
    timeout $((RUN + 20)) wrk -t1 -c"$conns" -d"$RUN"s "$u" >"$tmp/run$i.out" 2>&1 &
    wrks+=($!)
    i=$((i + 1))
  done
  for i in "${!wrks[@]}"; do wait "${wrks[$i]}" || { cat "$tmp/run$i.out" >&2; exit 1; }; done
  children_cpu
  c1=$REPLY
  # shellcheck disable=SC2086
  w1=$(cpu_of $wpids)
  [ -n "$ppid" ] && p1=$(cpu_of "$ppid")
  local rps=0 errs=0
  for ((i = 0; i < n; i++)); do
    rps=$(awk -v a="$rps" -v b="$(rps_of "$tmp/run$i.out")" 'BEGIN { print a + b }')
    errs=$((errs + $(errors_of "$tmp/run$i.out")))
  done
  RPS[$key]=$rps
  awk -v l="$label" -v r="$rps" -v w="$(awk -v a="$w0" -v b="$w1" 'BEGIN{print b-a}')" \
    -v p="$(awk -v a="$p0" -v b="$p1" 'BEGIN{print b-a}')" -v has="${ppid:+1}" \
    -v c="$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b-a}')" -v e="$errs" -v s="$RUN" 'BEGIN {
      pp = has ? sprintf("%11.2f", p) : sprintf("%11s", "-")
      pr = has && r > 0 ? sprintf("%11.1f", p * 1e6 / (r * s)) : sprintf("%11s", "-")
      printf "  %-26s %9.0f %10.2f %s %9.2f %s %7d\n", l, r, w, pp, c, pr, e
    }'
}

header() {
  printf "  %-26s %9s %10s %11s %9s %11s %7s\n" "" "req/s" "worker s" "proxy s" "wrk s" "proxy µs/r" "errors"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

echo "$(nproc) cores; wrk -t1 -c$CONNS -d${RUN}s per row after a 1 s warm-up; CPU in seconds over the row"

# ---- part 1: the hop --------------------------------------------------------
start_worker 1 0
w0_addr=$W_ADDR w0_pid=$W_PID
start_proxy bench0 balance "$w0_addr"
b0_addr=$P_ADDR b0_pid=$P_PID
start_proxy hap0 haproxy "$w0_addr"
h0_addr=$P_ADDR h0_pid=$P_PID h0_launcher=$P_LAUNCHER

echo
echo "part 1: proxy overhead, one worker (cpu, cost 0, GOMAXPROCS=1)"
header
measure direct "direct" "$w0_pid" "" "http://$w0_addr/"
# The two proxies take turns, ROUNDS times, so that a slow spell of the
# machine lands on both; the verdict is the median of the rounds' ratios.
ratios=()
for ((r = 1; r <= ROUNDS; r++)); do
  if ((r % 2)); then
    measure "bench$r" "bench balancer (fast) #$r" "$w0_pid" "$b0_pid" "http://$b0_addr/"
    measure "haproxy$r" "haproxy (1 thread) #$r" "$w0_pid" "$h0_pid" "http://$h0_addr/"
  else
    measure "haproxy$r" "haproxy (1 thread) #$r" "$w0_pid" "$h0_pid" "http://$h0_addr/"
    measure "bench$r" "bench balancer (fast) #$r" "$w0_pid" "$b0_pid" "http://$b0_addr/"
  fi
  ratios+=("$(ratio "${RPS[bench$r]}" "${RPS[haproxy$r]}")")
done
median=$(printf "%s\n" "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
printf "  ratios: bench÷direct %s   haproxy÷direct %s (round 1)   bench÷haproxy per round: %s   median %s (goal ≥ 1.0)\n" \
  "$(ratio "${RPS[bench1]}" "${RPS[direct]}")" "$(ratio "${RPS[haproxy1]}" "${RPS[direct]}")" "${ratios[*]}" "$median"

echo
echo "part 1d: bench's load driver vs wrk, max rate against the worker directly ($CONNS connections)"
echo "  the driver at GOMAXPROCS=1 (as bench runs it: --procs 1) and at 2; wrk is one thread either way"
# One process per GOMAXPROCS, as bench sets it once at start: in one
# process run with -test.cpu 1,2 the GOMAXPROCS=1 run cost 20–24 µs per
# request where a process of its own cost 14–18.
: >"$tmp/driver.out"
for procs in 1 2; do
  LOAD_DRIVER_URL="http://$w0_addr/" LOAD_DRIVER_CONNS=$CONNS LOAD_DRIVER_DURATION=2s LOAD_DRIVER_ROUNDS=3 \
    timeout 60 "$tmp/load.test" -test.run '^$' -test.bench '^BenchmarkDriverMax$' -test.benchtime 1x -test.cpu "$procs" \
    >>"$tmp/driver.out" 2>&1 || { cat "$tmp/driver.out" >&2; exit 1; }
done
awk '
  /^BenchmarkDriverMax/ {
    p = ($1 ~ /-[0-9]+$/) ? $1 : $1 "-1"; sub(/.*-/, "", p)
    for (i = 5; i < NF; i += 2) m[p, $(i+1)] = $i
  }
  END {
    printf "  %-22s %22s %22s\n", "", "GOMAXPROCS=1", "GOMAXPROCS=2"
    row("vegeta + net/http", "std"); row("vegeta + lean", "lean"); row("wrk (1 thread)", "wrk")
    printf "  ratios: lean÷wrk %.2f (GOMAXPROCS=1)  %.2f (GOMAXPROCS=2)   std÷wrk %.2f  %.2f\n",
      m[1, "lean/wrk-rps"], m[2, "lean/wrk-rps"], m[1, "std/wrk-rps"], m[2, "std/wrk-rps"]
  }
  function row(label, k) {
    printf "  %-22s %7.0f req/s %5.1f µs %7.0f req/s %5.1f µs\n", label,
      m[1, k "-rps"], m[1, k "-cpu-µs/req"], m[2, k "-rps"], m[2, k "-cpu-µs/req"]
  }' "$tmp/driver.out"

# The cost-0 worker and its proxies are done: stop them so they cannot
# take CPU from part 2.
stop_procs "$b0_pid" "$h0_launcher" "$w0_pid"

# ---- part 2: scaling through each balancer -----------------------------------
start_worker 1 "$COST"
w1_addr=$W_ADDR w1_pid=$W_PID
start_worker 2 "$COST"
w2_addr=$W_ADDR w2_pid=$W_PID
start_proxy bench1 balance "$w1_addr"
bench1=$P_ADDR bench1_pid=$P_PID
start_proxy bench2 balance "$w1_addr" "$w2_addr"
bench2=$P_ADDR bench2_pid=$P_PID
start_proxy hap1 haproxy "$w1_addr"
hap1=$P_ADDR hap1_pid=$P_PID
start_proxy hap2 haproxy "$w1_addr" "$w2_addr"
hap2=$P_ADDR hap2_pid=$P_PID

echo
echo "part 2: cpu workers ($COST per request, GOMAXPROCS=1), 2 workers vs 1, round-robin"
header
measure d1 "direct 1 worker" "$w1_pid" "" "http://$w1_addr/"
measure d2 "direct 2 (2 wrk)" "$w1_pid $w2_pid" "" "http://$w1_addr/" "http://$w2_addr/"
measure b1 "bench 1 worker" "$w1_pid" "$bench1_pid" "http://$bench1/"
measure b2 "bench 2 workers" "$w1_pid $w2_pid" "$bench2_pid" "http://$bench2/"
measure h1 "haproxy 1 worker" "$w1_pid" "$hap1_pid" "http://$hap1/"
measure h2 "haproxy 2 workers" "$w1_pid $w2_pid" "$hap2_pid" "http://$hap2/"
printf "  capacity 2÷1: direct %s   bench %s   haproxy %s   (2 workers: bench÷haproxy %s)\n" \
  "$(ratio "${RPS[d2]}" "${RPS[d1]}")" "$(ratio "${RPS[b2]}" "${RPS[b1]}")" \
  "$(ratio "${RPS[h2]}" "${RPS[h1]}")" "$(ratio "${RPS[b2]}" "${RPS[h2]}")"

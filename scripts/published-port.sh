#!/usr/bin/env bash
# published-port.sh — what a port published by Docker costs, next to the same worker as a plain
# process: the hop `scale: {compose: …}` measures through (Docker's userland proxy, docker-proxy,
# may copy every connection on the host's loopback).
#
# One built-in worker (cpu, COST per request, GOMAXPROCS=1), driven at its maximum rate by wrk
# (-t1, CONNS connections) for RUN seconds, ROUNDS times taking turns: as a process on 127.0.0.1,
# and in bench's scratch image (no CPU limit) published on 127.0.0.1. Prints requests/s, the p99,
# the CPU of the worker and of docker-proxy per run, and the median ratio container ÷ process.
#
# Usage: scripts/published-port.sh           (about 1 min; bounded to 3 min)
#   RUN=5 CONNS=16 COST=0s ROUNDS=3 IMAGE=bench-worker:scratch scripts/published-port.sh
# Needs wrk, a Docker engine and the image (scripts/docker-image.sh). The machine is shared: run
# it twice and trust what both runs agree on.
set -euo pipefail

if [ -z "${PUBLISHED_BOUNDED:-}" ]; then
  PUBLISHED_BOUNDED=1 exec timeout -k 5 180 "$0" "$@"
fi

RUN=${RUN:-5}       # seconds of one measured wrk run
CONNS=${CONNS:-16}  # wrk connections
COST=${COST:-0s}    # CPU per request of the worker
ROUNDS=${ROUNDS:-3} # process and container rows, taking turns
IMAGE=${IMAGE:-bench-worker:scratch}

cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

command -v wrk >/dev/null || { echo "published-port.sh: wrk is not installed (Debian: apt-get install -y wrk)" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "published-port.sh: no Docker engine answers docker info" >&2; exit 1; }
docker image inspect "$IMAGE" >/dev/null 2>&1 || { echo "published-port.sh: image $IMAGE is missing: scripts/docker-image.sh builds it" >&2; exit 1; }

tmp=$(mktemp -d)
worker_pid=""
container=""
cleanup() {
  [ -n "$worker_pid" ] && stop_pid TERM "$worker_pid"
  [ -n "$container" ] && docker rm -f "$container" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT

CGO_ENABLED=0 go build -o "$tmp/bench" ./cmd/bench

# cpu_ticks PID...: the summed utime+stime of the processes, in clock ticks.
cpu_ticks() {
  local sum=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    sum=$((sum + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$p/stat")))
  done
  echo "$sum"
}

# wait_ready ADDR: until the worker answers /healthz (bounded).
wait_ready() {
  for _ in $(seq 100); do
    curl -fsS "http://$1/healthz" >/dev/null 2>&1 && return
    sleep 0.1 # polling interval
  done
  echo "published-port.sh: $1 never answered /healthz" >&2
  exit 1
}

# drive NAME ADDR PIDS...: one wrk run; prints a row and leaves the rps in $tmp/rps.NAME.
drive() {
  local name=$1 addr=$2; shift 2
  local before after
  before=$(cpu_ticks "$@")
  wrk -t1 -c"$CONNS" -d"${RUN}s" --latency "http://$addr/" >"$tmp/wrk" 2>&1
  after=$(cpu_ticks "$@")
  local rps p99
  rps=$(awk '/Requests\/sec/ { print $2 }' "$tmp/wrk")
  p99=$(awk '$1 == "99%" { print $2 }' "$tmp/wrk")
  printf '%-10s %10s rps  p99 %8s  cpu (worker, and docker-proxy) %5.1f s\n' "$name" "$rps" "$p99" \
    "$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" 'BEGIN { print t / hz }')"
  echo "$rps" >>"$tmp/rps.$name"
}

port=$(free_port)
GOMAXPROCS=1 "$tmp/bench" worker --workload cpu --cost "$COST" --port "$port" >/dev/null 2>&1 &
worker_pid=$!
wait_ready "127.0.0.1:$port"

container=$(docker run -d --rm -p 127.0.0.1::8080 "$IMAGE" --workload cpu --cost "$COST")
caddr=$(docker port "$container" 8080/tcp | grep 127.0.0.1 | head -n 1)
wait_ready "$caddr"
cpid=$(docker inspect --format '{{.State.Pid}}' "$container")
proxies=$(pgrep -f "docker-proxy.*-host-port ${caddr##*:}" || true)

echo "worker cost $COST, wrk -t1 -c$CONNS ${RUN}s, $ROUNDS rounds; docker-proxy pids: ${proxies:-none (no userland proxy)}"
for _ in $(seq "$ROUNDS"); do
  drive process "127.0.0.1:$port" "$worker_pid"
  # shellcheck disable=SC2086 # one pid per word
  drive container "$caddr" "$cpid" $proxies
done

paste "$tmp/rps.container" "$tmp/rps.process" | awk '{ print $1 / $2 }' | sort -n |
  awk '{ r[NR] = $1 } END { printf "median container ÷ process: %.3f over %d rounds\n", r[int((NR + 1) / 2)], NR }'

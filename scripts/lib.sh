# lib.sh — shell functions the measurement scripts share; source it.

# free_port prints a loopback port nobody answers on, from 10000 up to the
# start of the kernel's ephemeral range (net.ipv4.ip_local_port_range;
# 32768 when it cannot be read): there no client socket (wrk's, the
# driver's) can hold the port when a worker binds it.
free_port() {
  local lo=10000 hi p
  hi=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  [ "${hi:-0}" -gt $((lo + 1000)) ] || hi=32768
  for _ in $(seq 50); do
    p=$((lo + RANDOM % (hi - lo)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  echo "$(basename "$0"): no free port found" >&2
  return 1
}

# stop_pid SIGNAL PID: sends SIGNAL to PID, a child of this shell, gives it
# 3 s to exit, then SIGKILL, and reaps it.
stop_pid() {
  kill "-$1" "$2" 2>/dev/null || true
  for _ in $(seq 30); do
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1 # polling interval
  done
  kill -KILL "$2" 2>/dev/null || true
  wait "$2" 2>/dev/null || true
}

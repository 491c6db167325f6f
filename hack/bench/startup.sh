#!/usr/bin/env bash
# Measures skiff server's readiness and footprint on this machine:
#   - first start to /readyz (fresh data dir) and restart to /readyz, over ROUNDS rounds
#   - idle RSS of the whole process (API server + embedded etcd + controllers) after IDLE seconds
# Prints a markdown table. Usage: hack/bench/startup.sh [bin/skiff]
set -euo pipefail
bin=${1:-bin/skiff}
rounds=${ROUNDS:-3}
idle=${IDLE:-60}
port=${PORT:-16643}
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# start DIR: starts the server, waits for "API server ready", sets took
# (seconds). Not run in a subshell: it sets pid.
start() {
  local dir=$1 t0 t1
  t0=$(date +%s.%N)
  "$bin" server --disable-agent --data-dir "$dir" --secure-port "$port" --bind-address 127.0.0.1 \
    --advertise-address 127.0.0.1 >"$dir.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    if grep -q "API server ready" "$dir.log"; then
      t1=$(date +%s.%N); took=$(printf "%.2f" "$(echo "$t1 - $t0" | bc)"); return 0
    fi
    kill -0 "$pid" 2>/dev/null || { tail -5 "$dir.log" >&2; return 1; }
    sleep 0.02
  done
  echo "not ready after 12 s" >&2; return 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

first=() restart=()
for r in $(seq 1 "$rounds"); do
  dir=$work/r$r
  start "$dir"; first+=("$took"); stop
  start "$dir"; restart+=("$took")
  [ "$r" -lt "$rounds" ] && stop
done
sleep "$idle"
rss_kb=$(awk '/VmRSS/ {print $2}' /proc/"$pid"/status)
echo "| figure | value |"
echo "|---|---|"
echo "| first start to ready (s), $rounds rounds | ${first[*]} |"
echo "| restart to ready (s), $rounds rounds | ${restart[*]} |"
echo "| idle RSS after ${idle} s (MiB) | $((rss_kb / 1024)) |"

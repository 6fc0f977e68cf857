#!/usr/bin/env bash
# NAME
#   run-mtepd-bench.sh - measure mtepd with mtep-load and print a markdown table
# SUMMARY
#   tests/bench/run-mtepd-bench.sh BUILD_DIR [SECONDS]
# DESCRIPTION
#   Builds nothing: uses BUILD_DIR/mtepd/mtepd, BUILD_DIR/mtepctl/mtepctl and
#   BUILD_DIR/tests/bench/loadgen/mtep-load (build them first, Release or
#   RelWithDebInfo, without sanitizers). Starts a detached mtepd on a free
#   loopback port with max_connections 20000 (descriptor limit raised to
#   20000), mints a token with mtepctl, then runs:
#     1. persistent, 64 connections, one "?" outstanding on each
#     2. persistent, 8 connections
#     3. connect mode, a new connection per "?" (32 in flight)
#     4. idle, 10,000 connections held (mtepd VmRSS before and while holding)
#   Every run must get only K answers; mtep-load says so loudly otherwise.
#   LOG_LEVEL (default info, where every decision is logged) sets [log] level.
#   STORE=redis starts a redis-server on a free loopback port (no
#   persistence) and runs mtepd on [store] backend "redis" (its revocation
#   list is cached and re-checked every 250 ms: the "?" answers should not
#   change); the default is the embedded SQLite store.
set -euo pipefail

BUILD=${1:?usage: run-mtepd-bench.sh BUILD_DIR [SECONDS]}
SECS=${2:-10}
LOG_LEVEL=${LOG_LEVEL:-info}
STORE=${STORE:-sqlite}
MTEPD=$BUILD/mtepd/mtepd
CTL=$BUILD/mtepctl/mtepctl
LOAD=$BUILD/tests/bench/loadgen/mtep-load
for bin in "$MTEPD" "$CTL" "$LOAD"; do
  [[ -x $bin ]] || { echo "missing $bin: build it first" >&2; exit 2; }
done

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
WORK=$(mktemp -d /tmp/mtepd-bench.XXXXXX)
PIDFILE=$WORK/mtepd.pid
REDIS_PID=""
cleanup() {
  if [[ -s $PIDFILE ]]; then kill "$(cat "$PIDFILE")" 2>/dev/null || true; sleep 0.5; fi
  if [[ -n $REDIS_PID ]]; then kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' \
       2>/dev/null || echo 16211)
mkdir -p "$WORK/state"
cat >"$WORK/mtep.conf" <<EOF
[global]
user = ""
state_dir = "$WORK/state"

[log]
level = "$LOG_LEVEL"

[mtepd]
listen = ["127.0.0.1:$PORT"]
max_connections = 20000
max_commands_per_connection = 1000000
idle_timeout = "5m"
pid_file = "$PIDFILE"
EOF
if [[ $STORE == redis ]]; then
  RPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" \
    --daemonize no >"$WORK/redis.log" 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 1 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
  printf '\n[store]\nbackend = "redis"\nredis_server = "127.0.0.1:%s"\n' "$RPORT" >>"$WORK/mtep.conf"
fi

"$MTEPD" -c "$WORK/mtep.conf"   # detaches once ready; the exit status says whether it started
MPID=$(cat "$PIDFILE")
SENDER=bench@example.org
# Bound to the recipient domain mtep-load names (--recipient, bob@example.net).
TOKEN=$("$CTL" -c "$WORK/mtep.conf" token mint --sender "$SENDER" --recipient-domain example.net)

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$MPID/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$MPID/stat"; }
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k {v = $2} END {print (v == "" ? 0 : v)}'; }

declare -a ROWS
run() {  # label mode connections
  local label=$1 mode=$2 conns=$3 before after line cpu
  before=$(cpu_ticks)
  line=$("$LOAD" --port "$PORT" --mode "$mode" --connections "$conns" --duration "$SECS" \
         --token "$TOKEN" --sender "$SENDER" --format kv) || true
  after=$(cpu_ticks)
  cpu=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v s="$(field "$line" seconds)" \
        'BEGIN { printf "%.0f%%", (s > 0 ? 100 * t / hz / s : 0) }')
  local notk=$(( $(field "$line" Z) + $(field "$line" D) + $(field "$line" I) + $(field "$line" other) ))
  ROWS+=("| $label | $conns | $(field "$line" rps) | $(field "$line" p50) | $(field "$line" p99) | $(field "$line" p999) | $(field "$line" errors) | $notk | $cpu |")
}

run "persistent" persistent 64
run "persistent" persistent 8
run "new connection per query" connect 32

RSS_BEFORE=$(rss_kib)
READY=$WORK/idle.ready
"$LOAD" --port "$PORT" --mode idle --connections 10000 --duration "$SECS" \
        --token "$TOKEN" --sender "$SENDER" --format kv --ready-file "$READY" >"$WORK/idle.out" &
LOADPID=$!
for _ in $(seq 1 1200); do [[ -e $READY ]] && break; sleep 0.1; done
sleep 1
RSS_HOLD=$(rss_kib)
wait "$LOADPID" || true
IDLE=$(cat "$WORK/idle.out")

echo "mtepd $("$MTEPD" -V | awk '{print $2}'), store $STORE, $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), log level $LOG_LEVEL, ${SECS} s per run"
echo
echo "| run | connections | requests/s | p50 µs | p99 µs | p99.9 µs | errors | not K | mtepd CPU |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo
echo "| idle connections | held and answering after ${SECS} s | mtepd VmRSS before | VmRSS holding | per connection |"
echo "|---:|---:|---:|---:|---:|"
echo "| 10000 | $(field "$IDLE" alive) | $((RSS_BEFORE / 1024)) MiB | $((RSS_HOLD / 1024)) MiB | $(( (RSS_HOLD - RSS_BEFORE) * 1024 / 10000 )) bytes |"

#!/usr/bin/env bash
# NAME
#   run-policyd-bench.sh - policy requests per second: mtep-policyd beside
#   postgrey and postfwd, on one load generator, in one run
# SUMMARY
#   tests/bench/run-policyd-bench.sh BUILD_DIR [SECONDS] [--mtep-only]
#                                            (default 10 s a run)
# DESCRIPTION
#   Builds nothing: uses BUILD_DIR/policyd/mtep-policyd and
#   BUILD_DIR/tests/bench/loadgen/mtep-load (Release or RelWithDebInfo, no
#   sanitizers). Needs redis-server, and Debian's postgrey and postfwd
#   (scripts/install-deps --bench) unless --mtep-only (mtep-policyd's rows
#   alone). Each server gets a free loopback port and is driven by mtep-load
#   --protocol policy: persistent connections, one RCPT-state
#   smtpd_access_policy request outstanding on each (as Postfix's smtpd
#   keeps one), with 8 and then 64 connections.
#
#   Servers, each doing its simplest useful check:
#     mtep-policyd, no gate      the default policy: every request parsed,
#                                looked up by recipient domain, answered DUNNO
#     mtep-policyd, gates        refuse_mixed_onion (per-message state) and
#                                rate_limit_client + rate_limit_sender (set too
#                                high to trigger): DUNNO
#     mtep-policyd, rate limits  rate_limit_client + rate_limit_sender (too
#     in memory, unique          high to trigger) with mtep-load --unique: a
#                                new client address and sender in every
#                                request, so every request makes two new
#                                counters (the in-memory LRU fills to its cap)
#     mtep-policyd, gates,       refuse_mixed_onion + the two rate limits (1 h
#     unique                     windows) with --unique: every request makes a
#                                new instance and two new counters, so after
#                                a second or two each kind holds its cap of
#                                100,000 live keys (the "RSS" column)
#     mtep-policyd, rate limits  the same with [store] backend "redis": a
#     in Redis, unique           redis-server started here on a free port
#                                (no persistence, stopped at the end); every
#                                request's gates are checked and counted by
#                                the Lua script, batched into pipelines. Its
#                                "server CPU" is mtep-policyd + redis-server.
#     postgrey, db on disk       greylisting with --delay=0 (the triplet passes
#                                at once; every request reads and writes its
#                                Berkeley DB); answers DEFER once, then PREPEND
#     postgrey, db on tmpfs      the same, its database in /dev/shm
#     postfwd                    postfwd2 with one rule, "action=DUNNO"
#   For mtep-policyd every answer must be DUNNO (mtep-load exits 1 otherwise);
#   for the peers any action counts. Logging: mtep-policyd at notice,
#   postfwd --perfmon, postgrey to syslog (no syslog daemon here: dropped).
#   Prints one markdown table; "server CPU" is the server's user+system time
#   over the run (all its processes), 100 % = one core; "RSS" is the
#   server's resident memory at the end of the row (all its processes).
set -euo pipefail

BUILD=${1:?usage: run-policyd-bench.sh BUILD_DIR [SECONDS] [--mtep-only]}
BUILD=$(cd "$BUILD" && pwd)
SECS=${2:-10}
MTEP_ONLY=0
[[ ${3:-} == --mtep-only ]] && MTEP_ONLY=1
POLICYD=$BUILD/policyd/mtep-policyd
LOAD=$BUILD/tests/bench/loadgen/mtep-load
for bin in "$POLICYD" "$LOAD"; do
  [[ -x $bin ]] || { echo "missing $bin: build it first" >&2; exit 2; }
done
TOOLS="python3 redis-server redis-cli"
((MTEP_ONLY)) || TOOLS="$TOOLS postgrey postfwd"
for tool in $TOOLS; do
  command -v "$tool" >/dev/null || { echo "missing $tool (scripts/install-deps --bench)" >&2; exit 2; }
done
[[ $(id -u) == 0 ]] || { echo "run as root (postgrey and postfwd drop privileges themselves)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/policyd-bench.XXXXXX)
SHM=$(mktemp -d /dev/shm/policyd-bench.XXXXXX)
chmod 755 "$WORK" "$SHM"
declare -a STOP=()
cleanup() {
  set +e
  for cmd in "${STOP[@]}"; do eval "$cmd" >/dev/null 2>&1; done
  sleep 0.5
  rm -rf "$WORK" "$SHM"
}
trap cleanup EXIT

read -r P_PLAIN P_GATES P_PGDISK P_PGSHM P_FWD P_MEM P_REDISD P_REDIS P_GU < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(9)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')

waitPort() {  # port what
  for _ in $(seq 1 200); do
    ss -ltnH "sport = :$1" 2>/dev/null | grep -q . && return 0
    sleep 0.05
  done
  echo "$2 is not listening on port $1" >&2
  exit 2
}

# Sum of user+system clock ticks of every process whose command line matches.
cpuTicks() {  # pgrep pattern
  local total=0 pid f
  for pid in $(pgrep -f "$1"); do
    f=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    f=${f##*) }
    read -r -a fields <<<"$f"
    total=$((total + fields[11] + fields[12]))
  done
  echo "$total"
}

# Resident memory, MiB, of every process whose command line matches.
rssMiB() {  # pgrep pattern
  local total=0 pid kb
  for pid in $(pgrep -f "$1"); do
    kb=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$pid/status" 2>/dev/null) || continue
    total=$((total + ${kb:-0}))
  done
  echo "$((total / 1024))"
}

policydConf() {  # name port extra
  mkdir -p "$WORK/$1"
  cat >"$WORK/$1/mtep.conf" <<EOF
[global]
user = ""
state_dir = "$WORK/$1"
[log]
level = "notice"
[policyd]
listen = ["127.0.0.1:$2"]
max_connections = 4096
$3
EOF
}
policydConf plain "$P_PLAIN" ""
policydConf gates "$P_GATES" '[domain_defaults]
refuse_mixed_onion = true
rate_limit_client = "9999999/1s"
rate_limit_sender = "9999999/1s"'
RATES='[domain_defaults]
rate_limit_client = "9999999/1h"
rate_limit_sender = "9999999/1h"'
policydConf mem "$P_MEM" "$RATES"
policydConf gu "$P_GU" "$RATES
refuse_mixed_onion = true"
mkdir -p "$WORK/redis"
redis-server --port "$P_REDIS" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
  --dir "$WORK/redis" --pidfile "$WORK/redis/pid" --logfile "$WORK/redis/log"
STOP+=("redis-cli -p $P_REDIS shutdown nosave")
for _ in $(seq 1 200); do
  redis-cli -p "$P_REDIS" ping 2>/dev/null | grep -q PONG && break
  sleep 0.05
done
policydConf redisd "$P_REDISD" "[store]
backend = \"redis\"
redis_server = \"127.0.0.1:$P_REDIS\"
$RATES"
for name in plain gates mem gu redisd; do
  "$POLICYD" -c "$WORK/$name/mtep.conf"
  STOP+=("kill \$(pgrep -f 'mtep-policyd -c $WORK/$name/')")
done
waitPort "$P_PLAIN" mtep-policyd
waitPort "$P_GATES" mtep-policyd
waitPort "$P_MEM" mtep-policyd
waitPort "$P_GU" mtep-policyd
waitPort "$P_REDISD" mtep-policyd

if ((!MTEP_ONLY)); then
  mkdir -p "$WORK/pg"
  chown postgrey "$WORK/pg" "$SHM"
  postgrey --inet="127.0.0.1:$P_PGDISK" --dbdir="$WORK/pg" --delay=0 --pidfile="$WORK/pg/pid" -d
  STOP+=("kill \$(cat $WORK/pg/pid)")
  postgrey --inet="127.0.0.1:$P_PGSHM" --dbdir="$SHM" --delay=0 --pidfile="$SHM/pid" -d
  STOP+=("kill \$(cat $SHM/pid)")
  waitPort "$P_PGDISK" postgrey
  waitPort "$P_PGSHM" postgrey

  mkdir -p "$WORK/fwd"
  echo 'id=R001; action=DUNNO' >"$WORK/fwd/rules"
  postfwd -f "$WORK/fwd/rules" --interface 127.0.0.1 --port "$P_FWD" --user nobody \
    --group nogroup --pidfile "$WORK/fwd/pid" --perfmon >/dev/null 2>&1
  STOP+=("postfwd --kill --pidfile $WORK/fwd/pid")
  waitPort "$P_FWD" postfwd
fi

HZ=$(getconf CLK_TCK)
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo
echo "| server | connections | requests/s | p50 µs | p99 µs | p99.9 µs | server CPU | RSS MiB | answers as expected |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
run() {  # label port pgrep-pattern expect [mtep-load options...]
  local label=$1 port=$2 pattern=$3 expect=$4 conns out t0 t1 k
  shift 4
  for conns in 8 64; do
    t0=$(cpuTicks "$pattern")
    out=$("$LOAD" --port "$port" --protocol policy --sender alice@alpha.test \
            --recipient bob@beta.test --connections "$conns" --duration "$SECS" \
            --expect "$expect" --format kv "$@") || true
    t1=$(cpuTicks "$pattern")
    kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$out"; }
    k=$(kv K)
    printf '| %s | %s | %s | %s | %s | %s | %s %% | %s | %s of %s |\n' "$label" "$conns" \
      "$(kv rps)" "$(kv p50)" "$(kv p99)" "$(kv p999)" \
      "$(( (t1 - t0) * 100 / HZ / SECS ))" "$(rssMiB "$pattern")" "$k" "$(kv requests)"
  done
}
run "mtep-policyd, no gate" "$P_PLAIN" "mtep-policyd -c $WORK/plain/" DUNNO
run "mtep-policyd, mixed-onion + 2 rate limits" "$P_GATES" "mtep-policyd -c $WORK/gates/" DUNNO
run "mtep-policyd, 2 rate limits in memory, unique client+sender" "$P_MEM" \
  "mtep-policyd -c $WORK/mem/" DUNNO --unique
run "mtep-policyd, mixed-onion + 2 rate limits, unique client+sender+recipient+instance" "$P_GU" \
  "mtep-policyd -c $WORK/gu/" DUNNO --unique
run "mtep-policyd, 2 rate limits in Redis, unique client+sender" "$P_REDISD" \
  "mtep-policyd -c $WORK/redisd/|redis-server 127.0.0.1:$P_REDIS" DUNNO --unique
if ((!MTEP_ONLY)); then
  run "postgrey 1.37, db on disk" "$P_PGDISK" "postgrey --inet=127.0.0.1:$P_PGDISK" ""
  run "postgrey 1.37, db on tmpfs" "$P_PGSHM" "postgrey --inet=127.0.0.1:$P_PGSHM" ""
  run "postfwd 1.35 (postfwd2), one rule" "$P_FWD" "postfwd2" ""
fi
if [[ -z $(redis-cli -p "$P_REDIS" --scan --pattern 'mtep:rate:*' | head -1) ]]; then
  echo "*** Redis holds no rate counters: the Redis rows did not count in Redis ***" >&2
  exit 1
fi
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

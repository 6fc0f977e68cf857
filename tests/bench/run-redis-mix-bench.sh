#!/usr/bin/env bash
# NAME
#   run-redis-mix-bench.sh - what one Redis sustains of the suite's own
#   command mix (doc/scaling.md), measured with redis-benchmark
# SUMMARY
#   tests/bench/run-redis-mix-bench.sh BUILD_DIR [REQUESTS] [CLIENTS]
# DESCRIPTION
#   Starts a redis-server on a free loopback port (AOF on, appendfsync
#   everysec, as doc/redis.md advises), loads mtep-policyd's rate script
#   (store-load --print-rate-script) and runs redis-benchmark (REQUESTS,
#   default 200000, from CLIENTS connections, default 50; keys made unique
#   by -r) on each command a message makes the suite send:
#     spend      SET P once:hashcash:<stamp> 1 NX EXAT <t>   (milter, per stamp)
#     identity   EVAL of a script doing what the store's value script does
#                (SET P v:NS:KEY EXAT, ZADD P i:NS): the milter records per
#                stamp the message it was spent for
#     rate       EVALSHA of the rate script for one recipient with two
#                gates (unique client and sender): the worst case, a batch
#                of one
#     rate16     one EVALSHA for 16 such recipients, as mtep-policyd's
#                batches send them under load; its req/s times 16 is
#                recipients/s
#   each without pipelining (-P 1) and with 16 commands a round trip (-P 16,
#   as mtep-policyd's batches and several busy daemons give). Prints
#   redis-benchmark's requests per second and p50/p99 (ms) per line.
set -euo pipefail
build=${1:?usage: run-redis-mix-bench.sh BUILD_DIR [REQUESTS] [CLIENTS]}
n=${2:-200000}
c=${3:-50}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/mail-test.sh
source "$here/../lib/mail-test.sh"
load=$build/tests/bench/loadgen/store-load
[[ -x $load ]] || { echo "no $load: build the target store-load" >&2; exit 1; }
command -v redis-benchmark >/dev/null || { echo "redis-benchmark is not installed" >&2; exit 1; }
work=$(mktemp -d /tmp/mtep-redis-mix.XXXXXX)
cleanup() { mp_stop_daemon "$work/redis/redis.pid"; rm -rf "$work"; }
trap cleanup EXIT
port=$(mp_free_ports 1)
mp_redis_start "$work/redis" "$port" --appendonly yes --appendfsync everysec
sha=$(redis-cli -p "$port" SCRIPT LOAD "$("$load" --print-rate-script)")
bench() {  # label pipeline command...
  local label=$1 p=$2 out; shift 2
  out=$(redis-benchmark -p "$port" -n "$n" -c "$c" -P "$p" -r 100000000 --csv "$@" | tail -n 1)
  # "name","rps","avg","min","p50","p95","p99","max"
  awk -F'","' -v l="$label" -v p="$p" '{printf "%-9s -P %-2s %10.0f req/s  p50 %s ms  p99 %s ms\n", l, p, $2, $5, $7}' <<<"$out"
}
echo "# $(date -u +%FT%TZ) redis $(redis-server --version | grep -o 'v=[0-9.]*'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $n requests, $c clients"
for p in 1 16; do
  bench spend "$p" SET mtep:once:hashcash:__rand_int__ 1 NX EXAT 4102444800
  bench rate "$p" EVALSHA "$sha" 0 mtep: 1 2 c:__rand_int__ 3600 100 s:__rand_int__ 3600 100
  batch=()
  for _ in $(seq 16); do batch+=(2 c:__rand_int__ 3600 100 s:__rand_int__ 3600 100); done
  bench rate16 "$p" EVALSHA "$sha" 0 mtep: 16 "${batch[@]}"
  bench identity "$p" EVAL "redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[2]) redis.call('ZADD', KEYS[2], 0, ARGV[3]) return 1" \
    2 mtep:v:pow-msg:__rand_int__ mtep:i:pow-msg x 4102444800 m__rand_int__
done

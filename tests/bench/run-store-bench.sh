#!/usr/bin/env bash
# NAME
#   run-store-bench.sh - recordOnce per second and its p99, SQLite beside
#   Redis, in one run
# SUMMARY
#   tests/bench/run-store-bench.sh BUILD_DIR [SECONDS] [THREADS...]
# DESCRIPTION
#   Runs BUILD_DIR/tests/bench/loadgen/store-load (see its header) for
#   SECONDS (default 5) at each thread count (default 1 and 8), first on a
#   SQLite file in a temporary directory (the embedded default: WAL,
#   busy_timeout 2 s), then on a redis-server started here on a free
#   loopback port with AOF on and appendfsync everysec (what doc/redis.md
#   advises), over TCP, each thread with its own store as the milter's
#   pool gives them. Prints one line per run. Needs redis-server.
set -euo pipefail
build=${1:?usage: run-store-bench.sh BUILD_DIR [SECONDS] [THREADS...]}
seconds=${2:-5}
shift $(( $# >= 2 ? 2 : 1 ))
threads=("$@")
((${#threads[@]})) || threads=(1 8)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/mail-test.sh
source "$here/../lib/mail-test.sh"
load=$build/tests/bench/loadgen/store-load
[[ -x $load ]] || { echo "no $load: build the target store-load" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 1; }
work=$(mktemp -d /tmp/mtep-store-bench.XXXXXX)
cleanup() { mp_stop_daemon "$work/redis/redis.pid"; rm -rf "$work"; }
trap cleanup EXIT
port=$(mp_free_ports 1)
mp_redis_start "$work/redis" "$port" --appendonly yes --appendfsync everysec
printf '[global]\nstate_dir = "%s"\n[store]\nbackend = "sqlite"\npath = "%s/mtep.db"\n' \
  "$work" "$work" >"$work/sqlite.conf"
printf '[global]\nstate_dir = "%s"\n[store]\nbackend = "redis"\nredis_server = "127.0.0.1:%s"\nredis_prefix = "bench:"\n' \
  "$work" "$port" >"$work/redis.conf"
echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), ${seconds} s per run"
for backend in sqlite redis; do
  for t in "${threads[@]}"; do
    "$load" -c "$work/$backend.conf" --threads "$t" --duration "$seconds"
  done
done

#!/usr/bin/env bash
# NAME
#   run-mmtp-bench.sh - measure mtepd's MMTP gateway with mmtp-load and print
#   a markdown table
# SUMMARY
#   tests/bench/run-mmtp-bench.sh BUILD_DIR [SENDS]
# DESCRIPTION
#   Builds nothing: uses BUILD_DIR/mtepd/mtepd, BUILD_DIR/mtepctl/mtepctl and
#   BUILD_DIR/tests/bench/loadgen/mmtp-load (build them first, RelWithDebInfo
#   or Release, without sanitizers). Starts a detached mtepd with [mmtp]
#   listen and tls_listen (a self-signed certificate), the store on SQLite,
#   the mailbox domain mail.test with 16 users (u0..u15@mail.test; quota
#   raised for the run), and runs:
#     1. SEND, 8 persistent connections, SENDS requests (default 40000)
#     2. SEND, 64 persistent connections, SENDS requests
#     3. RECEIVE of a 100-message mailbox over TLS with the login, 20 times
#     4. idle: 10,000 connections held (mtepd VmRSS before and while holding)
#   Every SEND is fully checked: JSON parse, the packet's shape, addresses and
#   tags, messageHash (SHA-256 of JavaScript's JSON.stringify of the
#   content), the stamp (its SHA-256, resource, timestamp window), the
#   recipient looked up among the site's users, the stamp spent in the store
#   (recordOnce) and the message written to the mailbox; writes of one loop
#   turn share one commit (group commit). The stamps are minted before the
#   clock starts at difficulty 1 (the server requires 1 here): minting is
#   the client's work, and the server's check costs one SHA-256 whatever the
#   difficulty. Any ERROR reply fails the run.
set -euo pipefail

BUILD=${1:?usage: run-mmtp-bench.sh BUILD_DIR [SENDS]}
SENDS=${2:-40000}
MTEPD=$BUILD/mtepd/mtepd
CTL=$BUILD/mtepctl/mtepctl
LOAD=$BUILD/tests/bench/loadgen/mmtp-load
for bin in "$MTEPD" "$CTL" "$LOAD"; do
  [[ -x $bin ]] || { echo "missing $bin: build it first" >&2; exit 2; }
done

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
WORK=$(mktemp -d /tmp/mmtp-bench.XXXXXX)
PIDFILE=$WORK/mtepd.pid
cleanup() {
  if [[ -s $PIDFILE ]]; then kill "$(cat "$PIDFILE")" 2>/dev/null || true; sleep 0.5; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

read -r PLAIN TLS MTEP < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
mkdir -p "$WORK/state"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -keyout "$WORK/tls.key" -out "$WORK/tls.crt" >/dev/null 2>&1
cat >"$WORK/mtep.conf" <<CONF
[global]
user = ""
state_dir = "$WORK/state"

[log]
level = "notice"

[mtepd]
listen = ["127.0.0.1:$MTEP"]
tls_cert_file = "$WORK/tls.crt"
tls_key_file = "$WORK/tls.key"
pid_file = "$PIDFILE"

[mmtp]
listen = ["127.0.0.1:$PLAIN"]
tls_listen = ["127.0.0.1:$TLS"]
difficulty = 1
max_connections = 12000
max_connections_per_client = 12000
mailbox_quota = 1000000
mailbox_size_limit = 1099511627776

[domain."mail.test"]
mmtp_delivery = "mailbox"
CONF
recipients=""
for i in $(seq 0 15); do
  echo "bench-password" | "$CTL" -c "$WORK/mtep.conf" user add --password-fd 0 "u$i@mail.test" >/dev/null
  recipients+="${recipients:+,}(u$i)%(mail.test)"
done
echo "bench-password" | "$CTL" -c "$WORK/mtep.conf" user add --password-fd 0 "reader@mail.test" >/dev/null

"$MTEPD" -c "$WORK/mtep.conf"   # detaches once ready
MPID=$(cat "$PIDFILE")
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$MPID/status"; }
cpu() { awk '{ print $14 + $15 }' "/proc/$MPID/stat"; }
hz=$(getconf CLK_TCK)

echo "mtepd $(cat /proc/loadavg | cut -d' ' -f1-3) (load before), $(nproc) cores" >&2
echo "| run | requests/s | p50 | p99 | mtepd CPU per request |"
echo "|---|---:|---:|---:|---:|"
for conns in 8 64; do
  c0=$(cpu)
  out=$("$LOAD" --port "$PLAIN" --mode send --connections "$conns" --requests "$SENDS" \
        --recipients "$recipients" --difficulty 1 --format kv)
  c1=$(cpu)
  eval "$(tr ' ' '\n' <<<"$out" | grep -E '^(rps|p50|p99|requests)=')"
  # shellcheck disable=SC2154  # set by the eval
  printf '| SEND, %d connections, %d requests | %s | %s us | %s us | %d us |\n' "$conns" "$requests" \
    "$rps" "$p50" "$p99" $(( (c1 - c0) * 1000000 / hz / requests ))
done
out=$("$LOAD" --port "$PLAIN" --tls-port "$TLS" --mode receive --requests 100 --rounds 20 \
      --user reader@mail.test --password bench-password --format kv)
eval "$(tr ' ' '\n' <<<"$out" | grep -E '^(p50|p99)=')"
printf '| RECEIVE of a 100-message mailbox (TLS, login), 20 times | | %s us | %s us | |\n' "$p50" "$p99"
before=$(rss)
"$LOAD" --port "$PLAIN" --mode idle --connections 10000 --duration 5 --ready-file "$WORK/ready" \
  --format kv >"$WORK/idle.out" &
lp=$!
for _ in $(seq 1 300); do [[ -e $WORK/ready ]] && break; sleep 0.1; done
sleep 1
held=$(rss)
wait "$lp" || { echo "idle run failed:" >&2; cat "$WORK/idle.out" >&2; exit 1; }
printf '| idle: 10,000 connections held | | | | RSS %d KiB before, %d KiB holding (%d bytes a connection) |\n' \
  "$before" "$held" $(( (held - before) * 1024 / 10000 ))

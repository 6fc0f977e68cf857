#!/usr/bin/env bash
# NAME
#   onion_route_test.sh - Exim routes .onion addresses with
#   contrib/exim/mtep-onion-routers.conf and mtep-onion-transports.conf
# SUMMARY
#   onion_route_test.sh BUILD_DIR     # ctest exim.onion_routes
# DESCRIPTION
#   Unpacks Exim (scripts/exim-unpack, cached), writes a skeleton
#   configuration that includes the two contrib files unchanged and sets
#   only their macros, and asks `exim -bt` where addresses go:
#     MTEP_ONION_RELAY   user@FP.ONION.onion and user@NAME.b32.i2p -> the
#                        relay's router and transport, host 127.0.0.1, port
#                        10026 (MTEP_RELAY_PORT's default); a clear
#                        domain -> the ordinary dnslookup router
#     MTEP_ONION_TOR     user@ONION.onion -> mtep_onion_tor, transport
#                        mtep_onion_tor_smtp (its DNS step is not run: -bt
#                        with a resolver that knows nothing fails there,
#                        which is checked for: the name is handed to the
#                        system resolver, as documented)
#   and `exim -bV` accepts both variants. No daemon is started.
#   Exit 77 when not root or the Exim package cannot be fetched.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

[[ $(id -u) == 0 ]] || { echo "SKIP: not root"; exit 77; }
root=$("$repo/scripts/exim-unpack")
rc=$?
((rc == 3)) && { echo "SKIP: the Exim package could not be fetched (scripts/exim-unpack)"; exit 77; }
((rc == 0)) || { echo "FAIL: scripts/exim-unpack exited $rc"; exit 1; }
exim=$root/usr/sbin/exim4

T=$(mktemp -d /tmp/mtep-exim-onion.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/spool" "$T/contrib"
# Exim reads the contrib files as Debian-exim: a copy it can reach, since a
# clone under /root (0700) is not.
install -m 644 "$repo"/contrib/exim/mtep-onion-*.conf "$T/contrib/"
chown -R Debian-exim: "$T" 2>/dev/null || true

onion=$(python3 -c '
import base64, hashlib, os
pk = os.urandom(32)
chk = hashlib.sha3_256(b".onion checksum" + pk + b"\x03").digest()[:2]
print(base64.b32encode(pk + chk + b"\x03").decode().lower() + ".onion")')
fp=abcdefghijklmnopqrstuvwx

fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

write_conf() {  # conf macro-line
  cat >"$1" <<CONF
exim_path = $exim
spool_directory = $T/spool
log_file_path = $T/%slog
primary_hostname = mx.onion-route.test
domainlist local_domains = onion-route.test
$2
begin routers
.include $T/contrib/mtep-onion-routers.conf
dnslookup:
  driver = dnslookup
  domains = ! +local_domains
  transport = remote_smtp
  no_more
begin transports
.include $T/contrib/mtep-onion-transports.conf
remote_smtp:
  driver = smtp
CONF
}

# ---- A: mtepd's onion relay ----
write_conf "$T/relay.conf" "MTEP_ONION_RELAY = 127.0.0.1"
out=$("$exim" -C "$T/relay.conf" -bV 2>&1) || fail "exim -bV refuses the relay variant: $out"
for addr in "bob@$fp.$onion" "bob@$onion" "carol@$(printf 'a%.0s' {1..52}).b32.i2p"; do
  out=$("$exim" -C "$T/relay.conf" -bt "$addr" 2>&1)
  grep -q "router = mtep_onion_relay, transport = mtep_onion_relay_smtp" <<<"$out" ||
    fail "$addr not routed to the relay: $out"
  grep -q "host 127.0.0.1 \[127.0.0.1\]" <<<"$out" || fail "$addr: not to 127.0.0.1: $out"
  ok "relay: $addr -> mtep_onion_relay_smtp, 127.0.0.1"
done
port=$("$exim" -C "$T/relay.conf" -bP transport mtep_onion_relay_smtp 2>/dev/null | awk -F' = ' '$1 == "port" { print $2 }')
[[ $port == 10026 ]] || fail "the relay transport's port is '$port', want 10026"
ok "relay transport port 10026"
out=$("$exim" -C "$T/relay.conf" -bt bob@example.org 2>&1)
grep -q "mtep_onion" <<<"$out" && fail "a clear domain went to the onion router: $out"
ok "a clear domain is not routed to the relay"

# ---- B: Tor through socks_proxy ----
write_conf "$T/tor.conf" "MTEP_ONION_TOR = yes"
out=$("$exim" -C "$T/tor.conf" -bV 2>&1) || fail "exim -bV refuses the Tor variant: $out"
out=$("$exim" -C "$T/tor.conf" -d+route -bt "bob@$onion" 2>&1)
grep -q "mtep_onion_tor router" <<<"$out" || fail "bob@$onion did not reach mtep_onion_tor: $(tail -n 20 <<<"$out")"
grep -q "dnslookup router" <<<"$out" && fail "bob@$onion went on to dnslookup: $(tail -n 20 <<<"$out")"
ok "tor: bob@$onion -> mtep_onion_tor (resolved byname, then socks_proxy)"
out=$("$exim" -C "$T/tor.conf" -bt "carol@$(printf 'a%.0s' {1..52}).b32.i2p" 2>&1)
grep -q "mtep_onion_tor" <<<"$out" && fail ".i2p went to the Tor router: $out"
ok "tor: .i2p is not routed through Tor"
echo "PASS"

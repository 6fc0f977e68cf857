#!/usr/bin/env bash
# NAME
#   run-postfix-bench.sh - messages per second through a real Postfix on
#   loopback: alone, with mtep-milter, and with OpenDKIM, side by side
# SUMMARY
#   tests/bench/run-postfix-bench.sh BUILD_DIR [MESSAGES] [SESSIONS] [ROUNDS]
#   (defaults: 5000 messages, 10 sessions, 3 rounds)
# DESCRIPTION
#   Builds nothing: uses BUILD_DIR/mtepd/mtepd, BUILD_DIR/mtepctl/mtepctl and,
#   when it exists, BUILD_DIR/milter/mtep-milter (build them first, Release,
#   no sanitizers). Needs Debian's postfix (smtp-source, smtp-sink), opendkim
#   and opendkim-tools, and python3.
#
#   Sets up everything in a temp directory on free loopback ports: one
#   Postfix instance (its own config, queue and log), smtp-sink as the next
#   hop (relayhost), mtepd for alpha.test, two receiving mtep-milters (cache
#   on: cache_ttl 60s; cache off: cache_ttl 0, one MTEP query per message)
#   and a verifying opendkim that reads the signer's public key from a file
#   (TestPublicKeys), so no DNS. One message file, DKIM-signed once (by
#   this Postfix with OpenDKIM in signing mode, before the runs) and
#   carrying an MTEP-Token for alice@alpha.test, is sent by smtp-source to
#   bob@beta.test in every run (one SMTP connection per message, SESSIONS at
#   once). Between variants only smtpd_milters changes; Postfix is stopped
#   and started before each run so every run begins alike.
#
#   Variants run back to back, ROUNDS times, in a rotated order. A run's
#   msgs/s is MESSAGES over the time from the start of smtp-source to the
#   last "status=sent" in Postfix's log: the whole pipeline, smtpd, milter,
#   cleanup, queue, qmgr, smtp client, smtp-sink. Each run is checked:
#   smtp-source succeeded, every message was relayed to the sink, nothing
#   was rejected, deferred or bounced, and the filter did its work (the
#   milter's Authentication-Results header with mtep=pass or dkim=pass on
#   every message, seen by Postfix's milter_header_checks; mtepd's log
#   shows one query per message with the cache off). A failed check marks
#   the run FAIL and the script exits 1.
#
#   A fifth variant, null-milter, is the floor for any libmilter filter: a
#   milter compiled here (cc, libmilter-dev) that asks Postfix for the same
#   protocol steps as mtep-milter and inserts one header at end of message,
#   and does nothing else. mtep-milter's cost above it is its own work.
#
#   MILTER_SOCKET=inet (default) has Postfix reach every milter over TCP on
#   127.0.0.1, as contrib/postfix/main.cf.fragment does; MILTER_SOCKET=unix
#   over unix-domain sockets in the temp directory.
#
#   NULL_MILTER_STEPS (the empty filter's SMFIP_* step mask, decimal or
#   0x hex; default: mtep-milter's steps) measures what one step costs a
#   libmilter filter, one change at a time.
#
#   VARIANTS (space separated, default all of: postfix null-milter
#   mtep-cache mtep-nocache opendkim), KEEP=1 (leave the temp directory), BODY_LINES
#   (default 60: about 4.5 KB of body) change what is run.
set -euo pipefail

# shellcheck source=../lib/mail-test.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/mail-test.sh"

BUILD=${1:?usage: run-postfix-bench.sh BUILD_DIR [MESSAGES] [SESSIONS] [ROUNDS]}
BUILD=$(cd "$BUILD" && pwd)
N=${2:-5000}
SESSIONS=${3:-10}
ROUNDS=${4:-3}
VARIANTS=${VARIANTS:-postfix null-milter mtep-cache mtep-nocache opendkim}
BODY_LINES=${BODY_LINES:-60}
MILTER_SOCKET=${MILTER_SOCKET:-inet}
MTEPD=$BUILD/mtepd/mtepd
CTL=$BUILD/mtepctl/mtepctl
MILTER=$BUILD/milter/mtep-milter

die() { echo "run-postfix-bench: $*" >&2; exit 2; }
for bin in "$MTEPD" "$CTL"; do [[ -x $bin ]] || die "missing $bin: build it first"; done
for tool in postfix postconf smtp-source smtp-sink opendkim opendkim-genkey python3; do
  command -v "$tool" >/dev/null || die "missing $tool (apt-get install postfix opendkim opendkim-tools python3)"
done
[[ $MILTER_SOCKET == inet || $MILTER_SOCKET == unix ]] || die "MILTER_SOCKET is inet or unix"
[[ $(id -u) == 0 ]] || die "run as root (Postfix and opendkim drop privileges themselves)"
if [[ " $VARIANTS " == *" mtep-"* && ! -x $MILTER ]]; then
  echo "note: $MILTER not built: mtep-milter variants skipped" >&2
  VARIANTS=$(tr ' ' '\n' <<<"$VARIANTS" | grep -v '^mtep-' | tr '\n' ' ')
fi

WORK=$(mktemp -d /tmp/postfix-bench.XXXXXX)
chmod 755 "$WORK"
PF=$WORK/postfix
declare -a PIDS=()
cleanup() {
  set +e
  mp_postfix_stop "$PF"
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    mp_wait_pid "$p" 200 || kill -9 "$p" 2>/dev/null
  done
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# Free loopback ports, distinct.
read -r P_SMTP P_SINK P_MTEPD P_MCACHE P_MNOCACHE P_DKIM P_SIGN P_CAPTURE P_NULL <<<"$(mp_free_ports 9)"

# A milter's socket: where it listens (libmilter's form) and how Postfix
# names it. NAME is a file name for unix sockets, PORT the TCP port.
listenSpec() {  # name port
  if [[ $MILTER_SOCKET == unix ]]; then echo "unix:$WORK/sockets/$1.sock"; else echo "inet:$2@127.0.0.1"; fi
}
postfixSpec() {  # name port
  if [[ $MILTER_SOCKET == unix ]]; then echo "unix:$WORK/sockets/$1.sock"; else echo "inet:127.0.0.1:$2"; fi
}
waitMilter() {  # name port what
  if [[ $MILTER_SOCKET == inet ]]; then waitPort "$2" "$3"; return; fi
  for _ in $(seq 1 200); do
    # Postfix's smtpd runs as "postfix": let it connect whatever mode the milter chose.
    if [[ -S $WORK/sockets/$1.sock ]]; then chmod 666 "$WORK/sockets/$1.sock"; return 0; fi
    sleep 0.05
  done
  die "$3 did not create $WORK/sockets/$1.sock"
}
mkdir -m 1777 "$WORK/sockets"   # opendkim creates its socket after dropping to its user

waitPort() { mp_wait_port "$1" "${2:-port $1}" || exit 2; }  # port [what]

# --- mtepd: the sender domain alpha.test's MTEP server -----------------------
mkdir -p "$WORK/mtepd"
cat >"$WORK/mtepd/mtep.conf" <<EOF
[global]
user = ""
state_dir = "$WORK/mtepd"
[mtepd]
listen = ["127.0.0.1:$P_MTEPD"]
max_connections = 20000
max_commands_per_connection = 1000000
EOF
"$CTL" -c "$WORK/mtepd/mtep.conf" key rotate >/dev/null
TOKEN=$("$CTL" -c "$WORK/mtepd/mtep.conf" token mint --sender alice@alpha.test --recipient-domain beta.test)
"$MTEPD" -f -c "$WORK/mtepd/mtep.conf" 2>"$WORK/mtepd.log" &
PIDS+=($!); MTEPD_PID=$!
waitPort "$P_MTEPD" mtepd

# --- mtep-milter, receiving side, cache on and cache off ---------------------
MILTER_PID_cache=""; MILTER_PID_nocache=""
if [[ -x $MILTER ]]; then
  for kind in cache nocache; do
    port=$P_MCACHE ttl='"60s"'
    if [[ $kind == nocache ]]; then port=$P_MNOCACHE ttl=0; fi
    mkdir -p "$WORK/milter-$kind"
    cat >"$WORK/milter-$kind/mtep.conf" <<EOF
[global]
user = ""
state_dir = "$WORK/milter-$kind"
[milter]
socket = "$(listenSpec "mtep-$kind" "$port")"
authserv_id = "mx.beta.test"
internal_networks = []
cache_ttl = $ttl
mtep_servers = { "alpha.test" = "127.0.0.1:$P_MTEPD" }
[domain."beta.test"]
require_mtep = true
EOF
    "$CTL" -c "$WORK/milter-$kind/mtep.conf" key rotate >/dev/null
    "$MILTER" -f -c "$WORK/milter-$kind/mtep.conf" 2>"$WORK/milter-$kind.log" &
    PIDS+=($!)
    printf -v "MILTER_PID_$kind" '%s' "$!"
    waitMilter "mtep-$kind" "$port" "mtep-milter ($kind)"
  done
fi

# --- null-milter: the same milter steps as mtep-milter, one header, no work ---
NULL_PID=""
if [[ " $VARIANTS " == *" null-milter "* ]]; then
  cat >"$WORK/null-milter.c" <<'EOF'
/* Does nothing but take part: the steps mtep-milter asks for (no connect
   step, MAIL and headers without replies, DATA answered, no body), one
   header inserted at end of message. */
#include <libmilter/mfapi.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

/* As mtep-milter does: Nagle off on the listener, inherited by accepted
   connections, so the verdict after a header change is not held back. */
static void nodelay(void) {
  for (int fd = 0; fd < 1024; ++fd) {
    int on = 0;
    socklen_t len = sizeof on;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on) {
      on = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);  /* fails harmlessly on unix */
    }
  }
}

static int nr_mail; /* MAIL gets no reply */
static unsigned long steps_wanted = SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOEOH | SMFIP_NOBODY |
                                    SMFIP_NOUNKNOWN | SMFIP_NR_HDR | SMFIP_NR_MAIL;
static sfsistat negotiate(SMFICTX *ctx, unsigned long actions, unsigned long steps,
                          unsigned long f2, unsigned long f3, unsigned long *want_actions,
                          unsigned long *want_steps, unsigned long *want_2, unsigned long *want_3) {
  (void)ctx; (void)actions; (void)f2; (void)f3;
  *want_actions = SMFIF_ADDHDRS | SMFIF_CHGHDRS;
  *want_steps = steps & steps_wanted;
  nr_mail = (*want_steps & SMFIP_NR_MAIL) != 0;
  *want_2 = 0;
  *want_3 = 0;
  return SMFIS_CONTINUE;
}
static sfsistat cont_conn(SMFICTX *c, char *h, _SOCK_ADDR *a) { (void)c; (void)h; (void)a; return SMFIS_CONTINUE; }
static sfsistat cont_argv(SMFICTX *c, char **v) { (void)c; (void)v; return SMFIS_CONTINUE; }
static sfsistat mail(SMFICTX *c, char **v) { (void)c; (void)v; return nr_mail ? SMFIS_NOREPLY : SMFIS_CONTINUE; }
static sfsistat header(SMFICTX *c, char *n, char *v) { (void)c; (void)n; (void)v; return SMFIS_NOREPLY; }
static sfsistat eom(SMFICTX *c) {
  char name[] = "X-Bench-Null", value[] = "seen";
  return smfi_insheader(c, 0, name, value) == MI_SUCCESS ? SMFIS_CONTINUE : SMFIS_TEMPFAIL;
}
static sfsistat cont(SMFICTX *c) { (void)c; return SMFIS_CONTINUE; }

int main(int argc, char **argv) {
  struct smfiDesc d = {0};
  if (argc == 3) steps_wanted = strtoul(argv[2], NULL, 0);
  d.xxfi_name = "null-milter";
  d.xxfi_version = SMFI_VERSION;
  d.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS;
  d.xxfi_connect = cont_conn;
  d.xxfi_envfrom = mail;
  d.xxfi_envrcpt = cont_argv;
  d.xxfi_header = header;
  d.xxfi_eom = eom;
  d.xxfi_data = cont;
  d.xxfi_abort = cont;
  d.xxfi_close = cont;
  d.xxfi_negotiate = negotiate;
  if (argc < 2 || argc > 3 || smfi_setconn(argv[1]) != MI_SUCCESS || smfi_register(d) != MI_SUCCESS ||
      smfi_opensocket(1) != MI_SUCCESS) {
    fprintf(stderr, "usage: null-milter SOCKET [STEPS]\n");
    return 1;
  }
  nodelay();
  return smfi_main() == MI_SUCCESS ? 0 : 1;
}
EOF
  if cc -O2 -Wall -o "$WORK/null-milter" "$WORK/null-milter.c" -lmilter -lpthread 2>"$WORK/null-milter.cc.log"; then
    "$WORK/null-milter" "$(listenSpec null "$P_NULL")" ${NULL_MILTER_STEPS:+"$NULL_MILTER_STEPS"} \
      2>"$WORK/null-milter.log" &
    PIDS+=($!); NULL_PID=$!
    waitMilter null "$P_NULL" null-milter
  else
    echo "note: cannot compile the null milter (cc, libmilter-dev?): null-milter skipped" >&2
    VARIANTS=$(tr ' ' '\n' <<<"$VARIANTS" | grep -v '^null-milter$' | tr '\n' ' ')
  fi
fi

# --- the message: MTEP-Token for alice@alpha.test, DKIM-signed by alpha.test --
mkdir -p "$WORK/dkim"
opendkim-genkey --directory="$WORK/dkim" --domain=alpha.test --selector=bench --bits=2048
python3 - "$WORK/message.txt" "$TOKEN" "$BODY_LINES" <<'PY'
import sys
path, token, lines = sys.argv[1], sys.argv[2], int(sys.argv[3])
head = [
    "From: Alice <alice@alpha.test>",
    "To: Bob <bob@beta.test>",
    "Subject: Postfix benchmark message",
    "Date: Mon, 02 Mar 2026 10:00:00 +0000",
    "Message-ID: <bench.1@alpha.test>",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=us-ascii",
    "MTEP-Token: " + token,
]
body = ["Line %03d of the benchmark body: the quick brown fox jumps over the lazy dog." % i
        for i in range(lines)]
open(path, "w").write("\n".join(head) + "\n\n" + "\n".join(body) + "\n")
PY
# The public key as OpenDKIM's TestPublicKeys file: "NAME KEYDATA" per line.
printf 'bench._domainkey.alpha.test %s\n' \
  "$(tr -d '\n' <"$WORK/dkim/bench.txt" | sed -e 's/^[^(]*(//' -e 's/).*$//' -e 's/"[[:space:]]*"//g' -e 's/[[:space:]]*"//g')" \
  >"$WORK/dkim/public.keys"
chmod 644 "$WORK"/dkim/*
chown opendkim "$WORK/dkim/bench.private"; chmod 600 "$WORK/dkim/bench.private"

# --- opendkim, verifying only ------------------------------------------------
echo 127.0.0.254 >"$WORK/dkim/internal.hosts"   # so that 127.0.0.1 is not "internal" (signed, not verified)
cat >"$WORK/dkim/opendkim.conf" <<EOF
Mode                v
Socket              $(listenSpec opendkim "$P_DKIM" | sed 's/^unix:/local:/')
PidFile             $WORK/dkim/opendkim.pid
UserID              opendkim
Syslog              no
AuthservID          mx.beta.test
TestPublicKeys      $WORK/dkim/public.keys
InternalHosts       $WORK/dkim/internal.hosts
EOF
opendkim -f -x "$WORK/dkim/opendkim.conf" 2>"$WORK/opendkim.log" &
PIDS+=($!); DKIM_PID=$!
waitMilter opendkim "$P_DKIM" opendkim

# --- smtp-sink: the next hop --------------------------------------------------
smtp-sink -u nobody "127.0.0.1:$P_SINK" 256 >/dev/null 2>"$WORK/sink.log" &
PIDS+=($!)
waitPort "$P_SINK" smtp-sink

# --- Postfix -------------------------------------------------------------------
mp_postfix_main_cf "$PF" "$WORK/maillog" mx.beta.test
cat >>"$PF/etc/main.cf" <<EOF
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$P_SINK
milter_default_action = tempfail
milter_header_checks = regexp:$PF/etc/milter_header_checks
smtpd_milters =
EOF
cat >"$PF/etc/milter_header_checks" <<'EOF'
/^Authentication-Results:.*[[:space:];]mtep=pass/ WARN bench-mtep-pass
/^Authentication-Results:.*[[:space:];]dkim=pass/ WARN bench-dkim-pass
/^X-Bench-Null: seen/ WARN bench-null-pass
EOF
mp_postfix_master_cf "$PF" "$P_SMTP"
SETTINGS="default_process_limit in_flow_delay default_destination_concurrency_limit \
smtp_destination_concurrency_limit smtp_connection_cache_on_demand qmgr_message_active_limit \
max_use max_idle milter_protocol milter_default_action milter_connect_timeout \
milter_content_timeout smtpd_client_connection_rate_limit"

postfixStart() {  # smtpd_milters value
  postconf -c "$PF/etc" -e "smtpd_milters = $1"
  postfix -c "$PF/etc" start >/dev/null 2>>"$WORK/postfix-start.log" || die "postfix did not start (see $WORK/maillog)"
  waitPort "$P_SMTP" postfix
}
postfixStop() { mp_postfix_stop "$PF" || true; }
queueFiles() { find "$PF/spool"/{maildrop,incoming,active,deferred,hold} -type f 2>/dev/null | wc -l; }

# CPU ticks (user + system) of one process; total and idle jiffies of the machine.
procTicks() { if [[ -n $1 && -r /proc/$1/stat ]]; then awk '{print $14 + $15}' "/proc/$1/stat"; else echo 0; fi; }
machineTicks() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $5 + $6}' /proc/stat; }

# Waits until COUNT lines containing PATTERN appear in FILE past byte OFFSET,
# or TIMEOUT seconds; prints the epoch (ns) of the moment it saw the last one.
waitLog() {  # file offset count pattern timeout
  python3 - "$@" <<'PY'
import sys, time
path, off, count, pat, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
seen, end, buf = 0, time.time() + limit, b""
with open(path, "rb") as f:
    f.seek(off)
    while seen < count and time.time() < end:
        chunk = f.read(1 << 20)
        if not chunk:
            time.sleep(0.005)
            continue
        buf += chunk
        lines = buf.split(b"\n")
        buf = lines.pop()
        seen += sum(1 for l in lines if pat.encode() in l)
print(time.time_ns() if seen >= count else 0)
PY
}

milterFor() {
  case $1 in
    postfix) echo "" ;;
    null-milter) postfixSpec null "$P_NULL" ;;
    mtep-cache) postfixSpec mtep-cache "$P_MCACHE" ;;
    mtep-nocache) postfixSpec mtep-nocache "$P_MNOCACHE" ;;
    opendkim) postfixSpec opendkim "$P_DKIM" ;;
  esac
}
filterLog() {
  case $1 in
    mtep-cache) echo "$WORK/milter-cache.log" ;;
    mtep-nocache) echo "$WORK/milter-nocache.log" ;;
    *) echo /dev/null ;;
  esac
}
filterPid() {
  case $1 in
    mtep-cache) echo "$MILTER_PID_cache" ;;
    mtep-nocache) echo "$MILTER_PID_nocache" ;;
    opendkim) echo "$DKIM_PID" ;;
    null-milter) echo "$NULL_PID" ;;
    *) echo "" ;;
  esac
}

# --- sign the message once, as a sender would: Postfix with OpenDKIM signing ---
# The signed copy is caught by a second smtp-sink that dumps it; its
# DKIM-Signature header is put in front of the original message file.
cat >"$WORK/dkim/signer.conf" <<EOF
Mode                s
Domain              alpha.test
Selector            bench
KeyFile             $WORK/dkim/bench.private
RequireSafeKeys     false
Canonicalization    relaxed/relaxed
SignatureAlgorithm  rsa-sha256
SignHeaders         From,To,Subject,Date,Message-ID,MIME-Version,Content-Type
Socket              inet:$P_SIGN@127.0.0.1
PidFile             $WORK/dkim/signer.pid
UserID              opendkim
Syslog              no
EOF
opendkim -f -x "$WORK/dkim/signer.conf" 2>"$WORK/signer.log" &
PIDS+=($!); SIGNER_PID=$!
install -d -o nobody "$WORK/capture"
smtp-sink -u nobody -d "$WORK/capture/m." "127.0.0.1:$P_CAPTURE" 16 >/dev/null 2>&1 &
PIDS+=($!); CAPTURE_PID=$!
waitPort "$P_SIGN" "opendkim (signing)"; waitPort "$P_CAPTURE" "smtp-sink (capture)"
postconf -c "$PF/etc" -e "relayhost = [127.0.0.1]:$P_CAPTURE"
postfixStart "inet:127.0.0.1:$P_SIGN"
smtp-source -m 1 -f alice@alpha.test -t bob@beta.test -F "$WORK/message.txt" "127.0.0.1:$P_SMTP" \
  || die "could not send the message to sign"
for _ in $(seq 1 200); do compgen -G "$WORK/capture/m.*" >/dev/null && break; sleep 0.05; done
sleep 0.2
postfixStop
kill "$SIGNER_PID" "$CAPTURE_PID" 2>/dev/null || true
postconf -c "$PF/etc" -e "relayhost = [127.0.0.1]:$P_SINK"
awk '/^DKIM-Signature:/ {p = 1; print; next} p && /^[ \t]/ {print; next} {p = 0} /^$/ {exit}' \
  "$WORK"/capture/m.* >"$WORK/message.signed"
grep -q 'a=rsa-sha256' "$WORK/message.signed" || die "no DKIM-Signature from the signing opendkim (see $WORK/signer.log)"
cat "$WORK/message.txt" >>"$WORK/message.signed"

touch "$WORK/maillog"
declare -A RATES ACCEPT FCPU MCPU QUERIES PASSES BUSY STATUS
FAILED=0

# One run of one variant: MESSAGES messages, checked. Appends to the arrays.
runOne() {  # variant count label
  local v=$1 count=$2 label=$3
  postfixStart "$(milterFor "$v")"
  local off qoff loff flog fpid t0 t1 t2 srcrc=0 f0 f1 m0 m1 mt0 mt1
  off=$(stat -c %s "$WORK/maillog")
  qoff=$(stat -c %s "$WORK/mtepd.log")
  fpid=$(filterPid "$v")
  flog=$(filterLog "$v")
  loff=$(stat -c %s "$flog")
  f0=$(procTicks "$fpid"); m0=$(procTicks "$MTEPD_PID"); mt0=$(machineTicks)
  t0=$(date +%s%N)
  smtp-source -s "$SESSIONS" -m "$count" -f alice@alpha.test -t bob@beta.test \
    -F "$WORK/message.signed" "127.0.0.1:$P_SMTP" >"$WORK/source.out" 2>&1 || srcrc=$?
  t1=$(date +%s%N)
  t2=$(waitLog "$WORK/maillog" "$off" "$count" " status=sent " $((60 + count / 20)))
  f1=$(procTicks "$fpid"); m1=$(procTicks "$MTEPD_PID"); mt1=$(machineTicks)
  sleep 0.3  # late log lines (warnings are written before the delivery, but be safe)
  postfixStop

  local region sent rejected notok passes queries logged=0 want_pass="" problems=""
  region=$(tail -c +$((off + 1)) "$WORK/maillog")
  sent=$(grep -c " relay=127.0.0.1\[127.0.0.1\]:$P_SINK.* status=sent " <<<"$region" || true)
  rejected=$(grep -c -E 'milter-reject|reject:|NOQUEUE' <<<"$region" || true)
  notok=$(grep -c -E 'status=(deferred|bounced|expired)' <<<"$region" || true)
  queries=$(tail -c +$((qoff + 1)) "$WORK/mtepd.log" | grep -c 'cmd=? .*action=K' || true)
  case $v in
    mtep-*) want_pass=bench-mtep-pass ;;
    opendkim) want_pass=bench-dkim-pass ;;
    null-milter) want_pass=bench-null-pass ;;
  esac
  if [[ -n $want_pass ]]; then passes=$(grep -c "$want_pass" <<<"$region" || true); else passes=$count; fi
  if [[ $v == mtep-* ]]; then
    logged=$(tail -c +$((loff + 1)) "$flog" | grep -c 'mtep: action=pass reason=valid' || true)
    ((logged == count)) || problems+=" milter logged $logged pass decisions of $count;"
  fi
  ((srcrc == 0)) || problems+=" smtp-source exit $srcrc ($(tail -1 "$WORK/source.out"));"
  ((t2 != 0)) || problems+=" timed out waiting for deliveries;"
  ((sent == count)) || problems+=" relayed $sent of $count;"
  ((rejected == 0)) || problems+=" $rejected rejected;"
  ((notok == 0)) || problems+=" $notok deferred/bounced;"
  ((passes == count)) || problems+=" $want_pass on $passes of $count;"
  if [[ $v == mtep-nocache ]]; then ((queries >= count)) || problems+=" mtepd answered K to $queries queries, want $count;"; fi
  if [[ $v != mtep-* ]]; then ((queries == 0)) || problems+=" mtepd got $queries queries;"; fi
  [[ $(queueFiles) == 0 ]] || problems+=" queue not empty;"

  [[ $label == warmup ]] && { [[ -z $problems ]] || { echo "warm-up $v FAILED:$problems" >&2; FAILED=1; }; return 0; }

  local hz total idle
  hz=$(getconf CLK_TCK)
  read -r total idle <<<"$(awk -v a="$mt0" -v b="$mt1" 'BEGIN {split(a, x, " "); split(b, y, " "); print y[1] - x[1], y[2] - x[2]}')"
  RATES[$v]+=" $(awk -v n="$count" -v a="$t0" -v b="$t2" 'BEGIN {printf "%.1f", (b > a ? n / ((b - a) / 1e9) : 0)}')"
  ACCEPT[$v]+=" $(awk -v n="$count" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", n / ((b - a) / 1e9)}')"
  FCPU[$v]+=" $(awk -v t=$((f1 - f0)) -v hz="$hz" -v n="$count" 'BEGIN {printf "%.0f", t / hz / n * 1e6}')"
  MCPU[$v]+=" $(awk -v t=$((m1 - m0)) -v hz="$hz" -v n="$count" 'BEGIN {printf "%.0f", t / hz / n * 1e6}')"
  BUSY[$v]+=" $(awk -v t="$total" -v i="$idle" 'BEGIN {printf "%.0f", (t > 0 ? 100 * (t - i) / t : 0)}')"
  QUERIES[$v]+=" $queries"
  case $v in
    postfix) PASSES[$v]+=" -" ;;
    mtep-*) PASSES[$v]+=" $passes/$logged" ;;
    *) PASSES[$v]+=" $passes" ;;
  esac
  if [[ -n $problems ]]; then STATUS[$v]+=" FAIL:$problems"; FAILED=1; fi
  printf '  %-13s run %s: %8s msgs/s  (accepted %s/s)%s\n' "$v" "$label" \
    "$(awk '{print $NF}' <<<"${RATES[$v]}")" "$(awk '{print $NF}' <<<"${ACCEPT[$v]}")" \
    "${problems:+  FAIL:$problems}" >&2
}

median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{a[NR] = $1} END {if (NR == 0) print 0; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

read -r -a VLIST <<<"$VARIANTS"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "warm-up: 200 messages per variant (not timed)" >&2
for v in "${VLIST[@]}"; do runOne "$v" 200 warmup; done
echo "timed: $ROUNDS rounds x ${#VLIST[@]} variants x $N messages, $SESSIONS sessions" >&2
for ((r = 0; r < ROUNDS; r++)); do
  for ((i = 0; i < ${#VLIST[@]}; i++)); do
    v=${VLIST[$(((i + r) % ${#VLIST[@]}))]}
    runOne "$v" "$N" "$((r + 1))"
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ----------------------------------------------------------------------
declare -A NAME=(
  [postfix]="Postfix alone"
  [null-milter]="empty milter (same steps, one header, no work)"
  [mtep-cache]="mtep-milter, cache on (60 s)"
  [mtep-nocache]="mtep-milter, cache off (MTEP query per message)"
  [opendkim]="OpenDKIM, verifying (rsa-sha256, 2048 bits)"
)
BASE=$(median <<<"${RATES[postfix]:-}")
echo
echo "Postfix $(postconf -d -h mail_version), $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $N messages x $ROUNDS rounds, $SESSIONS sessions, message $(stat -c %s "$WORK/message.signed") bytes, milters over $MILTER_SOCKET sockets"
echo "load average before: $LOAD_BEFORE; after: $LOAD_AFTER"
echo
echo "| variant | msgs/s (median) | % of Postfix alone | runs, msgs/s | accepted by smtpd, msgs/s | filter CPU µs/msg | mtepd CPU µs/msg | MTEP queries per run | verified per run | machine busy | checks |"
echo "|---|---:|---:|---|---:|---:|---:|---|---|---:|---|"
for v in "${VLIST[@]}"; do
  med=$(median <<<"${RATES[$v]}")
  pct=$(awk -v m="$med" -v b="$BASE" 'BEGIN {if (b > 0) printf "%.0f %%", 100 * m / b; else print "-"}')
  fc=$(median <<<"${FCPU[$v]}"); [[ $v == postfix ]] && fc="-"
  mc=$(median <<<"${MCPU[$v]}"); [[ $v == mtep-* ]] || mc="-"
  printf '| %s | %.0f | %s | %s | %.0f | %s | %s | %s | %s | %s %% | %s |\n' "${NAME[$v]}" "$med" "$pct" \
    "$(sed 's/^ //; s/ /, /g' <<<"${RATES[$v]}" | awk -F', ' '{for (i = 1; i <= NF; i++) $i = sprintf("%.0f", $i); print}' OFS=', ')" \
    "$(median <<<"${ACCEPT[$v]}")" "$fc" "$mc" "$(sed 's/^ //; s/ /, /g' <<<"${QUERIES[$v]}")" "$(sed 's/^ //; s/ /, /g' <<<"${PASSES[$v]}")" \
    "$(median <<<"${BUSY[$v]}")" "${STATUS[$v]:-ok}"
done
echo
echo "msgs/s: MESSAGES / (start of smtp-source .. last \"status=sent\" to smtp-sink in Postfix's log)."
echo "accepted by smtpd: MESSAGES / smtp-source's own time. filter CPU, mtepd CPU: user+system time of"
echo "that process over the run, per message. verified: Authentication-Results with mtep=pass or"
echo "dkim=pass seen by Postfix (milter_header_checks) / mtep-milter's logged pass decisions."
echo "machine busy: all CPUs, all processes (other users' too), from /proc/stat over the run."
echo
echo "Postfix settings (identical in every variant; only smtpd_milters differs):"
echo
echo '```'
for s in $SETTINGS; do postconf -c "$PF/etc" "$s"; done
echo "smtpd: master.cf process limit default (\$default_process_limit), chroot n; queue on $(df -T "$PF/spool" | awk 'NR == 2 {print $2}')"
echo '```'
exit "$FAILED"

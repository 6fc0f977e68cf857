#!/usr/bin/env bash
# NAME
#   run-stoken-bench.sh - submission tokens against Postfix's queue: the same
#   messages into the same Dovecot, by token and the ordinary way
# SUMMARY
#   tests/bench/run-stoken-bench.sh BUILD_DIR [MESSAGES] [SESSIONS]
#   (defaults: 1000 messages per path, 10 sessions at once)
# DESCRIPTION
#   Builds nothing: uses BUILD_DIR's mtepd, mtepctl and mtep-milter (build
#   them first). Needs what tests/postfix/stoken_test.sh needs: root,
#   Postfix, Dovecot's LMTP server, swaks, python3.
#
#   Starts the two sites of scripts/mail-pair.sh in its STOKEN mode (two
#   Postfix instances configured from contrib/postfix/ with the STOKEN
#   fragments, mtepd with the token server and router, mtep-milter, one
#   Dovecot per site; beta's users bob@beta.test and dave@beta.test). bob
#   writes alice once and alice answers twice, so alpha holds a permanent
#   token for (alice, bob) and none for (alice, dave). Then, in one run, on
#   the same machine, alice submits MESSAGES messages to bob and MESSAGES
#   messages to dave to alpha's Postfix (SESSIONS SMTP sessions at once,
#   one message per session, the same message apart from its Message-ID):
#
#     token     alpha's queue -> mtepd's router -> TLS, AUTH STOKEN -> beta's
#               token server -> beta's Dovecot (LMTP), synchronously
#     postfix   alpha's queue -> router (no token) -> re-injection -> alpha's
#               queue -> smtp -> beta's smtpd (mtep-milter) -> beta's queue
#               -> router -> re-injection -> beta's queue -> lmtp -> Dovecot
#
#   The token path first, then the ordinary path, each after the queues are
#   empty. A message's latency is from the moment its SMTP session to alpha
#   opens to the time Dovecot wrote its file (the Maildir file's mtime, found
#   by Message-ID); msgs/s is MESSAGES over the time from the first
#   submission to the last file. Prints msgs/s, p50, p99 and max for each
#   path. Fails (exit 1) unless every message arrived exactly once, by the
#   path it was meant to take (Received ... with LMTPSA and stoken=pass on
#   every token message, on no ordinary one).
#
#   beta's submission_token_rate is set to 0 (no limit) for the run: with the
#   shipped 60 deliveries per token an hour, the token server answers 450
#   4.7.1 from the 61st message on and the router sends the rest the
#   ordinary way (the check above then fails the run).
#
#   KEEP=1 leaves the pair's directory.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../scripts/mail-pair.sh
source "$here/../../scripts/mail-pair.sh"

BUILD=${1:?usage: run-stoken-bench.sh BUILD_DIR [MESSAGES] [SESSIONS]}
BUILD=$(cd "$BUILD" && pwd) || exit 2
N=${2:-1000}
SESSIONS=${3:-10}
die() { echo "run-stoken-bench: $*" >&2; exit 2; }
why=$(mp_missing) && die "$why"
why=$(dv_missing) && die "$why"
command -v python3 >/dev/null || die "python3 not installed"
for b in mtepd/mtepd mtepctl/mtepctl milter/mtep-milter; do
  [[ -x $BUILD/$b ]] || die "build $b first ($BUILD/$b)"
done

WORK=$(mktemp -d /tmp/stoken-bench.XXXXXX)
cleanup() {
  mp_stop "$WORK" 2>/dev/null
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# bob has a token path from alice; dave never writes, so alice has none.
MP_DV_USERS[beta]="bob@beta.test dave@beta.test"
MP_STOKEN=1 mp_start "$WORK" "$BUILD" || die "the pair did not start (see $WORK)"
# beta takes any number of deliveries per token: the shipped limit
# (submission_token_rate, 60 an hour per token) would send all but the
# first 60 the ordinary way (450 4.7.1 from the token server, as it should).
sed -i 's|^#submission_token_rate = 60$|submission_token_rate = 0|' "$WORK/beta/mtep.conf"
grep -q '^submission_token_rate = 0$' "$WORK/beta/mtep.conf" || die "could not lift beta's submission_token_rate"
mp_stop_mtepd beta
mp_start_mtepd beta || die "beta's mtepd did not start again"
# The benchmark's own sessions come from 127.0.0.1 like any user of alpha;
# Postfix's default smtpd_client_connection_rate_limit is off, its process
# limit (100) above SESSIONS.

# Warm-up: alpha gets a token for (alice, bob) and turns it permanent.
warm() {  # from to subject
  local side=alpha
  [[ $1 == *@beta.test ]] && side=beta
  mp_swaks "$WORK/warm.txt" --server "127.0.0.1:$(mp_get "$side" smtp)" --from "$1" --to "$2" \
    --header "Subject: $3" >/dev/null || die "warm-up '$3' refused: $(mp_last_reply "$WORK/warm.txt")"
}
warm bob@beta.test alice@alpha.test "hello alice"
mp_dv_wait alpha alice@alpha.test 1 30 || die "bob's mail did not reach alice"
warm alice@alpha.test bob@beta.test "re: hello"
mp_dv_wait beta bob@beta.test 1 30 || die "alice's reply did not reach bob"
warm alice@alpha.test bob@beta.test "re: re: hello"
mp_dv_wait beta bob@beta.test 2 30 || die "alice's second reply did not reach bob"
mp_ctl alpha stoken list alice@alpha.test | grep -q "^held permanent local=alice@alpha.test remote=bob@beta.test " ||
  die "alpha holds no permanent token for (alice, bob) after the warm-up"
mp_dv_clear beta

python3 - "$MP_alpha_smtp" "$N" "$SESSIONS" "$(mp_dv_maildir beta bob@beta.test)" \
  "$(mp_dv_maildir beta dave@beta.test)" <<'PY'
import concurrent.futures, os, re, smtplib, sys, time

port, n, sessions = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
boxes = {"token": sys.argv[4], "postfix": sys.argv[5]}
rcpt = {"token": "bob@beta.test", "postfix": "dave@beta.test"}
body = "\r\n".join("line %02d of the benchmark message, the same for every message and path" % i
                   for i in range(40))

def send(path, i):
    mid = "bench.%s.%d@alpha.test" % (path, i)
    msg = ("From: alice@alpha.test\r\nTo: %s\r\nSubject: bench %d\r\nMessage-Id: <%s>\r\n\r\n%s\r\n"
           % (rcpt[path], i, mid, body))
    t0 = time.time()
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
        s.sendmail("alice@alpha.test", [rcpt[path]], msg)
    return mid, t0

def files(box):
    out = {}
    for sub in ("new", "cur"):
        d = os.path.join(box, sub)
        for f in os.listdir(d):
            p = os.path.join(d, f)
            with open(p, "rb") as h:
                head = h.read(8192).split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
            m = re.search(rb"(?im)^message-id:\s*<([^>]+)>", head)
            if m:
                out.setdefault(m.group(1).decode(), []).append((os.stat(p).st_mtime_ns / 1e9, head))
    return out

def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]

ok = True
for path in ("token", "postfix"):
    start = time.time()
    with concurrent.futures.ThreadPoolExecutor(sessions) as ex:
        sent = list(ex.map(lambda i: send(path, i), range(n)))
    deadline = time.time() + 600
    while True:
        got = files(boxes[path])
        if sum(1 for mid, _ in sent if mid in got) == n or time.time() > deadline:
            break
        time.sleep(0.2)
    time.sleep(1.0)
    got = files(boxes[path])
    lat, last, bad = [], 0.0, []
    for mid, t0 in sent:
        copies = got.get(mid, [])
        if len(copies) != 1:
            bad.append("%s: %d copies" % (mid, len(copies)))
            continue
        t, head = copies[0]
        by_token = b" with LMTPSA" in head and b"stoken=pass" in head
        if by_token != (path == "token"):
            bad.append("%s: %s" % (mid, "by token" if by_token else "not by token"))
        lat.append(t - t0)
        last = max(last, t)
    if bad:
        ok = False
        print("%s: FAIL: %d of %d wrong, e.g. %s" % (path, len(bad), n, "; ".join(bad[:3])))
        continue
    rate = n / (last - start)
    print("%-8s %5d msgs  %7.1f msgs/s  submission->mailbox p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms"
          % (path, n, rate, 1000 * pct(lat, 0.50), 1000 * pct(lat, 0.99), 1000 * max(lat)))
sys.exit(0 if ok else 1)
PY

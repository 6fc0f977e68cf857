#!/usr/bin/env bash
# NAME
#   stoken_test.sh - submission tokens (STOKEN) between two real Postfix
#   sites, into real Dovecot mailboxes
# SUMMARY
#   stoken_test.sh start BUILD_DIR STATE_FILE   # ctest fixture setup
#   stoken_test.sh CASE  BUILD_DIR STATE_FILE   # one case, pair running
#   stoken_test.sh stop  BUILD_DIR STATE_FILE   # ctest fixture cleanup
#   stoken_test.sh list                          # the case names
# DESCRIPTION
#   `start` starts the pair of scripts/mail-pair.sh in its STOKEN mode
#   (MP_STOKEN=1): alpha.test and beta.test, each Postfix + mtepd (token
#   server, router) + mtep-milter + Dovecot LMTP, configured from
#   contrib/postfix/ with the STOKEN fragments, only ports substituted.
#   alice@alpha.test, bob@beta.test and carol@beta.test (1K quota) have
#   Dovecot mailboxes.
#
#   `flow` is the whole exchange of doc/stoken.md: bob's mail to alice
#   carries a Submission-Token and alpha holds it; alice's reply reaches
#   bob's Dovecot by token (`with LMTPSA`, `stoken=pass (temporary)`) and
#   never passes beta's Postfix; the next reply goes by the permanent token
#   alpha got back; bob's next mail to alice goes by token too (MYSTOKEN).
#   The other cases take the token path away in one way each (beta's token
#   server down, a server that does not advertise STOKEN, a wrong TLS pin, a
#   revoked token) and check that the reply is delivered exactly once, by
#   the ordinary path through beta's Postfix: one file with its Message-ID
#   in bob's Maildir, the queues empty. `quota` sends one reply to bob and
#   carol by token: bob's copy is delivered once, carol's (over quota)
#   bounces back to alice and is not retried.
#
#   Cases judge by the Maildirs, the headers of the delivered files and
#   Postfix's maillog (cleanup logs every message it takes in with its
#   message-id=), never by mtepd's log alone; on failure they print the
#   transcript and the end of the logs.
#
#   Exit 77 (ctest SKIP_RETURN_CODE) when not root or when Postfix, swaks,
#   ss, Dovecot's LMTP server or python3 are missing.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../scripts/mail-pair.sh
source "$here/../../scripts/mail-pair.sh"

PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3 || true)

# ---- the fixture (tests/lib/mail-test.sh's mp_fixture_main) -------------------

MP_WORK_PREFIX=mtep-stoken
MP_FIXTURE=postfix.stoken_start
MP_NEEDS=(milter/mtep-milter)
MP_SHOW_LOGS=(alpha/maillog alpha/mtepd.log alpha/milter.log beta/maillog beta/mtepd.log
  beta/milter.log beta/dovecot/dovecot.log)
MP_DAEMON_LOGS=(alpha/mtepd.log alpha/milter.log beta/mtepd.log beta/milter.log)

site_check() {
  mp_skip_without_postfix
  dv_skip_without_dovecot
  [[ -n $PY ]] || { echo "SKIP: python3 not installed"; exit 77; }
}

site_start() {  # work build
  MP_STOKEN=1 mp_start "$1" "$2" || return 1
  echo "pair up in $MP_WORK (STOKEN): alpha smtpd :$MP_alpha_smtp token server :$MP_alpha_stoken" \
    "filter :$MP_alpha_filter re-injection :$MP_alpha_reinject dovecot :$MP_alpha_lmtp;" \
    "beta smtpd :$MP_beta_smtp token server :$MP_beta_stoken filter :$MP_beta_filter" \
    "re-injection :$MP_beta_reinject dovecot :$MP_beta_lmtp"
}
site_load() { mp_load "$1"; }  # work
site_stop() { mp_stop; }

# Each case starts from empty Maildirs and empty queues, every daemon up.
# The stores (held, permanent and revoked tokens) are kept: each case makes
# the tokens it needs.
fresh() {
  local side
  for side in alpha beta; do
    postsuper -c "$MP_WORK/$side/etc" -d ALL >/dev/null 2>&1
    mp_clear_mail "$side"
    mp_dv_clear "$side"
  done
}

# ---- helpers ------------------------------------------------------------------

# swaks from the site's own network (127.0.0.1, internal): submission.
submit() {  # side swaks-args...
  local side=$1; shift
  swaks_to "$(mp_get "$side" smtp)" "$@"
}

# A Message-ID of our own for one message, so each path can be followed.
new_msgid() { echo "stoken.$1.$RANDOM$RANDOM@test"; }

# Mails FROM -> TO through FROM's site with Message-ID MID; 250 expected.
send() {  # from to mid subject [swaks-args...]
  local from=$1 to=$2 mid=$3 subj=$4 side=alpha; shift 4
  [[ $from == *@beta.test ]] && side=beta
  submit "$side" --from "$from" --to "$to" --header "Message-Id: <$mid>" \
    --header "Subject: $subj" "$@" || fail "$side refused '$subj'"
  expect_reply "$LAST" '^250 ' "'$subj' submitted at $side"  >&2
}

# Files in ADDR's Dovecot Maildir at SIDE holding Message-ID MID.
files_with() {  # side addr mid
  local f
  while read -r f; do
    [[ -n $f ]] && grep -l -i -F "Message-Id: <$3>" "$f"
  done < <(mp_dv_files "$1" "$2")
  return 0
}

# Waits until neither queue holds anything (deferred mail flushed on the
# way), up to 30 s.
queues_empty() {
  local i side busy
  for ((i = 0; i < 300; i++)); do
    busy=0
    for side in alpha beta; do
      [[ -n $(mp_queue "$side") ]] && busy=1
    done
    ((busy == 0)) && return 0
    ((i % 50 == 49)) && { mp_flush alpha; mp_flush beta; } 2>/dev/null
    sleep 0.1
  done
  fail "the queues are not empty: alpha: $(mp_queue alpha) beta: $(mp_queue beta)"
}

# Exactly one file with MID in ADDR's Maildir at SIDE, once the queues are
# empty (a second copy on its way would be in a queue or delivered); prints
# that file.
expect_once() {  # side addr mid what
  local i files n
  for ((i = 0; i < 200; i++)); do
    [[ -n $(files_with "$1" "$2" "$3") ]] && break
    sleep 0.1
  done
  queues_empty
  sleep 0.3
  files=$(files_with "$1" "$2" "$3")
  n=$(grep -c . <<<"$files")
  [[ $n == 1 ]] || fail "$4: $n copies of <$3> in $2's mailbox at $1, want 1"
  echo "$files"
}

# The file came by token into SIDE's Dovecot: a Received ... with LMTPSA and
# one Authentication-Results by mx.SIDE.test with stoken=pass (KIND) for
# SENDER; and SIDE's Postfix never saw the message.
expect_by_token() {  # side file mid kind sender what
  local side=$1 file=$2 mid=$3 kind=$4 sender=$5 what=$6 ar
  mp_header "$file" Received | grep -q -E ' with LMTPSA( |;)' ||
    fail "$what: no 'Received: ... with LMTPSA' in $file: $(mp_header "$file" Received)"
  ar=$(mp_header "$file" Authentication-Results | grep -i "^mx\\.$side\\.test;" || true)
  [[ $(grep -c . <<<"$ar") == 1 ]] || fail "$what: want one Authentication-Results by mx.$side.test, got '$ar'"
  grep -q -E "stoken=pass \\($kind\\) +smtp\\.mailfrom=$sender" <<<"$ar" ||
    fail "$what: want 'stoken=pass ($kind) smtp.mailfrom=$sender', got '$ar'"
  if grep -q -i -F "message-id=<$mid>" "$MP_WORK/$side/maillog"; then
    fail "$what: $side's Postfix saw <$mid>: $(grep -i -F "message-id=<$mid>" "$MP_WORK/$side/maillog")"
  fi
  ok "$what: by token, $ar; $side's Postfix never saw it"
}

# The file came the ordinary way: through SIDE's Postfix, no token delivery.
expect_ordinary() {  # side file mid what
  local side=$1 file=$2 mid=$3 what=$4
  if mp_header "$file" Received | grep -q -E ' with LMTPSA( |;)'; then
    fail "$what: delivered by token, want the ordinary path: $(mp_header "$file" Received | head -n 1)"
  fi
  grep -q -i -F "message-id=<$mid>" "$MP_WORK/$side/maillog" ||
    fail "$what: $side's Postfix never saw <$mid>"
  mp_header "$file" Authentication-Results | grep -q 'stoken=' &&
    fail "$what: a stoken result on mail that came the ordinary way"
  ok "$what: delivered once, through $side's Postfix"
}

# How many times alpha's router has logged a failure of the token server
# at 127.0.0.1:PORT before any token was sent (connect, TLS, no STOKEN).
router_failures() {  # port
  grep -c -F "stoken-router: token server 127.0.0.1:$1 for beta.test: " "$MP_WORK/alpha/mtepd.log"
}

# alpha's router tried the token server at PORT and failed there: more
# failures logged than BEFORE (so the fallback was not for want of a token).
expect_router_failed() {  # port before what
  local n
  n=$(router_failures "$1")
  ((n > $2)) || fail "$3: alpha's router did not try the token server at :$1 (mtepd.log)"
  ok "$3: alpha's router tried :$1 and fell back: $(grep -F "stoken-router: token server 127.0.0.1:$1 " "$MP_WORK/alpha/mtepd.log" | tail -n 1 | sed 's/^.*stoken-router: //')"
}

# bob (or carol) writes to alice so that alpha holds a token for the pair;
# prints the Submission-Token header of what alice got.
bob_writes_alice() {  # from
  local from=${1:-bob@beta.test} mid f tok
  mid=$(new_msgid hello)
  send "$from" alice@alpha.test "$mid" "hello from ${from%@*}"
  f=$(expect_once alpha alice@alpha.test "$mid" "${from%@*}'s mail to alice")
  tok=$(mp_header "$f" Submission-Token)
  [[ $(grep -c . <<<"$tok") == 1 ]] || fail "${from%@*}'s mail to alice: want one Submission-Token, got '$tok'"
  echo "$tok"
}

# SIDE's store holds a token of KIND (held or issued) for (LOCAL, REMOTE),
# as mtepctl stoken list says.
expect_listed() {  # side what kind local remote
  local out
  out=$(mp_ctl "$1" stoken list "$4" 2>&1) || fail "mtepctl stoken list at $1: $out"
  grep -q -x -E "$2 $3 local=$4 remote=$5 id=.*" <<<"$out" ||
    fail "$1 does not list '$2 $3 local=$4 remote=$5': ${out:-nothing}"
  ok "$1 lists $2 $3 local=$4 remote=$5"
}

# alpha's [stoken]/[milter] edited with a sed expression and its mtepd
# restarted; undone (the saved file back, mtepd restarted) when the case
# exits, however it exits.
edit_alpha_conf() {  # sed-expr...
  local e conf=$MP_WORK/alpha/mtep.conf
  cp "$conf" "$T/alpha.mtep.conf"
  trap restore_alpha_conf EXIT
  for e in "$@"; do
    sed -n "${e}p" "$conf" | grep -q . || fail "'$e' matches nothing in alpha's mtep.conf"
    sed -i "$e" "$conf"
  done
  mp_stop_mtepd alpha
  mp_start_mtepd alpha || fail "alpha's mtepd did not start with '$*'"
}
restore_alpha_conf() {
  trap - EXIT
  cp "$T/alpha.mtep.conf" "$MP_WORK/alpha/mtep.conf"
  mp_stop_mtepd alpha
  mp_start_mtepd alpha
}

# ---- cases --------------------------------------------------------------------

# The whole flow, 1 to 4.
case_flow() {
  local tok f mid
  # 1-2. bob -> alice through beta's and alpha's Postfix: a Submission-Token.
  tok=$(bob_writes_alice)
  [[ $tok =~ ^[A-Za-z0-9_-]{52}$ ]] || fail "Submission-Token '$tok' is not 52 base64url characters"
  ok "bob's mail reached alice's Dovecot with Submission-Token ${tok:0:12}..."
  expect_listed alpha held temporary alice@alpha.test bob@beta.test
  # 3. alice replies: by token, into bob's Dovecot, not via beta's Postfix.
  mid=$(new_msgid reply1)
  send alice@alpha.test bob@beta.test "$mid" "Re: hello from bob"
  f=$(expect_once beta bob@beta.test "$mid" "alice's reply")
  expect_by_token beta "$f" "$mid" temporary alice@alpha.test "alice's reply"
  grep -q -i -F "message-id=<$mid>" "$MP_WORK/alpha/maillog" || fail "alpha's Postfix never saw <$mid>"
  expect_listed alpha held permanent alice@alpha.test bob@beta.test
  expect_listed beta issued permanent bob@beta.test alice@alpha.test
  expect_listed beta held permanent bob@beta.test alice@alpha.test
  # The next reply: by the permanent token beta gave back (2.1.13).
  mid=$(new_msgid reply2)
  send alice@alpha.test bob@beta.test "$mid" "Re: Re: hello from bob"
  f=$(expect_once beta bob@beta.test "$mid" "alice's second reply")
  expect_by_token beta "$f" "$mid" permanent alice@alpha.test "alice's second reply"
  # 4. bob's next mail to alice: by the token alpha sent along (MYSTOKEN).
  mid=$(new_msgid bobagain)
  send bob@beta.test alice@alpha.test "$mid" "Re: Re: Re: hello from bob"
  f=$(expect_once alpha alice@alpha.test "$mid" "bob's next mail")
  expect_by_token alpha "$f" "$mid" permanent bob@beta.test "bob's next mail to alice (MYSTOKEN)"
}

# beta's mtepd (token server and router) is down: alpha falls back to SMTP;
# beta's Postfix keeps the mail until its router is back, then delivers it
# once the ordinary way.
case_server_down() {
  local mid f
  bob_writes_alice >/dev/null
  mp_stop_mtepd beta
  local before
  before=$(router_failures "$MP_beta_stoken")
  mid=$(new_msgid down)
  send alice@alpha.test bob@beta.test "$mid" "token server down"
  # alpha hands it to beta's Postfix; beta's content filter (its mtepd) is
  # down, so beta defers it: nothing in bob's mailbox yet.
  local i
  for ((i = 0; i < 200; i++)); do
    grep -q -i -F "message-id=<$mid>" "$MP_WORK/beta/maillog" && break
    sleep 0.1
  done
  grep -q -i -F "message-id=<$mid>" "$MP_WORK/beta/maillog" ||
    { mp_start_mtepd beta; fail "alpha did not fall back to beta's Postfix"; }
  [[ -z $(files_with beta bob@beta.test "$mid") ]] ||
    { mp_start_mtepd beta; fail "delivered while beta's router was down"; }
  expect_router_failed "$MP_beta_stoken" "$before" "token server down"
  ok "alpha fell back to SMTP; beta's Postfix holds it while its router is down"
  mp_start_mtepd beta || fail "beta's mtepd did not start again"
  mp_flush beta
  f=$(expect_once beta bob@beta.test "$mid" "token server down")
  expect_ordinary beta "$f" "$mid" "token server down"
}

# A TLS server for beta.test that does not advertise STOKEN: beta's own
# certificate in front of beta's Dovecot LMTP (a plain LMTP server).
case_stoken_not_advertised() {
  local port mid f pid
  bob_writes_alice >/dev/null
  port=$(mp_free_ports 1)
  "$PY" - "$port" "$MP_WORK/beta/tls.crt" "$MP_WORK/beta/tls.key" "$MP_beta_lmtp" \
    >"$T/tlsproxy.log" 2>&1 <<'PY' &
import socket, ssl, sys, threading
port, cert, key, backend = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(8)
def pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
def serve(c):
    try:
        t = ctx.wrap_socket(c, server_side=True)
    except (OSError, ssl.SSLError) as e:
        print("tls:", e, flush=True)
        return
    print("connection", flush=True)
    d = socket.create_connection(("127.0.0.1", backend))
    threading.Thread(target=pump, args=(d, t), daemon=True).start()
    pump(t, d)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
  pid=$!
  mp_wait_port "$port" "the TLS proxy" || { kill "$pid"; fail "the TLS proxy did not start"; }
  edit_alpha_conf "/^\\[stoken\\]/,/^\\[/ s|^servers = .*|servers = { \"beta.test\" = \"127.0.0.1:$port\" }|"
  mid=$(new_msgid nostoken)
  send alice@alpha.test bob@beta.test "$mid" "no STOKEN advertised"
  f=$(expect_once beta bob@beta.test "$mid" "STOKEN not advertised")
  kill "$pid"; wait "$pid" 2>/dev/null
  grep -q '^connection' "$T/tlsproxy.log" ||
    fail "alpha's router never reached the server without STOKEN: $(cat "$T/tlsproxy.log")"
  expect_ordinary beta "$f" "$mid" "STOKEN not advertised"
}

# TLS fails: alpha's [stoken] tls_pins name a key that is not beta's.
case_tls_wrong_pin() {
  local mid f wrong
  bob_writes_alice >/dev/null
  wrong=$(printf 'a%.0s' {1..52})
  edit_alpha_conf "/^\\[stoken\\]/,/^\\[/ s|\"beta\\.test\" = \"[a-z2-7]\\{52\\}\"|\"beta.test\" = \"$wrong\"|"
  local before
  before=$(router_failures "$MP_beta_stoken")
  mid=$(new_msgid wrongpin)
  send alice@alpha.test bob@beta.test "$mid" "wrong pin"
  f=$(expect_once beta bob@beta.test "$mid" "wrong TLS pin")
  expect_router_failed "$MP_beta_stoken" "$before" "wrong TLS pin"
  expect_ordinary beta "$f" "$mid" "wrong TLS pin"
}

# TLS fails: the server alpha is sent to speaks plain text (beta's STARTTLS
# token listener, where alpha expects implicit TLS).
case_tls_plain_listener() {
  local mid f
  bob_writes_alice >/dev/null
  edit_alpha_conf "/^\\[stoken\\]/,/^\\[/ s|^servers = .*|servers = { \"beta.test\" = \"127.0.0.1:$MP_beta_stls\" }|"
  local before
  before=$(router_failures "$MP_beta_stls")
  mid=$(new_msgid plain)
  send alice@alpha.test bob@beta.test "$mid" "plain listener"
  f=$(expect_once beta bob@beta.test "$mid" "plain listener")
  expect_router_failed "$MP_beta_stls" "$before" "plain listener"
  expect_ordinary beta "$f" "$mid" "plain listener"
}

# bob revokes alice at beta: alpha's token is refused (535), alpha drops it
# and the reply arrives once through beta's Postfix; the next reply too
# (alpha holds nothing for the pair any more); a token issued after the
# revocation works.
case_revoked() {
  local mid f
  bob_writes_alice >/dev/null
  # Make sure alpha holds a token beta took once (a permanent one).
  mid=$(new_msgid before)
  send alice@alpha.test bob@beta.test "$mid" "before revocation"
  f=$(expect_once beta bob@beta.test "$mid" "before revocation")
  mp_header "$f" Received | grep -q ' with LMTPSA' || fail "before revocation: not delivered by token"
  mp_ctl beta stoken revoke alice@alpha.test bob@beta.test >"$T/revoke.txt" 2>&1 ||
    fail "mtepctl stoken revoke failed: $(cat "$T/revoke.txt")"
  ok "mtepctl stoken revoke at beta: $(head -n 1 "$T/revoke.txt")"
  mid=$(new_msgid revoked)
  send alice@alpha.test bob@beta.test "$mid" "after revocation"
  f=$(expect_once beta bob@beta.test "$mid" "revoked token")
  expect_ordinary beta "$f" "$mid" "revoked token"
  mid=$(new_msgid revoked2)
  send alice@alpha.test bob@beta.test "$mid" "after revocation, again"
  f=$(expect_once beta bob@beta.test "$mid" "revoked token, next mail")
  expect_ordinary beta "$f" "$mid" "revoked token, next mail"
  # bob writes alice again: beta still holds alpha's token for (bob, alice),
  # so this goes by token, and its MYSTOKEN is a new permanent token of
  # beta's for (alice, bob), issued after the revocation: alpha holds it,
  # and alice's next reply goes by token again.
  bob_writes_alice >/dev/null
  expect_listed alpha held permanent alice@alpha.test bob@beta.test
  mid=$(new_msgid renewed)
  send alice@alpha.test bob@beta.test "$mid" "after a new token"
  f=$(expect_once beta bob@beta.test "$mid" "new token after revocation")
  expect_by_token beta "$f" "$mid" permanent alice@alpha.test "new token after revocation"
}

# One reply to bob and carol by token; carol is over quota (1K): bob's copy
# is delivered once, carol's bounces to alice, nothing is retried.
case_quota() {
  local mid f bounce
  bob_writes_alice >/dev/null
  bob_writes_alice carol@beta.test >/dev/null
  mid=$(new_msgid quota)
  send alice@alpha.test bob@beta.test,carol@beta.test "$mid" "to bob and carol" \
    --body "$(head -c 3000 /dev/zero | tr '\0' 'x' | fold -w 70)"
  f=$(expect_once beta bob@beta.test "$mid" "bob's copy")
  mp_header "$f" Received | grep -q ' with LMTPSA' || fail "bob's copy: not delivered by token"
  [[ -z $(files_with beta carol@beta.test "$mid") ]] || fail "carol's copy delivered over quota"
  local i files=()
  for ((i = 0; i < 100; i++)); do
    mapfile -t files < <(mp_dv_files alpha alice@alpha.test)
    bounce=$(grep -l -i -E 'carol@beta\.test.*(5\.2\.2|quota)' "${files[@]}" /dev/null | tail -n 1)
    [[ -n $bounce ]] && break
    sleep 0.1
  done
  [[ -n $bounce ]] || fail "no bounce for carol reached alice"
  ok "bob's copy delivered once by token; carol's over quota bounced to alice"
}

# Real swaks speaking LMTP: to beta's token server with implicit TLS (the
# LHLO reply offers STOKEN), to its STARTTLS listener in plain text (no
# STOKEN before TLS; STOKEN after STARTTLS), and to alpha's router as
# Postfix's content filter does: mail for a local user, with no token to
# use, goes back into alpha's Postfix and lands once in alice's Maildir.
case_swaks_lmtp() {
  local t mid
  t=$T/swaks-lmtp.$RANDOM.txt
  mp_swaks "$t" --protocol LMTP --server "127.0.0.1:$MP_beta_stoken" --tls-on-connect \
    --quit-after LHLO || fail "swaks could not speak LMTP over TLS to beta's token server"
  grep -q -E '^<[-~] +250[ -]STOKEN' "$t" || { cat "$t"; fail "no STOKEN in the LHLO reply over TLS"; }
  ok "token server, implicit TLS: STOKEN in the LHLO reply"
  t=$T/swaks-lmtp.$RANDOM.txt
  mp_swaks "$t" --protocol LMTP --server "127.0.0.1:$MP_beta_stls" --quit-after LHLO ||
    fail "swaks could not speak LMTP to beta's STARTTLS listener"
  grep -q -E '^<[-~] +250[ -]STARTTLS' "$t" || { cat "$t"; fail "no STARTTLS in the plain LHLO reply"; }
  ! grep -q -E 'STOKEN|AUTH' "$t" || { cat "$t"; fail "STOKEN or AUTH offered in plain text"; }
  ok "token server, plain text: STARTTLS only, no STOKEN"
  t=$T/swaks-lmtp.$RANDOM.txt
  mp_swaks "$t" --protocol LMTP --server "127.0.0.1:$MP_beta_stls" --tls --quit-after LHLO ||
    fail "swaks could not STARTTLS at beta's STARTTLS listener"
  grep -q -E '^<~ +250[ -]STOKEN' "$t" || { cat "$t"; fail "no STOKEN after STARTTLS"; }
  ok "token server, after STARTTLS: STOKEN"
  fresh
  mid=$(new_msgid swaks)
  t=$T/swaks-lmtp.$RANDOM.txt
  mp_swaks "$t" --protocol LMTP --server "127.0.0.1:$MP_alpha_filter" \
    --from bob@beta.test --to alice@alpha.test --header "Message-Id: <$mid>" \
    --header "Subject: through the router by swaks" ||
    { cat "$t"; fail "alpha's router refused swaks's LMTP transaction"; }
  expect_reply "$t" '^250 ' "alpha's router, LMTP from swaks"
  expect_once alpha alice@alpha.test "$mid" "the router's re-injected copy" >/dev/null
  ok "alpha's router: re-injected into Postfix, delivered once"
}

CASES=(flow server_down stoken_not_advertised tls_wrong_pin tls_plain_listener revoked quota
  swaks_lmtp)

mp_fixture_main "$@"

#!/usr/bin/env bash
# NAME
#   postfix_test.sh - MTEP between two real Postfix sites on loopback
# SUMMARY
#   postfix_test.sh start BUILD_DIR STATE_FILE   # ctest fixture setup
#   postfix_test.sh CASE  BUILD_DIR STATE_FILE   # one case, pair running
#   postfix_test.sh stop  BUILD_DIR STATE_FILE   # ctest fixture cleanup
#   postfix_test.sh list                          # the case names
# DESCRIPTION
#   `start` starts the pair of scripts/mail-pair.sh (alpha.test, beta.test:
#   Postfix + mtepd + mtep-milter each, configured from contrib/postfix/) in
#   a new directory under /tmp and writes that directory to STATE_FILE;
#   every case then uses the running pair; `stop` stops it, waits for every
#   process, fails when a daemon's log holds a sanitizer report, and removes
#   the directory. Each case judges by the SMTP replies swaks (or Postfix's
#   queue) got and by the files delivered, never by logs alone; on failure
#   it prints the transcript and the end of the logs.
#
#   Exit 77 (ctest SKIP_RETURN_CODE) when not root or when Postfix, swaks or
#   ss are missing (the SMTPUTF8 case also without python3).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../scripts/mail-pair.sh
source "$here/../../scripts/mail-pair.sh"

PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3 || true)

# ---- the fixture (tests/lib/mail-test.sh's mp_fixture_main) -------------------

MP_WORK_PREFIX=mtep-postfix
MP_FIXTURE=postfix.pair_start
MP_NEEDS=(milter/mtep-milter)
MP_SHOW_LOGS=(alpha/maillog alpha/milter.log alpha/mtepd.log beta/maillog beta/milter.log beta/mtepd.log)
MP_DAEMON_LOGS=(alpha/mtepd.log alpha/milter.log beta/mtepd.log beta/milter.log)

site_check() { mp_skip_without_postfix; }

site_start() {  # work build
  mp_start "$1" "$2" || return 1
  echo "pair up in $MP_WORK: alpha smtpd :$MP_alpha_smtp mtepd :$MP_alpha_mtepd milter :$MP_alpha_milter;" \
    "beta smtpd :$MP_beta_smtp mtepd :$MP_beta_mtepd milter :$MP_beta_milter"
}
site_load() { mp_load "$1"; }  # work
site_stop() { mp_stop; }

# Each case starts from empty Maildirs and empty queues, every daemon up.
fresh() {
  local side
  for side in alpha beta; do
    postsuper -c "$MP_WORK/$side/etc" -d ALL >/dev/null 2>&1
    mp_clear_mail "$side"
  done
}

# ---- helpers ------------------------------------------------------------------

# swaks from outside (127.0.0.9) straight to a side's smtpd.
outside() {  # side swaks-args...
  local side=$1; shift
  swaks_to "$(mp_get "$side" smtp)" --local-interface 127.0.0.9 "$@"
}

# swaks from alpha's own network (127.0.0.1): submission to alpha.
inside() {  # side swaks-args...
  local side=$1; shift
  swaks_to "$(mp_get "$side" smtp)" "$@"
}

# A token alpha vouches for: SENDER, for mail to DOMAIN (beta.test).
token_for() { mp_ctl alpha token mint --sender "$1" --recipient-domain "${2:-beta.test}"; }

# 62 base64url characters shaped like a token, signed by nobody.
forged_token() { printf 'A%s' "$(head -c 96 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=' | cut -c1-61)"; }

# The queue id in "250 2.0.0 Ok: queued as ID".
queue_id_of() { mp_last_reply "$1" | sed -n -E 's/.*queued as ([0-9A-Za-z]+).*/\1/p'; }

beta_box() { mp_maildir beta beta.test; }
alpha_box() { mp_maildir alpha alpha.test; }

# Every message of a Maildir must have exactly one Authentication-Results by
# AUTHSERV saying mtep=pass for SENDER.
expect_pass() {  # file authserv sender
  local ar id=${2//./\\.}
  ar=$(mp_header "$1" Authentication-Results | grep -i -E "^$id;" || true)
  [[ $(grep -c . <<<"$ar") == 1 ]] || fail "$1: want one Authentication-Results by $2, got: '$ar'"
  grep -q -E "^$id; *mtep=pass( \\([^)]*\\))? +smtp\\.mailfrom=$3\$" <<<"$ar" ||
    fail "$1: want '$2; mtep=pass smtp.mailfrom=$3', got '$ar'"
}

# Exactly one MTEP-Token, verified by alpha's keys for SENDER; prints it.
# The message's one MTEP-Token header is "<token>; domain=DOMAIN" (beta.test)
# and the token verifies for SENDER and DOMAIN with alpha's keys; prints it.
expect_token() {  # file sender [domain]
  local hdr tok domain=${3:-beta.test}
  hdr=$(mp_header "$1" MTEP-Token)
  [[ $(grep -c . <<<"$hdr") == 1 ]] || fail "$1: want one MTEP-Token header, got '$hdr'"
  [[ $hdr == *"; domain=$domain" ]] || fail "$1: MTEP-Token '$hdr' does not name $domain"
  tok=${hdr%%;*}
  mp_ctl alpha token verify --sender "$2" --recipient-domain "$domain" "$tok" >/dev/null ||
    fail "$1: MTEP-Token '$tok' does not verify for $2 and $domain with alpha's keys"
  echo "$tok"
}

# Waits until alpha's queue holds QUEUEID deferred with a reason matching
# REGEX (the reply beta gave); up to 15 s.
expect_deferred_at_alpha() {  # queue-id regex what
  local i q="" why
  for ((i = 0; i < 150; i++)); do
    q=$(mp_queue alpha | grep "\"queue_id\": *\"$1\"" || true)
    why=$(sed -n -E 's/.*"delay_reason": *"([^"]*)".*/\1/p' <<<"$q")
    [[ $why =~ $2 ]] && { ok "$3: held at alpha: $why"; return 0; }
    sleep 0.1
  done
  fail "$3: message $1 not deferred at alpha with /$2/; queue: ${q:-empty}"
}

# Waits until mtepd at PORT answers D for TOKEN and SENDER (revocations are
# read within 250 ms).
wait_refused_by_mtepd() {  # port token sender
  local i
  for ((i = 0; i < 50; i++)); do
    # mtepctl query exits 1 on a D: read its answer, not its status.
    [[ $("$MP_BUILD/mtepctl/mtepctl" query "127.0.0.1:$1" "$2" --sender "$3" \
      --recipient bob@beta.test 2>&1) == D5.7.8* ]] && return 0
    sleep 0.1
  done
  fail "mtepd on :$1 still vouches for a revoked token"
}

# ---- cases --------------------------------------------------------------------

# (a) Mail submitted to alpha for beta leaves with a token and arrives at
# beta with mtep=pass.
case_vouched_mail_passes() {
  inside alpha --from alice@alpha.test --to bob@beta.test --header "Subject: vouched" ||
    fail "alpha refused the submission"
  expect_reply "$LAST" '^250 ' "submission to alpha"
  mp_wait_delivered "$(beta_box)" 1 || fail "nothing delivered at beta"
  local f
  f=$(mp_delivered_files "$(beta_box)" bob@beta.test | head -n 1)
  [[ -n $f ]] || fail "no message for bob@beta.test"
  expect_pass "$f" mx.beta.test alice@alpha.test
  expect_token "$f" alice@alpha.test >/dev/null
  grep -q '^Received: from mx.alpha.test (unknown \[127.0.0.2\])' "$f" ||
    fail "the message did not reach beta from alpha's address 127.0.0.2"
  ok "delivered at beta: $(mp_header "$f" Authentication-Results)"
}

# (a) The same through sendmail(1): non_smtpd_milters.
case_sendmail_mail_passes() {
  printf 'From: alice@alpha.test\nTo: bob@beta.test\nSubject: from sendmail\n\nhello from cron\n' |
    sendmail -C "$MP_WORK/alpha/etc" -f alice@alpha.test bob@beta.test ||
    fail "sendmail -C refused the message"
  mp_wait_delivered "$(beta_box)" 1 || fail "nothing delivered at beta"
  local f
  f=$(newest_file)
  expect_pass "$f" mx.beta.test alice@alpha.test
  expect_token "$f" alice@alpha.test >/dev/null
  ok "sendmail -C mail delivered at beta with mtep=pass"
}

# An MTEP-Token sent by the user is replaced by alpha's own.
case_user_token_replaced() {
  local junk
  junk=$(forged_token)
  inside alpha --from alice@alpha.test --to bob@beta.test --header "MTEP-Token: $junk" ||
    fail "alpha refused the submission"
  mp_wait_delivered "$(beta_box)" 1 || fail "nothing delivered at beta"
  local f tok
  f=$(newest_file)
  tok=$(expect_token "$f" alice@alpha.test) || fail "$tok"
  [[ $tok != "$junk" ]] || fail "the user's MTEP-Token went out unchanged"
  expect_pass "$f" mx.beta.test alice@alpha.test
  ok "user's MTEP-Token replaced by one alpha vouches for"
}

# Both directions: beta's users write to alpha, alpha asks beta's mtepd.
case_reverse_direction_passes() {
  inside beta --from bob@beta.test --to alice@alpha.test || fail "beta refused the submission"
  expect_reply "$LAST" '^250 ' "submission to beta"
  mp_wait_delivered "$(alpha_box)" 1 || fail "nothing delivered at alpha"
  local f
  f=$(mp_delivered_files "$(alpha_box)" alice@alpha.test | head -n 1)
  [[ -n $f ]] || fail "no message for alice@alpha.test"
  expect_pass "$f" mx.alpha.test bob@beta.test
  ok "beta -> alpha delivered with mtep=pass"
}

# (b) A forged token, straight to beta from outside: 550 5.7.25.
case_forged_token_refused() {
  outside beta --from alice@alpha.test --to bob@beta.test --header "MTEP-Token: $(forged_token)" &&
    fail "beta accepted a forged token"
  expect_reply "$LAST" '^550 5\.7\.25' "forged token"
  expect_nothing_delivered "$(beta_box)" "forged token"
}

case_missing_token_refused() {
  outside beta --from alice@alpha.test --to bob@beta.test && fail "beta accepted mail without a token"
  expect_reply "$LAST" '^550 5\.7\.25' "no token"
  expect_nothing_delivered "$(beta_box)" "no token"
}

case_token_of_other_sender_refused() {
  local tok
  tok=$(token_for mallory@alpha.test) || fail "mtepctl token mint failed"
  outside beta --from alice@alpha.test --to bob@beta.test --header "MTEP-Token: $tok" &&
    fail "beta accepted mallory's token on alice's mail"
  expect_reply "$LAST" '^550 5\.7\.25' "token minted for another sender"
  expect_nothing_delivered "$(beta_box)" "token of another sender"
}

case_revoked_token_refused() {
  local tok
  tok=$(token_for alice@alpha.test) || fail "mtepctl token mint failed"
  mp_ctl alpha token revoke "$tok" >/dev/null || fail "mtepctl token revoke failed"
  wait_refused_by_mtepd "$MP_alpha_mtepd" "$tok" alice@alpha.test
  outside beta --from alice@alpha.test --to bob@beta.test --header "MTEP-Token: $tok" &&
    fail "beta accepted a revoked token"
  expect_reply "$LAST" '^550 5\.7\.25' "revoked token"
  expect_nothing_delivered "$(beta_box)" "revoked token"
}

# 310 base64url characters that begin with a valid token: a reader that
# truncated instead of refusing would let it through.
case_oversized_token_header_refused() {
  local tok
  tok=$(token_for alice@alpha.test) || fail "mtepctl token mint failed"
  outside beta --from alice@alpha.test --to bob@beta.test \
    --header "MTEP-Token: $tok$tok$tok$tok$tok" && fail "beta accepted an oversized MTEP-Token"
  expect_reply "$LAST" '^550 5\.7\.25' "oversized MTEP-Token header"
  expect_nothing_delivered "$(beta_box)" "oversized MTEP-Token"
}

# (c) alpha's mtepd down: beta cannot ask, answers 451 4.7.25; alpha keeps
# the mail queued and delivers it once mtepd is back.
case_sender_mtepd_down_defers() {
  local tok qid f
  mp_stop_mtepd alpha || fail "could not stop alpha's mtepd"
  trap 'mp_start_mtepd alpha >/dev/null 2>&1' EXIT
  tok=$(token_for alice@alpha.test) || fail "mtepctl token mint failed"
  outside beta --from alice@alpha.test --to bob@beta.test --header "MTEP-Token: $tok" &&
    fail "beta accepted mail it could not check"
  expect_reply "$LAST" '^451 4\.7\.25' "sender's mtepd down, straight to beta"
  inside alpha --from alice@alpha.test --to bob@beta.test --header "Subject: while down" ||
    fail "alpha refused the submission"
  qid=$(queue_id_of "$LAST")
  [[ -n $qid ]] || fail "no queue id in alpha's reply"
  expect_deferred_at_alpha "$qid" '451 4\.7\.25' "sender's mtepd down, via alpha"
  expect_nothing_delivered "$(beta_box)" "sender's mtepd down"
  mp_start_mtepd alpha || fail "could not restart alpha's mtepd"
  trap - EXIT
  mp_flush alpha
  mp_wait_delivered "$(beta_box)" 1 || fail "mail not delivered after mtepd came back and postqueue -f"
  f=$(newest_file)
  expect_pass "$f" mx.beta.test alice@alpha.test
  [[ -z $(mp_queue alpha) ]] || fail "alpha's queue is not empty: $(mp_queue alpha)"
  ok "mtepd back, postqueue -f: delivered with mtep=pass, alpha's queue empty"
}

case_fifty_recipients_pass() {
  local rcpts i report want bad
  rcpts=$(for i in $(seq -w 1 50); do printf 'r%s@beta.test,' "$i"; done)
  inside alpha --from alice@alpha.test --to "${rcpts%,}" || fail "alpha refused 50 recipients"
  expect_reply "$LAST" '^250 ' "50 recipients"
  mp_wait_delivered "$(beta_box)" 50 30 || fail "$(mp_count_delivered "$(beta_box)") of 50 delivered"
  # One line per delivered file: Delivered-To, then every Authentication-Results.
  report=$(awk '
    FNR == 1 { if (f != "") print dt "\t" ar; f = FILENAME; hdr = 1; dt = ""; ar = "" }
    hdr && /^$/ { hdr = 0 }
    hdr && tolower($0) ~ /^delivered-to:/ { dt = $2 }
    hdr && tolower($0) ~ /^authentication-results:/ { sub(/^[^:]*: */, ""); ar = ar "[" $0 "]" }
    END { if (f != "") print dt "\t" ar }' "$(beta_box)"/new/*)
  [[ $(grep -c . <<<"$report") == 50 ]] || fail "$(grep -c . <<<"$report") deliveries, want 50"
  [[ $(cut -f1 <<<"$report" | sort -u | grep -c '^r[0-9][0-9]@beta\.test$') == 50 ]] ||
    fail "not 50 distinct recipients: $(cut -f1 <<<"$report" | sort | uniq -c | head)"
  want='[mx.beta.test; mtep=pass smtp.mailfrom=alice@alpha.test]'
  bad=$(awk -F '\t' -v want="$want" '$2 != want' <<<"$report")
  [[ -z $bad ]] || fail "deliveries without exactly one mtep=pass: $(head -n 3 <<<"$bad")"
  ok "50 deliveries, each with mtep=pass"
}

# One message to two domains (beta.test requires MTEP; gamma.test, also
# served by beta's Postfix, does not): alpha's milter adds one token per
# recipient domain, "<token>; domain=<domain>"; bob@beta.test gets it with
# mtep=pass, carl@gamma.test gets it too. Each token verifies for its own
# domain only, and gamma's token, which the gamma.test co-recipient sees,
# is refused when replayed to beta.test (550 5.7.25), even labelled
# "domain=beta.test".
case_two_domains_one_token_each() {
  local f g hdrs tok_beta tok_gamma
  inside alpha --from alice@alpha.test --to bob@beta.test,carl@gamma.test \
    --header "Subject: two domains" || fail "alpha refused the submission"
  expect_reply "$LAST" '^250 ' "submission to alpha"
  mp_wait_delivered "$(beta_box)" 1 || fail "nothing delivered at beta.test"
  # beta's milter does not mix recipients under different MTEP policies:
  # carl@gamma.test got 452 4.5.3 and waits in alpha's queue; flush it.
  local i
  for ((i = 0; i < 20; i++)); do
    [[ $(mp_count_delivered "$(mp_maildir beta gamma.test)") -ge 1 ]] && break
    mp_flush alpha
    sleep 0.5
  done
  mp_wait_delivered "$(mp_maildir beta gamma.test)" 1 || fail "nothing delivered at gamma.test"
  f=$(mp_delivered_files "$(beta_box)" bob@beta.test | head -n 1)
  g=$(mp_delivered_files "$(mp_maildir beta gamma.test)" carl@gamma.test | head -n 1)
  [[ -n $f && -n $g ]] || fail "no copy for bob@beta.test or carl@gamma.test"
  expect_pass "$f" mx.beta.test alice@alpha.test
  hdrs=$(mp_header "$f" MTEP-Token)
  [[ $(grep -c . <<<"$hdrs") == 2 ]] || fail "$f: want two MTEP-Token headers, got '$hdrs'"
  tok_beta=$(sed -n 's/; domain=beta\.test$//p' <<<"$hdrs")
  tok_gamma=$(sed -n 's/; domain=gamma\.test$//p' <<<"$hdrs")
  [[ -n $tok_beta && -n $tok_gamma ]] || fail "$f: no token for beta.test and gamma.test: '$hdrs'"
  [[ $(mp_header "$g" MTEP-Token) == "$hdrs" ]] || fail "$g: the gamma.test copy has other tokens"
  mp_ctl alpha token verify --sender alice@alpha.test --recipient-domain beta.test "$tok_beta" \
    >/dev/null || fail "the beta.test token does not verify for beta.test"
  mp_ctl alpha token verify --sender alice@alpha.test --recipient-domain gamma.test "$tok_gamma" \
    >/dev/null || fail "the gamma.test token does not verify for gamma.test"
  mp_ctl alpha token verify --sender alice@alpha.test --recipient-domain beta.test "$tok_gamma" \
    >/dev/null && fail "the gamma.test token verifies for beta.test"
  ok "one token per domain, each for its own domain; beta.test passed it"
  outside beta --from alice@alpha.test --to bob@beta.test \
    --header "MTEP-Token: $tok_gamma; domain=beta.test" && fail "beta accepted gamma's token"
  expect_reply "$LAST" '^550 5\.7\.25' "gamma.test's token replayed to beta.test"
  ok "gamma.test's token replayed to beta.test: $(mp_last_reply "$LAST")"
}

# SMTPUTF8 sender and recipient, 8-bit body: delivered, body bytes unchanged.
case_smtputf8_and_8bit_body() {
  [[ -n $PY ]] || { echo "SKIP: python3 not installed (it speaks SMTPUTF8; swaks cannot)"; exit 77; }
  local body=$T/body sent=$T/sent.txt f from='jösé@alpha.test' to='zoë@beta.test'
  printf 'Grüße aus Köln: naïve café, 日本語, Ελληνικά\r\nbytes \xc3\xa9\xe2\x82\xac\xf0\x9f\x93\xa7 end\r\n' >"$body"
  "$PY" - "$MP_alpha_smtp" "$from" "$to" "$body" >"$sent" 2>&1 <<'PY' || { cat "$sent"; fail "SMTPUTF8 submission to alpha failed"; }
import smtplib, sys
port, sender, rcpt, body_file = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
body = open(body_file, "rb").read()
msg = (f"From: {sender}\r\nTo: {rcpt}\r\nSubject: smtputf8\r\nMIME-Version: 1.0\r\n"
       "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode() + body
s = smtplib.SMTP("127.0.0.1", port, timeout=30)
s.ehlo("client.alpha.test")
assert s.has_extn("smtputf8"), "no SMTPUTF8 in EHLO"
code, text = s.mail(sender, ["SMTPUTF8", "BODY=8BITMIME"]); print(code, text.decode()); assert code == 250
code, text = s.rcpt(rcpt); print(code, text.decode()); assert code == 250
code, text = s.data(msg); print(code, text.decode()); assert code == 250
s.quit()
PY
  ok "alpha accepted: $(tail -n 1 "$sent")"
  mp_wait_delivered "$(beta_box)" 1 || fail "nothing delivered at beta"
  f=$(mp_delivered_files "$(beta_box)" "$to" | head -n 1)
  [[ -n $f ]] || fail "no message delivered to $to; Delivered-To: $(mp_header "$(newest_file)" Delivered-To)"
  expect_pass "$f" mx.beta.test "$from"
  expect_token "$f" "$from" >/dev/null
  sed -n '/^$/,$p' "$f" | tail -n +2 | cmp - <(tr -d '\r' <"$body") ||
    fail "body bytes changed on the way: $(sed -n '/^$/,$p' "$f" | od -c | head)"
  ok "delivered to $to with mtep=pass, body bytes intact"
}

# gamma.test on beta has no require_mtep: delivered as it came.
case_domain_without_policy_untouched() {
  local f
  outside beta --from someone@elsewhere.test --to carol@gamma.test --header "Subject: no policy" ||
    fail "beta refused mail for a domain without the policy"
  expect_reply "$LAST" '^250 ' "domain without require_mtep"
  mp_wait_delivered "$(mp_maildir beta gamma.test)" 1 || fail "nothing delivered to gamma.test"
  f=$(mp_delivered_files "$(mp_maildir beta gamma.test)" carol@gamma.test | head -n 1)
  [[ -n $f ]] || fail "no message for carol@gamma.test"
  [[ -z $(mp_header "$f" Authentication-Results) ]] ||
    fail "Authentication-Results added to unchecked mail: $(mp_header "$f" Authentication-Results)"
  [[ -z $(mp_header "$f" MTEP-Token) ]] || fail "MTEP-Token added to inbound mail"
  ok "delivered to gamma.test without Authentication-Results"
}

# Issue 13: Postfix takes a local part over 64 octets (recipient_delimiter
# = +) that our address parser refuses; the milter used to let such a
# recipient through unchecked. Its domain's policy applies: without a token
# 550 5.7.25, with alpha's token delivered with mtep=pass.
case_long_local_part_recipient_checked() {
  local long f tok
  long="bob+$(printf 'a%.0s' {1..70})@beta.test"
  outside beta --from alice@alpha.test --to "$long" --header "Subject: long local part" &&
    fail "beta accepted mail without a token for a 74-octet local part"
  expect_rcpt_reply "$LAST" "$long" '^250 ' "the recipient itself"
  expect_reply "$LAST" '^550 5\.7\.25 ' "no token, local part over 64 octets"
  expect_nothing_delivered "$(beta_box)" "no token, local part over 64 octets"
  tok=$(token_for alice@alpha.test) || fail "mtepctl token mint failed"
  outside beta --from alice@alpha.test --to "$long" --header "MTEP-Token: $tok" ||
    fail "beta refused vouched mail for a 74-octet local part"
  expect_reply "$LAST" '^250 ' "vouched, local part over 64 octets"
  mp_wait_delivered "$(beta_box)" 1 || fail "nothing delivered at beta"
  f=$(newest_file)
  expect_pass "$f" mx.beta.test alice@alpha.test
}

# The same for a domain written with a trailing dot (Postfix strips it and
# delivers to beta.test; our parser refuses it).
case_trailing_dot_recipient_checked() {
  outside beta --from alice@alpha.test --to bob@beta.test. &&
    fail "beta accepted mail without a token for bob@beta.test."
  expect_reply "$LAST" '^550 5\.7\.25 ' "no token, domain with a trailing dot"
  expect_nothing_delivered "$(beta_box)" "no token, domain with a trailing dot"
}

# Authentication-Results claiming beta's authserv-id, sent from outside,
# are removed; another host's are kept.
case_spoofed_auth_results_removed() {
  local f tok ar
  outside beta --from alice@alpha.test --to carol@gamma.test \
    --add-header "Authentication-Results: mx.beta.test; mtep=pass smtp.mailfrom=alice@alpha.test" \
    --add-header "Authentication-Results: MX.Beta.Test; mtep=pass smtp.mailfrom=alice@alpha.test" \
    --add-header "Authentication-Results: other.example; spf=pass smtp.mailfrom=alpha.test" ||
    fail "beta refused the message"
  mp_wait_delivered "$(mp_maildir beta gamma.test)" 1 || fail "nothing delivered to gamma.test"
  f=$(newest_file "$(mp_maildir beta gamma.test)")
  ar=$(mp_header "$f" Authentication-Results)
  grep -qi 'mx\.beta\.test' <<<"$ar" && fail "spoofed Authentication-Results kept (no policy): $ar"
  grep -q '^other\.example; spf=pass' <<<"$ar" || fail "another host's Authentication-Results removed: '$ar'"
  ok "no policy: spoofed A-R removed, other.example's kept"

  tok=$(token_for alice@alpha.test) || fail "mtepctl token mint failed"
  outside beta --from alice@alpha.test --to bob@beta.test --header "MTEP-Token: $tok" \
    --add-header "Authentication-Results: mx.beta.test; mtep=pass smtp.mailfrom=mallory@alpha.test" ||
    fail "beta refused a vouched message"
  mp_wait_delivered "$(beta_box)" 1 || fail "nothing delivered at beta"
  f=$(newest_file)
  expect_pass "$f" mx.beta.test alice@alpha.test
  ok "policy: only beta's own Authentication-Results left"
}

# Fault: beta's milter dies (SIGKILL). Postfix's milter_default_action =
# tempfail: 4xx, nothing delivered unchecked; back up, mail flows again.
case_milter_crash_tempfails() {
  local tok qid f
  mp_stop_milter beta KILL
  trap 'mp_start_milter beta >/dev/null 2>&1' EXIT
  tok=$(token_for alice@alpha.test) || fail "mtepctl token mint failed"
  outside beta --from alice@alpha.test --to bob@beta.test --header "MTEP-Token: $tok" &&
    fail "beta accepted mail without its milter"
  expect_reply "$LAST" '^4[0-9][0-9] ' "milter down, straight to beta"
  outside beta --from someone@elsewhere.test --to carol@gamma.test &&
    fail "beta accepted mail for gamma.test without its milter"
  expect_reply "$LAST" '^4[0-9][0-9] ' "milter down, domain without policy"
  inside alpha --from alice@alpha.test --to bob@beta.test || fail "alpha refused the submission"
  qid=$(queue_id_of "$LAST")
  [[ -n $qid ]] || fail "no queue id in alpha's reply"
  expect_deferred_at_alpha "$qid" '4[0-9][0-9] ' "milter down, via alpha"
  expect_nothing_delivered "$(beta_box)" "milter down"
  expect_nothing_delivered "$(mp_maildir beta gamma.test)" "milter down"
  mp_start_milter beta || fail "could not restart beta's milter"
  trap - EXIT
  mp_flush alpha
  mp_wait_delivered "$(beta_box)" 1 || fail "queued mail not delivered once the milter was back"
  expect_pass "$(newest_file)" mx.beta.test alice@alpha.test
  outside beta --from alice@alpha.test --to bob@beta.test --header "MTEP-Token: $tok" ||
    fail "beta refused vouched mail after the milter restarted"
  expect_reply "$LAST" '^250 ' "milter back, straight to beta"
  ok "milter back: mail flows again"
}

# ---- proof of work -------------------------------------------------------------

# Adds LINES under SIDE's own [domain."..."] section of its mtep.conf and has
# its milter reload (SIGUSR1), waiting for the reload line in its log; the
# case's exit puts the file back and reloads again.
with_domain_keys() {  # side lines...
  local side=$1 conf=$MP_WORK/$1/mtep.conf dom text
  shift
  dom=${MP_DOMAIN[$side]//./\\.}
  [[ -f $conf.orig ]] || cp "$conf" "$conf.orig"
  RESTORE_SIDES="${RESTORE_SIDES:-} $side"
  trap restore_domain_keys EXIT
  text=$(printf '%s\\n' "$@")
  sed -i "/^\[domain\.\"$dom\"\]\$/a ${text%\\n}" "$conf"
  mp_ctl "$side" config check >/dev/null || fail "$conf with $* does not pass mtepctl config check"
  reload_milter "$side" || fail "$side's milter did not reload"
}

reload_milter() {  # side
  local log=$MP_WORK/$1/milter.log before i
  before=$(grep -c 'configuration reloaded' "$log")
  kill -USR1 "$(mp_pid "$MP_WORK/$1/milter.pid")" 2>/dev/null || return 1
  for ((i = 0; i < 100; i++)); do
    (($(grep -c 'configuration reloaded' "$log") > before)) && return 0
    sleep 0.1
  done
  return 1
}

restore_domain_keys() {
  local side
  for side in ${RESTORE_SIDES:-}; do
    [[ -f $MP_WORK/$side/mtep.conf.orig ]] || continue
    mv "$MP_WORK/$side/mtep.conf.orig" "$MP_WORK/$side/mtep.conf"
    reload_milter "$side" || echo "warning: $side's milter did not reload its original mtep.conf"
  done
}

# The one Authentication-Results by AUTHSERV in a delivered file must be
# exactly WANT.
expect_auth_results() {  # file authserv want
  local ar id=${2//./\\.}
  ar=$(mp_header "$1" Authentication-Results | grep -i -E "^$id;" || true)
  [[ $ar == "$3" ]] || fail "$1: want Authentication-Results '$3', got '$ar'"
}

# beta.test requires 12-bit stamps (and MTEP, as always): from outside, a
# token and a stamp made by the hashcash tool for the recipient are
# delivered with mtep=pass and x-hashcash=pass in one header; the same
# message again is refused (the stamp is spent in beta's store); without a
# stamp, refused with 550 5.7.1 saying how to mint one.
case_stamps_required_at_beta() {
  command -v hashcash >/dev/null || { echo "SKIP: hashcash not installed"; exit 77; }
  with_domain_keys beta 'require_stamp = true' 'stamp_bits = 12'
  local tok stamp f
  tok=$(token_for alice@alpha.test) || fail "mtepctl token mint failed"
  stamp=$(hashcash -m -b 12 -r bob@beta.test) || fail "hashcash -m failed"
  outside beta --from alice@alpha.test --to bob@beta.test --header "MTEP-Token: $tok" \
    --add-header "X-Hashcash: $stamp" || fail "beta refused a token and a valid stamp"
  expect_reply "$LAST" '^250 ' "token and stamp"
  mp_wait_delivered "$(beta_box)" 1 || fail "nothing delivered at beta"
  f=$(newest_file)
  expect_auth_results "$f" mx.beta.test \
    "mx.beta.test; mtep=pass smtp.mailfrom=alice@alpha.test; x-hashcash=pass"
  [[ $(mp_header "$f" X-Hashcash) == "$stamp" ]] || fail "the stamp did not arrive as sent"
  ok "delivered with mtep=pass and x-hashcash=pass"

  outside beta --from alice@alpha.test --to bob@beta.test --header "MTEP-Token: $tok" \
    --add-header "X-Hashcash: $stamp" && fail "beta accepted a replayed stamp"
  expect_reply "$LAST" '^550 5\.7\.1 .*bob@beta\.test \(spent' "replayed stamp"

  outside beta --from alice@alpha.test --to bob@beta.test --header "MTEP-Token: $tok" &&
    fail "beta accepted mail without a stamp"
  expect_reply "$LAST" '^550 5\.7\.1 .*hashcash -m -b 12 -r bob@beta\.test' "no stamp"
  [[ $(mp_count_delivered "$(beta_box)") == 1 ]] || fail "refused mail was delivered"
}

# alpha.test mints hashcash stamps for its senders (mint_stamps), beta.test
# requires them: submitted at alpha, the message leaves with a token and one
# X-Hashcash per recipient, and beta delivers each copy with x-hashcash=pass.
case_stamps_minted_by_alpha_accepted_by_beta() {
  with_domain_keys beta 'require_stamp = true' 'stamp_bits = 12'
  with_domain_keys alpha 'mint_stamps = "hashcash"' 'mint_stamp_bits = 12'
  local f stamps s r
  inside alpha --from alice@alpha.test --to bob@beta.test,carol@beta.test ||
    fail "alpha refused the submission"
  expect_reply "$LAST" '^250 ' "submission to alpha"
  mp_wait_delivered "$(beta_box)" 2 || fail "$(mp_count_delivered "$(beta_box)") of 2 delivered at beta"
  for f in $(mp_delivered_files "$(beta_box)"); do
    expect_auth_results "$f" mx.beta.test \
      "mx.beta.test; mtep=pass smtp.mailfrom=alice@alpha.test; x-hashcash=pass"
    stamps=$(mp_header "$f" X-Hashcash)
    [[ $(grep -c . <<<"$stamps") == 2 ]] || fail "$f: want 2 X-Hashcash headers, got '$stamps'"
    if command -v hashcash >/dev/null; then
      if ! grep -q ':bob@beta\.test:' <<<"$stamps" || ! grep -q ':carol@beta\.test:' <<<"$stamps"; then
        fail "$f: stamps are not one per recipient: $stamps"
      fi
      while read -r s; do
        r=$(cut -d: -f4 <<<"$s")
        hashcash -cyq -b 12 -r "$r" "$s" >/dev/null 2>&1 || fail "hashcash -c refuses $s for $r"
      done <<<"$stamps"
    fi
  done
  ok "two copies delivered, each with mtep=pass and x-hashcash=pass"
}

# ---- sender signatures ----------------------------------------------------------

ALICE_PW='correct horse battery staple'  # alice@alpha.test's, given to mtepctl on fd 3

keys_at() { printf '127.0.0.1:%s' "$(mp_get "$1" keys)"; }  # side -> its key service

# Adds LINES under SIDE's [milter] section, as with_domain_keys does under
# its domain's section (restored at the case's exit).
with_milter_keys() {  # side lines...
  local side=$1 conf=$MP_WORK/$1/mtep.conf text
  shift
  [[ -f $conf.orig ]] || cp "$conf" "$conf.orig"
  RESTORE_SIDES="${RESTORE_SIDES:-} $side"
  trap restore_domain_keys EXIT
  text=$(printf '%s\\n' "$@")
  sed -i "/^\[milter\]\$/a ${text%\\n}" "$conf"
  mp_ctl "$side" config check >/dev/null || fail "$conf with $* does not pass mtepctl config check"
  reload_milter "$side" || fail "$side's milter did not reload"
}

# alice@alpha.test, new at alpha, with her key derived and published at
# alpha's key service (mtepctl: HASHEDPASS login, GETSALT, SETPUBKEY).
provision_alice() {
  mp_ctl alpha user del alice@alpha.test >/dev/null 2>&1
  mp_ctl alpha user add --password-fd 3 alice@alpha.test 3<<<"$ALICE_PW" >"$T/user-add.out" 2>&1 ||
    fail "mtepctl user add: $(cat "$T/user-add.out")"
  mp_ctl alpha key publish --server "$(keys_at alpha)" --password-fd 3 alice@alpha.test \
    3<<<"$ALICE_PW" >"$T/publish.out" 2>&1 || fail "mtepctl key publish: $(cat "$T/publish.out")"
}

# What alpha's key service answers to PUBKEY for alice, asked with openssl
# s_client (not our client): the 220 line, or what came instead.
pubkey_line() {
  { printf 'EHLO outside.test\r\n'; sleep 0.3; printf 'PUBKEY alice@alpha.test\r\n'; sleep 0.3
    printf 'QUIT\r\n'; } |
    timeout 10 openssl s_client -starttls smtp -connect "$(keys_at alpha)" -quiet 2>/dev/null |
    tr -d '\r' | grep -E '^(220 ed25519|550)' | head -n 1
}

# A message from alice to bob, signed by mtepctl with the key derived from
# her password and alpha's current salt; an MTEP-Token added (not signed).
signed_message() {  # out [body-line]
  local out=$1 body=${2:-Hello Bob, this message is signed.} tok
  tok=$(token_for alice@alpha.test) || fail "mtepctl token mint failed"
  printf '%s\r\n' "From: Alice <alice@alpha.test>" "To: bob@beta.test" \
    "Date: $(date -R)" "Subject: signed $RANDOM" "Message-ID: <$RANDOM.$RANDOM@alpha.test>" \
    "MTEP-Token: $tok" "" "$body" "  with a second line	and tabs  " >"$out.plain"
  mp_ctl alpha sign --server "$(keys_at alpha)" --user alice@alpha.test --password-fd 3 \
    "$out.plain" 3<<<"$ALICE_PW" >"$out" 2>"$out.err" || fail "mtepctl sign: $(cat "$out.err")"
  grep -q '^X-Sender-Signature: ed25519 [0-9a-f]\{128\}' "$out" || fail "$out has no signature"
}

send_file_to_beta() {  # file
  outside beta --from alice@alpha.test --to bob@beta.test --data "@$1"
}

# The round trip: alice provisioned and her key published at alpha; beta
# checks signatures (reject_bad_signatures) with keys fetched from alpha's
# key service. Signed: delivered with x-sender-signature=pass. One body
# word changed: 550 5.7.7. alice resets her salt (RSTSALT, new key
# published): the old signature is refused, a new one passes.
case_signatures_checked_at_beta() {
  with_domain_keys beta 'check_signatures = true' 'reject_bad_signatures = true'
  with_milter_keys beta 'key_cache_ttl = "0s"'
  provision_alice
  local first second f line
  first=$(pubkey_line)
  [[ $first == "220 ed25519 "* ]] || fail "PUBKEY over openssl s_client: want 220 ed25519, got '$first'"
  ok "openssl s_client: $first"

  signed_message "$T/m1"
  send_file_to_beta "$T/m1" || fail "beta refused a signed message"
  expect_reply "$LAST" '^250 ' "signed message"
  mp_wait_delivered "$(beta_box)" 1 || fail "nothing delivered at beta"
  f=$(newest_file)
  line=$(mp_header "$f" Authentication-Results | grep -i '^mx\.beta\.test;')
  [[ $line == *"x-sender-signature=pass"* ]] || fail "want x-sender-signature=pass, got '$line'"
  ok "delivered: $line"

  sed 's/Hello Bob/Hello Eve/' "$T/m1" >"$T/m1-altered"
  send_file_to_beta "$T/m1-altered" && fail "beta accepted an altered signed message"
  expect_reply "$LAST" '^550 5\.7\.7 ' "altered body"

  mp_ctl alpha salt reset --server "$(keys_at alpha)" --password-fd 3 alice@alpha.test \
    3<<<"$ALICE_PW" >"$T/reset.out" 2>&1 || fail "mtepctl salt reset: $(cat "$T/reset.out")"
  second=$(pubkey_line)
  [[ $second == "220 ed25519 "* && $second != "$first" ]] ||
    fail "after RSTSALT want a new key, got '$second' (was '$first')"
  send_file_to_beta "$T/m1" && fail "beta accepted a signature made with the old key"
  expect_reply "$LAST" '^550 5\.7\.7 ' "old signature after the salt reset"
  signed_message "$T/m2"
  send_file_to_beta "$T/m2" || fail "beta refused a message signed with the new key"
  expect_reply "$LAST" '^250 ' "new signature after the salt reset"
  mp_wait_delivered "$(beta_box)" 2 || fail "the second signed message was not delivered"
  line=$(mp_header "$(newest_file)" Authentication-Results | grep -i '^mx\.beta\.test;')
  [[ $line == *"x-sender-signature=pass"* ]] || fail "want x-sender-signature=pass, got '$line'"
  [[ $(mp_count_delivered "$(beta_box)") == 2 ]] || fail "refused mail was delivered"
}

# beta requires signatures from alpha.test: unsigned mail from alice is
# refused with 550 5.7.7; the same mail signed is delivered.
case_signature_required_from_alpha() {
  with_domain_keys beta 'require_signature_from = ["alpha.test"]'
  provision_alice
  local tok
  tok=$(token_for alice@alpha.test) || fail "mtepctl token mint failed"
  outside beta --from alice@alpha.test --to bob@beta.test --header "MTEP-Token: $tok" &&
    fail "beta accepted unsigned mail from alpha.test"
  expect_reply "$LAST" '^550 5\.7\.7 ' "unsigned mail from a domain that must sign"
  signed_message "$T/m1"
  send_file_to_beta "$T/m1" || fail "beta refused a signed message"
  expect_reply "$LAST" '^250 ' "signed message from a domain that must sign"
  mp_wait_delivered "$(beta_box)" 1 || fail "nothing delivered at beta"
}

# The newest file in a Maildir (default beta.test's).
newest_file() {
  local box=${1:-$(beta_box)}
  mp_delivered_files "$box" | tail -n 1
}

CASES=(vouched_mail_passes sendmail_mail_passes user_token_replaced reverse_direction_passes
  forged_token_refused missing_token_refused token_of_other_sender_refused revoked_token_refused
  oversized_token_header_refused sender_mtepd_down_defers fifty_recipients_pass
  two_domains_one_token_each
  smtputf8_and_8bit_body domain_without_policy_untouched spoofed_auth_results_removed
  milter_crash_tempfails stamps_required_at_beta stamps_minted_by_alpha_accepted_by_beta
  signatures_checked_at_beta signature_required_from_alpha long_local_part_recipient_checked
  trailing_dot_recipient_checked)

mp_fixture_main "$@"

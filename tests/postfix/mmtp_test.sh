#!/usr/bin/env bash
# NAME
#   mmtp_test.sh - the MMTP gateway bridged to two real Postfix sites, both
#   ways, with an MMTP client (mtepctl mmtp) on the other end
# SUMMARY
#   mmtp_test.sh start BUILD_DIR STATE_FILE   # ctest fixture setup
#   mmtp_test.sh CASE  BUILD_DIR STATE_FILE   # one case, pair running
#   mmtp_test.sh stop  BUILD_DIR STATE_FILE   # ctest fixture cleanup
#   mmtp_test.sh list                          # the case names
# DESCRIPTION
#   `start` starts the pair of scripts/mail-pair.sh in its MMTP mode
#   (MP_MMTP=1): alpha.test and beta.test, each Postfix + mtep-milter +
#   mtepd with [mmtp] listen, tls_listen and lmtp_listen, configured from
#   contrib/postfix/ with the MMTP fragments (port and domains substituted).
#   Each site's own domain hands SENDs to its Postfix (mmtp_delivery
#   "mta"); box.alpha.test and box.beta.test are MMTP mailbox domains, with
#   amy@box.alpha.test and carol@box.beta.test as users.
#
#   Cases:
#   - send_lands_in_postfix_mailbox: an MMTP client SENDs to
#     (bob)%(beta.test) at beta's tls_listen; the packet goes through beta's
#     Postfix (and milter) into bob's Maildir, once, with X-MMTP-Id,
#     X-MMTP-Timestamp, the subject and body, and beta's
#     Authentication-Results x-mmtp-stamp=pass.
#   - smtp_into_mmtp_mailbox: SMTP mail to carol@box.beta.test at beta's
#     smtpd goes through Postfix to mtepd's LMTP bridge into carol's MMTP
#     mailbox; carol RECEIVEs it over TLS with her login; a second RECEIVE
#     is empty; nobody else can RECEIVE it.
#   - postfix_to_remote_mmtp: alice@alpha.test submits to carol@box.beta.test
#     at alpha's Postfix; alpha's transport sends it to alpha's mtepd, which
#     SENDs it over TLS (pinned) to beta's 8026 with a stamp of 5 zero hex
#     digits; carol RECEIVEs it, from (alice)%(alpha.test).
#   - remote_refusal_bounces: alice writes to nobody@box.beta.test; beta
#     refuses the SEND (no such user), alpha's bridge answers 5xx and
#     Postfix bounces to alice; nothing stays queued.
#   - remote_down_defers: beta's mtepd is down; alice's mail to carol stays
#     deferred in alpha's queue (4xx), and is delivered once when beta's
#     mtepd is back and the queue is flushed.
#
#   Exit 77 (ctest SKIP_RETURN_CODE) when not root or when Postfix, swaks or
#   ss are missing.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../scripts/mail-pair.sh
source "$here/../../scripts/mail-pair.sh"

MP_WORK_PREFIX=mtep-mmtp
MP_FIXTURE=postfix.mmtp_start
MP_NEEDS=(milter/mtep-milter)
MP_SHOW_LOGS=(alpha/maillog alpha/mtepd.log beta/maillog beta/mtepd.log beta/milter.log)
MP_DAEMON_LOGS=(alpha/mtepd.log alpha/milter.log beta/mtepd.log beta/milter.log)

site_check() { mp_skip_without_postfix; }

site_start() {  # work build
  MP_MMTP=1 mp_start "$1" "$2" || return 1
  echo "pair up in $MP_WORK (MMTP): alpha smtpd :$MP_alpha_smtp mmtp :$MP_alpha_mmtp/:$MP_alpha_mmtps" \
    "lmtp :$MP_alpha_mmtpl; beta smtpd :$MP_beta_smtp mmtp :$MP_beta_mmtp/:$MP_beta_mmtps" \
    "lmtp :$MP_beta_mmtpl"
}
site_load() { mp_load "$1"; }  # work
site_stop() { mp_stop; }

# Each case starts from empty Maildirs, queues and MMTP mailboxes.
fresh() {
  local side
  for side in alpha beta; do
    postsuper -c "$MP_WORK/$side/etc" -d ALL >/dev/null 2>&1
    mp_clear_mail "$side"
  done
  receive beta carol@box.beta.test >/dev/null 2>&1 || true
}

# ---- helpers ------------------------------------------------------------------

new_msgid() { echo "mmtp.$1.$RANDOM$RANDOM@test"; }

# mtepctl mmtp receive at SIDE's tls_listen as USER (its password file);
# the packets on stdout, one a line.
receive() {  # side user
  mp_ctl "$1" mmtp receive --server "127.0.0.1:$(mp_get "$1" mmtps)" --user "$2" \
    --password-fd 3 3<"$MP_WORK/$1/mmtp.pw"
}

# Waits until USER's mailbox at SIDE holds a packet matching the extended
# regex, RECEIVEs everything (up to 20 s) and prints the packets.
receive_wait() {  # side user regex what
  local i got all=""
  for ((i = 0; i < 100; i++)); do
    got=$(receive "$1" "$2") || fail "$4: mtepctl mmtp receive failed: $got"
    all+=$got${got:+$'\n'}
    grep -q -E -- "$3" <<<"$all" && { echo "$all"; return 0; }
    sleep 0.2
  done
  fail "$4: no packet matching /$3/ in $2's mailbox at $1 (got: ${all:0:500})"
}

# Waits until the queue of SIDE is empty (up to 30 s).
queue_empty() {  # side
  local i
  for ((i = 0; i < 300; i++)); do
    [[ -z $(mp_queue "$1") ]] && return 0
    ((i % 50 == 49)) && mp_flush "$1" 2>/dev/null
    sleep 0.1
  done
  fail "$1's queue is not empty: $(mp_queue "$1")"
}

# ---- cases ---------------------------------------------------------------------

case_send_lands_in_postfix_mailbox() {
  fresh
  local out dir f n ar body
  out=$(printf 'Hello bob, over MMTP.\nSecond line.\n' |
    mp_ctl alpha mmtp send --server "127.0.0.1:$MP_beta_mmtps" --subject "MMTP to Postfix" \
      alice@alpha.test bob@beta.test 2>&1) || fail "the SEND was refused: $out"
  [[ $out =~ ^sent\ ([0-9a-f]{32})$ ]] || fail "unexpected SEND output: $out"
  local id=${BASH_REMATCH[1]}
  ok "SEND to (bob)%(beta.test) answered OK, id $id"
  dir=$(mp_maildir beta beta.test)
  mp_wait_delivered "$dir" 1 || fail "nothing in $dir"
  f=$(mp_delivered_files "$dir" bob@beta.test)
  n=$(grep -c . <<<"$f")
  [[ $n == 1 ]] || fail "want one message for bob, got $n"
  [[ $(mp_header "$f" X-MMTP-Id) == "$id" ]] || fail "X-MMTP-Id '$(mp_header "$f" X-MMTP-Id)', want $id"
  [[ $(mp_header "$f" X-MMTP-Timestamp) =~ ^[0-9]{13}$ ]] || fail "no X-MMTP-Timestamp"
  [[ $(mp_header "$f" Subject) == "MMTP to Postfix" ]] || fail "Subject '$(mp_header "$f" Subject)'"
  [[ $(mp_header "$f" From) == "<alice@alpha.test>" ]] || fail "From '$(mp_header "$f" From)'"
  ar=$(mp_header "$f" Authentication-Results)
  grep -q -E '^mx\.beta\.test; x-mmtp-stamp=pass' <<<"$ar" ||
    fail "want beta's Authentication-Results x-mmtp-stamp=pass, got '$ar'"
  body=$(awk 'p; /^\r?$/ { p = 1 }' "$f" | tr -d '\r' | base64 -d 2>/dev/null)
  [[ $body == $'Hello bob, over MMTP.\nSecond line.' ]] || fail "body '$body'"
  grep -q -F "message-id=<$id@mx.beta.test>" "$MP_WORK/beta/maillog" ||
    fail "beta's Postfix did not log the message: it did not come through Postfix"
  ok "delivered once into bob's Maildir through beta's Postfix: $ar"
}

case_smtp_into_mmtp_mailbox() {
  fresh
  local mid got
  mid=$(new_msgid box)
  swaks_to "$MP_beta_smtp" --from alice@alpha.test --to carol@box.beta.test \
    --header "Message-Id: <$mid>" --header "Subject: =?UTF-8?B?R3LDvMOfZSB2aWEgU01UUA==?=" \
    --body "Dear carol, this came by SMTP." || fail "beta's smtpd refused the mail to carol"
  expect_reply "$LAST" '^250 ' "SMTP mail to carol@box.beta.test"
  got=$(receive_wait beta carol@box.beta.test '"subject":"Grüße via SMTP"' "carol's RECEIVE")
  grep -q -F '"body":"Dear carol, this came by SMTP.' <<<"$got" || fail "body not in: $got"
  grep -q -F '"sender":"(alice)%(alpha.test)","recipient":"(carol)%(box.beta.test)"' <<<"$got" ||
    fail "sender/recipient not in: $got"
  ok "carol RECEIVEd it over TLS with her login"
  [[ -z $(receive beta carol@box.beta.test) ]] || fail "a second RECEIVE was not empty"
  ok "received means removed: the next RECEIVE is empty"
  # amy (alpha's user) cannot log in at beta, and no login over plain text.
  ! mp_ctl beta mmtp receive --server "127.0.0.1:$MP_beta_mmtps" --user amy@box.alpha.test \
    --tls-fingerprint "$(mp_ctl beta address fingerprint "$MP_WORK/beta/tls.crt")" \
    --password-fd 3 3<"$MP_WORK/alpha/mmtp.pw" >/dev/null 2>"$T/amy.err" ||
    fail "amy RECEIVEd at beta"
  grep -q 'Authentication failed' "$T/amy.err" || fail "amy: $(cat "$T/amy.err")"
  ok "another site's user is refused: $(cat "$T/amy.err")"
  queue_empty beta
}

case_postfix_to_remote_mmtp() {
  fresh
  local mid got
  mid=$(new_msgid remote)
  swaks_to "$MP_alpha_smtp" --from alice@alpha.test --to carol@box.beta.test \
    --header "Message-Id: <$mid>" --header "Subject: from Postfix to MMTP" \
    --body "alice writes over MMTP" || fail "alpha refused alice's mail"
  expect_reply "$LAST" '^250 ' "alice's mail to carol@box.beta.test, submitted at alpha"
  got=$(receive_wait beta carol@box.beta.test '"subject":"from Postfix to MMTP"' "carol's RECEIVE")
  grep -q -F '"sender":"(alice)%(alpha.test)"' <<<"$got" || fail "sender not alice: $got"
  grep -q -E '"token":"1:5:[0-9]+:\(alice\)%\(alpha\.test\):\(carol\)%\(box\.beta\.test\):' <<<"$got" ||
    fail "no stamp of 5 zero hex digits naming alice and carol: $got"
  grep -q -E 'mmtp-bridge: .*sent=' "$MP_WORK/alpha/mtepd.log" || fail "alpha's bridge logged no send"
  grep -q -E 'mmtp: client=127\.0\.0\.1:[0-9]+ tls=yes SEND from=<\(alice\)%\(alpha\.test\)> to=<\(carol\)%\(box\.beta\.test\)> .*result=ok' \
    "$MP_WORK/beta/mtepd.log" || fail "beta's gateway did not log the SEND over TLS"
  queue_empty alpha
  ok "alpha's Postfix -> alpha's mtepd -> TLS to beta's 8026 -> carol's mailbox, RECEIVEd"
}

case_remote_refusal_bounces() {
  fresh
  local mid dir f
  mid=$(new_msgid nobody)
  swaks_to "$MP_alpha_smtp" --from alice@alpha.test --to nobody@box.beta.test \
    --header "Message-Id: <$mid>" --header "Subject: to nobody" || fail "alpha refused the mail"
  expect_reply "$LAST" '^250 ' "alice's mail to nobody@box.beta.test, submitted at alpha"
  dir=$(mp_maildir alpha alpha.test)
  mp_wait_delivered "$dir" 1 20 || fail "no bounce in alice's Maildir"
  f=$(mp_delivered_files "$dir" alice@alpha.test | head -n 1)
  grep -q -i 'Unknown recipient\|5\.1\.1' "$f" || fail "the bounce does not say why: $(head -c 1500 "$f")"
  queue_empty alpha
  ok "beta refused the SEND, alpha's bridge said 5xx, Postfix bounced to alice"
}

case_remote_down_defers() {
  fresh
  local mid got
  mp_stop_mtepd beta || fail "cannot stop beta's mtepd"
  mid=$(new_msgid down)
  swaks_to "$MP_alpha_smtp" --from alice@alpha.test --to carol@box.beta.test \
    --header "Message-Id: <$mid>" --header "Subject: while beta was down" ||
    { mp_start_mtepd beta; fail "alpha refused the mail"; }
  local i deferred=0
  for ((i = 0; i < 100; i++)); do
    if mp_queue alpha | grep -q -E '"delay_reason": *"[^"]* 4\.4\.'; then deferred=1; break; fi
    sleep 0.2
  done
  ((deferred)) || { mp_start_mtepd beta; fail "alpha's queue has no deferral: $(mp_queue alpha)"; }
  ok "deferred at alpha: $(mp_queue alpha | grep -o -E '"delay_reason": *"[^"]*"' | head -n 1)"
  mp_start_mtepd beta || fail "cannot start beta's mtepd again"
  mp_flush alpha
  got=$(receive_wait beta carol@box.beta.test '"subject":"while beta was down"' "carol's RECEIVE")
  [[ $(grep -c -F '"subject":"while beta was down"' <<<"$got") == 1 ]] || fail "not exactly one copy: $got"
  queue_empty alpha
  ok "delivered once after beta's mtepd came back"
}

CASES=(send_lands_in_postfix_mailbox smtp_into_mmtp_mailbox postfix_to_remote_mmtp
  remote_refusal_bounces remote_down_defers)

mp_fixture_main "$@"

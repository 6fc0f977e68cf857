# Sender signatures end to end with the real key service: a mtepd for
# alpha.test with smtp_listen (STARTTLS, a certificate from openssl req)
# and user_keys; alice provisioned with "mtepctl user add", her key derived
# and published with "mtepctl key publish" (AUTH HASHEDPASS + SETPUBKEY),
# a message signed with "mtepctl sign". A milter of its own asks that
# mtepd for PUBKEY (key_servers alpha.test, key_cache_ttl 0):
#   - the signed message passes (x-sender-signature=pass);
#   - the body altered: 550 5.7.7 at sigstrict.test, fail at sig.test;
#   - mallory's forgery, signed with his own key and carrying it in
#     X-Sender-Pubkey: 550 5.7.7;
#   - after "mtepctl salt reset" (RSTSALT, new key published) the old
#     signature fails and a new one passes;
#   - the key service's self-signed certificate is trusted by its pin
#     ([milter] tls_pins, mtepctl --tls-fingerprint); a second milter
#     that trusts it as a CA (tls_ca_file) but asks for the server as
#     127.0.0.1, a name the certificate is not for: temperror (451 4.7.5
#     where signatures are enforced), never pass.
# Skipped (77) when mtepctl has no "sign" (the key service is not built).
# Sourced by run.sh (its variables and functions are available).
if ! "$MTEPCTL" sign --help > /dev/null 2>&1; then
  echo "SKIP: mtepctl has no sign command"
  exit 77
fi
K=$T/sig32
rm -rf "$K"
mkdir -p "$K/alpha" "$K/beta" || exit 1
free_port; p_mtep=$PORT
free_port; p_keys=$PORT
free_port; p_milter=$PORT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3 \
  -subj "/CN=mx.alpha.test" -keyout "$K/tls.key" -out "$K/tls.pem" > /dev/null 2>&1 || {
  echo "FAIL: openssl req"
  exit 1
}
cat > "$K/alpha.conf" << CONF
[global]
user = ""
state_dir = "$K/alpha"
[mtepd]
listen = ["127.0.0.1:$p_mtep"]
smtp_listen = ["127.0.0.1:$p_keys"]
hostname = "mx.alpha.test"
tls_cert_file = "$K/tls.pem"
tls_key_file = "$K/tls.key"
user_keys = true
pid_file = "$K/mtepd.pid"
[log]
level = "debug"
CONF
"$MTEPCTL" -c "$K/alpha.conf" key rotate > /dev/null || { echo "FAIL: key rotate"; exit 1; }
spawn sig32-mtepd "$K/mtepd.pid" "$MTEPD" -f -c "$K/alpha.conf" || exit 1
mtepd_pid=$SPAWNED
wait_until 20 listening "$p_keys" || { echo "FAIL: mtepd does not listen on $p_keys"; exit 1; }

pw() { echo "correct horse battery staple"; }
server=(--server "127.0.0.1:$p_keys")
pw | "$MTEPCTL" -c "$K/alpha.conf" user add alice@alpha.test --password-fd 0 > "$K/out" 2>&1 ||
  { echo "FAIL: user add"; cat "$K/out"; exit 1; }
# mtepctl trusts the self-signed key service by its pin too (no config file).
server+=(--tls-fingerprint "$("$MTEPCTL" address fingerprint "$K/tls.pem")")
pw | "$MTEPCTL" key publish alice@alpha.test "${server[@]}" --password-fd 0 > "$K/out" 2>&1 ||
  { echo "FAIL: key publish"; cat "$K/out"; exit 1; }

cat > "$K/message" << 'MSG'
From: Alice Example <alice@alpha.test>
To: bob@sig.test
Subject: figures for the third quarter,
 as promised
Date: Mon, 23 Nov 2026 10:00:00 +0000
Message-ID: <32@alpha.test>

Hello Bob,

the  figures are	in.
-- 
Alice
MSG
sign_as_alice() {  # IN OUT
  pw | "$MTEPCTL" sign "$1" --user alice@alpha.test "${server[@]}" --password-fd 0 > "$2" 2> "$K/out" ||
    { echo "FAIL: mtepctl sign"; cat "$K/out"; return 1; }
}
sign_as_alice "$K/message" "$K/signed" || exit 1
grep -q '^X-Sender-Signature: ed25519 ' "$K/signed" || { echo "FAIL: no signature added"; exit 1; }
sed 's/figures are/figures were/' "$K/signed" > "$K/altered"
# Mallory: his own user on his own server would do; an offline key is enough.
printf 'MTEPSALTmallorysalt0' | base64 > "$K/mallory.salt"
pw | "$MTEPCTL" key derive mallory --salt "$(cat "$K/mallory.salt")" --out "$K/mallory.key" \
  --password-fd 0 > "$K/out" 2>&1 || { echo "FAIL: key derive (offline)"; cat "$K/out"; exit 1; }
"$MTEPCTL" sign "$K/message" --key-file "$K/mallory.key" > "$K/forged" 2> "$K/out" ||
  { echo "FAIL: sign with a key file"; cat "$K/out"; exit 1; }

# The key service's certificate is self-signed: the milter trusts it by
# its pin ([milter] tls_pins), the way a partner's self-signed site is.
fp=$("$MTEPCTL" address fingerprint "$K/tls.pem") || { echo "FAIL: address fingerprint"; exit 1; }
conf=$K/milter.conf
write_milter_conf "$conf" "inet:$p_milter@127.0.0.1" "$K/beta" "pid_file = \"$T/sig32-milter.pid\"
key_cache_ttl = 0
tls_pins = { \"alpha.test\" = \"$fp\" }"
sed -i "s|^key_servers = .*|key_servers = { \"alpha.test\" = \"127.0.0.1:$p_keys\" }|" "$conf"
start_milter sig32-milter "$p_milter" "$conf" || exit 1
milter_pid=$SPAWNED

cat > "$K/case.lua" << 'LUA'
dofile(HELPERS)
local function send(qid, rcpt, file)
  local conn = T.connect("192.0.2.32")
  T.mail(conn, qid, "<alice@alpha.test>")
  T.rcpt(conn, rcpt)
  T.send_message(conn, T.read_file(DIR .. "/" .. file))
  T.eom(conn)
  return conn
end
local function expect_result(qid, rcpt, file, result)
  local conn = send(qid, rcpt, file)
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  T.expect_auth_results(conn, "mx.beta.test; x-sender-signature=" .. result .. " header.from=alice@alpha.test")
  mt.disconnect(conn)
end
local function expect_refused(qid, rcpt, file)
  local conn = send(qid, rcpt, file)
  T.expect_eom_reply(conn, qid, "550", "5.7.7")
  mt.disconnect(conn)
end
T.run("sender signatures via the real key service, " .. PHASE, function()
  if PHASE == "before" then
    expect_result("Q32PASS", "<bob@sig.test>", "signed", "pass")
    expect_result("Q32STRICT", "<bob@sigstrict.test>", "signed", "pass")
    expect_result("Q32ALTERED", "<bob@sig.test>", "altered", "fail")
    expect_refused("Q32ALTREJ", "<bob@sigstrict.test>", "altered")
    expect_refused("Q32FORGED", "<bob@sigstrict.test>", "forged")
    expect_result("Q32REQ", "<bob@sigreq.test>", "signed", "pass")
  elseif PHASE == "untrusted" then
    -- The key server's certificate is for mx.alpha.test, not for the
    -- name asked (127.0.0.1): not asked, so never pass.
    expect_result("Q32NAME", "<bob@sig.test>", "signed", "temperror")
    local conn = send("Q32NAMESTRICT", "<bob@sigstrict.test>", "signed")
    T.expect_eom_reply(conn, "Q32NAMESTRICT", "451", "4.7.5")
    mt.disconnect(conn)
  else
    expect_refused("Q32OLD", "<bob@sigstrict.test>", "signed")
    expect_result("Q32NEW", "<bob@sigstrict.test>", "resigned", "pass")
  end
end)
LUA
run_lua "$K/case.lua" "MILTER=inet:$p_milter@127.0.0.1" "MILTER_LOG=$T/sig32-milter.log" \
  "DIR=$K" "PHASE=before" || exit 1

# A milter that trusts the certificate as a CA (tls_ca_file) but asks for
# the key server by another name than the certificate's (127.0.0.1, the
# certificate is for mx.alpha.test; the milter's resolver reads no hosts
# file, so the name asked is the address): temperror (451 4.7.5 where
# signatures are enforced), never pass.
free_port; p_milter2=$PORT
conf2=$K/milter-untrusted.conf
write_milter_conf "$conf2" "inet:$p_milter2@127.0.0.1" "$K/beta2" "pid_file = \"$T/sig32-milter2.pid\"
key_cache_ttl = 0
tls_ca_file = \"$K/tls.pem\""
sed -i "s|^key_servers = .*|key_servers = { \"alpha.test\" = \"127.0.0.1:$p_keys\" }|" "$conf2"
mkdir -p "$K/beta2" || exit 1
start_milter sig32-milter2 "$p_milter2" "$conf2" || exit 1
milter2_pid=$SPAWNED
run_lua "$K/case.lua" "MILTER=inet:$p_milter2@127.0.0.1" "MILTER_LOG=$T/sig32-milter2.log" \
  "DIR=$K" "PHASE=untrusted" || exit 1
grep -q "not trusted for 127.0.0.1" "$T/sig32-milter2.log" || {
  echo "FAIL: the milter's log does not say why the key server was not trusted"
  grep Q32NAME "$T/sig32-milter2.log"
  exit 1
}
kill -TERM "$milter2_pid"
check_milter_stopped sig32-milter2 || exit 1

# RSTSALT: a new salt, the key withdrawn, the new one published.
pw | "$MTEPCTL" salt reset alice@alpha.test "${server[@]}" --password-fd 0 > "$K/out" 2>&1 ||
  { echo "FAIL: salt reset"; cat "$K/out"; exit 1; }
sign_as_alice "$K/message" "$K/resigned" || exit 1
run_lua "$K/case.lua" "MILTER=inet:$p_milter@127.0.0.1" "MILTER_LOG=$T/sig32-milter.log" \
  "DIR=$K" "PHASE=after RSTSALT" || exit 1

kill -TERM "$milter_pid"
check_milter_stopped sig32-milter || exit 1
stop_daemon sig32-mtepd "$mtepd_pid" || exit 1
echo "PASS: sender signatures round trip with the real key service"

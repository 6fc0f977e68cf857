# The body step is declined (SMFIP_NOBODY) only while no policy of the
# configuration can need a body (stamps, sender signatures); a reload that
# turns one on applies from the next connection, which takes the body
# again. A connection keeps what it negotiated with. Runs a milter of its
# own, first without body policies.
# Sourced by run.sh (its variables and functions are available).
free_port
port=$PORT
conf=$T/nobody.conf
log=$T/nobody.log
write_plain_conf() {
  cat > "$conf" << CONF
[global]
user = ""
state_dir = "$T/beta"
[log]
level = "debug"
[milter]
socket = "inet:$port@127.0.0.1"
pid_file = "$T/nobody.pid"
authserv_id = "mx.beta.test"
internal_networks = ["127.0.0.1/32"]
mtep_servers = { "alpha.test" = "127.0.0.1:$P_ALPHA" }
[domain."beta.test"]
require_mtep = true
$1
CONF
}
write_plain_conf ""
start_milter nobody "$port" "$conf" || exit 1
pid=$SPAWNED

# expect_body_step NAME WANT_NOBODY(true|false): a new connection's
# negotiation, then a message that passes (a vouched-for token).
expect_body_step() {
  cat > "$T/nobody-$1.lua" << LUA
dofile(HELPERS)
T.run("$1: SMFIP_NOBODY requested is $2", function()
  local conn = T.connect("192.0.2.98")
  if mt.test_option(conn, SMFIP_NOBODY) ~= $2 then
    error("SMFIP_NOBODY requested is " .. tostring(not $2) .. ", want $2", 0)
  end
  T.mail(conn, "$1", "<alice@alpha.test>")
  T.rcpt(conn, "<bob@beta.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "RCPT")
  T.header(conn, "MTEP-Token", TOKEN_ALICE)
  if not $2 then
    T.check(mt.bodystring(conn, "hello\r\n"), "body")
  end
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  T.expect_auth_results(conn, "mx.beta.test; mtep=pass smtp.mailfrom=alice@alpha.test")
  mt.disconnect(conn)
end)
LUA
  run_lua "$T/nobody-$1.lua" "MILTER=inet:$port@127.0.0.1" "MILTER_LOG=$log"
}

expect_body_step Q98PLAIN true || exit 1

write_plain_conf '[domain."sig.test"]
check_signatures = true'
kill -USR1 "$pid"
if ! wait_for_log "$log" "configuration reloaded from $conf"; then
  echo "FAIL: no reload after SIGUSR1"
  exit 1
fi
expect_body_step Q98SIG false || exit 1

kill -TERM "$pid"
check_milter_stopped nobody || exit 1

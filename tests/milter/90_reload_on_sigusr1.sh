# SIGUSR1 reloads the configuration: a new authserv_id is used by the
# next connection. A broken file is refused and the running configuration
# stays. (SIGHUP cannot do this: libmilter stops on it; see 95_.) Runs a
# milter of its own.
# Sourced by run.sh (its variables and functions are available).
free_port
port=$PORT
conf=$T/reload.conf
log=$T/reload.log
write_milter_conf "$conf" "inet:$port@127.0.0.1" "$T/beta" "pid_file = \"$T/reload.pid\""
start_milter reload "$port" "$conf" || exit 1
pid=$SPAWNED

expect_authserv() {
  cat > "$T/reload-$1.lua" << LUA
dofile(HELPERS)
T.run("$2", function()
  local conn = T.connect("192.0.2.90")
  T.mail(conn, "$1", "<alice@alpha.test>")
  T.rcpt(conn, "<bob@beta.test>")
  T.header(conn, "MTEP-Token", TOKEN_ALICE)
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  T.expect_auth_results(conn, "$3; mtep=pass smtp.mailfrom=alice@alpha.test")
  mt.disconnect(conn)
end)
LUA
  run_lua "$T/reload-$1.lua" "MILTER=inet:$port@127.0.0.1" "MILTER_LOG=$log"
}

AUTHSERV_ID=mx2.beta.test write_milter_conf "$conf" "inet:$port@127.0.0.1" "$T/beta" "pid_file = \"$T/reload.pid\""
kill -USR1 "$pid"
if ! wait_for_log "$log" "configuration reloaded from $conf (authserv_id mx2.beta.test)"; then
  echo "FAIL: no reload after SIGUSR1"
  exit 1
fi
expect_authserv Q90NEW "SIGUSR1 reload applies the new authserv_id" mx2.beta.test || exit 1

echo 'this is [not valid' >> "$conf"
kill -USR1 "$pid"
if ! wait_for_log "$log" "reload failed, keeping the running configuration"; then
  echo "FAIL: a broken file was not refused"
  exit 1
fi
expect_authserv Q90KEPT "a failed reload keeps the running configuration" mx2.beta.test || exit 1

kill -TERM "$pid"
check_milter_stopped reload || exit 1

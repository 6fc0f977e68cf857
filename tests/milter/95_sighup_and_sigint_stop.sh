# libmilter owns SIGHUP, SIGTERM and SIGINT; SIGHUP is treated like
# SIGTERM (reload is SIGUSR1, see 90_). The milter stops listening, and
# Debian's libmilter closes connections that wait for their next command:
# here a message half-way through when SIGHUP arrives. The MTA then applies
# its milter_default_action (tempfail) to it. The milter frees what that
# connection held, logs its stop line and exits 0 (under ASan: no leak).
# SIGINT stops a second milter the same way. Runs two milters of its own.
# Sourced by run.sh (its variables and functions are available).
for sig in hup int; do
  free_port
  eval "port_$sig=\$PORT"
  write_milter_conf "$T/$sig.conf" "inet:$PORT@127.0.0.1" "$T/beta" "pid_file = \"$T/$sig.pid\""
  start_milter "$sig" "$PORT" "$T/$sig.conf" || exit 1
  eval "pid_$sig=\$SPAWNED"
done

cat > "$T/hup-open.lua" << 'LUA'
dofile(HELPERS)
T.run("a connection open at SIGHUP is closed by the milter", function()
  local conn = T.connect("192.0.2.95")
  T.mail(conn, "Q95OPEN", "<alice@alpha.test>")
  T.rcpt(conn, "<bob@beta.test>")
  T.header(conn, "MTEP-Token", TOKEN_ALICE)
  local f = assert(io.open(MARKER, "w"))
  f:close()
  for _ = 1, 300 do  -- until the milter has exited
    local s = io.open(STATUS, "r")
    if s then s:close() break end
    mt.sleep(0.1)
  end
  -- miltertest raises an error when the connection is gone (it sends
  -- the body step first, the milter takes bodies): either way, no answer.
  local sent, err = pcall(mt.eom, conn)
  if sent and err == nil then error("the connection still answers after the stop", 0) end
end)
LUA
run_lua "$T/hup-open.lua" "MILTER=inet:$port_hup@127.0.0.1" "MILTER_LOG=$T/hup.log" \
  "MARKER=$T/hup-open.marker" "STATUS=$T/hup.status" > "$T/hup-open.out" 2>&1 &
client=$!
if ! wait_until 20 test -e "$T/hup-open.marker"; then
  echo "FAIL: the client did not get half-way"
  cat "$T/hup-open.out"
  exit 1
fi
kill -HUP "$pid_hup"
kill -INT "$pid_int"
for sig in hup int; do
  if ! check_milter_stopped "$sig"; then
    echo "FAIL: SIG${sig^^} did not stop mtep-milter cleanly"
    exit 1
  fi
done
if ! wait "$client"; then
  cat "$T/hup-open.out"
  exit 1
fi
cat "$T/hup-open.out"
if ! grep -qF "1 connection(s) were open at the stop" "$T/hup.log"; then
  echo "FAIL: the open connection was not accounted for"
  exit 1
fi
echo "PASS: SIGHUP and SIGINT stop mtep-milter with status 0"

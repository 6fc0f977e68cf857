# A milter started without its key file tempfails outbound mail, and once
# "mtepctl key rotate" has created the file it mints again by itself,
# within its 10-second retry interval (polled here for up to 30 s), with
# no signal or restart. Runs a milter of its own.
# Sourced by run.sh (its variables and functions are available).
free_port
port=$PORT
mkdir -p "$T/late"
conf=$T/late.conf
write_milter_conf "$conf" "inet:$port@127.0.0.1" "$T/late" "pid_file = \"$T/late.pid\""
start_milter late "$port" "$conf" || exit 1
pid=$SPAWNED

outbound() {
  cat > "$T/late-$1.lua" << LUA
dofile(HELPERS)
T.run("outbound with$2 a key file", function()
  local conn = T.connect("127.0.0.1")
  T.mail(conn, "$1", "<dave@beta.test>")
  T.rcpt(conn, "<erin@gamma.test>")
  T.eom(conn)
  if "$2" == "out" then
    T.expect_eom_reply(conn, "$1", "451", "4.3.0")
  else
    T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
    if not mt.eom_check(conn, MT_HDRADD, "MTEP-Token") then error("no MTEP-Token added", 0) end
  end
  mt.disconnect(conn)
end)
LUA
  run_lua "$T/late-$1.lua" "MILTER=inet:$port@127.0.0.1" "MILTER_LOG=$T/late.log"
}

outbound Q96NOKEY out || exit 1
"$MTEPCTL" -c "$conf" key rotate > /dev/null || exit 1
n=0
until outbound "Q96TRY$n" "" > "$T/late-try.out" 2>&1; do
  n=$((n + 1))
  if [ "$n" -ge 30 ]; then
    echo "FAIL: still no token 30 s after the key file appeared"
    cat "$T/late-try.out"
    exit 1
  fi
  sleep 1
done
if ! grep -qF "token keys loaded from $T/late/token.keys" "$T/late.log"; then
  echo "FAIL: the key file was picked up without a log line"
  exit 1
fi
echo "PASS: the key file is picked up once it exists"
kill -TERM "$pid"
check_milter_stopped late || exit 1

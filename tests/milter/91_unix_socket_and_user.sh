# A unix socket and a privilege drop: started as root with [global] user
# "nobody" and socket unix:DIR/milter.sock, mtep-milter gives the socket to
# nobody and nobody's group, mode 0660 (so an MTA in that group can
# connect), runs as nobody with no way back to root, and still verifies
# and mints. A symlink planted at the socket path does not make root
# chown or chmod its target. Skipped (passes) when not run as root.
# Sourced by run.sh (its variables and functions are available).
if [ "$(id -u)" -ne 0 ] || ! getent passwd nobody > /dev/null; then
  echo "PASS: (skipped: needs root and the user nobody)"
  exit 0
fi
sock_dir=$T/sockdir
mkdir -p "$sock_dir"
sock=$sock_dir/milter.sock
conf=$T/unix.conf
log=$T/unix.log
write_milter_conf "$conf" "unix:$sock" "$T/beta" "pid_file = \"$T/unix.pid\""
sed -i 's/^user = ""/user = "nobody"/' "$conf"
spawn unix "$T/unix.pid" "$MILTER_BIN" -f -c "$conf" || exit 1
pid=$SPAWNED
if ! wait_until 20 test -S "$sock"; then
  echo "FAIL: no socket $sock"
  cat "$log"
  exit 1
fi
wait_until 10 grep -q "^Uid:.*[^0-9]$(id -u nobody)[^0-9]" "/proc/$pid/status"
owner=$(stat -c '%U:%a' "$sock")
group=$(stat -c '%g' "$sock")
if [ "$owner" != "nobody:660" ] || [ "$group" != "$(id -g nobody)" ]; then
  echo "FAIL: socket is $owner group $group, want nobody:660 group $(id -g nobody)"
  exit 1
fi
uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")
n=$(id -u nobody)
if [ "$uids" != "$n $n $n $n" ]; then
  echo "FAIL: mtep-milter runs with uids $uids, want $n everywhere"
  exit 1
fi
cat > "$T/unix-check.lua" << 'LUA'
dofile(HELPERS)
T.run("unix socket: verifies and mints after dropping to nobody", function()
  local conn = T.connect("192.0.2.91")
  T.mail(conn, "Q91IN", "<alice@alpha.test>")
  T.rcpt(conn, "<bob@beta.test>")
  T.header(conn, "MTEP-Token", TOKEN_ALICE)
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "inbound end of message")
  T.expect_auth_results(conn, "mx.beta.test; mtep=pass smtp.mailfrom=alice@alpha.test")
  mt.disconnect(conn)
  conn = T.connect("127.0.0.1")
  T.mail(conn, "Q91OUT", "<dave@beta.test>")
  T.rcpt(conn, "<erin@gamma.test>")
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "outbound end of message")
  if not mt.eom_check(conn, MT_HDRADD, "MTEP-Token") then error("no MTEP-Token added", 0) end
  mt.disconnect(conn)
end)
LUA
run_lua "$T/unix-check.lua" "MILTER=unix:$sock" "MILTER_LOG=$log" || exit 1
kill -TERM "$pid"
if ! check_milter_stopped unix; then
  echo "FAIL: no clean stop after the privilege drop"
  exit 1
fi
echo "PASS: unix socket owned by nobody, mode 0660; running as nobody"

# A symlink planted where the socket goes, pointing at a file of root's:
# root must not give that file to nobody or open its mode. (libmilter
# refuses to replace what is not a socket; the socket hand-over itself
# acts on a descriptor opened without following links and refuses
# anything but the socket just bound: tests/unit/sys/socket_file_test.cc.)
victim=$sock_dir/victim
echo secret > "$victim"
chmod 0600 "$victim"
ln -s "$victim" "$sock_dir/planted.sock"
write_milter_conf "$T/planted.conf" "unix:$sock_dir/planted.sock" "$T/beta" \
  "pid_file = \"$T/planted.pid\""
sed -i 's/^user = ""/user = "nobody"/' "$T/planted.conf"
"$MILTER_BIN" -f -c "$T/planted.conf" > "$T/planted.out" 2>&1 &
planted=$!
if ! wait_until 20 sh -c "! kill -0 $planted 2> /dev/null"; then
  kill -TERM "$planted" 2> /dev/null
fi
wait "$planted" 2> /dev/null
owner=$(stat -c '%u:%g:%a' "$victim")
if [ "$owner" != "0:0:600" ] || [ "$(cat "$victim")" != secret ]; then
  echo "FAIL: the symlink's target became $owner: root followed the link"
  exit 1
fi
echo "PASS: a symlink planted at the socket path leaves its target alone"

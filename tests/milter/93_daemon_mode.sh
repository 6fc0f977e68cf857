# Without -f: the starting command returns 0 once the detached daemon is
# ready, and the pid file names it; SIGTERM stops it and removes the pid
# file. Start-up failures before and after detaching (port in use, pid file
# in a missing directory, a pid file locked by a running daemon) give exit
# status 1 with the reason on stderr; a hard link planted at the pid
# file's path is replaced, never written into.
# Sourced by run.sh (its variables and functions are available).
free_port
conf=$T/daemon.conf
write_milter_conf "$conf" "inet:$PORT@127.0.0.1" "$T/beta" "pid_file = \"$T/daemon.pid\""
if ! "$MILTER_BIN" -c "$conf" > "$T/daemon.out" 2>&1; then
  echo "FAIL: mtep-milter without -f exited non-zero:"
  cat "$T/daemon.out"
  exit 1
fi
pid=$(cat "$T/daemon.pid" 2> /dev/null)
if [ -z "$pid" ] || ! kill -0 "$pid" 2> /dev/null || ! listening "$PORT"; then
  echo "FAIL: no running daemon after a successful start (pid '$pid')"
  exit 1
fi
if [ "$(awk '{print $7}' "/proc/$pid/stat")" != 0 ]; then
  echo "FAIL: the daemon still has a controlling terminal"
  exit 1
fi
# A second daemon (another port) with the same pid file: the running one
# holds its pid file's lock, so the second is refused and the file still
# names the first.
port_first=$PORT
free_port
write_milter_conf "$T/second.conf" "inet:$PORT@127.0.0.1" "$T/beta" \
  "pid_file = \"$T/daemon.pid\""
out=$("$MILTER_BIN" -c "$T/second.conf" 2>&1)
status=$?
if [ "$status" -ne 1 ] || [[ "$out" != *"already running"* ]] ||
  [ "$(cat "$T/daemon.pid" 2> /dev/null)" != "$pid" ]; then
  echo "FAIL: a second daemon with the running one's pid file gave status $status: $out"
  [ "$status" -eq 0 ] && kill -TERM "$(cat "$T/daemon.pid")" 2> /dev/null
  exit 1
fi
PORT=$port_first
kill -TERM "$pid"
gone() { ! kill -0 "$pid" 2> /dev/null; }
if ! wait_until 30 gone; then
  echo "FAIL: the daemon did not stop on SIGTERM"
  exit 1
fi
if [ -e "$T/daemon.pid" ]; then
  echo "FAIL: the pid file is still there"
  exit 1
fi
echo "PASS: detaches, writes and removes its pid file, stops on SIGTERM"

# The port of the shared milter is taken: refused before detaching.
write_milter_conf "$T/busy.conf" "$MILTER_SOCKET" "$T/beta"
out=$("$MILTER_BIN" -c "$T/busy.conf" 2>&1)
status=$?
if [ "$status" -ne 1 ] || [[ "$out" != *"cannot listen on $MILTER_SOCKET"* ]]; then
  echo "FAIL: a busy port gave status $status: $out"
  exit 1
fi
# A pid file that cannot be written fails after detaching: the verdict
# still reaches the starting command.
free_port
write_milter_conf "$T/nopid.conf" "inet:$PORT@127.0.0.1" "$T/beta" \
  "pid_file = \"$T/no/such/dir/milter.pid\""
out=$("$MILTER_BIN" -c "$T/nopid.conf" 2>&1)
status=$?
if [ "$status" -ne 1 ] || [[ "$out" != *"$T/no/such/dir/milter.pid"* ]]; then
  echo "FAIL: an unwritable pid file gave status $status: $out"
  exit 1
fi
echo "PASS: start-up failures give status 1 and the reason"

# Whatever stands at the pid file's path is never written into as root: a
# hard link to a file of root's is removed (it is not locked: stale), not
# truncated, and a stale pid file from a crash does not block start-up.
echo "root:x:0:0:root:/root:/bin/sh" > "$T/victim"
ln "$T/victim" "$T/linked.pid"
free_port
write_milter_conf "$T/linked.conf" "inet:$PORT@127.0.0.1" "$T/beta" \
  "pid_file = \"$T/linked.pid\""
if ! "$MILTER_BIN" -c "$T/linked.conf" > "$T/linked.out" 2>&1; then
  echo "FAIL: a hard link at the pid file's path stopped start-up:"
  cat "$T/linked.out"
  exit 1
fi
pid=$(cat "$T/linked.pid" 2> /dev/null)
kill -TERM "$pid" 2> /dev/null
if [ "$(cat "$T/victim")" != "root:x:0:0:root:/root:/bin/sh" ]; then
  echo "FAIL: the file linked at the pid file's path was written: $(cat "$T/victim")"
  exit 1
fi
if ! wait_until 30 gone; then
  echo "FAIL: the daemon did not stop on SIGTERM"
  exit 1
fi
echo "PASS: the pid file is created anew (O_EXCL), never written through a link"

# Without -f: the starting command returns 0 once the detached daemon is
# ready, and the pid file names it; SIGTERM stops it and removes the pid
# file. Start-up failures before and after detaching (port in use, pid file
# in a missing directory) give exit status 1 with the reason on stderr.
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

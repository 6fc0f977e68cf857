# A rotated key file that cannot be loaded at first (renamed into place
# with mode 0644) is tried again until it loads: once chmod 600 has
# repaired it (inode, size and mtime unchanged), the milter mints with the
# new key. It once kept the old key for good, minting tokens mtepd, which
# retried, no longer had the key for. Runs a milter of its own.
# Sourced by run.sh (its variables and functions are available).
free_port
port=$PORT
mkdir -p "$T/retry" "$T/retry-next"
conf=$T/retry.conf
write_milter_conf "$conf" "inet:$port@127.0.0.1" "$T/retry" "pid_file = \"$T/retry.pid\""
write_milter_conf "$T/retry-next.conf" "inet:$port@127.0.0.1" "$T/retry-next"
"$MTEPCTL" -c "$conf" key rotate > /dev/null || exit 1
start_milter retry "$port" "$conf" || exit 1
pid=$SPAWNED

outbound() {
  cat > "$T/retry-$1.lua" << LUA
dofile(HELPERS)
T.run("outbound mints a token", function()
  local conn = T.connect("127.0.0.1")
  T.mail(conn, "$1", "<dave@beta.test>")
  T.rcpt(conn, "<erin@gamma.test>")
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  if not mt.eom_check(conn, MT_HDRADD, "MTEP-Token") then error("no MTEP-Token added", 0) end
  mt.disconnect(conn)
end)
LUA
  run_lua "$T/retry-$1.lua" "MILTER=inet:$port@127.0.0.1" "MILTER_LOG=$T/retry.log"
}

outbound Q97FIRST > /dev/null || exit 1
# The next ring (key 2) made beside it, opened to group and others, renamed in.
cp -p "$T/retry/token.keys" "$T/retry-next/token.keys"
"$MTEPCTL" -c "$T/retry-next.conf" key rotate > /dev/null || exit 1
chmod 0644 "$T/retry-next/token.keys"
mv "$T/retry-next/token.keys" "$T/retry/token.keys"
n=0
until grep -q "token key file $T/retry/token.keys changed but cannot be used" "$T/retry.log"; do
  n=$((n + 1))
  if [ "$n" -ge 30 ]; then
    echo "FAIL: the unusable key file was not noticed within 30 tries"
    tail -n 20 "$T/retry.log"
    exit 1
  fi
  outbound "Q97BAD$n" > /dev/null || exit 1
  sleep 1
done
chmod 0600 "$T/retry/token.keys"
n=0
until grep -q "token keys reloaded from $T/retry/token.keys, current key id 2" "$T/retry.log"; do
  n=$((n + 1))
  if [ "$n" -ge 30 ]; then
    echo "FAIL: the repaired key file (chmod 600) was not loaded within 30 tries"
    tail -n 20 "$T/retry.log"
    exit 1
  fi
  outbound "Q97GOOD$n" > /dev/null || exit 1
  sleep 1
done
echo "PASS: a key file refused once is loaded after it is repaired"
kill -TERM "$pid"
check_milter_stopped retry || exit 1

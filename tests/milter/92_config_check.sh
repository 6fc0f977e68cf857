# mtep-milter -t: a good file -> exit 0 and "OK"; a missing key file is
# only a warning; a bad value -> exit 1 naming file and line, nothing
# started.
# Sourced by run.sh (its variables and functions are available).
out=$("$MILTER_BIN" -t -c "$MILTER_CONF" 2>&1)
if [ $? -ne 0 ] || [[ "$out" != *": OK (socket $MILTER_SOCKET, authserv_id mx.beta.test)"* ]]; then
  echo "FAIL: -t on a good file: $out"
  exit 1
fi
out=$("$MILTER_BIN" -t -c "$NOKEYS_CONF" 2>&1)
if [ $? -ne 0 ] || [[ "$out" != *"warning:"*"token.keys"* ]]; then
  echo "FAIL: -t without a key file should warn and pass: $out"
  exit 1
fi
bad=$T/bad.conf
sed 's/^socket = .*/socket = "tcp:25"/' "$MILTER_CONF" > "$bad"
line=$(grep -n '^socket' "$bad" | cut -d: -f1)
out=$("$MILTER_BIN" -t -c "$bad" 2>&1)
if [ $? -ne 1 ] || [[ "$out" != *"$bad:$line:"*"socket"* ]]; then
  echo "FAIL: -t on a bad socket should name $bad:$line: $out"
  exit 1
fi
sed 's/^user = ""/user = "mtep-no-such-user"/' "$MILTER_CONF" > "$bad"
out=$("$MILTER_BIN" -t -c "$bad" 2>&1)
if [ $? -ne 1 ] || [[ "$out" != *"mtep-no-such-user does not exist"* ]]; then
  echo "FAIL: -t with a missing user should fail: $out"
  exit 1
fi
echo "PASS: -t checks the configuration"

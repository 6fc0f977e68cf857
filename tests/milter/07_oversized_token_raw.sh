# MTEP-Token headers of 2000 and 60000 bytes, beyond what miltertest can
# send (its buffers hold 1 KiB): spoken in the milter protocol directly,
# over bash's /dev/tcp. Each must get 550 5.7.25, and the milter must not
# ask alpha's server about them.
# Sourced by run.sh (its variables and functions are available).

# be32 N: N as 4 big-endian bytes.
be32() {
  printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))"
  printf "\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 & 255)))"
}
# frame CMD DATAFILE: one milter packet.
frame() {
  be32 $(($(stat -c %s "$2") + 1))
  printf '%s' "$1"
  cat "$2"
}

raw_case() {
  local size=$1 qid=$2 d=$T/raw-$1
  mkdir -p "$d"
  { be32 6; be32 0x1ff; be32 0x1fffff; } > "$d/optneg"
  # host name, family '4', port 25 (2 bytes), address
  { printf 'client.example\0'; printf '4'; printf '\0\031'; printf '192.0.2.70\0'; } > "$d/connect"
  printf 'Mi\0%s\0' "$qid" > "$d/macro"
  printf '<alice@alpha.test>\0' > "$d/mail"
  printf '<bob@beta.test>\0' > "$d/rcpt"
  { printf 'MTEP-Token\0'; head -c "$size" /dev/zero | tr '\0' 'A'; printf '\0'; } > "$d/header"
  : > "$d/empty"
  {
    frame O "$d/optneg"
    frame C "$d/connect"
    frame D "$d/macro"
    frame M "$d/mail"
    frame R "$d/rcpt"
    frame L "$d/header"
    frame E "$d/empty"
    frame Q "$d/empty"
  } > "$d/request"
  if ! exec 3<> "/dev/tcp/127.0.0.1/$P_MILTER"; then
    echo "FAIL: cannot connect to the milter"
    return 1
  fi
  cat "$d/request" >&3
  timeout 20 cat <&3 > "$d/response"
  exec 3<&-
  if ! grep -qa 'y550 5\.7\.25 ' "$d/response"; then
    echo "FAIL: $size-byte MTEP-Token: no 550 5.7.25 reply; got:"
    od -c "$d/response" | head -n 20
    return 1
  fi
  if grep -qF "$qid: mtep domain=alpha.test" "$MILTER_LOG"; then
    echo "FAIL: $size-byte MTEP-Token: alpha's server was asked"
    return 1
  fi
  echo "PASS: $size-byte MTEP-Token header is rejected with 550 5.7.25"
}

raw_case 2000 Q07RAW2000 && raw_case 60000 Q07RAW60000

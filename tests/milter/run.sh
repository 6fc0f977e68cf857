#!/usr/bin/env bash
# NAME
#   run.sh - drive the real mtep-milter with miltertest
# SUMMARY
#   bash tests/milter/run.sh BUILD_DIR [CASE...]   # all in one, in a temp dir
#   bash tests/milter/run.sh start BUILD_DIR WORK  # ctest fixture: start
#   bash tests/milter/run.sh case WORK CASE        #   one case
#   bash tests/milter/run.sh stop WORK             #   stop, check, clean up
# DESCRIPTION
#   start: in WORK (emptied first), makes key files with "mtepctl key
#   rotate", starts a real mtepd for alpha.test on a free loopback port,
#   mints tokens with "mtepctl token mint" (and revokes one, waiting until
#   alpha's mtepd answers D for it), and starts "mtep-milter -f" twice on
#   free loopback ports: the milter under test (authserv_id mx.beta.test,
#   internal_networks 127.0.0.1/32, [domain."beta.test"] require_mtep,
#   mtep_servers alpha.test -> that mtepd, down.test -> a closed port;
#   stamps.test requires 12-bit stamps, both.test MTEP and stamps,
#   minter.test mints 12-bit hashcash stamps, argon.test Argon2id ones;
#   sig.test checks sender signatures, sigstrict.test refuses bad ones,
#   sigreq.test requires them from alpha.test and down.test, whose key
#   server (key_servers) is the closed port) and
#   the same with a key file that does not exist. The daemons run in their
#   own sessions, output in WORK/NAME.log, exit status in WORK/NAME.status;
#   WORK/env keeps the ports, paths and tokens for the other commands.
#
#   case: runs one CASE (a file in tests/milter/, or a path):
#     NN_*.lua  a miltertest script, given the globals listed in
#               common.lua with -D;
#     NN_*.sh   a bash case, sourced in a subshell with this script's
#               variables and functions (run_lua, spawn, stop_daemon, ...).
#   Afterwards both milters must still run: a crash fails the case that
#   caused it. Cases do not change the shared milters, so ctest may run
#   them in parallel; a case that needs a restart, a reload or a signal
#   starts a milter of its own.
#
#   stop: SIGTERM to both milters, which must exit with status 0 after
#   logging "mtep-milter stopped" (under ASan that includes the leak
#   check), then to mtepd; removes WORK unless MTEP_TEST_KEEP=1.
#
#   With BUILD_DIR first, does all three with every NN_* case (or those
#   named) and prints "N passed, N failed". Exit status: 0 all passed, 1 a
#   failure, 2 usage, 77 miltertest missing (ctest: skipped).
# SEE ALSO
#   tests/milter/common.lua, tests/milter/CMakeLists.txt

set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/mail-test.sh
source "$HERE/../lib/mail-test.sh"

say() { echo "run.sh: $*"; }

usage() {
  echo "usage: $0 BUILD_DIR [CASE...] | start BUILD_DIR WORK | case WORK CASE | stop WORK" >&2
  exit 2
}

# wait_until SECONDS COMMAND...: polls every 0.1 s.
wait_until() {
  local tries=$(($1 * 10))
  shift
  while [ "$tries" -gt 0 ]; do
    "$@" && return 0
    sleep 0.1
    tries=$((tries - 1))
  done
  return 1
}

# wait_for_log FILE TEXT [SECONDS]: until FILE has a line containing TEXT.
wait_for_log() {
  wait_until "${3:-10}" grep -qF -- "$2" "$1"
}

# A loopback TCP port nobody listens on and no other fixture picked
# (tests/lib/mail-test.sh's mp_free_ports); result in PORT.
free_port() {
  PORT=$(mp_free_ports 1) && [[ -n $PORT ]] || { say "no free port found"; exit 1; }
}

# True once something listens on 127.0.0.1:PORT.
listening() {
  local hex
  hex=$(printf '%04X' "$1")
  grep -q "^ *[0-9]*: 0100007F:$hex 00000000:0000 0A" /proc/net/tcp
}

# spawn NAME PIDFILE COMMAND...: runs COMMAND in a session of its own,
# output to $T/NAME.log and, once it exits, its status to $T/NAME.status.
# The daemon writes PIDFILE itself; its pid goes to SPAWNED.
spawn() {
  local name=$1 pidfile=$2
  shift 2
  rm -f "$T/$name.status" "$pidfile"
  setsid bash -c '"$@"; echo $? > "$0"' "$T/$name.status" "$@" \
    < /dev/null > "$T/$name.log" 2>&1 &
  SPAWNED_WRAPPERS+=("$!")
  if ! wait_until 20 test -s "$pidfile"; then
    say "$name did not start:"
    sed 's/^/    /' "$T/$name.log"
    return 1
  fi
  SPAWNED=$(cat "$pidfile")
  CASE_SPAWNED+=("$name:$SPAWNED")
}

# At the end of a bash case: kills what it spawned and did not stop.
CASE_SPAWNED=()
kill_case_leftovers() {
  local entry
  for entry in "${CASE_SPAWNED[@]}"; do
    [ -e "$T/${entry%%:*}.status" ] || kill -KILL "${entry#*:}" 2> /dev/null
  done
}

# stop_daemon NAME PID [SIGNAL] [ALLOW_STATUS]: signals (default TERM), waits
# for the exit status; true when it is 0 (or ALLOW_STATUS).
stop_daemon() {
  local name=$1 pid=$2 sig=${3:-TERM}
  kill -"$sig" "$pid" 2> /dev/null
  check_stopped "$name" "${4:-0}"
}

# check_stopped NAME [ALLOW_STATUS]: waits up to 30 s for NAME's status.
check_stopped() {
  local name=$1
  if ! wait_until 30 test -s "$T/$name.status"; then
    say "$name did not exit within 30 s"
    return 1
  fi
  local status
  status=$(cat "$T/$name.status")
  if [ "$status" != 0 ] && [ "$status" != "${2:-0}" ]; then
    say "$name exited with status $status:"
    tail -n 30 "$T/$name.log" | sed 's/^/    /'
    return 1
  fi
  return 0
}

# check_milter_stopped NAME: exit status 0, stop line, no sanitizer report.
check_milter_stopped() {
  check_stopped "$1" || return 1
  if ! grep -qF "mtep-milter stopped" "$T/$1.log"; then
    say "$1 exited without logging \"mtep-milter stopped\""
    return 1
  fi
  if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$T/$1.log"; then
    say "$1: sanitizer report:"
    grep -A 20 -E "Sanitizer|runtime error:" "$T/$1.log" | head -n 40 | sed 's/^/    /'
    return 1
  fi
}

# write_milter_conf FILE SOCKET STATE_DIR [EXTRA [milter] LINES]
write_milter_conf() {
  cat > "$1" << EOF
# the MX of beta.test
[global]
user = ""
state_dir = "$3"
[log]
level = "debug"
[milter]
socket = "$2"
authserv_id = "${AUTHSERV_ID:-mx.beta.test}"
internal_networks = ["127.0.0.1/32"]
mtep_servers = { "alpha.test" = "127.0.0.1:$P_ALPHA", "down.test" = "127.0.0.1:$P_DOWN" }
query_timeout = "3s"
key_servers = { "down.test" = "127.0.0.1:$P_DOWN" }
${4:-}
[domain."beta.test"]
require_mtep = true
# Sender signatures (cases 30_ and up): checked, bad ones refused, required.
[domain."sig.test"]
check_signatures = true
[domain."sigstrict.test"]
check_signatures = true
reject_bad_signatures = true
[domain."sigreq.test"]
require_signature_from = ["alpha.test", "down.test"]
# Proof of work (cases 20_ and up): stamps required, stamps minted.
[domain."stamps.test"]
require_stamp = true
stamp_bits = 12
[domain."both.test"]
require_mtep = true
require_stamp = true
stamp_bits = 12
[domain."minter.test"]
mint_stamps = "hashcash"
mint_stamp_bits = 12
[domain."argon.test"]
mint_stamps = "argon2id"
# Submission tokens (cases 40_ and up): distributed outbound, held inbound.
[domain."tok.test"]
distribute_submission_tokens = true
accept_submission_tokens = true
EOF
}

# start_milter NAME SOCKET_PORT CONF: spawns mtep-milter -f -c CONF (whose
# pid_file must be $T/NAME.pid) and waits until it listens; pid in SPAWNED.
start_milter() {
  spawn "$1" "$T/$1.pid" "$MILTER_BIN" -f -c "$3" || return 1
  if ! wait_until 20 listening "$2"; then
    say "$1 does not listen on port $2:"
    sed 's/^/    /' "$T/$1.log"
    return 1
  fi
}

# run_lua SCRIPT [NAME=VALUE...]: miltertest with the usual globals.
run_lua() {
  local script=$1
  shift
  local defs=() kv
  for kv in "$@"; do defs+=(-D "$kv"); done
  miltertest -s "$script" \
    -D "HELPERS=$HERE/common.lua" -D "MILTER=$MILTER_SOCKET" -D "MILTER_LOG=$MILTER_LOG" \
    -D "NOKEYS_MILTER=$NOKEYS_SOCKET" -D "NOKEYS_LOG=$NOKEYS_LOG" \
    -D "MTEPCTL=$MTEPCTL" -D "MILTER_CONF=$MILTER_CONF" \
    -D "TOKEN_ALICE=$TOKEN_ALICE" -D "TOKEN_BOB=$TOKEN_BOB" -D "TOKEN_JOERG=$TOKEN_JOERG" \
    -D "TOKEN_ALICE_BOTH=$TOKEN_ALICE_BOTH" -D "TOKEN_ALICE_GAMMA=$TOKEN_ALICE_GAMMA" \
    -D "TOKEN_REVOKED=$TOKEN_REVOKED" -D "TOKEN_FORGED=$TOKEN_FORGED" "${defs[@]}"
}

# --- start ----------------------------------------------------------------
SPAWNED_WRAPPERS=()
# On a failed start: end whatever was started (wrappers and their daemons).
abort_start() {
  local pid
  for pid in "${SPAWNED_WRAPPERS[@]}"; do
    pkill -KILL -s "$pid" 2> /dev/null
  done
}

do_start() {
  trap abort_start EXIT
  BUILD=$(cd "$1" && pwd) || exit 2
  T=$2
  MTEPD=$BUILD/mtepd/mtepd
  MTEPCTL=$BUILD/mtepctl/mtepctl
  MILTER_BIN=$BUILD/milter/mtep-milter
  local bin
  for bin in "$MTEPD" "$MTEPCTL" "$MILTER_BIN"; do
    if [ ! -x "$bin" ]; then
      say "$bin is missing; build it first"
      exit 2
    fi
  done
  if ! command -v miltertest > /dev/null; then
    say "miltertest is not installed (apt-get install miltertest); skipping"
    exit 77
  fi
  if [ -f "$T/env" ]; then
    # Daemons of an earlier run that was never stopped.
    (source "$T/env" && kill -KILL "$MTEPD_PID" "$MILTER_PID" "$NOKEYS_PID" 2> /dev/null)
  fi
  rm -rf "$T"
  mkdir -p "$T/alpha" "$T/beta" "$T/nokeys" || exit 1
  T=$(cd "$T" && pwd)

  free_port; P_ALPHA=$PORT
  free_port; P_DOWN=$PORT
  free_port; P_MILTER=$PORT
  free_port; P_NOKEYS=$PORT

  cat > "$T/alpha.conf" << EOF
# alpha.test's MTEP server
[global]
user = ""
state_dir = "$T/alpha"
[mtepd]
listen = ["127.0.0.1:$P_ALPHA"]
pid_file = "$T/mtepd.pid"
[log]
level = "debug"
EOF
  MILTER_SOCKET="inet:$P_MILTER@127.0.0.1"
  MILTER_CONF=$T/milter.conf
  MILTER_LOG=$T/milter.log
  NOKEYS_SOCKET="inet:$P_NOKEYS@127.0.0.1"
  NOKEYS_CONF=$T/nokeys.conf
  NOKEYS_LOG=$T/nokeys.log
  write_milter_conf "$MILTER_CONF" "$MILTER_SOCKET" "$T/beta" "pid_file = \"$T/milter.pid\""
  write_milter_conf "$NOKEYS_CONF" "$NOKEYS_SOCKET" "$T/nokeys" "pid_file = \"$T/nokeys.pid\""

  "$MTEPCTL" -c "$T/alpha.conf" key rotate > /dev/null || { say "mtepctl key rotate failed"; exit 1; }
  "$MTEPCTL" -c "$MILTER_CONF" key rotate > /dev/null || { say "mtepctl key rotate failed"; exit 1; }

  spawn mtepd "$T/mtepd.pid" "$MTEPD" -f -c "$T/alpha.conf" || exit 1
  MTEPD_PID=$SPAWNED
  if ! wait_until 20 listening "$P_ALPHA"; then
    say "mtepd does not listen:"
    cat "$T/mtepd.log"
    exit 1
  fi

  # Tokens are bound to the sender and the recipient domain: beta.test
  # unless named.
  mint() { "$MTEPCTL" -c "$T/alpha.conf" token mint --sender "$1" --recipient-domain "${2:-beta.test}"; }
  TOKEN_ALICE=$(mint alice@alpha.test)
  TOKEN_ALICE_BOTH=$(mint alice@alpha.test both.test)
  TOKEN_ALICE_GAMMA=$(mint alice@alpha.test gamma.test)
  TOKEN_BOB=$(mint bob@alpha.test)
  TOKEN_JOERG=$(mint 'jörg@alpha.test')
  TOKEN_REVOKED=$(mint alice@alpha.test)
  local t
  for t in "$TOKEN_ALICE" "$TOKEN_ALICE_BOTH" "$TOKEN_ALICE_GAMMA" "$TOKEN_BOB" "$TOKEN_JOERG" \
    "$TOKEN_REVOKED"; do
    [ -n "$t" ] || { say "mtepctl token mint failed"; exit 1; }
  done
  # A forgery: alice's token with one character of its MAC changed.
  local pos=$((${#TOKEN_ALICE} - 5)) r=A
  [ "${TOKEN_ALICE:$pos:1}" = A ] && r=B
  TOKEN_FORGED=${TOKEN_ALICE:0:$pos}$r${TOKEN_ALICE:$((pos + 1))}
  "$MTEPCTL" -c "$T/alpha.conf" token revoke "$TOKEN_REVOKED" > /dev/null || { say "revoke failed"; exit 1; }
  revoked_seen() {
    "$MTEPCTL" query "127.0.0.1:$P_ALPHA" "$TOKEN_REVOKED" --sender alice@alpha.test \
      --recipient bob@beta.test > /dev/null 2>&1
    [ $? -eq 1 ]
  }
  if ! wait_until 20 revoked_seen; then
    say "alpha's mtepd still vouches for the revoked token"
    exit 1
  fi

  start_milter milter "$P_MILTER" "$MILTER_CONF" || exit 1
  MILTER_PID=$SPAWNED
  start_milter nokeys "$P_NOKEYS" "$NOKEYS_CONF" || exit 1
  NOKEYS_PID=$SPAWNED

  declare -p BUILD T MTEPD MTEPCTL MILTER_BIN P_ALPHA P_DOWN P_MILTER P_NOKEYS \
    MILTER_SOCKET MILTER_CONF MILTER_LOG NOKEYS_SOCKET NOKEYS_CONF NOKEYS_LOG \
    MTEPD_PID MILTER_PID NOKEYS_PID \
    TOKEN_ALICE TOKEN_ALICE_BOTH TOKEN_ALICE_GAMMA TOKEN_BOB TOKEN_JOERG TOKEN_REVOKED TOKEN_FORGED |
    sed 's/^declare /declare -g /' > "$T/env"
  trap - EXIT
}

load_env() {
  if ! command -v miltertest > /dev/null; then
    say "miltertest is not installed; skipping"
    exit 77
  fi
  if [ ! -f "$1/env" ]; then
    say "$1/env is missing: run \"run.sh start\" first"
    exit 1
  fi
  # shellcheck disable=SC1091
  source "$1/env"
}

# --- case -------------------------------------------------------------------
# Runs one case; true when it passed and both milters survived it.
do_case() {
  local case=$1 name status
  [ -f "$case" ] || case=$HERE/$case
  name=$(basename "$case")
  case $name in
    *.lua) run_lua "$case" ;;
    *.sh) (CASE_SPAWNED=() && trap kill_case_leftovers EXIT && source "$case") ;;
    *) say "unknown case $name"; false ;;
  esac
  status=$?
  local pid
  for pid in "$MILTER_PID" "$NOKEYS_PID"; do
    if ! kill -0 "$pid" 2> /dev/null; then
      say "$name: mtep-milter $pid died"
      status=1
    fi
  done
  if [ "$status" -ne 0 ]; then
    say "FAILED: $name; the end of the milter's log:"
    tail -n 15 "$MILTER_LOG" | sed 's/^/    /'
    return 1
  fi
}

# --- stop -------------------------------------------------------------------
do_stop() {
  STOPPED=1
  local ok=0
  kill -TERM "$MILTER_PID" "$NOKEYS_PID" 2> /dev/null
  check_milter_stopped milter || ok=1
  check_milter_stopped nokeys || ok=1
  stop_daemon mtepd "$MTEPD_PID" || ok=1
  if [ "${MTEP_TEST_KEEP:-0}" = 1 ] || [ "$ok" -ne 0 ]; then
    say "kept $T"
  else
    rm -rf "$T"
  fi
  return "$ok"
}

# --- main -------------------------------------------------------------------
[ $# -ge 1 ] || usage
case $1 in
  start)
    [ $# -eq 3 ] || usage
    do_start "$2" "$3"
    ;;
  case)
    [ $# -eq 3 ] || usage
    load_env "$2"
    do_case "$3"
    ;;
  stop)
    [ $# -eq 2 ] || usage
    load_env "$2"
    do_stop
    ;;
  *)
    work=$(mktemp -d /tmp/mtep-milter-test.XXXXXX)
    (do_start "$1" "$work")
    status=$?
    if [ "$status" -ne 0 ]; then
      rm -rf "$work"
      exit "$status"
    fi
    shift
    load_env "$work"
    # Stop the daemons even if this script dies half-way.
    trap '[ -n "${STOPPED:-}" ] || do_stop > /dev/null 2>&1' EXIT
    cases=("$@")
    if [ ${#cases[@]} -eq 0 ]; then
      shopt -s nullglob
      cases=("$HERE"/[0-9][0-9]_*.lua "$HERE"/[0-9][0-9]_*.sh)
      shopt -u nullglob
      mapfile -t cases < <(printf '%s\n' "${cases[@]}" | sort)
    fi
    passed=0
    failed=0
    for c in "${cases[@]}"; do
      if do_case "$c"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    done
    if ! do_stop; then
      failed=$((failed + 1))
      say "FAILED: clean shutdown"
    fi
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    ;;
esac

# shellcheck shell=bash
# NAME
#   mail-test.sh - shell helpers for running real mail servers on loopback
#   (a bash library)
# SUMMARY
#   source tests/lib/mail-test.sh
#   mp_free_ports N; mp_wait_port PORT WHAT; mp_spawn PIDFILE LOG CMD...
#   mp_stop_daemon PIDFILE [SIGNAL]; mp_postfix_stop DIR; mp_redis_start DIR PORT
#   mp_postfix_main_cf DIR LOG HOSTNAME; mp_postfix_master_cf DIR PORT
#   mp_swaks OUT [swaks args...]; mp_last_reply OUT; mp_header FILE NAME
#   mp_wait_delivered MAILDIR [N] [SECONDS]; mp_delivered_files MAILDIR [ADDRESS]
#   mp_fixture_main "$@"          # start|stop|CASE|list of a ctest fixture script
# DESCRIPTION
#   What scripts/mail-pair.sh (and through it scripts/demo), the real-MTA
#   tests in tests/postfix/ and tests/exim/ and tests/bench/run-postfix-bench.sh
#   share: free ports, waiting for ports and pids, daemons in sessions of their
#   own (so that the shell that started them may exit: ctest fixtures), a
#   loopback Postfix instance's main.cf and master.cf, swaks and its
#   transcripts, Maildir deliveries and their header fields.
#
#   For the fixture scripts also: the case helpers (fail, ok, expect_reply,
#   expect_rcpt_reply, swaks_to, expect_delivered, expect_nothing_delivered)
#   and mp_fixture_main, the start / stop / one case / list dispatch that
#   tests/lib/fixture_tests.cmake registers with ctest. A script using it
#   defines CASES, the functions case_NAME, fresh, site_check, site_start,
#   site_load and site_stop, and the variables described at mp_fixture_main.
#
#   The names keep the mp_ prefix of scripts/mail-pair.sh, where they began.
#   Every function returns non-zero and says why on stderr when something
#   does not come up; nothing here exits, except fail, mp_skip_without_postfix
#   and mp_fixture_main.
# SEE ALSO
#   scripts/mail-pair.sh, tests/lib/fixture_tests.cmake

mp_die() { echo "${0##*/}: $*" >&2; return 1; }

# ---- ports, pids, daemons -----------------------------------------------------

# Prints N distinct TCP ports that nothing on this host uses, below the
# ephemeral range so that outgoing connections cannot take them meanwhile.
# Fixtures that start side by side (ctest -j) could pick the same free port
# before either binds it: each pick is written, under a lock, to a list of
# the last hour's picks that every later pick avoids.
mp_free_ports() {  # n
  local n=$1 p picked=() list=${MP_PORT_LIST:-/tmp/mtep-test-ports} now lock
  now=$(date +%s)
  exec {lock}>>"$list.lock"
  flock "$lock"
  touch "$list"
  local taken
  taken=" $(awk -v now="$now" '$2 > now - 3600 { printf "%s ", $1 }' "$list") "
  while ((${#picked[@]} < n)); do
    p=$((10000 + RANDOM % 22000))
    [[ " ${picked[*]} " == *" $p "* || $taken == *" $p "* ]] && continue
    [[ -n $(ss -Htan "( sport = :$p )" 2>/dev/null) ]] && continue
    picked+=("$p")
  done
  { awk -v now="$now" '$2 > now - 3600' "$list"; for p in "${picked[@]}"; do echo "$p $now"; done; } >"$list.new"
  mv "$list.new" "$list"
  flock -u "$lock"
  exec {lock}>&-
  echo "${picked[*]}"
}

mp_wait_port() {  # port what [tries of 0.05 s]
  local i
  for ((i = 0; i < ${3:-200}; i++)); do
    [[ -n $(ss -Hltn "( sport = :$1 )" 2>/dev/null) ]] && return 0
    sleep 0.05
  done
  mp_die "$2 is not listening on 127.0.0.1:$1"
}

mp_wait_port_closed() {  # port [tries of 0.05 s]
  local i
  for ((i = 0; i < ${2:-200}; i++)); do
    [[ -z $(ss -Hltn "( sport = :$1 )" 2>/dev/null) ]] && return 0
    sleep 0.05
  done
  return 1
}

# Waits for a pid to exit (not necessarily our child), up to `tries` x 0.05 s.
mp_wait_pid() {  # pid [tries]
  local i
  for ((i = 0; i < ${2:-200}; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.05
  done
  return 1
}

# Starts a daemon in a session of its own, output appended to LOG; the pid
# goes to PIDFILE.
mp_spawn() {  # pidfile log command...
  local pidfile=$1 log=$2; shift 2
  setsid "$@" </dev/null >>"$log" 2>&1 &
  echo $! >"$pidfile"
}

mp_pid() { [[ -s $1 ]] && tr -dc 0-9 <"$1"; }

# Stops a daemon started by mp_spawn and waits for it: SIGTERM, then SIGKILL
# after 20 s (mtep-milter lets open connections finish for up to 10 s, and
# libmilter itself takes about 4.5 s to return). `signal` KILL kills at
# once, as a crash would.
mp_stop_daemon() {  # pidfile [signal]
  local pid
  pid=$(mp_pid "$1") || return 0
  [[ -n $pid ]] || return 0
  kill -"${2:-TERM}" "$pid" 2>/dev/null
  mp_wait_pid "$pid" 400 || { kill -KILL "$pid" 2>/dev/null; mp_wait_pid "$pid" 100; }
  rm -f "$1"
}

# Starts a redis-server on 127.0.0.1:PORT, its files in DIR (pid in
# DIR/redis.pid, output in DIR/redis.log) in a session of its own, and waits
# until it listens. No persistence unless the extra arguments (given to
# redis-server after ours: the later wins) turn it on. mp_stop_daemon
# DIR/redis.pid stops it.
mp_redis_start() {  # dir port [redis-server args...]
  local dir=$1 port=$2; shift 2
  mkdir -p "$dir"
  mp_spawn "$dir/redis.pid" "$dir/redis.log" redis-server --port "$port" --bind 127.0.0.1 \
    --dir "$dir" --save "" --appendonly no --daemonize no "$@"
  mp_wait_port "$port" redis-server || { tail -n 5 "$dir/redis.log" >&2; return 1; }
}

# Prints the sanitizer reports (ASan, UBSan, ...) found in the given logs.
mp_sanitizer_reports() {  # log...
  local f
  for f in "$@"; do
    [[ -f $f ]] || continue
    grep -H -E '(Address|Leak|Undefined|Thread|Memory)Sanitizer|runtime error:' "$f" || true
  done
}

# ---- a loopback Postfix instance ----------------------------------------------
# An instance lives in DIR: DIR/etc (main.cf, master.cf), DIR/spool (queue),
# DIR/data. Start it with `postfix -c DIR/etc start`.

# Checks what a loopback Postfix instance and its tests need (root, Postfix,
# swaks, ss); prints the first thing missing, or returns 1 when nothing is.
mp_missing() {
  local t
  [[ $(id -u) == 0 ]] || { echo "not root (Postfix instances need root)"; return 0; }
  for t in postfix postconf postqueue sendmail swaks ss setsid openssl; do
    command -v "$t" >/dev/null || { echo "$t not installed"; return 0; }
  done
  getent passwd postfix >/dev/null || { echo "no user postfix"; return 0; }
  getent passwd nobody >/dev/null || { echo "no user nobody"; return 0; }
  return 1
}

# A fixture script's site_check for Postfix: exits 77 (ctest's skip) when
# mp_missing finds something missing.
mp_skip_without_postfix() {
  local why
  if why=$(mp_missing); then
    echo "SKIP: $why: the Postfix tests need root, postfix, swaks and ss (iproute2)"
    exit 77
  fi
}

# Applies `sed` expressions to a template, each of which must change a line:
# a shipped file that no longer matches stops the start.
mp_subst() {  # template out expr...
  local tmpl=$1 out=$2 e; shift 2
  cp "$tmpl" "$out"
  for e in "$@"; do
    if ! sed -n "${e}p" "$out" | grep -q .; then
      mp_die "$tmpl: the substitution '$e' matches nothing: update ${0##*/}"
      return 1
    fi
    sed -i "$e" "$out"
  done
}

# Creates DIR/etc, DIR/spool and DIR/data and writes DIR/etc/main.cf with
# the settings every loopback instance here shares: 127.0.0.1 only, IPv4, no
# DNS, no local delivery, its own queue, its log in the file LOG, mydomain
# HOSTNAME without its first label. The caller appends the rest (mynetworks
# among them).
mp_postfix_main_cf() {  # dir log hostname
  local d=$1 log=$2 host=$3
  mkdir -p "$d/etc" "$d/spool"
  install -d -o postfix -g postfix "$d/data"
  cat >"$d/etc/main.cf" <<CF
# Generated by ${0##*/} (tests/lib/mail-test.sh): a loopback Postfix instance.
compatibility_level = 3.6
queue_directory = $d/spool
data_directory = $d/data
maillog_file_prefixes = ${log%/*}
maillog_file = $log
myhostname = $host
mydomain = ${host#*.}
mydestination =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
biff = no
smtp_dns_support_level = disabled
CF
}

# The master.cf services of a loopback instance other than smtpd, pickup and
# cleanup, none chrooted.
mp_postfix_services() {
  cat <<'MASTER'
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
MASTER
}

# Writes DIR/etc/master.cf: smtpd on 127.0.0.1:PORT, pickup, cleanup and the
# other services, none chrooted.
mp_postfix_master_cf() {  # dir port
  {
    echo "127.0.0.1:$2 inet n - n - - smtpd"
    echo "pickup    unix  n       -       n       60      1       pickup"
    echo "cleanup   unix  n       -       n       -       0       cleanup"
    mp_postfix_services
  } >"$1/etc/master.cf"
}

# Stops the instance in DIR, if it runs, and waits for its master process
# (SIGKILL after 10 s).
mp_postfix_stop() {  # dir
  local pid
  [[ -f $1/etc/main.cf ]] || return 0
  pid=$(mp_pid "$1/spool/pid/master.pid") || true
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    postfix -c "$1/etc" stop >/dev/null 2>&1
    mp_wait_pid "$pid" 200 || { kill -KILL "$pid" 2>/dev/null; mp_wait_pid "$pid" 100; }
  fi
}

# ---- mail -------------------------------------------------------------------

# swaks with the transcript in OUT; the exit status is swaks's (0: accepted;
# 23-29: refused at some step, see swaks(1)). --server is required in args.
mp_swaks() {  # out swaks-args...
  local out=$1; shift
  swaks --timeout 30 "$@" >"$out" 2>&1
}

# The last SMTP reply line swaks received before the end (after DATA: the
# verdict on the message).
mp_last_reply() {  # swaks-transcript
  grep -E '^<(-|~|\*\*) +[0-9]{3}[ -]' "$1" | grep -v -E '^<(-|~|\*\*) +221 ' | tail -n 1 |
    sed -E 's/^<(-|~|\*\*) +//'
}

# The reply to the RCPT TO of ADDRESS in a swaks transcript (of a reply of
# several lines, the last).
mp_rcpt_reply() {  # swaks-transcript address
  awk -v a="RCPT TO:<$2>" '
    index($0, a) { want = 1; next }
    want && /^<(-|~|\*\*) +[0-9][0-9][0-9] / { sub(/^<(-|~|\*\*) +/, ""); print; exit }' "$1"
}

mp_count_delivered() {  # maildir
  local n=0 f
  for f in "$1"/new/*; do [[ -f $f ]] && n=$((n + 1)); done
  echo "$n"
}

# Waits until a Maildir holds at least N messages (default 1), up to
# `seconds` (default 15). Polls every 0.1 s.
mp_wait_delivered() {  # maildir [n] [seconds]
  local want=${2:-1} i tries=$(( ${3:-15} * 10 ))
  for ((i = 0; i < tries; i++)); do
    (($(mp_count_delivered "$1") >= want)) && return 0
    sleep 0.1
  done
  return 1
}

# The files delivered to a Maildir, oldest first; with ADDRESS, only those
# whose Delivered-To is that address.
mp_delivered_files() {  # maildir [address]
  local f
  # shellcheck disable=SC2045  # Maildir names have no spaces; ls sorts by time
  for f in $(ls -tr "$1"/new/ 2>/dev/null); do
    if [[ -z ${2:-} ]] || mp_header "$1/new/$f" Delivered-To | grep -qixF -- "$2"; then
      echo "$1/new/$f"
    fi
  done
}

# Prints every message delivered to a Maildir, oldest first, each after a
# line "==> FILE <==".
mp_delivered() {  # maildir
  local f
  for f in $(mp_delivered_files "$1"); do
    echo "==> $f <=="
    cat "$f"
  done
}

# Header values (unfolded) of the header fields named NAME in a message file,
# one a line, in order.
mp_header() {  # file name
  awk -v want="$(tr '[:upper:]' '[:lower:]' <<<"$2")" '
    /^\r?$/ { exit }
    /^[ \t]/ { if (on) cur = cur " " substr($0, 2); next }
    { if (on) print cur; on = 0
      i = index($0, ":"); n = tolower(substr($0, 1, i - 1))
      if (n == want) { on = 1; cur = substr($0, i + 1); sub(/^[ \t]+/, "", cur) } }
    END { if (on) print cur }' "$1" | tr -d '\r'
}

# Writes the named shell variables to FILE as global declarations, for
# mp_env_load in another shell (each ctest test is a shell of its own).
mp_env_save() {  # file var...
  local file=$1; shift
  declare -p "$@" | sed 's/^declare -- /declare -g /; s/^declare -x /declare -gx /' >"$file"
}

mp_env_load() {  # file
  [[ -s $1 ]] || { mp_die "nothing running in ${1%/*} (${1##*/} missing)"; return 1; }
  # shellcheck disable=SC1090
  source "$1"
}

# ---- the case helpers of a fixture script ------------------------------------

T=""          # this case's scratch directory
LAST=""       # the last swaks transcript
MP_SITE=""    # the running site's directory (set by mp_fixture_main)
MP_SHOW_LOGS=()     # logs, relative to MP_SITE, whose end fail prints
MP_DAEMON_LOGS=()   # logs, relative to MP_SITE, that `stop` checks for sanitizer reports

# Fails the case: prints why, the last swaks transcript and the end of the
# logs, and exits 1.
fail() {
  echo "FAIL: $*"
  if [[ -n $LAST && -f $LAST ]]; then
    echo "---- swaks transcript ($LAST)"; sed 's/^/  /' "$LAST" | tail -n 40
  fi
  local f
  for f in "${MP_SHOW_LOGS[@]}"; do
    [[ -s $MP_SITE/$f ]] || continue
    echo "---- $f (end)"; grep -v postfix-script "$MP_SITE/$f" | tail -n 15 | sed 's/^/  /'
  done
  exit 1
}
ok() { echo "ok: $*"; }

# swaks to 127.0.0.1:PORT; the transcript becomes LAST.
swaks_to() {  # port swaks-args...
  local port=$1; shift
  LAST=$T/swaks.$RANDOM.txt
  mp_swaks "$LAST" --server "127.0.0.1:$port" "$@"
}

# The last reply in a transcript must match the extended regular expression.
expect_reply() {  # transcript regex what
  local got
  got=$(mp_last_reply "$1")
  [[ $got =~ $2 ]] || fail "$3: last SMTP reply '$got', want /$2/"
  ok "$3: $got"
}

expect_rcpt_reply() {  # transcript address regex what
  local got
  got=$(mp_rcpt_reply "$1" "$2")
  [[ $got =~ $3 ]] || fail "$4: RCPT $2 got '$got', want /$3/"
  ok "$4: RCPT $2: $got"
}

# Exactly N messages in MAILDIR: waits up to 15 s for them, then a moment
# more, in which a second delivery of the same message would show.
expect_delivered() {  # maildir n what
  local n
  mp_wait_delivered "$1" "$2" 15 || fail "$3: $(mp_count_delivered "$1") message(s) delivered to $1, want $2"
  sleep 0.3
  n=$(mp_count_delivered "$1")
  [[ $n == "$2" ]] || fail "$3: $n message(s) delivered to $1, want $2"
}

# Nothing in MAILDIR, half a second after the refusal (a delivery in flight
# would show by then).
expect_nothing_delivered() {  # maildir what
  local n
  sleep 0.5
  n=$(mp_count_delivered "$1")
  [[ $n == 0 ]] || fail "$2: $n message(s) delivered to $1, want none"
}

# ---- the fixture script's main ------------------------------------------------

# The dispatch of a script that tests/lib/fixture_tests.cmake registers:
#   SCRIPT list                        prints CASES
#   SCRIPT start BUILD_DIR STATE_FILE  stops what an earlier start left, runs
#                                      site_prepare BUILD_DIR if defined, starts
#                                      the site in a new directory
#                                      /tmp/MP_WORK_PREFIX.XXXXXX named in STATE_FILE
#   SCRIPT CASE  BUILD_DIR STATE_FILE  site_load, fresh, then case_CASE with T a
#                                      new scratch directory in the site's
#   SCRIPT stop  BUILD_DIR STATE_FILE  site_load, site_stop; fails when a log of
#                                      MP_DAEMON_LOGS holds a sanitizer report
#                                      (the directory is then kept), else removes it
# The script defines:
#   CASES            the case names; case_NAME runs one
#   MP_WORK_PREFIX   the site directory's name before .XXXXXX
#   MP_FIXTURE       the ctest name of the start test (said when it failed)
#   MP_NEEDS         the binaries, relative to BUILD_DIR, that must exist
#   site_check       exits 77 (skip) or 1 when this host cannot run the tests
#   site_start WORK BUILD  starts the site, prints where; non-zero on failure
#   site_load WORK   picks up the running site; site_stop stops it
#   fresh            puts the site back to its initial state before a case
mp_fixture_main() {  # script args...
  local me=${0##*/} cmd build state work old b reports
  cmd=${1:?usage: $me start|stop|CASE|list BUILD_DIR STATE_FILE}
  if [[ $cmd == list ]]; then printf '%s\n' "${CASES[@]}"; exit 0; fi
  build=${2:?BUILD_DIR}
  state=${3:?STATE_FILE}
  site_check
  case $cmd in
    start)
      if [[ -s $state ]]; then
        old=$(cat "$state"); site_load "$old" 2>/dev/null && site_stop; rm -rf "$old"; rm -f "$state"
      fi
      if declare -F site_prepare >/dev/null; then site_prepare "$build"; fi
      for b in "${MP_NEEDS[@]}"; do
        [[ -x $build/$b ]] || { echo "FAIL: $build/$b not built"; exit 1; }
      done
      build=$(cd "$build" && pwd)
      work=$(mktemp -d "/tmp/$MP_WORK_PREFIX.XXXXXX")
      echo "$work" >"$state"
      MP_SITE=$work
      site_start "$work" "$build" || { echo "FAIL: did not start (logs in $work)"; exit 1; }
      ;;
    stop)
      [[ -s $state ]] || { echo "nothing to stop"; exit 0; }
      work=$(cat "$state")
      site_load "$work" || exit 0
      site_stop
      rm -f "$state"
      reports=$(mp_sanitizer_reports "${MP_DAEMON_LOGS[@]/#/$work/}")
      if [[ -n $reports ]]; then
        echo "FAIL: sanitizer reports in the daemons' logs (kept in $work):"; echo "$reports"; exit 1
      fi
      rm -rf "$work"
      echo "stopped, $work removed"
      ;;
    *)
      declare -F "case_$cmd" >/dev/null || { echo "unknown case $cmd"; exit 2; }
      [[ -s $state ]] || { echo "FAIL: nothing running (the fixture $MP_FIXTURE failed)"; exit 1; }
      work=$(cat "$state")
      site_load "$work" || exit 1
      MP_SITE=$work
      T=$(mktemp -d "$work/case.XXXXXX")
      fresh
      "case_$cmd"
      echo "PASS: $cmd"
      ;;
  esac
}

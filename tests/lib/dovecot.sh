# shellcheck shell=bash
# NAME
#   dovecot.sh - a real Dovecot LMTP server on loopback for tests, without
#   systemd (a bash library)
# SUMMARY
#   source tests/lib/dovecot.sh
#   dv_skip_without_dovecot                 # exits 77 (ctest's skip) when it cannot run
#   dv_start WORK [--tempfail] alice@alpha.test bob@alpha.test:1K
#   echo "$DV_PORT"                         # LMTP on 127.0.0.1:$DV_PORT
#   dv_wait_delivered bob@alpha.test 1; dv_count alice@alpha.test; dv_files alice@alpha.test
#   dv_stop
#   # in another shell: dv_load WORK; dv_count ...; dv_stop
# DESCRIPTION
#   dv_start writes a minimal Dovecot 2.3 configuration (protocols = lmtp,
#   ssl = no, its own base_dir, state_dir and instance_name, so a system
#   Dovecot is left alone), one passwd-file user per ADDR with a Maildir,
#   and ADDR:QUOTA sets that user's quota rule (*:storage=QUOTA, e.g. 1K;
#   the others get 100M). It runs `dovecot -F` in a session of its own
#   (the shell that started it may exit) on a free port, waits until it
#   listens and sets DV_PORT, DV_PID and DV_DIR; WORK/dovecot.env keeps
#   them for dv_load in another shell.
#   --tempfail: every delivery fails temporarily (the users' homes lie under
#   a regular file: 451 4.2.0 after DATA, as Dovecot answers when a mailbox
#   cannot be written), and a full quota is 452 4.2.2 (quota_full_tempfail).
#   Dovecot runs the deliveries as the user nobody and must reach its mail
#   directories, so the instance does NOT live in WORK (which may sit under
#   a 0700 home such as /root): it lives in a directory of its own made by
#   mktemp under /tmp and opened with chmod 755 (DV_DIR, named in
#   WORK/dovecot.env); dv_stop stops the master, waits for it and removes
#   that directory unless DV_KEEP=1. Dovecot's log is WORK/dovecot.log.
#   Every function returns non-zero and says why on stderr when something
#   fails; only dv_skip_without_dovecot exits.
# SEE ALSO
#   tests/lib/mail-test.sh (ports, pids), dovecot(1), doveconf(1)

# shellcheck source=tests/lib/mail-test.sh
source "${BASH_SOURCE[0]%/*}/mail-test.sh"

DV_DIR=""     # the instance: conf, users, run/, state/, mail/
DV_PORT=""    # LMTP on 127.0.0.1
DV_PID=""     # the master
DV_WORK=""    # the caller's WORK (log, dovecot.env)

# Prints what is missing to run Dovecot here, or returns 1 when nothing is.
dv_missing() {
  local t
  [[ $(id -u) == 0 ]] || { echo "not root (Dovecot switches to the mail user)"; return 0; }
  for t in dovecot doveconf ss setsid; do
    command -v "$t" >/dev/null || { echo "$t not installed"; return 0; }
  done
  [[ -x /usr/lib/dovecot/lmtp ]] || { echo "dovecot-lmtpd not installed"; return 0; }
  getent passwd nobody >/dev/null || { echo "no user nobody"; return 0; }
  return 1
}

# Exits 77 (ctest's SKIP_RETURN_CODE, as mp_skip_without_postfix) when
# Dovecot's LMTP server cannot run here.
dv_skip_without_dovecot() {
  local why
  if why=$(dv_missing); then
    echo "SKIP: $why: the Dovecot tests need root, dovecot-core and dovecot-lmtpd"
    exit 77
  fi
}

# The Maildir of ADDR in the running instance.
dv_maildir() {  # addr
  local a=${1,,}
  echo "$DV_DIR/mail/${a#*@}/${a%@*}/Maildir"
}

dv_start() {  # work [--tempfail] addr[:quota]...
  local work=$1 tempfail=0 spec addr quota uid gid home extra home_root
  shift || { mp_die "usage: dv_start WORK [--tempfail] ADDR[:QUOTA]..."; return 1; }
  if [[ ${1:-} == --tempfail ]]; then tempfail=1; shift; fi
  (($# > 0)) || { mp_die "dv_start: no users"; return 1; }
  mkdir -p "$work" || return 1
  DV_WORK=$(cd "$work" && pwd)
  if ! uid=$(id -u nobody) || ! gid=$(id -g nobody); then mp_die "no user nobody"; return 1; fi
  DV_DIR=$(mktemp -d /tmp/mtep-dovecot.XXXXXX) || return 1
  chmod 755 "$DV_DIR"
  mkdir -p "$DV_DIR/run" "$DV_DIR/state" "$DV_DIR/mail"
  chown "$uid:$gid" "$DV_DIR/mail"
  home_root=$DV_DIR/mail
  if ((tempfail)); then
    # A regular file where the homes' parent should be: no mailbox can be made.
    : >"$DV_DIR/broken"
    home_root=$DV_DIR/broken
  fi
  : >"$DV_DIR/users"
  for spec in "$@"; do
    addr=${spec%%:*}
    quota=""
    [[ $spec == *:* ]] && quota=${spec#*:}
    [[ $addr == ?*@?* && $addr != *[[:space:]/:]* ]] || { mp_die "dv_start: bad address '$addr'"; return 1; }
    addr=${addr,,}
    home=$home_root/${addr#*@}/${addr%@*}
    extra=""
    [[ -n $quota ]] && extra="userdb_quota_rule=*:storage=$quota"
    echo "$addr:{PLAIN}unused:$uid:$gid::$home::$extra" >>"$DV_DIR/users"
    if ((!tempfail)); then
      mkdir -p "$(dv_maildir "$addr")"/{new,cur,tmp} || return 1
    fi
  done
  chown -R "$uid:$gid" "$DV_DIR/mail"
  for _ in 1 2 3; do
    DV_PORT=$(mp_free_ports 1)
    dv_write_conf "$tempfail" || return 1
    doveconf -c "$DV_DIR/dovecot.conf" -n >/dev/null 2>>"$DV_WORK/dovecot.log" ||
      { mp_die "doveconf refuses $DV_DIR/dovecot.conf (see $DV_WORK/dovecot.log)"; return 1; }
    mp_spawn "$DV_DIR/dovecot.pid" "$DV_WORK/dovecot.log" dovecot -F -c "$DV_DIR/dovecot.conf"
    DV_PID=$(mp_pid "$DV_DIR/dovecot.pid")
    if mp_wait_port "$DV_PORT" "dovecot" 200 2>/dev/null && kill -0 "$DV_PID" 2>/dev/null; then
      mp_env_save "$DV_WORK/dovecot.env" DV_DIR DV_PORT DV_PID DV_WORK
      return 0
    fi
    # Lost the port to someone else, or did not start: try again.
    mp_stop_daemon "$DV_DIR/dovecot.pid"
  done
  mp_die "dovecot did not start (see $DV_WORK/dovecot.log)"
  return 1
}

dv_write_conf() {  # tempfail
  cat >"$DV_DIR/dovecot.conf" <<CONF
# Generated by tests/lib/dovecot.sh: Dovecot LMTP on 127.0.0.1:$DV_PORT only.
protocols = lmtp
listen = 127.0.0.1
base_dir = $DV_DIR/run
state_dir = $DV_DIR/state
instance_name = mtep-test-${DV_DIR##*.}
ssl = no
log_path = /dev/stderr
info_log_path = /dev/stderr
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu $DV_DIR/users
}
userdb {
  driver = passwd-file
  args = username_format=%Lu $DV_DIR/users
}
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_plugins = \$mail_plugins quota
plugin {
  quota = maildir:User quota
  quota_rule = *:storage=100M
}
quota_full_tempfail = $( (($1)) && echo yes || echo no)
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $DV_PORT
  }
}
service anvil {
  chroot =
}
CONF
}

# Picks up an instance started by dv_start WORK in another shell.
dv_load() {  # work
  mp_env_load "$1/dovecot.env"
}

# Stops the master (SIGTERM, then SIGKILL) and waits for it; removes the
# instance directory unless DV_KEEP=1.
dv_stop() {
  [[ -n $DV_DIR && -d $DV_DIR ]] || return 0
  mp_stop_daemon "$DV_DIR/dovecot.pid"
  if [[ ${DV_KEEP:-0} != 1 ]]; then
    rm -rf "$DV_DIR"
    rm -f "$DV_WORK/dovecot.env"
  fi
}

# The message files delivered to ADDR, oldest first, one a line.
dv_files() {  # addr
  local d
  d=$(dv_maildir "$1")/new
  # shellcheck disable=SC2045  # Maildir names have no spaces; ls sorts by time
  for f in $(ls -tr "$d" 2>/dev/null); do echo "$d/$f"; done
}

# How many messages ADDR's Maildir holds (new/ and cur/).
dv_count() {  # addr
  local d n=0 f
  d=$(dv_maildir "$1")
  for f in "$d"/new/* "$d"/cur/*; do [[ -f $f ]] && n=$((n + 1)); done
  echo "$n"
}

# Waits up to SECONDS (default 10) until ADDR has at least N messages.
dv_wait_delivered() {  # addr n [seconds]
  local i tries=$(( ${3:-10} * 10 ))
  for ((i = 0; i < tries; i++)); do
    (($(dv_count "$1") >= $2)) && return 0
    sleep 0.1
  done
  mp_die "$1 has $(dv_count "$1") message(s), want $2"
  return 1
}

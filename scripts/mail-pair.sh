# shellcheck shell=bash
# shellcheck disable=SC2119  # mp_stop without WORK stops the pair already loaded
# NAME
#   mail-pair.sh - two Postfix sites with MTEP on loopback (a bash library)
# SUMMARY
#   source scripts/mail-pair.sh
#   mp_start WORK BUILD_DIR       # start alpha.test and beta.test in WORK
#   MP_STOKEN=1 mp_start WORK BUILD_DIR  # the same with STOKEN and Dovecot
#   MP_MMTP=1 mp_start WORK BUILD_DIR    # the same with the MMTP gateway
#   mp_load WORK                  # another shell: pick up a running pair
#   mp_swaks OUT [swaks args...]  # swaks; transcript in OUT, returns its status
#   mp_wait_delivered DIR N       # until Maildir DIR holds N messages
#   mp_delivered DIR              # print the delivered messages in DIR
#   mp_stop [WORK]                # stop everything, wait for every pid
#   mp_dv_count SIDE ADDR; mp_dv_wait SIDE ADDR N [S]; mp_dv_files SIDE ADDR
#                                 # STOKEN mode: ADDR's Dovecot Maildir
# DESCRIPTION
#   Two sites on 127.0.0.1, each a Postfix instance (own config directory,
#   queue, data directory and maillog_file), an mtepd and an mtep-milter:
#
#     alpha.test  smtpd 127.0.0.1:$MP_alpha_smtp, sends from 127.0.0.2,
#                 mtepd :$MP_alpha_mtepd (key service :$MP_alpha_keys, TLS),
#                 milter :$MP_alpha_milter
#     beta.test   smtpd 127.0.0.1:$MP_beta_smtp, sends from 127.0.0.3,
#                 mtepd :$MP_beta_mtepd (key service :$MP_beta_keys, TLS),
#                 milter :$MP_beta_milter;
#                 also receives gamma.test, a domain without require_mtep
#
#   Each site's mail goes to the other by transport_maps, so mail crosses
#   between them as between two sites on the Internet: from a client address
#   outside the other's internal_networks (127.0.0.1/32). Each site mints
#   tokens for its own domain, requires them on mail for it, and finds the
#   other's mtepd through [milter] mtep_servers, and the other's key service
#   (sender signatures) through [milter] key_servers, its self-signed
#   certificate trusted by the pin in [milter] tls_pins. Local domains are delivered
#   by virtual(8) to one Maildir per domain, WORK/SIDE/mail/DOMAIN/, a file
#   per recipient with a Delivered-To header.
#
#   The configuration is generated from the shipped files, so that what
#   admins install is what is tested: contrib/postfix/main.cf.fragment and
#   master.cf.fragment (port and chroot substituted) on top of a minimal
#   loopback main.cf/master.cf, and contrib/postfix/mtep-postfix.conf with
#   user, paths, ports, names and domain substituted. A substitution that no
#   longer matches the shipped file stops mp_start with a message.
#
#   Ports are picked free at start. Daemons run in their own sessions with
#   their output in WORK/SIDE/*.log, so that the shell that started them
#   may exit (ctest fixtures). mp_start writes WORK/pair.env; mp_load reads
#   it. Without BUILD_DIR/milter/mtep-milter the pair runs without milters
#   (MP_MILTER=0), for working on the Postfix side alone.
#
#   Needs root, postfix, swaks, ss. Every function returns non-zero and says
#   why on stderr when something does not come up. The helpers that are not
#   about the pair (ports, daemons, a Postfix instance's base configuration,
#   swaks, Maildirs, header fields) come from tests/lib/mail-test.sh, which
#   this file sources.
#
#   STOKEN mode (MP_STOKEN=1 at mp_start; kept in pair.env): submission
#   tokens between the two sites (doc/stoken.md). Each site also runs a real
#   Dovecot LMTP server (tests/lib/dovecot.sh; alpha: alice@alpha.test;
#   beta: bob@beta.test and carol@beta.test, carol with a 1K quota), and
#   Postfix delivers the local domains to it by LMTP instead of virtual(8).
#   contrib/postfix/main.cf.stoken.fragment and master.cf.stoken.fragment
#   are added with only their ports substituted (mtepd's router as the
#   content filter, the re-injection smtpd, Dovecot's port), and mtep.conf's
#   [stoken] gets: listen (implicit TLS, :$MP_<side>_stoken), starttls_listen
#   (:$MP_<side>_stls), filter_listen (:$MP_<side>_filter), reinject_to
#   (:$MP_<side>_reinject), deliver_to (Dovecot, :$MP_<side>_lmtp), servers
#   (the other site's implicit TLS token server), and the site's domain
#   distributes, accepts and delivers by submission tokens. The token
#   server's certificate is the key service's ([mtepd] tls_cert_file),
#   trusted by the same pins in [stoken] tls_pins (mp_pin_key_services
#   fills in both tables, in either mode). Without MP_STOKEN nothing of
#   this is set up: the pair is exactly as above.
#
#   MMTP mode (MP_MMTP=1 at mp_start; kept in pair.env): the MMTP gateway
#   (doc/mmtp.md) at both sites. Each site gets a second local domain,
#   box.<domain> (box.alpha.test, box.beta.test), whose mmtp_delivery is
#   "mailbox", with one key-service user each (mp_mmtp_user: amy@box.alpha.test,
#   carol@box.beta.test, password in WORK/SIDE/mmtp.pw); the site's own
#   domain gets mmtp_delivery = "mta" (SENDs land in its Maildir through
#   Postfix, inject_to = its smtpd). mtep.conf's [mmtp] gets listen
#   (:$MP_<side>_mmtp), tls_listen (:$MP_<side>_mmtps, the key service's
#   certificate), lmtp_listen (:$MP_<side>_mmtpl), servers (the other
#   site's box domain at its tls_listen) and tls_pins (its certificate).
#   contrib/postfix/main.cf.mmtp.fragment and master.cf.mmtp.fragment are
#   added with the port and the two example domains substituted (box.<other>
#   as the remote MMTP domain, box.<domain> as the mailbox domain), the
#   fragment's transport_maps merged in front of the pair's own.
# SEE ALSO
#   contrib/postfix/README.md, doc/postfix.md, doc/stoken.md, tests/postfix/,
#   tests/lib/mail-test.sh, tests/lib/dovecot.sh

MP_SIDES=(alpha beta)
# Set by mp_start and mp_load: the work and build directories, whether the
# milters run, and each side's ports.
MP_WORK=${MP_WORK:-} MP_BUILD=${MP_BUILD:-} MP_MILTER=${MP_MILTER:-0}
MP_alpha_smtp=${MP_alpha_smtp:-} MP_alpha_mtepd=${MP_alpha_mtepd:-} MP_alpha_milter=${MP_alpha_milter:-}
MP_beta_smtp=${MP_beta_smtp:-} MP_beta_mtepd=${MP_beta_mtepd:-} MP_beta_milter=${MP_beta_milter:-}
MP_alpha_keys=${MP_alpha_keys:-} MP_beta_keys=${MP_beta_keys:-}
# STOKEN mode only: the token servers (implicit TLS, STARTTLS), the routers'
# filter listeners, the re-injection smtpds, and each side's Dovecot (LMTP
# port and instance directory).
MP_STOKEN=${MP_STOKEN:-0}
MP_alpha_stoken=${MP_alpha_stoken:-} MP_beta_stoken=${MP_beta_stoken:-}
MP_alpha_stls=${MP_alpha_stls:-} MP_beta_stls=${MP_beta_stls:-}
MP_alpha_filter=${MP_alpha_filter:-} MP_beta_filter=${MP_beta_filter:-}
MP_alpha_reinject=${MP_alpha_reinject:-} MP_beta_reinject=${MP_beta_reinject:-}
MP_alpha_lmtp=${MP_alpha_lmtp:-} MP_beta_lmtp=${MP_beta_lmtp:-}
MP_alpha_dvdir=${MP_alpha_dvdir:-} MP_beta_dvdir=${MP_beta_dvdir:-}
# MMTP mode only: the gateway's plain, TLS and LMTP listeners.
MP_MMTP=${MP_MMTP:-0}
MP_alpha_mmtp=${MP_alpha_mmtp:-} MP_beta_mmtp=${MP_beta_mmtp:-}
MP_alpha_mmtps=${MP_alpha_mmtps:-} MP_beta_mmtps=${MP_beta_mmtps:-}
MP_alpha_mmtpl=${MP_alpha_mmtpl:-} MP_beta_mmtpl=${MP_beta_mmtpl:-}
MP_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tests/lib/mail-test.sh source-path=SCRIPTDIR/..
source "$MP_REPO/tests/lib/mail-test.sh"
# shellcheck source=tests/lib/dovecot.sh source-path=SCRIPTDIR/..
source "$MP_REPO/tests/lib/dovecot.sh"

# Value of MP_<side>_<name>.
mp_get() {  # side name
  local v="MP_${1}_${2}"
  printf '%s' "${!v}"
}

# ---- configuration ----------------------------------------------------------

mp_write_mtep_conf() {  # side domain other_domain
  local side=$1 dom=$2 other=$3 d=$MP_WORK/$1
  mp_subst "$MP_REPO/contrib/postfix/mtep-postfix.conf" "$d/mtep.conf" \
    "s|^user = .*|user = \"nobody\"|" \
    "s|^state_dir = .*|state_dir = \"$d/state\"|" \
    "/^\[mtepd\]/,/^\[/ s|^listen = .*|listen = [\"127.0.0.1:$(mp_get "$side" mtepd)\"]|" \
    "s|^socket = .*|socket = \"inet:$(mp_get "$side" milter)@127.0.0.1\"|" \
    "s|^authserv_id = .*|authserv_id = \"mx.$dom\"|" \
    "s|^internal_networks = .*|internal_networks = [\"127.0.0.1/32\"]|" \
    "s|^mtep_servers = .*|mtep_servers = { \"$other\" = \"127.0.0.1:$(mp_get "${MP_PEER[$side]}" mtepd)\" }|" \
    "s|^smtp_listen = .*|smtp_listen = [\"127.0.0.1:$(mp_get "$side" keys)\"]|" \
    "s|^tls_cert_file = .*|tls_cert_file = \"$d/tls.crt\"|" \
    "s|^tls_key_file = .*|tls_key_file = \"$d/tls.key\"|" \
    "s|^key_servers = .*|key_servers = { \"$other\" = \"127.0.0.1:$(mp_get "${MP_PEER[$side]}" keys)\" }|" \
    "s|^\[domain\.\"example\.org\"\]|[domain.\"$dom\"]|" || return 1
  if [[ $MP_STOKEN == 1 ]]; then mp_write_stoken_conf "$side" "$other" || return 1; fi
  if [[ $MP_MMTP == 1 ]]; then mp_write_mmtp_conf "$side" "$dom" "$other" || return 1; fi
  # The key service's certificate, self-signed. Each side trusts both key
  # services by their pins ([milter] tls_pins, filled in by mp_pin_key_services
  # once both certificates exist): the other's for the milter, its own for
  # mtepctl key publish.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=mx.$dom" -keyout "$d/tls.key" -out "$d/tls.crt" >/dev/null 2>&1 ||
    { mp_die "openssl could not make $d/tls.crt"; return 1; }
  "$MP_BUILD/mtepctl/mtepctl" -c "$d/mtep.conf" config check >/dev/null ||
    mp_die "$d/mtep.conf does not pass mtepctl config check"
}

# STOKEN mode: [stoken] of the shipped file with this pair's ports, and the
# domain's submission token keys on.
mp_write_stoken_conf() {  # side other_domain
  local side=$1 other=$2 f=$MP_WORK/$1/mtep.conf peer=${MP_PEER[$1]} tmp
  local in="/^\[stoken\]/,/^\[/ "
  tmp=$f.stoken
  mp_subst "$f" "$tmp" \
    "${in}s|^listen = \[\]$|listen = [\"127.0.0.1:$(mp_get "$side" stoken)\"]|" \
    "${in}s|^starttls_listen = \[\]$|starttls_listen = [\"127.0.0.1:$(mp_get "$side" stls)\"]|" \
    "${in}s|^deliver_to = \"127\.0\.0\.1:24\"$|deliver_to = \"127.0.0.1:$(mp_get "$side" lmtp)\"|" \
    "${in}s|^filter_listen = \[\]$|filter_listen = [\"127.0.0.1:$(mp_get "$side" filter)\"]|" \
    "${in}s|^reinject_to = \"127\.0\.0\.1:10028\"$|reinject_to = \"127.0.0.1:$(mp_get "$side" reinject)\"|" \
    "${in}s|^servers = {}$|servers = { \"$other\" = \"127.0.0.1:$(mp_get "$peer" stoken)\" }|" \
    "s|^distribute_submission_tokens = false$|distribute_submission_tokens = true|" \
    "s|^deliver_by_token = false$|deliver_by_token = true|" \
    "s|^accept_submission_tokens = false$|accept_submission_tokens = true|" || return 1
  mv "$tmp" "$f"
}

# MMTP mode: [mmtp] of the shipped file with this pair's ports, the site's
# domain handing SENDs to Postfix, and a box.<domain> mailbox domain.
mp_write_mmtp_conf() {  # side domain other_domain
  local side=$1 dom=$2 other=$3 f=$MP_WORK/$1/mtep.conf peer=${MP_PEER[$1]} tmp
  local in="/^\[mmtp\]/,/^\[/ "
  tmp=$f.mmtp
  mp_subst "$f" "$tmp" \
    "${in}s|^listen = \[\]$|listen = [\"127.0.0.1:$(mp_get "$side" mmtp)\"]|" \
    "${in}s|^tls_listen = \[\]$|tls_listen = [\"127.0.0.1:$(mp_get "$side" mmtps)\"]|" \
    "${in}s|^lmtp_listen = \[\]$|lmtp_listen = [\"127.0.0.1:$(mp_get "$side" mmtpl)\"]|" \
    "${in}s|^inject_to = \"127\.0\.0\.1:25\"$|inject_to = \"127.0.0.1:$(mp_get "$side" smtp)\"|" \
    "${in}s|^servers = {}$|servers = { \"box.$other\" = \"127.0.0.1:$(mp_get "$peer" mmtps)\" }|" \
    "s|^mmtp_delivery = \"off\"$|mmtp_delivery = \"mta\"|" || return 1
  mv "$tmp" "$f"
  printf '\n# scripts/mail-pair.sh: MMTP mailboxes\n[domain."box.%s"]\nmmtp_delivery = "mailbox"\n' \
    "$dom" >>"$f"
}

# Both sides' [milter] and [stoken] tls_pins: each key service's self-signed certificate
# trusted by its key fingerprint (mtepctl address fingerprint).
mp_pin_key_services() {
  local side fp pins=""
  for side in "${MP_SIDES[@]}"; do
    fp=$("$MP_BUILD/mtepctl/mtepctl" address fingerprint "$MP_WORK/$side/tls.crt") ||
      { mp_die "no fingerprint for $MP_WORK/$side/tls.crt"; return 1; }
    pins+="${pins:+, }\"${MP_DOMAIN[$side]}\" = \"$fp\""
    if [[ $MP_MMTP == 1 ]]; then pins+=", \"box.${MP_DOMAIN[$side]}\" = \"$fp\""; fi
  done
  for side in "${MP_SIDES[@]}"; do
    sed -i "s|^tls_pins = .*|tls_pins = { $pins }|" "$MP_WORK/$side/mtep.conf" || return 1
    "$MP_BUILD/mtepctl/mtepctl" -c "$MP_WORK/$side/mtep.conf" config check >/dev/null ||
      { mp_die "$MP_WORK/$side/mtep.conf with tls_pins does not pass mtepctl config check"; return 1; }
  done
}

mp_write_postfix_conf() {  # side domain other_domain bind_address local_domains...
  local side=$1 dom=$2 other=$3 bind=$4; shift 4
  local d=$MP_WORK/$side e=$MP_WORK/$side/etc peer=${MP_PEER[$side]} milters ld
  local locals=$*
  mp_postfix_main_cf "$d" "$d/maillog" "mx.$dom"
  cat >>"$e/main.cf" <<CF
# ---- scripts/mail-pair.sh: the site $dom ----
syslog_name = postfix-$side
myorigin = \$mydomain
mynetworks = 127.0.0.1/32
smtputf8_enable = yes
# Outgoing mail leaves from $bind: outside the other site's internal_networks.
smtp_bind_address = $bind
# Every domain the other site receives goes to it (gamma.test too).
transport_maps = inline:{ $(for o in ${MP_LOCALS[$peer]}; do printf '%s=smtp:[127.0.0.1]:%s\n' "$o" "$(mp_get "$peer" smtp)"; done | paste -sd, | sed 's/,/, /g') }
# Deliver every address of a local domain to one Maildir per domain,
# mail/DOMAIN/; virtual(8) writes one file per recipient, with Delivered-To.
virtual_mailbox_domains = ${locals// /, }
virtual_mailbox_base = $d/mail
virtual_mailbox_maps = texthash:$e/vmailbox
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
# Retry deferred mail soon; tests flush the queue themselves anyway.
minimal_backoff_time = 10s
maximal_backoff_time = 60s
queue_run_delay = 10s

CF
  for ld in $locals; do printf '@%s\t%s/\n' "$ld" "$ld"; done >"$e/vmailbox"
  if [[ $MP_MILTER == 1 ]]; then
    milters="inet:127.0.0.1:$(mp_get "$side" milter)"
    echo "# ---- contrib/postfix/main.cf.fragment, milter port substituted ----" >>"$e/main.cf"
    mp_subst "$MP_REPO/contrib/postfix/main.cf.fragment" "$e/main.cf.fragment" \
      "s|^smtpd_milters = inet:127\.0\.0\.1:8891$|smtpd_milters = $milters|" || return 1
    cat "$e/main.cf.fragment" >>"$e/main.cf"
    rm -f "$e/main.cf.fragment"
  fi
  if [[ $MP_STOKEN == 1 ]]; then
    echo "# ---- contrib/postfix/main.cf.stoken.fragment, ports substituted ----" >>"$e/main.cf"
    mp_subst "$MP_REPO/contrib/postfix/main.cf.stoken.fragment" "$e/main.cf.stoken" \
      "s|^content_filter = mtep-stoken:\[127\.0\.0\.1\]:10027$|content_filter = mtep-stoken:[127.0.0.1]:$(mp_get "$side" filter)|" \
      "s|^virtual_transport = lmtp:inet:127\.0\.0\.1:24$|virtual_transport = lmtp:inet:127.0.0.1:$(mp_get "$side" lmtp)|" ||
      return 1
    cat "$e/main.cf.stoken" >>"$e/main.cf"
    mp_subst "$MP_REPO/contrib/postfix/master.cf.stoken.fragment" "$e/master.cf.stoken" \
      "s|^127\.0\.0\.1:10028 inet |127.0.0.1:$(mp_get "$side" reinject) inet |" || return 1
    rm -f "$e/main.cf.stoken"
  fi
  if [[ $MP_MMTP == 1 ]]; then
    # The fragment's transport_maps goes in front of the pair's own (Postfix
    # takes the last transport_maps line of main.cf); the rest as shipped.
    local tm
    mp_subst "$MP_REPO/contrib/postfix/main.cf.mmtp.fragment" "$e/main.cf.mmtp" \
      "s|mmtp\.example\.net=mtep-mmtp:\[127\.0\.0\.1\]:8024|box.$other=mtep-mmtp:[127.0.0.1]:$(mp_get "$side" mmtpl)|" \
      "s|mailbox\.example\.org=mtep-mmtp:\[127\.0\.0\.1\]:8024|box.$dom=mtep-mmtp:[127.0.0.1]:$(mp_get "$side" mmtpl)|" \
      "s|^relay_domains = \$mydestination, mailbox\.example\.org$|relay_domains = \$mydestination, box.$dom|" ||
      return 1
    tm=$(sed -n 's/^transport_maps = //p' "$e/main.cf.mmtp")
    sed -i "s|^transport_maps = |transport_maps = $tm, |" "$e/main.cf"
    echo "# ---- contrib/postfix/main.cf.mmtp.fragment, port and domains substituted ----" >>"$e/main.cf"
    grep -v '^transport_maps = ' "$e/main.cf.mmtp" >>"$e/main.cf"
    rm -f "$e/main.cf.mmtp"
  fi
  # master.cf: the shipped smtpd, pickup and cleanup lines on our address and
  # without chroot, then the other services of a loopback instance.
  mp_subst "$MP_REPO/contrib/postfix/master.cf.fragment" "$e/master.cf.fragment" \
    "s|^smtp      inet  n       -       y |127.0.0.1:$(mp_get "$side" smtp) inet n - n |" \
    "s|^pickup    unix  n       -       y |pickup    unix  n       -       n |" \
    "s|^cleanup   unix  n       -       y |cleanup   unix  n       -       n |" || return 1
  {
    echo "# ---- contrib/postfix/master.cf.fragment, address and chroot substituted ----"
    grep -v '^#' "$e/master.cf.fragment" | grep .
    echo "# ---- the other services of a loopback instance ----"
    mp_postfix_services
    if [[ $MP_STOKEN == 1 ]]; then
      echo "lmtp      unix  -       -       n       -       -       lmtp"
      echo "# ---- contrib/postfix/master.cf.stoken.fragment, ports substituted ----"
      grep -v '^#' "$e/master.cf.stoken" | grep .
    fi
    if [[ $MP_MMTP == 1 ]]; then
      echo "# ---- contrib/postfix/master.cf.mmtp.fragment, as shipped ----"
      grep -v '^#' "$MP_REPO/contrib/postfix/master.cf.mmtp.fragment" | grep .
    fi
  } >"$e/master.cf"
  rm -f "$e/master.cf.fragment" "$e/master.cf.stoken"
  # `postfix start` checks the configuration itself and prints what is wrong.
}

# ---- daemons ----------------------------------------------------------------

mp_start_mtepd() {  # side
  local d=$MP_WORK/$1 port
  port=$(mp_get "$1" mtepd)
  mp_spawn "$d/mtepd.pid" "$d/mtepd.log" "$MP_BUILD/mtepd/mtepd" -f -c "$d/mtep.conf"
  mp_wait_port "$port" "$1's mtepd" || { tail -n 5 "$d/mtepd.log" >&2; return 1; }
}

mp_stop_mtepd() { mp_stop_daemon "$MP_WORK/$1/mtepd.pid" "${2:-TERM}"; }

mp_start_milter() {  # side
  local d=$MP_WORK/$1 port
  port=$(mp_get "$1" milter)
  # A libmilter daemon that has just exited may leave its port briefly busy.
  mp_wait_port_closed "$port" 200 || mp_die "port $port of $1's milter is still taken"
  mp_spawn "$d/milter.pid" "$d/milter.log" "$MP_BUILD/milter/mtep-milter" -f -c "$d/mtep.conf"
  mp_wait_port "$port" "$1's mtep-milter" || { tail -n 5 "$d/milter.log" >&2; return 1; }
}

mp_stop_milter() { mp_stop_daemon "$MP_WORK/$1/milter.pid" "${2:-TERM}"; }

mp_postfix() {  # side postfix-args...
  local side=$1; shift
  postfix -c "$MP_WORK/$side/etc" "$@"
}

mp_stop_postfix() { mp_postfix_stop "$MP_WORK/$1"; }  # side

# STOKEN mode: each side's Dovecot, its users and their quotas.
declare -A MP_DV_USERS=([alpha]="alice@alpha.test" [beta]="bob@beta.test carol@beta.test:1K")

mp_start_dovecot() {  # side
  local side=$1
  # shellcheck disable=SC2086  # one argument per user
  dv_start "$MP_WORK/$side/dovecot" ${MP_DV_USERS[$side]} || return 1
  printf -v "MP_${side}_lmtp" '%s' "$DV_PORT"
  printf -v "MP_${side}_dvdir" '%s' "$DV_DIR"
}

mp_stop_dovecot() {  # side
  [[ -s $MP_WORK/$1/dovecot/dovecot.env ]] || return 0
  (dv_load "$MP_WORK/$1/dovecot" && dv_stop)
}

# ---- the pair ---------------------------------------------------------------

declare -A MP_PEER=([alpha]=beta [beta]=alpha)
declare -A MP_DOMAIN=([alpha]=alpha.test [beta]=beta.test)
declare -A MP_BIND=([alpha]=127.0.0.2 [beta]=127.0.0.3)
declare -A MP_LOCALS=([alpha]="alpha.test" [beta]="beta.test gamma.test")

# Starts both sites; on failure stops what it started and returns 1.
mp_start() {  # work build
  local why side d
  MP_WORK=$(cd "$1" && pwd) || return 1
  MP_BUILD=$(cd "$2" && pwd) || return 1
  why=$(mp_missing) && { mp_die "$why"; return 1; }
  [[ -x $MP_BUILD/mtepd/mtepd && -x $MP_BUILD/mtepctl/mtepctl ]] ||
    { mp_die "build mtepd and mtepctl in $MP_BUILD first"; return 1; }
  MP_MILTER=0
  [[ -x $MP_BUILD/milter/mtep-milter ]] && MP_MILTER=1
  chmod 755 "$MP_WORK"
  if [[ $MP_STOKEN == 1 ]]; then
    why=$(dv_missing) && { mp_die "STOKEN mode: $why"; return 1; }
    # Dovecot first: it picks its own port, which the ports below then avoid.
    for side in "${MP_SIDES[@]}"; do
      mp_start_dovecot "$side" || { mp_stop; return 1; }
    done
  fi
  local ports
  ports=$(mp_free_ports $(( (MP_STOKEN == 1 ? 16 : 8) + (MP_MMTP == 1 ? 6 : 0) )))
  read -r MP_alpha_smtp MP_beta_smtp MP_alpha_mtepd MP_beta_mtepd \
    MP_alpha_milter MP_beta_milter MP_alpha_keys MP_beta_keys ports <<<"$ports"
  if [[ $MP_STOKEN == 1 ]]; then
    read -r MP_alpha_stoken MP_beta_stoken MP_alpha_stls MP_beta_stls \
      MP_alpha_filter MP_beta_filter MP_alpha_reinject MP_beta_reinject ports <<<"$ports"
  fi
  if [[ $MP_MMTP == 1 ]]; then
    read -r MP_alpha_mmtp MP_beta_mmtp MP_alpha_mmtps MP_beta_mmtps \
      MP_alpha_mmtpl MP_beta_mmtpl ports <<<"$ports"
  fi
  for side in "${MP_SIDES[@]}"; do
    mkdir -p "$MP_WORK/$side/mail"
    chown nobody:nogroup "$MP_WORK/$side/mail"
  done
  mp_env_save "$MP_WORK/pair.env" MP_WORK MP_BUILD MP_MILTER \
    MP_alpha_smtp MP_beta_smtp MP_alpha_mtepd MP_beta_mtepd MP_alpha_milter MP_beta_milter \
    MP_alpha_keys MP_beta_keys MP_STOKEN \
    MP_alpha_stoken MP_beta_stoken MP_alpha_stls MP_beta_stls MP_alpha_filter MP_beta_filter \
    MP_alpha_reinject MP_beta_reinject MP_alpha_lmtp MP_beta_lmtp MP_alpha_dvdir MP_beta_dvdir \
    MP_MMTP MP_alpha_mmtp MP_beta_mmtp MP_alpha_mmtps MP_beta_mmtps MP_alpha_mmtpl MP_beta_mmtpl
  for side in "${MP_SIDES[@]}"; do
    d=$MP_WORK/$side
    mp_write_mtep_conf "$side" "${MP_DOMAIN[$side]}" "${MP_DOMAIN[${MP_PEER[$side]}]}" || return 1
    # shellcheck disable=SC2086  # one argument per local domain
    mp_write_postfix_conf "$side" "${MP_DOMAIN[$side]}" "${MP_DOMAIN[${MP_PEER[$side]}]}" \
      "${MP_BIND[$side]}" ${MP_LOCALS[$side]} || return 1
    "$MP_BUILD/mtepctl/mtepctl" -c "$d/mtep.conf" key rotate >"$d/key-rotate.log" 2>&1 ||
      { cat "$d/key-rotate.log" >&2; mp_die "mtepctl key rotate failed for $side"; return 1; }
  done
  mp_pin_key_services || return 1
  if [[ $MP_MMTP == 1 ]]; then
    for side in "${MP_SIDES[@]}"; do mp_mmtp_user "$side" || return 1; done
  fi
  for side in "${MP_SIDES[@]}"; do
    mp_start_mtepd "$side" || { mp_stop; return 1; }
    if [[ $MP_MILTER == 1 ]]; then mp_start_milter "$side" || { mp_stop; return 1; }; fi
    if ! mp_postfix "$side" start >"$MP_WORK/$side/postfix-start.log" 2>&1; then
      cat "$MP_WORK/$side/postfix-start.log" >&2
      mp_stop; mp_die "postfix did not start for $side"; return 1
    fi
  done
  for side in "${MP_SIDES[@]}"; do
    mp_wait_port "$(mp_get "$side" smtp)" "$side's Postfix" || { mp_stop; return 1; }
    if [[ $MP_STOKEN == 1 ]]; then
      mp_wait_port "$(mp_get "$side" reinject)" "$side's re-injection smtpd" || { mp_stop; return 1; }
    fi
  done
}

# Reads the pair's ports and paths (written by mp_start).
mp_load() { mp_env_load "$1/pair.env"; }  # work

# Stops every daemon of the pair, all at once, and waits for each pid.
# shellcheck disable=SC2120  # WORK is optional: without it, the loaded pair
mp_stop() {  # [work]
  local side pids=() p
  if [[ -n ${1:-} ]]; then mp_load "$1" || return 0; fi
  [[ -n ${MP_WORK:-} ]] || return 0
  for side in "${MP_SIDES[@]}"; do
    for p in mtepd milter; do
      p=$(mp_pid "$MP_WORK/$side/$p.pid") && [[ -n $p ]] && { kill -TERM "$p" 2>/dev/null; pids+=("$p"); }
    done
  done
  for side in "${MP_SIDES[@]}"; do mp_stop_postfix "$side"; done
  for p in "${pids[@]}"; do
    mp_wait_pid "$p" 400 || { kill -KILL "$p" 2>/dev/null; mp_wait_pid "$p" 100; }
  done
  for side in "${MP_SIDES[@]}"; do rm -f "$MP_WORK/$side/mtepd.pid" "$MP_WORK/$side/milter.pid"; done
  for side in "${MP_SIDES[@]}"; do mp_stop_dovecot "$side"; done
}

# ---- mail -------------------------------------------------------------------

mp_maildir() {  # side domain -> the Maildir of that domain on that side
  echo "$MP_WORK/$1/mail/$2"
}

# Empties every Maildir of a side (between test cases).
mp_clear_mail() {  # side
  find "$MP_WORK/$1/mail" -mindepth 1 -delete 2>/dev/null || true
}

# The queue of a side as postqueue -j (one JSON object per message).
mp_queue() { postqueue -c "$MP_WORK/$1/etc" -j 2>/dev/null; }

mp_flush() { postqueue -c "$MP_WORK/$1/etc" -f; }

# mtepctl with a side's mtep.conf.
mp_ctl() {  # side mtepctl-args...
  local side=$1; shift
  "$MP_BUILD/mtepctl/mtepctl" -c "$MP_WORK/$side/mtep.conf" "$@"
}

# ---- MMTP mode: the mailbox users ----------------------------------------------

declare -A MP_MMTP_USER=([alpha]="amy@box.alpha.test" [beta]="carol@box.beta.test")

# Adds SIDE's MMTP mailbox user to its key service, password in WORK/SIDE/mmtp.pw.
mp_mmtp_user() {  # side
  local d=$MP_WORK/$1
  printf 'mmtp-%s-secret\n' "$1" >"$d/mmtp.pw"
  mp_ctl "$1" user add --password-fd 3 "${MP_MMTP_USER[$1]}" 3<"$d/mmtp.pw" >"$d/mmtp-user.log" 2>&1 ||
    { cat "$d/mmtp-user.log" >&2; mp_die "mtepctl user add failed for $1"; return 1; }
}

# ---- STOKEN mode: the Dovecot mailboxes ----------------------------------------

# The Maildir of ADDR in SIDE's Dovecot.
mp_dv_maildir() {  # side addr
  local a=${2,,}
  echo "$(mp_get "$1" dvdir)/mail/${a#*@}/${a%@*}/Maildir"
}

# The messages delivered to ADDR at SIDE, oldest first, one path a line.
mp_dv_files() {  # side addr
  local d
  d=$(mp_dv_maildir "$1" "$2")
  # shellcheck disable=SC2012  # Maildir names have no spaces; ls sorts by time
  ls -1tr "$d"/new/* "$d"/cur/* 2>/dev/null
}

# How many messages ADDR's Maildir at SIDE holds.
mp_dv_count() {  # side addr
  local d n=0 f
  d=$(mp_dv_maildir "$1" "$2")
  for f in "$d"/new/* "$d"/cur/*; do [[ -f $f ]] && n=$((n + 1)); done
  echo "$n"
}

# Waits up to SECONDS (default 10) until ADDR at SIDE has at least N messages.
mp_dv_wait() {  # side addr n [seconds]
  local i tries=$(( ${4:-10} * 10 ))
  for ((i = 0; i < tries; i++)); do
    (($(mp_dv_count "$1" "$2") >= $3)) && return 0
    sleep 0.1
  done
  mp_die "$2 at $1 has $(mp_dv_count "$1" "$2") message(s), want $3"
}

# Empties every Dovecot Maildir of SIDE (between test cases).
mp_dv_clear() {  # side
  local d
  d=$(mp_get "$1" dvdir)
  [[ -n $d && -d $d/mail ]] || return 0
  find "$d/mail" -path '*/Maildir/new/*' -type f -delete
  find "$d/mail" -path '*/Maildir/cur/*' -type f -delete
}

#pragma once
// NAME
//   config.h - the one configuration file (TOML) read by every mtep binary
// SUMMARY
//   auto cfg = config::loadFile("/etc/mtep/mtep.conf");
//   if (!cfg) { fprintf(stderr, "%s\n", cfg.error().message().c_str()); exit(1); }
//   const DomainPolicy& p = (*cfg)->policyFor("example.org");
// DESCRIPTION
//   Sections: [global], [log], [mtepd], [outbound], [tokens], [store], [milter],
//   [policyd], [pow], [stoken], [mmtp], [domain_defaults]
//   and any number of [domain."example.org"] (exact domain) or
//   [domain.".example.org"] (every subdomain). A domain section holds the
//   same keys as [domain_defaults]; keys it leaves out take the
//   [domain_defaults] value. Unknown sections and keys, wrong types and bad
//   values are kConfig errors whose message reads
//   "FILE:LINE: [section] key: what is wrong".
//   Every key is declared once, in keyTable() (config.cc): name, type,
//   default, documentation. The mtep.conf(5) KEYS section and the sample
//   config are generated from it.
//   Durations are integers (seconds) or strings with a unit: "30s", "5m",
//   "12h", "7d".
//   A Config is immutable once loaded; daemons hold it as
//   std::shared_ptr<const Config> and swap in a new one on SIGHUP.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/cidr.h"
#include "util/result.h"

namespace mtep::smtp {
struct EnvelopeAddress;
}  // namespace mtep::smtp

namespace mtep::config {

struct ListenAddress {
  std::string host;  // "127.0.0.1", "::1", "0.0.0.0"; IPv6 written [::1]:6211 in the file
  uint16_t port = 0;
  std::string toString() const;  // "127.0.0.1:6211", "[::1]:6211"
  bool operator==(const ListenAddress&) const = default;
};
// Parses "ADDR:PORT" or "[V6ADDR]:PORT"; the address must be numeric
// (inet_pton), the port 1..65535 in decimal. Errors are kInvalid.
Result<ListenAddress> parseListenAddress(std::string_view text);

// Parses a duration written as a string: "<n>s", "<n>m", "<n>h" or "<n>d"
// (n decimal digits). Returns seconds; kInvalid if malformed or overflowing.
Result<int64_t> parseDuration(std::string_view text);
// The shortest exact form of a duration: 86400 -> "1d", 90 -> "90s", 0 -> "0s".
std::string formatDuration(int64_t seconds);

// What the milter does when a sender's MTEP server cannot decide (a Z
// answer, a timeout, nobody reachable).
enum class Unavailable {
  kTempfail,  // 451 4.7.25: the sending MTA retries later (default)
  kAccept,    // deliver, marked mtep=temperror in Authentication-Results
  kReject,    // 550 5.7.25
};
const char* unavailableName(Unavailable u) noexcept;  // "tempfail", "accept", "reject"

// Which stamps outbound mail gets (mint_stamps).
enum class MintStamps { kNone, kHashcash, kArgon2id };
const char* mintStampsName(MintStamps m) noexcept;  // "none", "hashcash", "argon2id"

// What the MMTP gateway does with a SEND to a recipient in a domain
// (mmtp_delivery).
enum class MmtpDelivery {
  kOff,      // refused: we do not serve the domain over MMTP (not a relay)
  kMailbox,  // kept in the recipient's MMTP mailbox for its owner to RECEIVE
  kMta,      // handed to the local MTA ([mmtp] inject_to) as RFC 5322 mail
};
const char* mmtpDeliveryName(MmtpDelivery d) noexcept;  // "off", "mailbox", "mta"

// "COUNT/DURATION": at most COUNT requests in any window of DURATION
// seconds. count 0 = no limit (written "" in the file).
struct RateLimit {
  uint32_t count = 0;
  int64_t window = 0;  // seconds
  bool enabled() const { return count > 0; }
  std::string toString() const;  // "100/1h", "" when disabled
  bool operator==(const RateLimit&) const = default;
};
Result<RateLimit> parseRateLimit(std::string_view text);

// Per-domain policy ([domain_defaults], [domain."..."]). The same keys
// serve a domain as a sender domain (issue_tokens, token_ttl: our users
// sending out) and as a recipient domain (require_mtep...: mail coming in).
struct DomainPolicy {
  bool issue_tokens = true;       // mint tokens for senders here and vouch for them on "?"
  int64_t token_ttl = 7 * 86400;  // lifetime of minted tokens, seconds
  bool require_mtep = false;      // inbound mail to the domain needs a vouched-for token
  // Sender domains require_mtep applies to: "*" (all), "example.org"
  // (exactly), "*.onion" (any name below onion). Lower case.
  std::vector<std::string> require_mtep_from = {"*"};
  Unavailable mtep_unavailable = Unavailable::kTempfail;

  // Proof of work (lib/pow), as a recipient domain: every recipient in the
  // domain needs its own valid, unspent stamp (X-Hashcash: v1, or
  // MTEP-Stamp: argon2id) of at least these bits, raised over time by
  // [pow]'s schedule.
  bool require_stamp = false;
  int64_t stamp_bits = 20;          // hashcash v1 (SHA-1) bits
  int64_t argon2id_stamp_bits = 4;  // Argon2id stamp bits (each try costs [pow] argon2id_memory)
  // As a sender domain: outbound mail gets one stamp per recipient.
  MintStamps mint_stamps = MintStamps::kNone;
  int64_t mint_stamp_bits = 0;  // 0 = what this domain would itself require today

  // mtep-policyd's gates, as a recipient domain.
  bool require_mtep_capable = false;  // the sender domain must have an MTEP server (static or SRV)
  bool refuse_mixed_onion = false;    // one message: .onion recipients only, or none (SMTorP)
  RateLimit rate_limit_client;        // per client address; count 0 = no limit
  RateLimit rate_limit_sender;        // per envelope sender; count 0 = no limit

  // Sender signatures (X-Sender-Signature, lib/e2ee), as a recipient
  // domain: mtep-milter checks them against the key the sender domain's
  // server gives for PUBKEY and records x-sender-signature in
  // Authentication-Results.
  bool check_signatures = false;
  bool reject_bad_signatures = false;  // a signature that fails: 550 5.7.7
  // Sender domains whose mail must carry a passing signature (patterns as
  // in require_mtep_from); [] = none. Implies checking for them.
  std::vector<std::string> require_signature_from;

  // Submission tokens (STOKEN, [stoken]).
  bool distribute_submission_tokens = false;  // sender domain: milter adds Submission-Token
  bool accept_submission_tokens = false;  // recipient domain: token server delivers; milter holds
  bool deliver_by_token = false;          // sender domain: our router uses held tokens
  int64_t submission_token_rate = 60;     // deliveries per token per hour; 0 = no limit

  // The MMTP gateway ([mmtp]), as a recipient domain: what a SEND to it
  // becomes. Never other than kOff in [domain_defaults] (the loader
  // refuses it: that would take MMTP mail for every domain in the world).
  using MmtpDelivery = config::MmtpDelivery;
  MmtpDelivery mmtp_delivery = MmtpDelivery::kOff;
  // Hex zero digits of the SHA-256 stamp: required of SENDs to the domain
  // (ours), minted for SENDs to it (remote); 0 = [mmtp] difficulty.
  int mmtp_difficulty = 0;

  // True when require_mtep is set and `sender_domain` matches require_mtep_from
  // (ASCII case-insensitive, one trailing dot ignored).
  bool requiresMtepFrom(std::string_view sender_domain) const;
  // True when `sender_domain` matches require_signature_from.
  bool requiresSignatureFrom(std::string_view sender_domain) const;
  // check_signatures, or requiresSignatureFrom(sender_domain).
  bool checksSignaturesFrom(std::string_view sender_domain) const;
  bool operator==(const DomainPolicy&) const = default;
};

// Where to ask a domain's MTEP server: a host name or numeric address and
// a port. Written "HOST", "HOST:PORT", "[V6ADDR]" or "[V6ADDR]:PORT";
// the port defaults to 6211.
struct ServerAddress {
  std::string host;  // name or numeric address, without brackets
  uint16_t port = 6211;
  std::string toString() const;  // "mx.example.org:6211", "[::1]:6211"
  bool operator==(const ServerAddress&) const = default;
};
Result<ServerAddress> parseServerAddress(std::string_view text, uint16_t default_port = 6211);

struct MilterConfig {
  std::string socket =
      "inet:8891@127.0.0.1";  // libmilter form: inet:PORT@ADDR, inet6:..., unix:/path
  std::string authserv_id;    // "" = the host name at start-up
  // Clients whose mail is outbound (gets tokens, is not checked), besides
  // SASL-authenticated ones and mail Postfix submits itself.
  std::vector<net::Network> internal_networks;  // loaded default 127.0.0.0/8, ::1/128
  int64_t query_timeout = 5;                    // seconds, whole MTEP question incl. DNS
  int64_t cache_ttl = 60;                       // seconds an answer is reused; 0 = never
  uint32_t cache_size = 10000;                  // answers kept at most
  // Static discovery, checked before DNS: exact domain, or ".parent" for
  // every subdomain (keys lower case, as written in [domain."..."]).
  std::map<std::string, ServerAddress, std::less<>> mtep_servers;
  // Sender signatures: where to ask PUBKEY for given sender domains before
  // DNS (their MX hosts, then the domain, on [outbound] smtp_port); port
  // default 25. Keys as in mtep_servers.
  std::map<std::string, ServerAddress, std::less<>> key_servers;
  int64_t key_cache_ttl = 3600;                    // seconds a fetched key (or "none") is reused
  uint32_t key_cache_size = 10000;                 // keys kept at most
  uint32_t max_signed_message_size = 10485760;     // bytes read to check one signature
  // Who the key servers (and MTEP servers reached with STARTMTEP +
  // STARTTLS) are: a certificate from tls_ca_file ("" = the system store)
  // for the host name asked, or, for a sender domain listed in tls_pins
  // (keys as in mtep_servers), a key whose fingerprint (52 base32
  // characters, lower case) is listed, self-signed or not.
  std::string tls_ca_file;
  std::map<std::string, std::vector<std::string>, std::less<>> tls_pins;
  // Discovered servers (SRV, MX, the domain, an address literal) are never
  // connected to on loopback, private, link-local or other non-public
  // addresses (net::nonPublicKind) unless listed here; static entries
  // (mtep_servers, key_servers) are exempt.
  std::vector<net::Network> allow_private_targets;
  std::string pid_file;  // "" = none
  // The static entry for `domain` (exact, then nearest ".parent"), or null.
  const ServerAddress* serverFor(std::string_view domain) const;
  // The same for key_servers.
  const ServerAddress* keyServerFor(std::string_view domain) const;
  // The same for tls_pins; null when the domain has no pins.
  const std::vector<std::string>* tlsPinsFor(std::string_view domain) const;
  bool isInternal(const net::IpAddress& ip) const;
  bool operator==(const MilterConfig&) const = default;
};

// mtep-policyd: the Postfix SMTP access policy server.
struct PolicydConfig {
  std::vector<ListenAddress> listen;  // default 127.0.0.1:10046
  uint32_t max_connections = 1024;
  uint32_t max_request_size = 65536;  // bytes, one request up to its blank line
  uint32_t max_requests_per_connection = 1000000;
  uint32_t max_connections_per_client = 0;  // per client address (IPv6: /64); 0 = no cap
  int64_t connection_lifetime = 3600;       // seconds; > Postfix's 1000s max_ttl; 0 = no limit
  int64_t idle_timeout = 600;      // seconds for a whole request; > Postfix's 300s max_idle
  int64_t instance_ttl = 600;      // seconds per-message state (instance) is kept
  uint32_t lookup_threads = 4;     // threads for DNS and MTEP lookups
  int64_t lookup_timeout = 5;      // seconds, one lookup (DNS included)
  int64_t lookup_cache_ttl = 300;  // seconds a lookup result is reused
  std::string pid_file;            // "" = none
  bool operator==(const PolicydConfig&) const = default;
};

// Proof of work: validity window, the difficulty schedule, Argon2id bounds.
struct PowConfig {
  int64_t validity = 28 * 86400;  // a stamp's date may be this old (hashcash's default)
  int64_t grace = 2 * 86400;      // clock skew allowed either way
  int64_t schedule_start =
      1793491200;  // 2026-11-01 UTC: the schedule counts from here ("YYYY-MM-DD")
  int64_t hashcash_raise_every = 365 * 86400;  // +1 bit this often (SHA-1: deprecated); 0 = never
  int64_t argon2id_raise_every = 0;            // +1 bit this often (preferred); 0 = never
  uint32_t argon2id_memory = 4096;             // KiB, what we mint with
  uint32_t argon2id_min_memory = 1024;         // KiB, less is not memory-hard: refused
  uint32_t argon2id_max_memory = 65536;        // KiB, more is refused before hashing
  uint32_t argon2id_max_time = 4;              // passes, more refused before hashing
  uint32_t argon2id_max_lanes = 4;             // lanes, more refused before hashing
  uint32_t max_stamps = 200;                   // stamps read per message
  uint32_t argon2id_max_message_work = 1048576;  // KiB x passes hashed for one message, at most
  uint32_t argon2id_check_memory = 262144;  // KiB all Argon2id checks of a daemon take at once
  uint32_t mint_threads = 0;                   // 0 = every core
  int64_t mint_budget = 30;                    // seconds one mint may take before giving up
  bool operator==(const PowConfig&) const = default;
};

struct GlobalConfig {
  std::string user = "mtep";  // unprivileged user after start-up ("" = stay)
  std::string state_dir = "/var/lib/mtep";
  bool operator==(const GlobalConfig&) const = default;
};

struct LogConfig {
  std::string level = "info";  // debug, info, notice, warning, error
  bool operator==(const LogConfig&) const = default;
};

struct MtepdConfig {
  std::vector<ListenAddress> listen;  // default 127.0.0.1:6211
  uint32_t max_connections = 4096;    // on listen (MTEP)
  uint32_t smtp_max_connections = 1024;       // on smtp_listen
  uint32_t relay_max_connections = 256;       // on onion_relay
  uint32_t max_connections_per_client = 100;  // on listen and smtp_listen, per address (IPv6: /64)
  int64_t connection_lifetime = 3600;         // seconds one connection may last; 0 = no limit
  int64_t relay_send_timeout = 1800;          // seconds to send one message to the next hop
  uint32_t max_request_size = 4096;  // bytes, one request netstring
  uint32_t max_commands_per_connection = 1000;
  int64_t idle_timeout = 30;          // seconds to receive a whole request
  bool answer_without_sender = true;  // answer the seed's senderless "?" from tag_any
  bool answer_without_recipient = false;  // answer "?" without a recipient for a token bound to one
  std::string pid_file;               // "" = none
  // ESMTP listener (X-STARTMTEP, STARTTLS); [] = off.
  std::vector<ListenAddress> smtp_listen;
  // SMTP relay for outbound .onion/.i2p mail (Postfix transport_maps); [] = off.
  std::vector<ListenAddress> onion_relay;
  std::string hostname;             // greeting and EHLO name; "" = the host name
  std::string tls_cert_file;        // PEM certificate chain for STARTTLS; "" = no STARTTLS
  std::string tls_key_file;         // PEM private key for tls_cert_file
  int64_t smtp_idle_timeout = 300;  // seconds for each SMTP command line (RFC 5321 4.5.3.2)
  uint32_t smtp_max_line = 2048;    // bytes, one SMTP command line with CRLF
  uint32_t relay_max_message_size = 52428800;  // bytes, one message through onion_relay
  // smtp_listen, inside TLS: AUTH HASHEDPASS, PUBKEY, SETPUBKEY, GETSALT,
  // RSTSALT for the users in the store (mtepctl user add).
  bool user_keys = true;
  RateLimit auth_failures_per_client{5, 900};  // failed logins per client address
  RateLimit auth_failures_per_user{10, 3600};  // failed logins per user name
  bool operator==(const MtepdConfig&) const = default;
};

// A SOCKS5 proxy: a numeric address and a port; port 0 = none configured.
struct ProxyAddress {
  std::string host;  // numeric, without brackets
  uint16_t port = 0;
  bool enabled() const { return port != 0; }
  std::string toString() const;  // "127.0.0.1:9050", "[::1]:9050", "" when none
  bool operator==(const ProxyAddress&) const = default;
};

// How the suite reaches other sites: SOCKS proxies for overlay names
// (.onion, .i2p), the STARTMTEP fallback, and the SMTP client of the onion
// relay. Used by mtep-milter, mtep-policyd, mtepd and mtepctl alike.
struct OutboundConfig {
  ProxyAddress onion_proxy{"127.0.0.1", 9050};  // Tor's SocksPort; .onion names go here, as names
  ProxyAddress i2p_proxy{"127.0.0.1", 4447};    // i2pd's SOCKS proxy; .i2p names go here
  std::string proxy_username;                   // RFC 1929 credentials the proxy demands; "" = none
  std::string proxy_password;
  bool isolate_streams = true;  // without credentials: one per destination (Tor IsolateSOCKSAuth)
  int64_t proxy_timeout = 30;   // seconds for the proxy to connect (a Tor circuit) and answer
  bool startmtep_fallback = true;  // port 6211 does not answer: EHLO + STARTMTEP on smtp_port
  uint32_t smtp_port = 25;         // the SMTP port of overlay peers (fallback, relay)
  int64_t smtp_timeout = 120;      // seconds for each SMTP reply and the TLS handshake
  bool trust_on_first_use =
      true;  // relay: pin an unpinned server key without an address fingerprint
  bool operator==(const OutboundConfig&) const = default;
};

struct TokensConfig {
  std::string key_file;          // default <state_dir>/token.keys
  int64_t max_ttl = 30 * 86400;  // cap on any token's lifetime; keys retire after it
  bool operator==(const TokensConfig&) const = default;
};

struct StoreConfig {
  std::string backend = "sqlite";  // "sqlite" or "redis"
  std::string path;                // default <state_dir>/mtep.db
  int64_t busy_timeout = 2;        // seconds
  // backend "redis": the shared store of several MX hosts.
  ServerAddress redis_server{"127.0.0.1", 6379};
  std::string redis_socket;            // unix socket path; "" = redis_server over TCP
  int64_t redis_database = 0;          // SELECT
  std::string redis_user;              // ACL user; "" = the default user
  std::string redis_password_file;     // the password, first line; "" = none
  bool redis_tls = false;              // TLS to Redis (and to the sentinels)
  std::string redis_tls_ca_file;       // "" = the system store
  std::string redis_prefix = "mtep:";  // before every key, so that suites share one Redis
  int64_t redis_timeout_ms = 1000;     // connect, and each command
  std::vector<ServerAddress> redis_sentinels;  // ask these for the master of redis_master_name
  std::string redis_master_name;
  bool operator==(const StoreConfig&) const = default;
};

// Submission tokens (STOKEN): the token server and router in mtepd, the
// lifetimes of the tokens, and the recipients that must not skip the MTA.
struct StokenConfig {
  std::vector<ListenAddress> listen;           // LMTP, implicit TLS; [] = off
  std::vector<ListenAddress> starttls_listen;  // LMTP, STARTTLS; [] = off
  std::vector<ListenAddress> filter_listen;    // plain LMTP from Postfix's content_filter; [] = off
  ServerAddress deliver_to{"127.0.0.1", 24};   // the mailbox server's LMTP (Dovecot)
  ServerAddress reinject_to{"127.0.0.1", 10025};              // Postfix's re-injection smtpd
  std::map<std::string, ServerAddress, std::less<>> servers;  // domain -> token server, before DNS
  uint32_t submission_port = 465;                // token servers found by MX: this port
  int64_t temporary_ttl = 7 * 86400;             // seconds
  int64_t permanent_ttl = 365 * 86400;           // seconds since the last refresh
  int64_t permanent_refresh = 30 * 86400;        // re-stored on delivery once this old
  uint32_t max_message_size = 25 * 1024 * 1024;  // bytes
  uint32_t max_recipients = 100;                 // per transaction
  int64_t delivery_timeout = 300;                // seconds for each reply, DATA included
  int64_t dial_timeout = 30;                     // seconds to connect and finish TLS
  // Addresses ("user@example.org") and domains ("@example.org") whose mail
  // must go through the MTA; lower case (canonicalLower, "@" + domainKey).
  std::vector<std::string> refuse_recipients;
  // Who the router trusts as a domain's token server: a certificate from
  // tls_ca_file ("" = the system store) for the host name asked, or, for
  // a recipient domain listed in tls_pins (keys as in servers), a key
  // whose fingerprint is listed, self-signed or not.
  std::string tls_ca_file;
  std::map<std::string, std::vector<std::string>, std::less<>> tls_pins;
  // The same for tls_pins; null when the domain has no pins.
  const std::vector<std::string>* tlsPinsFor(std::string_view domain) const;
  // True when `address_canonical` (lower case) or its domain is listed.
  bool refuses(std::string_view address_canonical) const;
  // The static token server for `domain` (exact, then ".parent" keys), or nullptr.
  const ServerAddress* serverFor(std::string_view domain) const;
  bool operator==(const StokenConfig&) const = default;
};

// The MMTP gateway in mtepd: JSON mail (the reference's 8025/8026) with
// mailboxes in the store, bridged to the local MTA both ways.
struct MmtpConfig {
  std::vector<ListenAddress> listen;         // plain MMTP; [] = off
  std::vector<ListenAddress> tls_listen;     // implicit TLS ([mtepd] tls_cert_file); [] = off
  std::vector<ListenAddress> lmtp_listen;    // loopback LMTP from the MTA; [] = off
  ServerAddress inject_to{"127.0.0.1", 25};  // the MTA's smtpd, for mmtp_delivery = "mta"
  // Remote domains reached over MMTP (outbound) at the domain itself,
  // port 8026; exact names, stored as smtp::domainKey writes them.
  std::vector<std::string> domains;
  // Remote MMTP servers of given domains (exact keys, as domains); a
  // domain listed here is an MMTP domain too.
  std::map<std::string, ServerAddress, std::less<>> servers;
  // Outbound trust: tls_ca_file ("" = the system store), or for a domain
  // in tls_pins (keys exact or ".parent", as [stoken]) a listed key.
  std::string tls_ca_file;
  std::map<std::string, std::vector<std::string>, std::less<>> tls_pins;
  int difficulty = 5;                        // hex zero digits (1..8); 5 = the reference client
  int64_t stamp_window = 3600;               // seconds a stamp's time may lie from now, both ways
  uint32_t max_request_size = 1048576;       // bytes of one JSON request
  uint32_t max_reply_size = 16777216;        // bytes of one reply (>= max_request_size)
  uint32_t mailbox_quota = 1000;             // messages per mailbox
  uint64_t mailbox_size_limit = 52428800;    // bytes per mailbox
  int64_t message_ttl = 30 * 86400;          // seconds a message waits to be received
  uint32_t max_connections = 1024;           // on listen and tls_listen together
  uint32_t max_connections_per_client = 32;  // per client address (IPv6: /64)
  int64_t idle_timeout = 300;                // seconds
  int64_t dial_timeout = 30;                 // seconds, outbound connect and TLS
  int64_t reply_timeout = 60;                // seconds, outbound: waiting for a reply

  // Listed in domains or servers (exact, ASCII case-insensitive, one
  // trailing dot ignored: smtp::domainKey).
  bool isMmtpDomain(std::string_view domain) const;
  // The servers entry for `domain` (exact), or nullptr: a domain only in
  // domains is reached at its own name, port 8026.
  const ServerAddress* serverFor(std::string_view domain) const;
  // The tls_pins entry (exact, then the nearest ".parent"); null when none.
  const std::vector<std::string>* tlsPinsFor(std::string_view domain) const;
  bool operator==(const MmtpConfig&) const = default;
};

struct Config {
  std::string source;  // file the config came from
  GlobalConfig global;
  LogConfig log;
  MtepdConfig mtepd;
  OutboundConfig outbound;
  TokensConfig tokens;
  StoreConfig store;
  MilterConfig milter;
  PolicydConfig policyd;
  PowConfig pow;
  StokenConfig stoken;
  MmtpConfig mmtp;
  DomainPolicy domain_defaults;
  std::map<std::string, DomainPolicy, std::less<>> domains;  // lower-case keys

  // Exact match, then the nearest ".parent" entry, then domain_defaults.
  // `domain` is compared case-insensitively (ASCII); one trailing dot is
  // ignored. ".example.org" matches a.example.org, not example.org.
  const DomainPolicy& policyFor(std::string_view domain) const;
  // The policy of an envelope address (smtp::envelopeAddress): its
  // domain's, [domain_defaults] for the bare postmaster; nullptr when it
  // cannot be told: no domain found, or the local part names domains
  // (routed_domains: "%", "!", "@" routing) whose policies differ from it.
  // Callers tempfail such an address where anyPolicy() says a check could
  // apply.
  const DomainPolicy* policyForAddress(const smtp::EnvelopeAddress& address) const;
  // The MMTP stamp difficulty for `domain`: its policy's mmtp_difficulty
  // when not 0, else [mmtp] difficulty.
  int mmtpDifficultyFor(std::string_view domain) const;
  // True when `applies` holds for [domain_defaults] or any [domain."..."].
  template <typename Pred>
  bool anyPolicy(Pred applies) const {
    if (applies(domain_defaults)) return true;
    for (const auto& entry : domains) {
      if (applies(entry.second)) return true;
    }
    return false;
  }
  bool operator==(const Config&) const = default;
};

using ConfigPtr = std::shared_ptr<const Config>;

// Both return kConfig errors only. The message has one line per problem
// (at most 20, sorted by line): "FILE:LINE: [section] key: what is wrong",
// or "FILE:LINE:COL: syntax: description" when the file is not TOML.
// loadFile refuses files over 1 MiB. Neither throws on bad input.
// After loading, empty tokens.key_file, store.path and mtepd.listen hold
// their resolved defaults (<state_dir>/token.keys, <state_dir>/mtep.db,
// 127.0.0.1:6211; policyd.listen 127.0.0.1:10046), so callers never see them empty.
// milter.internal_networks starts as 127.0.0.0/8 and ::1/128; "internal_networks = []" means none.
Result<ConfigPtr> loadFile(const std::string& path);
Result<ConfigPtr> loadString(std::string_view text, const std::string& source_name);
// For daemons: loads `path` and sets *absolute to its absolute form, which
// still names the file after the chdir("/") of a detached daemon (reloads).
Result<ConfigPtr> loadForDaemon(const std::string& path, std::string* absolute);

// The documented key table, in file order.
struct KeyInfo {
  std::string_view section;  // "mtepd", "domain_defaults", ...
  std::string_view key;
  std::string_view type;          // "string", "bool", "integer", "duration", "list of ADDR:PORT"
  std::string_view default_text;  // as written in the file
  std::string_view doc;
  std::string range;  // allowed values, from the checks: "1..1000000", "1m..366d"; "" if none
};
const std::vector<KeyInfo>& keyTable();

// The KEYS section of mtep.conf(5), in roff.
std::string referenceRoff();
// A complete commented sample configuration with every key at its default.
std::string sampleConfig();

}  // namespace mtep::config

// The key table: every configuration key, declared once.
#include <algorithm>
#include <cstdio>
#include <utility>

#include "config/key_table.h"
#include "smtp/address.h"
#include "util/log.h"

namespace mtep::config {

namespace detail {
namespace {

constexpr int64_t kMinute = 60;
constexpr int64_t kHour = 3600;
constexpr int64_t kDay = 86400;

// Field accessors: capture-less lambdas that pick a member of the target.
template <typename Target, typename Field>
using FieldRef = Field& (*)(Target&);

using ConfigFn = std::function<Check(const toml::node&, Config&)>;
using DomainFn = std::function<Check(const toml::node&, DomainPolicy&)>;

// Each helper returns the KeyDef for one key of one type; `range` is derived
// from the same bounds the check uses, so the documentation cannot drift.
KeyDef makeDef(KeyInfo info, ConfigFn fn) { return KeyDef{std::move(info), std::move(fn), {}}; }
KeyDef makeDef(KeyInfo info, DomainFn fn) { return KeyDef{std::move(info), {}, std::move(fn)}; }

template <typename Target>
KeyDef boolKey(std::string_view section, std::string_view key, std::string_view def,
               std::string_view doc, FieldRef<Target, bool> field) {
  std::function<Check(const toml::node&, Target&)> fn = [field](const toml::node& n, Target& t) {
    return readBool(n, &field(t));
  };
  return makeDef(KeyInfo{section, key, "bool", def, doc, ""}, std::move(fn));
}

template <typename Target>
KeyDef durationKey(std::string_view section, std::string_view key, std::string_view def,
                   std::string_view doc, int64_t lo, int64_t hi, FieldRef<Target, int64_t> field) {
  std::function<Check(const toml::node&, Target&)> fn = [=](const toml::node& n, Target& t) {
    return readDuration(n, lo, hi, &field(t));
  };
  return makeDef(
      KeyInfo{section, key, "duration", def, doc, formatDuration(lo) + ".." + formatDuration(hi)},
      std::move(fn));
}

KeyDef countKey(std::string_view section, std::string_view key, std::string_view def,
                std::string_view doc, int64_t lo, int64_t hi, FieldRef<Config, uint32_t> field) {
  ConfigFn fn = [=](const toml::node& n, Config& c) -> Check {
    int64_t v = 0;
    if (Check p = readInteger(n, lo, hi, &v)) return p;
    field(c) = static_cast<uint32_t>(v);
    return std::nullopt;
  };
  return makeDef(
      KeyInfo{section, key, "integer", def, doc, std::to_string(lo) + ".." + std::to_string(hi)},
      std::move(fn));
}

template <typename Target>
KeyDef integerKey(std::string_view section, std::string_view key, std::string_view def,
                  std::string_view doc, int64_t lo, int64_t hi, FieldRef<Target, int64_t> field) {
  std::function<Check(const toml::node&, Target&)> fn = [=](const toml::node& n, Target& t) {
    return readInteger(n, lo, hi, &field(t));
  };
  return makeDef(
      KeyInfo{section, key, "integer", def, doc, std::to_string(lo) + ".." + std::to_string(hi)},
      std::move(fn));
}

KeyDef pathKey(std::string_view section, std::string_view key, std::string_view def,
               std::string_view doc, bool allow_empty, FieldRef<Config, std::string> field) {
  ConfigFn fn = [=](const toml::node& n, Config& c) { return readPath(n, allow_empty, &field(c)); };
  return makeDef(KeyInfo{section, key, "string", def, doc,
                         allow_empty ? "\"\" or an absolute path" : "an absolute path"},
                 std::move(fn));
}

Check applyUser(const toml::node& n, Config& c) {
  std::string user;
  if (Check p = readString(n, &user)) return p;
  for (char ch : user) {
    if (ch == ' ' || ch == ':' || ch == '/') {
      return Problem{quoted(user) + " is not a user name"};
    }
  }
  c.global.user = std::move(user);
  return std::nullopt;
}

Check applyLevel(const toml::node& n, Config& c) {
  std::string level;
  if (Check p = readString(n, &level)) return p;
  log::Level parsed;
  if (!log::parseLevel(level.c_str(), &parsed)) {
    return Problem{quoted(level) + " is not a log level (debug, info, notice, warning, error)"};
  }
  c.log.level = std::move(level);
  return std::nullopt;
}

Check applyBackend(const toml::node& n, Config& c) {
  std::string backend;
  if (Check p = readString(n, &backend)) return p;
  if (backend != "sqlite" && backend != "redis") {
    return Problem{"unknown backend " + quoted(backend) + "; known: \"sqlite\", \"redis\""};
  }
  c.store.backend = std::move(backend);
  return std::nullopt;
}

// [store] redis_sentinels: "HOST[:PORT]" each, PORT 26379 by default.
Check applyRedisSentinels(const toml::node& n, Config& c) {
  std::vector<std::string> entries;
  auto check = [](std::string_view e) -> std::string {
    auto a = parseServerAddress(e, 26379);
    return a ? "" : a.error().message();
  };
  if (Check p = readStringList(n, true, check, &entries)) return p;
  c.store.redis_sentinels.clear();
  for (const std::string& e : entries) c.store.redis_sentinels.push_back(*parseServerAddress(e, 26379));
  return std::nullopt;
}

// [store] redis_prefix: printable ASCII without spaces, at most 64.
Check applyRedisPrefix(const toml::node& n, Config& c) {
  std::string prefix;
  if (Check p = readString(n, &prefix)) return p;
  if (prefix.size() > 64) return Problem{"longer than 64 characters"};
  for (char ch : prefix) {
    if (ch <= ' ' || ch > '~') return Problem{quoted(prefix) + ": only printable ASCII, no spaces"};
  }
  c.store.redis_prefix = std::move(prefix);
  return std::nullopt;
}

// "*", "example.org" or "*.example.org" (lower-cased by the caller).
std::string checkSenderPattern(std::string_view pattern) {
  if (pattern == "*") return "";
  std::string_view domain = pattern;
  if (domain.starts_with("*.")) domain.remove_prefix(2);
  if (domain.find('*') != std::string_view::npos) {
    return quoted(pattern) + ": \"*\" is allowed alone or as the first label (\"*.onion\")";
  }
  if (Status s = smtp::checkDomain(domain); !s) {
    return quoted(pattern) + ": not a domain pattern: " + s.error().message();
  }
  return "";
}

// A sender-domain pattern as it is matched: "*" alone, else the domain
// (after "*") as smtp::domainKey writes it.
std::string patternKey(std::string_view pattern) {
  if (pattern == "*") return std::string(pattern);
  if (pattern.starts_with("*.")) return "*" + smtp::domainKey(pattern.substr(1));
  return smtp::domainKey(pattern);
}

Check applyRequireFrom(const toml::node& n, DomainPolicy& p) {
  std::vector<std::string> patterns;
  if (Check c = readStringList(n, false, checkSenderPattern, &patterns)) return c;
  for (std::string& pattern : patterns) pattern = patternKey(pattern);
  p.require_mtep_from = std::move(patterns);
  return std::nullopt;
}

Check applyUnavailable(const toml::node& n, DomainPolicy& p) {
  std::string text;
  if (Check c = readString(n, &text)) return c;
  for (Unavailable u : {Unavailable::kTempfail, Unavailable::kAccept, Unavailable::kReject}) {
    if (text == unavailableName(u)) {
      p.mtep_unavailable = u;
      return std::nullopt;
    }
  }
  return Problem{quoted(text) + " is not one of tempfail, accept, reject"};
}

Check applyMintStamps(const toml::node& n, DomainPolicy& p) {
  std::string text;
  if (Check c = readString(n, &text)) return c;
  for (MintStamps m : {MintStamps::kNone, MintStamps::kHashcash, MintStamps::kArgon2id}) {
    if (text == mintStampsName(m)) {
      p.mint_stamps = m;
      return std::nullopt;
    }
  }
  return Problem{quoted(text) + " is not one of none, hashcash, argon2id"};
}

Check readRateLimit(const toml::node& n, RateLimit* out) {
  std::string text;
  if (Check c = readString(n, &text)) return c;
  auto limit = parseRateLimit(text);
  if (!limit) return Problem{quoted(text) + ": " + limit.error().message()};
  *out = *limit;
  return std::nullopt;
}

// "YYYY-MM-DD" (UTC midnight), 2000-01-01 .. 2199-12-31.
Check applyScheduleStart(const toml::node& n, Config& c) {
  std::string text;
  if (Check p = readString(n, &text)) return p;
  int y = 0, m = 0, d = 0;
  char tail = 0;
  if (text.size() != 10 || std::sscanf(text.c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 ||
      text[4] != '-' || text[7] != '-' || y < 2000 || y > 2199 || m < 1 || m > 12 || d < 1 ||
      d > 31) {
    return Problem{quoted(text) + " is not a date YYYY-MM-DD (2000..2199)"};
  }
  // Days from the civil date (Howard Hinnant's algorithm), UTC.
  const int yy = y - (m <= 2 ? 1 : 0);
  const int era = yy / 400;
  const int yoe = yy - era * 400;
  const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  c.pow.schedule_start = (static_cast<int64_t>(era) * 146097 + doe - 719468) * 86400;
  return std::nullopt;
}

Check applyAuthservId(const toml::node& n, Config& c) {
  std::string id;
  if (Check p = readString(n, &id)) return p;
  if (id.size() > 255) return Problem{"longer than 255 bytes"};
  for (char ch : id) {
    const auto u = static_cast<unsigned char>(ch);
    if (u <= ' ' || u >= 0x7f || ch == ';' || ch == '(' || ch == ')' || ch == '"' || ch == '\\') {
      return Problem{quoted(id) +
                     " is not a plain token (use a host name, such as mx.example.org)"};
    }
  }
  c.milter.authserv_id = std::move(id);
  return std::nullopt;
}

// A single "HOST[:PORT]" server address.
Check readServer(const toml::node& n, uint16_t default_port, ServerAddress* out) {
  std::string text;
  if (Check p = readString(n, &text)) return p;
  auto address = parseServerAddress(text, default_port);
  if (!address) return Problem{address.error().message()};
  *out = std::move(*address);
  return std::nullopt;
}

// "user@example.org" or "@example.org" (lower-cased when stored).
std::string checkRefusedRecipient(std::string_view entry) {
  if (entry.starts_with('@')) {
    if (Status s = smtp::checkDomain(entry.substr(1)); !s) {
      return quoted(entry) + ": not a domain: " + s.error().message();
    }
    return "";
  }
  auto m = smtp::parseMailbox(entry);
  if (!m || m->isNull()) return quoted(entry) + " is neither an address nor \"@\" and a domain";
  return "";
}

Check applyRefuseRecipients(const toml::node& n, Config& c) {
  std::vector<std::string> entries;
  if (Check p = readStringList(n, true, checkRefusedRecipient, &entries)) return p;
  for (std::string& entry : entries) {
    if (entry.starts_with('@')) {
      entry = "@" + smtp::domainKey(std::string_view(entry).substr(1));
    } else {
      entry = smtp::parseMailbox(entry)->canonicalLower();
    }
  }
  c.stoken.refuse_recipients = std::move(entries);
  return std::nullopt;
}

constexpr std::string_view kMmtpNotOnPort25 =
    "an MMTP listener never uses port 25, the MX's port; use 8025 (plain) or 8026 (TLS)";

// A small integer stored in an `int` field (MMTP difficulties).
template <typename Target>
KeyDef smallIntKey(std::string_view section, std::string_view key, std::string_view def,
                   std::string_view doc, int lo, int hi, FieldRef<Target, int> field) {
  std::function<Check(const toml::node&, Target&)> fn = [=](const toml::node& n, Target& t) {
    int64_t v = 0;
    if (Check p = readInteger(n, lo, hi, &v)) return p;
    field(t) = static_cast<int>(v);
    return Check{};
  };
  return makeDef(
      KeyInfo{section, key, "integer", def, doc, std::to_string(lo) + ".." + std::to_string(hi)},
      std::move(fn));
}

Check applyMmtpDelivery(const toml::node& n, DomainPolicy& p) {
  std::string text;
  if (Check c = readString(n, &text)) return c;
  for (MmtpDelivery d : {MmtpDelivery::kOff, MmtpDelivery::kMailbox, MmtpDelivery::kMta}) {
    if (text == mmtpDeliveryName(d)) {
      p.mmtp_delivery = d;
      return std::nullopt;
    }
  }
  return Problem{quoted(text) + " is not one of off, mailbox, mta"};
}

// An MMTP domain: one exact name (no ".parent" entries: MMTP addresses
// name their domain whole).
std::string checkMmtpDomain(std::string_view domain) {
  if (domain.starts_with('.')) {
    return quoted(domain) + ": MMTP domains are exact names; list each domain (no \".parent\")";
  }
  if (Status s = smtp::checkDomain(domain); !s) {
    return quoted(domain) + " is not a domain name: " + s.error().message();
  }
  return "";
}

// [mmtp] domains: exact names, stored as smtp::domainKey writes them, each once.
Check applyMmtpDomains(const toml::node& n, Config& c) {
  std::vector<std::string> names;
  if (Check p = readStringList(n, true, checkMmtpDomain, &names)) return p;
  const toml::array* list = n.as_array();
  std::vector<std::string> keys;
  for (size_t i = 0; i < names.size(); ++i) {
    std::string key = smtp::domainKey(names[i]);
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) {
      return Problem{quoted(names[i]) + " is listed twice (names are compared without case)",
                     list != nullptr ? list->get(i) : nullptr};
    }
    keys.push_back(std::move(key));
  }
  c.mmtp.domains = std::move(keys);
  return std::nullopt;
}

// [mmtp] servers: as readServerMap (port 8026), exact domain keys only.
Check applyMmtpServers(const toml::node& n, Config& c) {
  if (const toml::table* table = n.as_table()) {
    for (const auto& [key, value] : *table) {
      if (key.str().starts_with('.')) {
        return Problem{checkMmtpDomain(key.str()), &value};
      }
    }
  }
  return readServerMap(n, &c.mmtp.servers, 8026);
}

std::vector<KeyDef> buildDefs() {
  std::vector<KeyDef> d;
  // [global]
  d.push_back(
      makeDef(KeyInfo{"global", "user", "string", "\"mtep\"",
                      "Unprivileged user the programs switch to once they have read this file, "
                      "bound their sockets and loaded their keys, when started as root. "
                      "Empty: stay the user that started them.",
                      ""},
              ConfigFn(applyUser)));
  d.push_back(pathKey("global", "state_dir", "\"/var/lib/mtep\"",
                      "Directory for the key file and the store. When started as root, the "
                      "programs create it (mode 0750) and give it to user.",
                      false, [](Config& c) -> std::string& { return c.global.state_dir; }));
  // [log]
  d.push_back(makeDef(KeyInfo{"log", "level", "string", "\"info\"",
                              "Least important messages to log: debug, info, notice, warning "
                              "or error. Messages go to syslog, facility mail.",
                              "debug, info, notice, warning, error"},
                      ConfigFn(applyLevel)));
  // [mtepd]
  d.push_back(makeDef(
      KeyInfo{"mtepd", "listen", "list of ADDR:PORT", "[\"127.0.0.1:6211\"]",
              "Addresses and ports on which mtepd accepts MTEP connections; 6211 is the "
              "MTEP port. Use [\"0.0.0.0:6211\", \"[::]:6211\"] to serve other hosts.",
              "numeric IPv4 or [IPv6] address, port 1..65535; at least one"},
      ConfigFn([](const toml::node& n, Config& c) { return readListen(n, &c.mtepd.listen); })));
  d.push_back(countKey("mtepd", "max_connections", "4096",
                       "Most MTEP connections (on listen) open at once; more are refused until "
                       "one closes. The ESMTP listener and the onion relay have caps of their "
                       "own (smtp_max_connections, relay_max_connections), so a full MTEP "
                       "listener never shuts them out.",
                       1, 1000000, [](Config& c) -> uint32_t& { return c.mtepd.max_connections; }));
  d.push_back(countKey("mtepd", "smtp_max_connections", "1024",
                       "Most connections open at once on smtp_listen; more get 421 4.7.0 and are "
                       "closed.",
                       1, 1000000,
                       [](Config& c) -> uint32_t& { return c.mtepd.smtp_max_connections; }));
  d.push_back(countKey("mtepd", "relay_max_connections", "256",
                       "Most connections open at once on onion_relay; more get 421 4.3.2 and are "
                       "closed (the MTA retries). Keep it above the MTA's process limit for the "
                       "relay transport (Postfix: default_process_limit, 100).",
                       1, 1000000,
                       [](Config& c) -> uint32_t& { return c.mtepd.relay_max_connections; }));
  d.push_back(countKey("mtepd", "max_connections_per_client", "100",
                       "Most connections one client may hold open at once on listen, and "
                       "separately on smtp_listen; a client is an IPv4 address or an IPv6 /64. "
                       "More are refused (MTEP: its busy answer, SMTP: 421 4.7.0). Not applied "
                       "to onion_relay, whose one client is the local MTA. 0: no cap.",
                       0, 1000000,
                       [](Config& c) -> uint32_t& { return c.mtepd.max_connections_per_client; }));
  d.push_back(durationKey<Config>(
      "mtepd", "connection_lifetime", "\"1h\"",
      "Longest time one connection may stay open, however busy the client keeps it, on "
      "every mtepd listener; then it gets the protocol's goodbye (SMTP: 421 4.4.2) and is "
      "closed. A request under way (a relay delivery included) is answered first. "
      "0: no limit.",
      0, kDay, [](Config& c) -> int64_t& { return c.mtepd.connection_lifetime; }));
  d.push_back(countKey("mtepd", "max_request_size", "4096",
                       "Largest request in bytes, the whole outer netstring; a longer one gets "
                       "an error reply and the connection is closed.",
                       64, 65536, [](Config& c) -> uint32_t& { return c.mtepd.max_request_size; }));
  d.push_back(countKey("mtepd", "max_commands_per_connection", "1000",
                       "Requests answered on one connection before mtepd closes it.", 1, 1000000,
                       [](Config& c) -> uint32_t& { return c.mtepd.max_commands_per_connection; }));
  d.push_back(durationKey<Config>(
      "mtepd", "idle_timeout", "\"30s\"",
      "Time a client has to send a whole request; a connection idle longer is closed.", 1, kHour,
      [](Config& c) -> int64_t& { return c.mtepd.idle_timeout; }));
  d.push_back(boolKey<Config>(
      "mtepd", "answer_without_sender", "true",
      "Answer a \"?\" request that carries only a token, without the envelope sender "
      "(the form of the MTEP draft). When false, such tokens are not vouched for.",
      [](Config& c) -> bool& { return c.mtepd.answer_without_sender; }));
  d.push_back(boolKey<Config>(
      "mtepd", "answer_without_recipient", "false",
      "Answer a \"?\" request about a token bound to a recipient domain (every token minted "
      "since version 2) when the request carries no recipient. When false (the default), such "
      "tokens are not vouched for (D5.5.4): a token seen by one recipient must not vouch for mail "
      "to another. True checks the sender alone, as for older tokens; only for a rolling upgrade "
      "while correspondents still run receivers that send no recipient.",
      [](Config& c) -> bool& { return c.mtepd.answer_without_recipient; }));
  d.push_back(pathKey("mtepd", "pid_file", "\"\"",
                      "File to write the process id of mtepd to. Empty: none.", true,
                      [](Config& c) -> std::string& { return c.mtepd.pid_file; }));
  d.push_back(makeDef(
      KeyInfo{"mtepd", "smtp_listen", "list of ADDR:PORT", "[]",
              "Addresses and ports of mtepd's ESMTP listener: EHLO offers X-STARTMTEP (and "
              "STARTTLS when tls_cert_file is set), STARTMTEP turns the session into MTEP "
              "until \"Q\". For i2p peers and clients that cannot reach port 6211. [] = off.",
              "numeric ADDR:PORT or [V6ADDR]:PORT"},
      ConfigFn([](const toml::node& n, Config& c) {
        return readListen(n, &c.mtepd.smtp_listen, true);
      })));
  d.push_back(makeDef(
      KeyInfo{"mtepd", "onion_relay", "list of ADDR:PORT", "[]",
              "Addresses and ports of the onion relay: an SMTP server for the local MTA "
              "(Postfix transport_maps) that hands each .onion or .i2p message over through "
              "the SOCKS proxy with mandatory TLS, and answers only once the next hop has. "
              "Keep it on loopback. [] = off.",
              "numeric ADDR:PORT or [V6ADDR]:PORT"},
      ConfigFn([](const toml::node& n, Config& c) {
        return readListen(n, &c.mtepd.onion_relay, true);
      })));
  d.push_back(makeDef(KeyInfo{"mtepd", "hostname", "string", "\"\"",
                              "Name mtepd gives in its SMTP greeting and EHLO. Empty: the host "
                              "name.",
                              "a domain name"},
                      ConfigFn([](const toml::node& n, Config& c) -> Check {
                        std::string name;
                        if (Check p = readString(n, &name)) return p;
                        if (!name.empty()) {
                          if (Status st = smtp::checkDomain(name, false); !st) {
                            return Problem{quoted(name) + ": " + st.error().message()};
                          }
                        }
                        c.mtepd.hostname = std::move(name);
                        return std::nullopt;
                      })));
  d.push_back(pathKey("mtepd", "tls_cert_file", "\"\"",
                      "PEM file with the certificate (and chain) for STARTTLS on smtp_listen. "
                      "Empty: STARTTLS is not offered. For an onion service, the fingerprint "
                      "in SMTorP addresses is taken from this certificate's public key "
                      "(mtepctl address fingerprint).",
                      true, [](Config& c) -> std::string& { return c.mtepd.tls_cert_file; }));
  d.push_back(pathKey("mtepd", "tls_key_file", "\"\"",
                      "PEM file with the private key of tls_cert_file; read as root, before "
                      "the privilege drop. Empty: the key is in tls_cert_file.",
                      true, [](Config& c) -> std::string& { return c.mtepd.tls_key_file; }));
  d.push_back(durationKey<Config>(
      "mtepd", "smtp_idle_timeout", "\"5m\"",
      "How long mtepd's SMTP listeners (smtp_listen, onion_relay) wait for each command line "
      "before answering 421 and closing.",
      1, kHour, [](Config& c) -> int64_t& { return c.mtepd.smtp_idle_timeout; }));
  d.push_back(countKey("mtepd", "smtp_max_line", "2048",
                       "Longest SMTP command line, CRLF included; a longer one gets 500 5.5.6.",
                       512, 65536, [](Config& c) -> uint32_t& { return c.mtepd.smtp_max_line; }));
  d.push_back(durationKey<Config>(
      "mtepd", "relay_send_timeout", "\"30m\"",
      "Longest time the onion relay spends sending one message to the next hop, up to the "
      "final \".\"; a peer that reads more slowly is given up (451 4.4.2, the MTA retries), so "
      "slow readers cannot hold the relay's workers. The final reply then has "
      "[outbound] smtp_timeout.",
      1, kDay, [](Config& c) -> int64_t& { return c.mtepd.relay_send_timeout; }));
  d.push_back(countKey("mtepd", "relay_max_message_size", "52428800",
                       "Largest message, in bytes, the onion relay takes (offered as SIZE); a "
                       "larger one gets 552 5.3.4.",
                       1024, 1073741824,
                       [](Config& c) -> uint32_t& { return c.mtepd.relay_max_message_size; }));
  d.push_back(boolKey<Config>(
      "mtepd", "user_keys", "true",
      "On smtp_listen, inside TLS only: the sender-signature commands of "
      "draft-korenenovak-smtp-e2eesign (AUTH HASHEDPASS, PUBKEY, SETPUBKEY, GETSALT, RSTSALT; "
      "EHLO keywords SIGNMESSAGE, ENCRYPTMESSAGE) for the users added with mtepctl user add. "
      "false: not offered (502 5.5.1).",
      [](Config& c) -> bool& { return c.mtepd.user_keys; }));
  d.push_back(makeDef(KeyInfo{"mtepd", "auth_failures_per_client", "string", "\"5/15m\"",
                              "Failed AUTH HASHEDPASS logins a client (an IPv4 address, an IPv6 "
                              "/64) may make per time, \"COUNT/DURATION\"; past it every login "
                              "from there gets 454 4.7.0 until the window has passed. The token "
                              "server's failed AUTH STOKEN and bad tokens count here too. Empty: "
                              "no limit.",
                              "\"\" or COUNT/DURATION, 1s..7d"},
                      ConfigFn([](const toml::node& n, Config& c) {
                        return readRateLimit(n, &c.mtepd.auth_failures_per_client);
                      })));
  d.push_back(makeDef(KeyInfo{"mtepd", "auth_failures_per_user", "string", "\"10/1h\"",
                              "Failed logins for one user name, from any client, per time; past "
                              "it logins as that user get 454 4.7.0. Empty: no limit.",
                              "\"\" or COUNT/DURATION, 1s..7d"},
                      ConfigFn([](const toml::node& n, Config& c) {
                        return readRateLimit(n, &c.mtepd.auth_failures_per_user);
                      })));
  // [outbound]
  d.push_back(makeDef(KeyInfo{"outbound", "onion_proxy", "string", "\"127.0.0.1:9050\"",
                              "SOCKS5 proxy for .onion names (Tor's SocksPort). The names go to "
                              "the proxy as names and are never looked up in DNS. Empty: .onion "
                              "peers are unreachable.",
                              "\"\" or numeric ADDR:PORT"},
                      ConfigFn([](const toml::node& n, Config& c) {
                        return readProxy(n, &c.outbound.onion_proxy);
                      })));
  d.push_back(makeDef(KeyInfo{"outbound", "i2p_proxy", "string", "\"127.0.0.1:4447\"",
                              "SOCKS5 proxy for .i2p names (i2pd's SOCKS proxy), as for "
                              "onion_proxy.",
                              "\"\" or numeric ADDR:PORT"},
                      ConfigFn([](const toml::node& n, Config& c) {
                        return readProxy(n, &c.outbound.i2p_proxy);
                      })));
  d.push_back(makeDef(KeyInfo{"outbound", "proxy_username", "string", "\"\"",
                              "User name for proxies that demand one (RFC 1929). Empty: none.",
                              "at most 255 bytes"},
                      ConfigFn([](const toml::node& n, Config& c) -> Check {
                        std::string v;
                        if (Check p = readString(n, &v)) return p;
                        if (v.size() > 255) return Problem{"longer than 255 bytes"};
                        c.outbound.proxy_username = std::move(v);
                        return std::nullopt;
                      })));
  d.push_back(makeDef(KeyInfo{"outbound", "proxy_password", "string", "\"\"",
                              "Password for proxy_username.", "at most 255 bytes"},
                      ConfigFn([](const toml::node& n, Config& c) -> Check {
                        std::string v;
                        if (Check p = readString(n, &v)) return p;
                        if (v.size() > 255) return Problem{"longer than 255 bytes"};
                        c.outbound.proxy_password = std::move(v);
                        return std::nullopt;
                      })));
  d.push_back(boolKey<Config>(
      "outbound", "isolate_streams", "true",
      "Without proxy_username: offer the proxy a user name and password made from the "
      "destination, so that Tor (IsolateSOCKSAuth) uses a separate circuit for each peer.",
      [](Config& c) -> bool& { return c.outbound.isolate_streams; }));
  d.push_back(durationKey<Config>(
      "outbound", "proxy_timeout", "\"30s\"",
      "How long the proxy may take to connect to a peer and answer; Tor builds a circuit to "
      "an onion service in this time.",
      1, 10 * kMinute, [](Config& c) -> int64_t& { return c.outbound.proxy_timeout; }));
  d.push_back(boolKey<Config>(
      "outbound", "startmtep_fallback", "true",
      "When a peer's port 6211 does not answer, ask it over ESMTP instead: EHLO on smtp_port, "
      "STARTTLS where offered, STARTMTEP, the question, Q, QUIT.",
      [](Config& c) -> bool& { return c.outbound.startmtep_fallback; }));
  d.push_back(countKey("outbound", "smtp_port", "25",
                       "SMTP port of peers, for the STARTMTEP fallback and the onion relay.", 1,
                       65535, [](Config& c) -> uint32_t& { return c.outbound.smtp_port; }));
  d.push_back(durationKey<Config>(
      "outbound", "smtp_timeout", "\"2m\"",
      "How long the onion relay and the STARTMTEP fallback wait for each SMTP reply and for "
      "the TLS handshake. Keep it below the MTA's own timeouts toward the relay.",
      1, kHour, [](Config& c) -> int64_t& { return c.outbound.smtp_timeout; }));
  d.push_back(boolKey<Config>(
      "outbound", "trust_on_first_use", "true",
      "Onion relay: when the recipient address carries no fingerprint and the server's key "
      "is not pinned yet, pin it and deliver; a later, different key is refused. false: "
      "addresses without a fingerprint are refused (5.7.0) unless a pin exists (mtepctl pin).",
      [](Config& c) -> bool& { return c.outbound.trust_on_first_use; }));
  // [tokens]
  d.push_back(pathKey("tokens", "key_file", "\"\"",
                      "File holding the keys that sign tokens, made and rotated with "
                      "mtepctl(1). Empty: token.keys in state_dir.",
                      true, [](Config& c) -> std::string& { return c.tokens.key_file; }));
  d.push_back(durationKey<Config>(
      "tokens", "max_ttl", "\"30d\"",
      "Longest lifetime of any token. A key that has been rotated out keeps verifying the "
      "tokens it signed for this long, then retires.",
      kMinute, 366 * kDay, [](Config& c) -> int64_t& { return c.tokens.max_ttl; }));
  // [store]
  d.push_back(makeDef(KeyInfo{"store", "backend", "string", "\"sqlite\"",
                              "Where the suite keeps its state (revocations, spent stamps, pins, "
                              "users and keys, tokens, mailboxes): \"sqlite\", one file on this "
                              "host; \"redis\", a Redis server that several MX hosts share "
                              "(the redis_ keys below).",
                              "sqlite, redis"},
                      ConfigFn(applyBackend)));
  d.push_back(pathKey("store", "path", "\"\"",
                      "The SQLite database file. Empty: mtep.db in state_dir.", true,
                      [](Config& c) -> std::string& { return c.store.path; }));
  d.push_back(durationKey<Config>(
      "store", "busy_timeout", "\"2s\"",
      "How long a store operation waits for a lock held by another process before it fails "
      "as temporary.",
      0, kMinute, [](Config& c) -> int64_t& { return c.store.busy_timeout; }));
  d.push_back(makeDef(KeyInfo{"store", "redis_server", "string", "\"127.0.0.1:6379\"",
                              "The Redis server (backend \"redis\"), unless redis_socket or "
                              "redis_sentinels say otherwise.",
                              "HOST[:PORT]; PORT 6379 by default"},
                      ConfigFn([](const toml::node& n, Config& c) {
                        return readServer(n, 6379, &c.store.redis_server);
                      })));
  d.push_back(pathKey("store", "redis_socket", "\"\"",
                      "Redis's unix socket, instead of redis_server. Empty: TCP.", true,
                      [](Config& c) -> std::string& { return c.store.redis_socket; }));
  d.push_back(integerKey<Config>(
      "store", "redis_database", "0", "The Redis database number (SELECT).", 0, 100000,
      [](Config& c) -> int64_t& { return c.store.redis_database; }));
  d.push_back(makeDef(KeyInfo{"store", "redis_user", "string", "\"\"",
                              "The Redis ACL user (AUTH user password). Empty: the default user.",
                              ""},
                      ConfigFn([](const toml::node& n, Config& c) {
                        return readString(n, &c.store.redis_user);
                      })));
  d.push_back(pathKey("store", "redis_password_file", "\"\"",
                      "A file whose first line is the Redis password (never in this file, "
                      "which users may read). Read at start and on reload. Empty: no AUTH.",
                      true, [](Config& c) -> std::string& { return c.store.redis_password_file; }));
  d.push_back(boolKey<Config>("store", "redis_tls", "false",
                              "TLS to Redis (and to the sentinels); the certificate must chain "
                              "to redis_tls_ca_file and name the host dialled.",
                              [](Config& c) -> bool& { return c.store.redis_tls; }));
  d.push_back(pathKey("store", "redis_tls_ca_file", "\"\"",
                      "PEM file of the CA certificates trusted for Redis. Empty: the system "
                      "store.",
                      true, [](Config& c) -> std::string& { return c.store.redis_tls_ca_file; }));
  d.push_back(makeDef(KeyInfo{"store", "redis_prefix", "string", "\"mtep:\"",
                              "Put before every key the suite writes, so that several suites "
                              "(or other programs) share one Redis.",
                              "printable ASCII, no spaces, at most 64"},
                      ConfigFn(applyRedisPrefix)));
  d.push_back(integerKey<Config>(
      "store", "redis_timeout_ms", "1000",
      "Milliseconds to connect (TLS and AUTH included) and for each command's answer. Past it "
      "the operation fails as temporary: the daemons tempfail, never accept unchecked.",
      50, 60000, [](Config& c) -> int64_t& { return c.store.redis_timeout_ms; }));
  d.push_back(makeDef(KeyInfo{"store", "redis_sentinels", "list of strings", "[]",
                              "Redis Sentinels to ask for the master of redis_master_name, in "
                              "order; a failover needs no restart. Empty: redis_server itself.",
                              "HOST[:PORT]; PORT 26379 by default"},
                      ConfigFn(applyRedisSentinels)));
  d.push_back(makeDef(KeyInfo{"store", "redis_master_name", "string", "\"\"",
                              "The master's name the sentinels know (required with "
                              "redis_sentinels).",
                              ""},
                      ConfigFn([](const toml::node& n, Config& c) {
                        return readString(n, &c.store.redis_master_name);
                      })));
  // [milter]
  d.push_back(
      makeDef(KeyInfo{"milter", "socket", "string", "\"inet:8891@127.0.0.1\"",
                      "Where mtep-milter listens for the MTA, in libmilter's form; Postfix's "
                      "smtpd_milters then names inet:127.0.0.1:8891.",
                      "inet:PORT@IPV4, inet6:PORT@IPV6, unix:/PATH, local:/PATH"},
              ConfigFn([](const toml::node& n, Config& c) {
                return readMilterSocket(n, &c.milter.socket);
              })));
  d.push_back(makeDef(KeyInfo{"milter", "authserv_id", "string", "\"\"",
                              "Name in the Authentication-Results headers mtep-milter adds "
                              "(RFC 8601); incoming headers with this name are removed. "
                              "Empty: the host name.",
                              "a token without spaces, ';' or quotes"},
                      ConfigFn(applyAuthservId)));
  d.push_back(makeDef(
      KeyInfo{"milter", "internal_networks", "list of networks", "[\"127.0.0.0/8\", \"::1/128\"]",
              "Clients whose mail is outbound: it gets an MTEP-Token and is not checked. "
              "SASL-authenticated clients count as internal too. [] = none.",
              "numeric ADDR or ADDR/PREFIX, host bits zero"},
      ConfigFn([](const toml::node& n, Config& c) {
        return readNetworks(n, &c.milter.internal_networks);
      })));
  d.push_back(durationKey<Config>(
      "milter", "query_timeout", "\"5s\"",
      "Longest time to find and ask a sender's MTEP server about one token, DNS included; "
      "past it the server counts as unreachable.",
      1, kMinute, [](Config& c) -> int64_t& { return c.milter.query_timeout; }));
  d.push_back(durationKey<Config>(
      "milter", "cache_ttl", "\"60s\"",
      "How long a yes or no from a sender's MTEP server is reused for the same token and "
      "sender. 0: ask every time. Temporary answers are never reused.",
      0, kHour, [](Config& c) -> int64_t& { return c.milter.cache_ttl; }));
  d.push_back(countKey("milter", "cache_size", "10000",
                       "Most answers kept in the cache; the oldest go first.", 0, 1000000,
                       [](Config& c) -> uint32_t& { return c.milter.cache_size; }));
  d.push_back(
      makeDef(KeyInfo{"milter", "mtep_servers", "table of DOMAIN = HOST[:PORT]", "{}",
                      "MTEP servers to ask for given sender domains, before DNS (SRV _mtep._tcp, "
                      "then MX hosts, then the domain itself, port 6211). A key \".example.org\" "
                      "covers every subdomain. For private deployments and tests.",
                      "domain keys; HOST a name or numeric address, [IPv6]; PORT 1..65535"},
              ConfigFn([](const toml::node& n, Config& c) {
                return readServerMap(n, &c.milter.mtep_servers);
              })));
  d.push_back(
      makeDef(KeyInfo{"milter", "key_servers", "table of DOMAIN = HOST[:PORT]", "{}",
                      "Servers to ask PUBKEY (sender signatures) for given sender domains, "
                      "before DNS (the domain's MX hosts, then the domain itself, on [outbound] "
                      "smtp_port). PORT defaults to 25. A key \".example.org\" covers every "
                      "subdomain.",
                      "domain keys; HOST a name or numeric address, [IPv6]; PORT 1..65535"},
              ConfigFn([](const toml::node& n, Config& c) {
                return readServerMap(n, &c.milter.key_servers, 25);
              })));
  d.push_back(durationKey<Config>(
      "milter", "key_cache_ttl", "\"1h\"",
      "How long a sender's public key fetched with PUBKEY (or the answer that there is none) "
      "is reused. 0: fetch for every message. Failures are never reused.",
      0, 7 * kDay, [](Config& c) -> int64_t& { return c.milter.key_cache_ttl; }));
  d.push_back(countKey("milter", "key_cache_size", "10000",
                       "Most keys kept in the cache; the oldest go first.", 0, 1000000,
                       [](Config& c) -> uint32_t& { return c.milter.key_cache_size; }));
  d.push_back(countKey("milter", "max_signed_message_size", "10485760",
                       "Largest message, in bytes, whose X-Sender-Signature is checked; a larger "
                       "signed message is not checked (x-sender-signature=none, and refused "
                       "where require_signature_from applies).",
                       1024, 1073741824,
                       [](Config& c) -> uint32_t& { return c.milter.max_signed_message_size; }));
  d.push_back(pathKey(
      "milter", "tls_ca_file", "\"\"",
      "PEM file of the CA certificates trusted for key servers (PUBKEY) and for MTEP servers "
      "reached over STARTMTEP with STARTTLS, instead of the system store. Empty: the system "
      "store. The certificate must also be for the host name asked (the key_servers or "
      "mtep_servers host, the MX host, the SRV target; an address when that is what was "
      "asked). Servers under .onion and .i2p are not checked: their address is their key. A "
      "server that fails the check is not asked: x-sender-signature=temperror.",
      true, [](Config& c) -> std::string& { return c.milter.tls_ca_file; }));
  d.push_back(
      makeDef(KeyInfo{"milter", "tls_pins", "table of DOMAIN = FINGERPRINT or [FINGERPRINT, ...]",
                      "{}",
                      "Key fingerprints trusted for a sender domain's key servers and MTEP "
                      "servers (STARTMTEP), instead of tls_ca_file: for self-signed servers. "
                      "mtepctl prints a server's fingerprint (key lookup, key publish). Any "
                      "other key is refused, even with a valid certificate. A key "
                      "\".example.org\" covers every subdomain.",
                      "domain keys; fingerprints of 52 base32 characters"},
              ConfigFn([](const toml::node& n, Config& c) {
                return readPinMap(n, &c.milter.tls_pins);
              })));
  d.push_back(makeDef(
      KeyInfo{"milter", "allow_private_targets", "list of networks", "[]",
              "Loopback, private, link-local and other non-public addresses that discovered "
              "servers (SRV, MX, A/AAAA records, address literal sender domains) may be "
              "connected to. Others are refused before any connection, so a sender's DNS cannot "
              "point our queries at services inside the network. Static mtep_servers and "
              "key_servers entries are always allowed. [] = none.",
              "numeric ADDR or ADDR/PREFIX, host bits zero"},
      ConfigFn([](const toml::node& n, Config& c) {
        return readNetworks(n, &c.milter.allow_private_targets);
      })));
  d.push_back(pathKey("milter", "pid_file", "\"\"",
                      "File to write the process id of mtep-milter to. Empty: none.", true,
                      [](Config& c) -> std::string& { return c.milter.pid_file; }));
  // [policyd]
  d.push_back(makeDef(
      KeyInfo{"policyd", "listen", "list of ADDR:PORT", "[\"127.0.0.1:10046\"]",
              "Addresses and ports on which mtep-policyd answers Postfix's policy protocol "
              "(check_policy_service inet:127.0.0.1:10046) and Exim's ${readsocket}.",
              "numeric IPv4 or [IPv6] address, port 1..65535; at least one"},
      ConfigFn([](const toml::node& n, Config& c) { return readListen(n, &c.policyd.listen); })));
  d.push_back(countKey("policyd", "max_connections", "1024",
                       "Most policy connections open at once; more are closed at once "
                       "(Postfix then applies its default_action).",
                       1, 1000000,
                       [](Config& c) -> uint32_t& { return c.policyd.max_connections; }));
  d.push_back(countKey("policyd", "max_request_size", "65536",
                       "Largest request in bytes, up to and including its blank line; a larger "
                       "one is logged and the connection closed without a reply.",
                       1024, 16777216,
                       [](Config& c) -> uint32_t& { return c.policyd.max_request_size; }));
  d.push_back(
      countKey("policyd", "max_requests_per_connection", "1000000",
               "Requests answered on one connection before it is closed.", 1, 100000000,
               [](Config& c) -> uint32_t& { return c.policyd.max_requests_per_connection; }));
  d.push_back(countKey("policyd", "max_connections_per_client", "0",
                       "Most policy connections one client address (IPv6: its /64) may hold "
                       "open at once; more are closed at once. 0 (the default): no cap, since "
                       "every Postfix smtpd process connects from the same loopback address.",
                       0, 1000000,
                       [](Config& c) -> uint32_t& { return c.policyd.max_connections_per_client; }));
  d.push_back(durationKey<Config>(
      "policyd", "connection_lifetime", "\"1h\"",
      "Longest time one policy connection may stay open; then it is closed once the "
      "request being read, if any, is answered. Keep it above Postfix's "
      "smtpd_policy_service_max_ttl (1000s), so that Postfix ends its connections first. "
      "0: no limit.",
      0, kDay, [](Config& c) -> int64_t& { return c.policyd.connection_lifetime; }));
  d.push_back(durationKey<Config>(
      "policyd", "idle_timeout", "\"600s\"",
      "Time a client has to send a whole request; an idle connection is closed after it. "
      "Keep it above Postfix's smtpd_policy_service_max_idle (300s).",
      1, kDay, [](Config& c) -> int64_t& { return c.policyd.idle_timeout; }));
  d.push_back(durationKey<Config>(
      "policyd", "instance_ttl", "\"10m\"",
      "How long what is known about one message (its instance attribute: recipients seen, "
      "header prepended) is kept.",
      kMinute, kDay, [](Config& c) -> int64_t& { return c.policyd.instance_ttl; }));
  d.push_back(countKey("policyd", "lookup_threads", "4",
                       "Threads that look up senders' MTEP servers (DNS, MTEP) so that the "
                       "event loop never waits.",
                       1, 64, [](Config& c) -> uint32_t& { return c.policyd.lookup_threads; }));
  d.push_back(durationKey<Config>(
      "policyd", "lookup_timeout", "\"5s\"",
      "Longest time one lookup may take, DNS included; past it the answer is a tempfail.", 1,
      kMinute, [](Config& c) -> int64_t& { return c.policyd.lookup_timeout; }));
  d.push_back(durationKey<Config>(
      "policyd", "lookup_cache_ttl", "\"5m\"",
      "How long a lookup's yes or no is reused. Temporary failures are never reused.", 0, kDay,
      [](Config& c) -> int64_t& { return c.policyd.lookup_cache_ttl; }));
  d.push_back(pathKey("policyd", "pid_file", "\"\"",
                      "File to write the process id of mtep-policyd to. Empty: none.", true,
                      [](Config& c) -> std::string& { return c.policyd.pid_file; }));
  // [pow]
  d.push_back(durationKey<Config>(
      "pow", "validity", "\"28d\"",
      "How old a stamp's date may be (hashcash's default); older stamps are expired. Spent "
      "stamps are remembered until validity + grace past their date.",
      kHour, 366 * kDay, [](Config& c) -> int64_t& { return c.pow.validity; }));
  d.push_back(durationKey<Config>(
      "pow", "grace", "\"2d\"",
      "Clock difference allowed: a stamp dated up to this far in the future, or this much "
      "past validity, still counts.",
      0, 30 * kDay, [](Config& c) -> int64_t& { return c.pow.grace; }));
  d.push_back(makeDef(KeyInfo{"pow", "schedule_start", "string", "\"2026-11-01\"",
                              "The date the difficulty schedule counts from (UTC). From then "
                              "on each algorithm's required bits rise by one every "
                              "<algorithm>_raise_every.",
                              "YYYY-MM-DD, 2000..2199"},
                      ConfigFn(applyScheduleStart)));
  d.push_back(durationKey<Config>(
      "pow", "hashcash_raise_every", "\"365d\"",
      "Hashcash v1 (SHA-1) is deprecated: its required bits rise by one this often. 0: never.", 0,
      3660 * kDay, [](Config& c) -> int64_t& { return c.pow.hashcash_raise_every; }));
  d.push_back(durationKey<Config>(
      "pow", "argon2id_raise_every", "\"0s\"",
      "Argon2id stamps are preferred: their required bits rise by one this often. 0: never.", 0,
      3660 * kDay, [](Config& c) -> int64_t& { return c.pow.argon2id_raise_every; }));
  d.push_back(countKey("pow", "argon2id_memory", "4096",
                       "Memory in KiB of the Argon2id stamps minted here.", 8, 4194304,
                       [](Config& c) -> uint32_t& { return c.pow.argon2id_memory; }));
  d.push_back(countKey("pow", "argon2id_min_memory", "1024",
                       "Argon2id stamps asking for less memory (KiB) are refused as not "
                       "memory-hard.",
                       8, 4194304,
                       [](Config& c) -> uint32_t& { return c.pow.argon2id_min_memory; }));
  d.push_back(countKey("pow", "argon2id_max_memory", "65536",
                       "Argon2id stamps asking for more memory (KiB) are refused before any "
                       "hashing.",
                       8, 4194304,
                       [](Config& c) -> uint32_t& { return c.pow.argon2id_max_memory; }));
  d.push_back(countKey("pow", "argon2id_max_time", "4",
                       "Argon2id stamps asking for more passes are refused before any hashing.", 1,
                       64, [](Config& c) -> uint32_t& { return c.pow.argon2id_max_time; }));
  d.push_back(countKey("pow", "argon2id_max_lanes", "4",
                       "Argon2id stamps asking for more lanes are refused before any hashing.", 1,
                       64, [](Config& c) -> uint32_t& { return c.pow.argon2id_max_lanes; }));
  d.push_back(countKey("pow", "max_stamps", "200",
                       "Most stamp headers read from one message; the rest are ignored.", 1, 10000,
                       [](Config& c) -> uint32_t& { return c.pow.max_stamps; }));
  d.push_back(countKey("pow", "argon2id_max_message_work", "1048576",
                       "Most Argon2id work (KiB x passes, added up over the stamps that would "
                       "be hashed) checked for one message; a message needing more is refused "
                       "before any hashing. At most 2 stamps are hashed per recipient.",
                       8, 4294967295,
                       [](Config& c) -> uint32_t& { return c.pow.argon2id_max_message_work; }));
  d.push_back(countKey("pow", "argon2id_check_memory", "262144",
                       "Memory in KiB that the Argon2id stamp checks of one daemon take "
                       "together; a check waits for its share (at most 60 s, then the "
                       "message is tempfailed). At least argon2id_max_memory.",
                       8, 4294967295,
                       [](Config& c) -> uint32_t& { return c.pow.argon2id_check_memory; }));
  d.push_back(countKey("pow", "mint_threads", "0", "Threads that mint stamps. 0: one per core.", 0,
                       1024, [](Config& c) -> uint32_t& { return c.pow.mint_threads; }));
  d.push_back(durationKey<Config>(
      "pow", "mint_budget", "\"30s\"",
      "Longest time one stamp may take to mint; past it minting fails (the message is "
      "tempfailed).",
      1, kHour, [](Config& c) -> int64_t& { return c.pow.mint_budget; }));
  // [stoken]
  d.push_back(makeDef(
      KeyInfo{"stoken", "listen", "list of ADDR:PORT", "[]",
              "Addresses and ports of the submission token server (LMTP with STOKEN, implicit "
              "TLS as RFC 8314 prefers; needs [mtepd] tls_cert_file, else mtepd does not start; "
              "capped by [mtepd] smtp_max_connections). Never port 25. [] = off.",
              "numeric ADDR:PORT, [IPv6]:PORT"},
      ConfigFn([](const toml::node& n, Config& c) {
        return readTokenServerListen(n, &c.stoken.listen);
      })));
  d.push_back(makeDef(
      KeyInfo{"stoken", "starttls_listen", "list of ADDR:PORT", "[]",
              "The token server with STARTTLS instead: STOKEN is offered only after it. Never "
              "port 25. [] = off.",
              "numeric ADDR:PORT, [IPv6]:PORT"},
      ConfigFn([](const toml::node& n, Config& c) {
        return readTokenServerListen(n, &c.stoken.starttls_listen);
      })));
  d.push_back(makeDef(
      KeyInfo{"stoken", "filter_listen", "list of ADDR:PORT", "[]",
              "Plain LMTP for Postfix's after-queue content_filter: mail from our users is "
              "delivered by token where a held token allows, the rest handed to reinject_to. "
              "Loopback only. [] = off.",
              "numeric ADDR:PORT, [IPv6]:PORT"},
      ConfigFn([](const toml::node& n, Config& c) {
        return readListen(n, &c.stoken.filter_listen, true);
      })));
  d.push_back(makeDef(KeyInfo{"stoken", "deliver_to", "string", "\"127.0.0.1:24\"",
                              "The LMTP server that token deliveries go to, at once and "
                              "unqueued (Dovecot's lmtp). PORT defaults to 24.",
                              "HOST[:PORT], [IPv6][:PORT]"},
                      ConfigFn([](const toml::node& n, Config& c) {
                        return readServer(n, 24, &c.stoken.deliver_to);
                      })));
  d.push_back(makeDef(KeyInfo{"stoken", "reinject_to", "string", "\"127.0.0.1:10025\"",
                              "The SMTP server that takes back what filter_listen could not "
                              "deliver by token: a Postfix smtpd with content_filter and "
                              "milters off. PORT defaults to 25.",
                              "HOST[:PORT], [IPv6][:PORT]"},
                      ConfigFn([](const toml::node& n, Config& c) {
                        return readServer(n, 25, &c.stoken.reinject_to);
                      })));
  d.push_back(
      makeDef(KeyInfo{"stoken", "servers", "table of DOMAIN = HOST[:PORT]", "{}",
                      "Token servers of given recipient domains, before DNS (SRV "
                      "_submissions._tcp, then _submission._tcp, then the MX hosts on "
                      "submission_port). PORT defaults to 465. A key \".example.org\" covers "
                      "every subdomain.",
                      "domain keys; HOST a name or numeric address, [IPv6]; PORT 1..65535"},
              ConfigFn([](const toml::node& n, Config& c) {
                return readServerMap(n, &c.stoken.servers, 465);
              })));
  d.push_back(countKey("stoken", "submission_port", "465",
                       "Port of token servers found as MX hosts (465: implicit TLS).", 1, 65535,
                       [](Config& c) -> uint32_t& { return c.stoken.submission_port; }));
  d.push_back(durationKey<Config>(
      "stoken", "temporary_ttl", "\"7d\"",
      "Lifetime of the temporary tokens handed out in Submission-Token headers. Keep it "
      "below [tokens] max_ttl: a rotated-out key stops verifying after that.",
      kHour, 366 * kDay, [](Config& c) -> int64_t& { return c.stoken.temporary_ttl; }));
  d.push_back(durationKey<Config>(
      "stoken", "permanent_ttl", "\"365d\"",
      "Lifetime of a permanent token since it was issued or last refreshed by a delivery.", kDay,
      3660 * kDay, [](Config& c) -> int64_t& { return c.stoken.permanent_ttl; }));
  d.push_back(durationKey<Config>(
      "stoken", "permanent_refresh", "\"30d\"",
      "A delivery by a permanent token refreshes its lifetime once it is this old.", 0, 3660 * kDay,
      [](Config& c) -> int64_t& { return c.stoken.permanent_refresh; }));
  d.push_back(countKey("stoken", "max_message_size", "26214400",
                       "Largest message, in bytes, the token server takes (offered as SIZE); "
                       "Dovecot's LMTP has no limit of its own.",
                       1024, 2147483647,
                       [](Config& c) -> uint32_t& { return c.stoken.max_message_size; }));
  d.push_back(countKey("stoken", "max_recipients", "100",
                       "Most recipients in one token transaction; more get 452 4.5.3.", 1, 10000,
                       [](Config& c) -> uint32_t& { return c.stoken.max_recipients; }));
  d.push_back(durationKey<Config>(
      "stoken", "delivery_timeout", "\"5m\"",
      "How long the token server and router wait for each reply of the LMTP server or the "
      "remote token server, the answer after DATA included.",
      1, kHour, [](Config& c) -> int64_t& { return c.stoken.delivery_timeout; }));
  d.push_back(durationKey<Config>(
      "stoken", "dial_timeout", "\"30s\"",
      "How long connecting to a token server or the LMTP server, TLS included, may take.", 1,
      10 * kMinute, [](Config& c) -> int64_t& { return c.stoken.dial_timeout; }));
  d.push_back(makeDef(KeyInfo{"stoken", "refuse_recipients", "list of strings", "[]",
                              "Recipients whose mail must go through the MTA and its filters: "
                              "token delivery to them is refused (550 5.7.1) and the sender "
                              "falls back. \"user@example.org\" or \"@example.org\".",
                              "addresses, or \"@\" and a domain"},
                      ConfigFn(applyRefuseRecipients)));
  d.push_back(pathKey(
      "stoken", "tls_ca_file", "\"\"",
      "PEM file of the CA certificates trusted for other sites' token servers (the router "
      "behind filter_listen), instead of the system store. Empty: the system store. The "
      "certificate must also be for the host name asked (the servers entry, the SRV target, "
      "the MX host). A server that fails the check gets no token: the mail goes the "
      "ordinary way.",
      true, [](Config& c) -> std::string& { return c.stoken.tls_ca_file; }));
  d.push_back(
      makeDef(KeyInfo{"stoken", "tls_pins", "table of DOMAIN = FINGERPRINT or [FINGERPRINT, ...]",
                      "{}",
                      "Key fingerprints trusted for a recipient domain's token servers, instead "
                      "of tls_ca_file: for self-signed servers. Any other key is refused, even "
                      "with a valid certificate. A key \".example.org\" covers every subdomain.",
                      "domain keys; fingerprints of 52 base32 characters"},
              ConfigFn([](const toml::node& n, Config& c) {
                return readPinMap(n, &c.stoken.tls_pins);
              })));
  // [mmtp]
  d.push_back(makeDef(
      KeyInfo{"mmtp", "listen", "list of ADDR:PORT", "[]",
              "Addresses and ports of plain MMTP listeners (the reference's 8025). SENDs are "
              "taken here, but mailbox owners sign in only over TLS. Never port 25. [] = off.",
              "numeric ADDR:PORT, [IPv6]:PORT; not port 25"},
      ConfigFn([](const toml::node& n, Config& c) {
        return readListenNotOnPort25(n, kMmtpNotOnPort25, &c.mmtp.listen);
      })));
  d.push_back(makeDef(
      KeyInfo{"mmtp", "tls_listen", "list of ADDR:PORT", "[]",
              "Addresses and ports of MMTP listeners with implicit TLS (the reference's 8026), "
              "with the certificate of [mtepd] tls_cert_file and tls_key_file (needed). Never "
              "port 25. [] = off.",
              "numeric ADDR:PORT, [IPv6]:PORT; not port 25"},
      ConfigFn([](const toml::node& n, Config& c) {
        return readListenNotOnPort25(n, kMmtpNotOnPort25, &c.mmtp.tls_listen);
      })));
  d.push_back(makeDef(
      KeyInfo{"mmtp", "lmtp_listen", "list of ADDR:PORT", "[]",
              "Loopback addresses and ports of the LMTP server the MTA hands two kinds of mail "
              "to: mail for MMTP mailboxes here, and mail from our users to remote MMTP domains, "
              "which goes on over MMTP (see contrib/postfix/ and contrib/exim/). Loopback only: "
              "mtepd refuses to start otherwise. [] = off.",
              "numeric ADDR:PORT, [IPv6]:PORT"},
      ConfigFn([](const toml::node& n, Config& c) {
        return readListen(n, &c.mmtp.lmtp_listen, true);
      })));
  d.push_back(makeDef(KeyInfo{"mmtp", "inject_to", "string", "\"127.0.0.1:25\"",
                              "The MTA's SMTP server that SENDs to domains with mmtp_delivery = "
                              "\"mta\" are handed to as mail, to land where the recipient's mail "
                              "lands, through the MTA's checks. PORT defaults to 25.",
                              "HOST[:PORT], [IPv6][:PORT]"},
                      ConfigFn([](const toml::node& n, Config& c) {
                        return readServer(n, 25, &c.mmtp.inject_to);
                      })));
  d.push_back(makeDef(KeyInfo{"mmtp", "domains", "list of strings", "[]",
                              "Remote domains reached over MMTP: mail from our users to them "
                              "is sent with TLS to the domain's own name on port 8026, stamped "
                              "at its mmtp_difficulty. Exact names, compared without case. A "
                              "domain served here (mmtp_delivery not off) cannot be listed.",
                              "domain names, exact"},
                      ConfigFn(applyMmtpDomains)));
  d.push_back(makeDef(
      KeyInfo{"mmtp", "servers", "table of DOMAIN = HOST[:PORT]", "{}",
              "Remote MMTP servers of given domains, instead of the domain's own name; PORT "
              "defaults to 8026 (TLS). A domain listed here is a remote MMTP domain, as if "
              "also in domains. Exact names.",
              "exact domain keys; HOST a name or numeric address, [IPv6]; PORT 1..65535"},
      ConfigFn(applyMmtpServers)));
  d.push_back(pathKey(
      "mmtp", "tls_ca_file", "\"\"",
      "PEM file of the CA certificates trusted for remote MMTP servers, instead of the system "
      "store. Empty: the system store. The certificate must also be for the host name "
      "dialled (the domain, or its servers entry). Mail for a server that fails the check "
      "is deferred.",
      true, [](Config& c) -> std::string& { return c.mmtp.tls_ca_file; }));
  d.push_back(makeDef(
      KeyInfo{"mmtp", "tls_pins", "table of DOMAIN = FINGERPRINT or [FINGERPRINT, ...]", "{}",
              "Key fingerprints trusted for a remote domain's MMTP server, instead of "
              "tls_ca_file: for self-signed servers. Any other key is refused, even with "
              "a valid certificate. A key \".example.org\" covers every subdomain.",
              "domain keys; fingerprints of 52 base32 characters"},
      ConfigFn([](const toml::node& n, Config& c) { return readPinMap(n, &c.mmtp.tls_pins); })));
  d.push_back(smallIntKey<Config>(
      "mmtp", "difficulty", "5",
      "Hex zero digits the SHA-256 hashcash stamp of a SEND must start with, and what stamps "
      "for remote domains are minted with, where the domain's mmtp_difficulty is 0. The "
      "reference client mints 5 by default and cannot learn what a server requires: above 5 "
      "it cannot send here.",
      1, 8, [](Config& c) -> int& { return c.mmtp.difficulty; }));
  d.push_back(durationKey<Config>(
      "mmtp", "stamp_window", "\"1h\"",
      "How far a SEND's stamp time (which must equal the packet's timestamp) may lie from "
      "now, in the past or the future; outside it the SEND is refused.",
      kMinute, 7 * kDay, [](Config& c) -> int64_t& { return c.mmtp.stamp_window; }));
  d.push_back(countKey("mmtp", "max_request_size", "1048576",
                       "Largest JSON request, in bytes, and so the largest message a SEND "
                       "carries; a larger one gets an ERROR reply, its bytes are skipped unread, and "
                       "the connection goes on.",
                       4096, 67108864,
                       [](Config& c) -> uint32_t& { return c.mmtp.max_request_size; }));
  d.push_back(countKey("mmtp", "max_reply_size", "16777216",
                       "Largest reply, in bytes: a RECEIVE returns the messages that fit and "
                       "leaves the rest for the next one. At least max_request_size.",
                       65536, 1073741824,
                       [](Config& c) -> uint32_t& { return c.mmtp.max_reply_size; }));
  d.push_back(countKey("mmtp", "mailbox_quota", "1000",
                       "Most messages one MMTP mailbox holds; SENDs to a full mailbox are "
                       "refused.",
                       1, 1000000, [](Config& c) -> uint32_t& { return c.mmtp.mailbox_quota; }));
  d.push_back(
      makeDef(KeyInfo{"mmtp", "mailbox_size_limit", "integer", "52428800",
                      "Most bytes one MMTP mailbox holds, its messages together; a SEND that would "
                      "go past it is refused.",
                      "65536..1099511627776"},
              ConfigFn([](const toml::node& n, Config& c) -> Check {
                int64_t v = 0;
                if (Check p = readInteger(n, 65536, int64_t{1} << 40, &v)) return p;
                c.mmtp.mailbox_size_limit = static_cast<uint64_t>(v);
                return std::nullopt;
              })));
  d.push_back(durationKey<Config>(
      "mmtp", "message_ttl", "\"30d\"",
      "A message not received from its mailbox within this time is removed.", kHour, 3650 * kDay,
      [](Config& c) -> int64_t& { return c.mmtp.message_ttl; }));
  d.push_back(countKey("mmtp", "max_connections", "1024",
                       "Most MMTP connections at once, listen and tls_listen together; more "
                       "are refused.",
                       1, 100000, [](Config& c) -> uint32_t& { return c.mmtp.max_connections; }));
  d.push_back(countKey(
      "mmtp", "max_connections_per_client", "32",
      "Most MMTP connections at once from one client address (IPv6: its /64); more are "
      "refused, and the address is not locked out once its connections close.",
      1, 100000, [](Config& c) -> uint32_t& { return c.mmtp.max_connections_per_client; }));
  d.push_back(durationKey<Config>(
      "mmtp", "idle_timeout", "\"5m\"",
      "How long an MMTP connection may wait for a request, or the rest of one, before it is "
      "closed.",
      1, kHour, [](Config& c) -> int64_t& { return c.mmtp.idle_timeout; }));
  d.push_back(durationKey<Config>(
      "mmtp", "dial_timeout", "\"30s\"",
      "How long connecting to a remote MMTP server, TLS included, may take; then the mail is "
      "deferred.",
      1, 10 * kMinute, [](Config& c) -> int64_t& { return c.mmtp.dial_timeout; }));
  d.push_back(durationKey<Config>(
      "mmtp", "reply_timeout", "\"60s\"",
      "How long to wait for a remote MMTP server's reply to a SEND; then the mail is "
      "deferred.",
      1, kHour, [](Config& c) -> int64_t& { return c.mmtp.reply_timeout; }));
  // [domain_defaults], and every [domain."..."]
  d.push_back(boolKey<DomainPolicy>(
      "domain_defaults", "issue_tokens", "true",
      "Mint tokens for senders in the domain, and vouch for them when a \"?\" request asks.",
      [](DomainPolicy& p) -> bool& { return p.issue_tokens; }));
  d.push_back(durationKey<DomainPolicy>(
      "domain_defaults", "token_ttl", "\"7d\"",
      "Lifetime of the tokens minted for senders in the domain; at most [tokens] max_ttl.", kMinute,
      366 * kDay, [](DomainPolicy& p) -> int64_t& { return p.token_ttl; }));
  d.push_back(boolKey<DomainPolicy>(
      "domain_defaults", "require_mtep", "false",
      "Mail coming in for the domain must carry an MTEP-Token header that the sender "
      "domain's MTEP server vouches for; mail without one is refused with 550 5.7.25.",
      [](DomainPolicy& p) -> bool& { return p.require_mtep; }));
  d.push_back(makeDef(KeyInfo{"domain_defaults", "require_mtep_from", "list of strings", "[\"*\"]",
                              "Sender domains require_mtep applies to: \"*\" all, "
                              "\"example.org\" that domain, \"*.onion\" every name below onion.",
                              "\"*\", a domain, or \"*.\" and a domain; at least one"},
                      DomainFn(applyRequireFrom)));
  d.push_back(makeDef(KeyInfo{"domain_defaults", "mtep_unavailable", "string", "\"tempfail\"",
                              "What to do with mail under require_mtep when the sender's MTEP "
                              "server cannot decide (answers Z, times out, cannot be found): "
                              "tempfail (451 4.7.25, the sender retries), accept (deliver, "
                              "marked mtep=temperror) or reject (550 5.7.25).",
                              "tempfail, accept, reject"},
                      DomainFn(applyUnavailable)));
  d.push_back(boolKey<DomainPolicy>(
      "domain_defaults", "require_stamp", "false",
      "Mail coming in for the domain needs, for each of its recipients here, one valid, "
      "unspent proof-of-work stamp made for that address (X-Hashcash: hashcash v1, or "
      "MTEP-Stamp: Argon2id); otherwise 550 5.7.1.",
      [](DomainPolicy& p) -> bool& { return p.require_stamp; }));
  d.push_back(integerKey<DomainPolicy>(
      "domain_defaults", "stamp_bits", "20",
      "Bits a hashcash v1 stamp needs on schedule_start ([pow]); one more every "
      "hashcash_raise_every.",
      1, 40, [](DomainPolicy& p) -> int64_t& { return p.stamp_bits; }));
  d.push_back(integerKey<DomainPolicy>(
      "domain_defaults", "argon2id_stamp_bits", "4",
      "Bits an Argon2id stamp needs on schedule_start; one more every argon2id_raise_every.", 0, 24,
      [](DomainPolicy& p) -> int64_t& { return p.argon2id_stamp_bits; }));
  d.push_back(makeDef(KeyInfo{"domain_defaults", "mint_stamps", "string", "\"none\"",
                              "Stamps added to mail sent by senders in the domain, one per "
                              "recipient: none, hashcash (X-Hashcash, v1) or argon2id "
                              "(MTEP-Stamp).",
                              "none, hashcash, argon2id"},
                      DomainFn(applyMintStamps)));
  d.push_back(integerKey<DomainPolicy>(
      "domain_defaults", "mint_stamp_bits", "0",
      "Bits of the stamps minted for senders in the domain. 0: what this domain would "
      "require today of the same algorithm.",
      0, 40, [](DomainPolicy& p) -> int64_t& { return p.mint_stamp_bits; }));
  d.push_back(boolKey<DomainPolicy>(
      "domain_defaults", "require_mtep_capable", "false",
      "mtep-policyd: mail for the domain is refused (550 5.7.25) unless the sender domain has "
      "an MTEP server ([milter] mtep_servers or an _mtep._tcp SRV record).",
      [](DomainPolicy& p) -> bool& { return p.require_mtep_capable; }));
  d.push_back(boolKey<DomainPolicy>(
      "domain_defaults", "refuse_mixed_onion", "false",
      "mtep-policyd: a message may not have both .onion recipients and other recipients "
      "(SMTorP); the recipient that would mix them gets 452 4.5.3 and goes in another message.",
      [](DomainPolicy& p) -> bool& { return p.refuse_mixed_onion; }));
  d.push_back(makeDef(KeyInfo{"domain_defaults", "rate_limit_client", "string", "\"\"",
                              "mtep-policyd: most recipients in the domain a client address "
                              "may send to per time, \"COUNT/DURATION\" (\"100/1h\"); more "
                              "get 450 4.7.1. Empty: no limit.",
                              "\"\" or COUNT/DURATION, 1s..7d"},
                      DomainFn([](const toml::node& n, DomainPolicy& p) {
                        return readRateLimit(n, &p.rate_limit_client);
                      })));
  d.push_back(makeDef(KeyInfo{"domain_defaults", "rate_limit_sender", "string", "\"\"",
                              "mtep-policyd: the same per envelope sender address.",
                              "\"\" or COUNT/DURATION, 1s..7d"},
                      DomainFn([](const toml::node& n, DomainPolicy& p) {
                        return readRateLimit(n, &p.rate_limit_sender);
                      })));
  d.push_back(boolKey<DomainPolicy>(
      "domain_defaults", "check_signatures", "false",
      "mtep-milter: check the X-Sender-Signature of mail coming in for the domain against the "
      "key the sender domain's server gives for PUBKEY (never the X-Sender-Pubkey header), "
      "and record x-sender-signature=pass, fail, none or temperror in Authentication-Results.",
      [](DomainPolicy& p) -> bool& { return p.check_signatures; }));
  d.push_back(boolKey<DomainPolicy>(
      "domain_defaults", "reject_bad_signatures", "false",
      "mtep-milter: refuse mail whose signature fails (550 5.7.7); when the key cannot be "
      "fetched, 451 4.7.5. Needs check_signatures.",
      [](DomainPolicy& p) -> bool& { return p.reject_bad_signatures; }));
  d.push_back(makeDef(KeyInfo{"domain_defaults", "require_signature_from", "list of strings", "[]",
                              "mtep-milter: sender domains whose mail must carry a passing "
                              "signature (patterns as in require_mtep_from); other mail from "
                              "them gets 550 5.7.7 (451 4.7.5 when the key cannot be fetched).",
                              "\"*\", a domain, or \"*.\" and a domain"},
                      DomainFn([](const toml::node& n, DomainPolicy& p) -> Check {
                        std::vector<std::string> patterns;
                        if (Check c = readStringList(n, true, checkSenderPattern, &patterns)) {
                          return c;
                        }
                        for (std::string& pattern : patterns) pattern = patternKey(pattern);
                        p.require_signature_from = std::move(patterns);
                        return std::nullopt;
                      })));
  d.push_back(boolKey<DomainPolicy>(
      "domain_defaults", "distribute_submission_tokens", "false",
      "mtep-milter: mail sent by users in the domain gets a Submission-Token header per "
      "recipient it shows in To or Cc: a temporary token the recipient can answer with.",
      [](DomainPolicy& p) -> bool& { return p.distribute_submission_tokens; }));
  d.push_back(boolKey<DomainPolicy>(
      "domain_defaults", "accept_submission_tokens", "false",
      "The token server delivers to users in the domain by token, and mtep-milter records "
      "the Submission-Token headers of mail coming in for them.",
      [](DomainPolicy& p) -> bool& { return p.accept_submission_tokens; }));
  d.push_back(boolKey<DomainPolicy>(
      "domain_defaults", "deliver_by_token", "false",
      "mtepd's router delivers mail from users in the domain by token where it holds one for "
      "the recipient; otherwise the mail goes the ordinary way.",
      [](DomainPolicy& p) -> bool& { return p.deliver_by_token; }));
  d.push_back(integerKey<DomainPolicy>(
      "domain_defaults", "submission_token_rate", "60",
      "Most deliveries one token may make per hour to users in the domain; more get 450 "
      "4.7.1 and go the ordinary way. 0: no limit.",
      0, 100000, [](DomainPolicy& p) -> int64_t& { return p.submission_token_rate; }));
  d.push_back(makeDef(KeyInfo{"domain_defaults", "mmtp_delivery", "string", "\"off\"",
                              "The MMTP gateway: what a SEND to a recipient in the domain "
                              "becomes: off (refused: the gateway is no relay), mailbox (kept "
                              "in the recipient's MMTP mailbox for its owner to RECEIVE) or mta "
                              "(handed to the MTA at [mmtp] inject_to as mail). Set it in "
                              "[domain.\"...\"] sections only: [domain_defaults] stays off.",
                              "off, mailbox, mta"},
                      DomainFn(applyMmtpDelivery)));
  d.push_back(smallIntKey<DomainPolicy>(
      "domain_defaults", "mmtp_difficulty", "0",
      "The MMTP gateway: hex zero digits of the stamps SENDs to the domain need (a domain "
      "served here) or get (a remote MMTP domain). 0: [mmtp] difficulty.",
      0, 8, [](DomainPolicy& p) -> int& { return p.mmtp_difficulty; }));
  return d;
}

}  // namespace

const std::vector<SectionInfo>& sections() {
  static const std::vector<SectionInfo> kSections = {
      {"global", "Who the programs run as and where they keep their state."},
      {"log", "How much the programs log."},
      {"mtepd", "The MTEP token server: addresses, limits, timeouts."},
      {"outbound",
       "How the suite reaches other sites: SOCKS5 proxies for .onion and .i2p "
       "names, the STARTMTEP fallback, and the onion relay's SMTP client."},
      {"tokens", "The signing keys and the longest lifetime of any token."},
      {"store", "The store that remembers revoked tokens."},
      {"milter",
       "mtep-milter: its socket, which clients are internal, and how it asks "
       "senders' MTEP servers."},
      {"policyd", "mtep-policyd: where it listens, its limits, and its lookups."},
      {"pow",
       "Proof-of-work stamps: how long they are valid, how their difficulty rises, and "
       "what Argon2id parameters are accepted."},
      {"stoken",
       "Submission tokens (STOKEN): the token server and router in mtepd, the tokens' "
       "lifetimes, and the recipients that must not skip the MTA."},
      {"mmtp",
       "The MMTP gateway in mtepd: JSON mail as the MMTP reference speaks it (plain on 8025, "
       "TLS on 8026), with mailboxes in the store, bridged to the MTA both ways. Which "
       "domains it serves is set per domain (mmtp_delivery); which remote domains it sends "
       "to, here."},
      {"domain_defaults",
       "The policy for sender domains. A [domain.\"example.org\"] section (that domain) or "
       "[domain.\".example.org\"] section (its subdomains) takes the same keys; keys it leaves "
       "out keep the [domain_defaults] value."},
  };
  return kSections;
}

const std::vector<KeyDef>& keyDefs() {
  static const std::vector<KeyDef> kDefs = buildDefs();
  return kDefs;
}

const KeyDef* findKey(std::string_view section, std::string_view key) {
  for (const KeyDef& def : keyDefs()) {
    if (def.info.section == section && def.info.key == key) return &def;
  }
  return nullptr;
}

bool isSection(std::string_view name) {
  for (const SectionInfo& s : sections()) {
    if (s.name == name) return true;
  }
  return false;
}

}  // namespace detail

const std::vector<KeyInfo>& keyTable() {
  static const std::vector<KeyInfo> kTable = [] {
    std::vector<KeyInfo> out;
    for (const detail::KeyDef& def : detail::keyDefs()) out.push_back(def.info);
    return out;
  }();
  return kTable;
}

}  // namespace mtep::config

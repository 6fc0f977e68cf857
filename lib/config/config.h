#pragma once
// NAME
//   config.h - the one configuration file (TOML) read by every mtep binary
// SUMMARY
//   auto cfg = config::loadFile("/etc/mtep/mtep.conf");
//   if (!cfg) { fprintf(stderr, "%s\n", cfg.error().message().c_str()); exit(1); }
//   const DomainPolicy& p = (*cfg)->policyFor("example.org");
// DESCRIPTION
//   Sections: [global], [log], [mtepd], [tokens], [store], [domain_defaults]
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

#include "util/result.h"

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

// Per-domain policy ([domain_defaults], [domain."..."]).
struct DomainPolicy {
  bool issue_tokens = true;       // mint tokens for senders here and vouch for them on "?"
  int64_t token_ttl = 7 * 86400;  // lifetime of minted tokens, seconds
  bool operator==(const DomainPolicy&) const = default;
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
  uint32_t max_connections = 4096;
  uint32_t max_request_size = 4096;  // bytes, one request netstring
  uint32_t max_commands_per_connection = 1000;
  int64_t idle_timeout = 30;          // seconds to receive a whole request
  bool answer_without_sender = true;  // answer the seed's senderless "?" from tag_any
  std::string pid_file;               // "" = none
  bool operator==(const MtepdConfig&) const = default;
};

struct TokensConfig {
  std::string key_file;          // default <state_dir>/token.keys
  int64_t max_ttl = 30 * 86400;  // cap on any token's lifetime; keys retire after it
  bool operator==(const TokensConfig&) const = default;
};

struct StoreConfig {
  std::string backend = "sqlite";  // "sqlite" (redis later)
  std::string path;                // default <state_dir>/mtep.db
  int64_t busy_timeout = 2;        // seconds
  bool operator==(const StoreConfig&) const = default;
};

struct Config {
  std::string source;  // file the config came from
  GlobalConfig global;
  LogConfig log;
  MtepdConfig mtepd;
  TokensConfig tokens;
  StoreConfig store;
  DomainPolicy domain_defaults;
  std::map<std::string, DomainPolicy, std::less<>> domains;  // lower-case keys

  // Exact match, then the nearest ".parent" entry, then domain_defaults.
  // `domain` is compared case-insensitively (ASCII); one trailing dot is
  // ignored. ".example.org" matches a.example.org, not example.org.
  const DomainPolicy& policyFor(std::string_view domain) const;
  bool operator==(const Config&) const = default;
};

using ConfigPtr = std::shared_ptr<const Config>;

// Both return kConfig errors only. The message has one line per problem
// (at most 20, sorted by line): "FILE:LINE: [section] key: what is wrong",
// or "FILE:LINE:COL: syntax: description" when the file is not TOML.
// loadFile refuses files over 1 MiB. Neither throws on bad input.
// After loading, empty tokens.key_file, store.path and mtepd.listen hold
// their resolved defaults (<state_dir>/token.keys, <state_dir>/mtep.db,
// 127.0.0.1:6211), so callers never see them empty.
Result<ConfigPtr> loadFile(const std::string& path);
Result<ConfigPtr> loadString(std::string_view text, const std::string& source_name);

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

#pragma once
// NAME
//   key_table.h - internal: the key definitions behind keyTable(), and the
//   value readers they are built from
// DESCRIPTION
//   Private to lib/config. Each KeyDef carries the documented KeyInfo and
//   the one function that checks a TOML value and stores it: into Config
//   for the plain sections, into a DomainPolicy for [domain_defaults] and
//   every [domain."..."] section (they share the same entries).
//   Readers store into *out only when the value is good; otherwise they
//   return a Problem saying what is wrong, optionally naming a sub-node
//   (a list element) whose line should be reported instead of the key's.

#include <toml++/toml.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace mtep::config::detail {

struct Problem {
  std::string what;                // "expected an integer, got a string"
  const toml::node* at = nullptr;  // node to blame; nullptr = the key itself
};
using Check = std::optional<Problem>;

struct KeyDef {
  KeyInfo info;
  // Exactly one is set: plain sections write into Config, per-domain keys
  // into a DomainPolicy.
  std::function<Check(const toml::node&, Config&)> apply_config;
  std::function<Check(const toml::node&, DomainPolicy&)> apply_domain;
};

struct SectionInfo {
  std::string_view name;  // "global"; "domain_defaults" also stands for [domain."..."]
  std::string_view doc;
};

// In file order: sections as in sections(), keys in their section's order.
const std::vector<KeyDef>& keyDefs();
const std::vector<SectionInfo>& sections();
// nullptr if `section` has no such key. Domain sections use "domain_defaults".
const KeyDef* findKey(std::string_view section, std::string_view key);
bool isSection(std::string_view name);

// Value readers.
Check readBool(const toml::node& n, bool* out);
Check readString(const toml::node& n, std::string* out);
Check readInteger(const toml::node& n, int64_t lo, int64_t hi, int64_t* out);
Check readDuration(const toml::node& n, int64_t lo, int64_t hi, int64_t* out);
// "" or an absolute path when allow_empty; otherwise absolute only.
Check readPath(const toml::node& n, bool allow_empty, std::string* out);
Check readListen(const toml::node& n, std::vector<ListenAddress>* out, bool allow_empty = false);
// readListen (empty allowed) for the STOKEN token server: port 25 refused,
// the token path skips the MX's checks and must never look like one.
Check readTokenServerListen(const toml::node& n, std::vector<ListenAddress>* out);
// readListen (empty allowed) refusing port 25, the MX's port: a listener
// there would be mistaken for the MTA. `why` follows the address in the
// message ("\"0.0.0.0:25\": <why>").
Check readListenNotOnPort25(const toml::node& n, std::string_view why,
                            std::vector<ListenAddress>* out);
// "ADDR:PORT" (numeric, as for listen) or "" for none.
Check readProxy(const toml::node& n, ProxyAddress* out);
// A list of strings, each passed to `check` (which returns what is wrong
// with one element, or "" when it is good); duplicates refused.
Check readStringList(const toml::node& n, bool allow_empty,
                     const std::function<std::string(std::string_view)>& check,
                     std::vector<std::string>* out);
Check readNetworks(const toml::node& n, std::vector<net::Network>* out);
// A table DOMAIN = "HOST[:PORT]" (domain keys as in [domain."..."]); PORT
// defaults to default_port.
Check readServerMap(const toml::node& n, std::map<std::string, ServerAddress, std::less<>>* out,
                    uint16_t default_port = 6211);
// A table DOMAIN = "FINGERPRINT" or DOMAIN = ["FINGERPRINT", ...] (domain
// keys as in readServerMap; fingerprints 52 base32 characters, stored
// lower case).
Check readPinMap(const toml::node& n,
                 std::map<std::string, std::vector<std::string>, std::less<>>* out);
// A libmilter socket: inet:PORT@ADDR, inet6:PORT@ADDR, unix:/path, local:/path.
Check readMilterSocket(const toml::node& n, std::string* out);

// Text from the file made safe for a one-line message: control bytes
// become \xNN (toml++ has already refused invalid UTF-8), text longer than
// 80 bytes is cut with "...".
std::string printable(std::string_view text);
// A value from the file for a message: in double quotes, its quotes and
// backslashes escaped, then made printable.
std::string quoted(std::string_view text);
// ASCII lower-case.
std::string asciiLower(std::string_view text);

}  // namespace mtep::config::detail

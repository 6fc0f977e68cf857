// Loading mtep.conf: TOML parsing with toml++, then the key table.
#include "config/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "config/key_table.h"
#include "smtp/address.h"

namespace mtep::config {

namespace {

using detail::asciiLower;
using detail::printable;

constexpr size_t kMaxErrors = 20;
constexpr size_t kMaxFileSize = 1 << 20;
constexpr std::string_view kDomainTable = "domain";
constexpr std::string_view kDomainKeys = "domain_defaults";

struct Diagnostic {
  uint32_t line;
  uint32_t column;
  std::string text;
};

// One domain section, before it is applied.
struct DomainEntry {
  std::string name;         // as written
  std::string lower;        // the key in Config::domains
  const toml::table* body;  // its keys
  const toml::key* key;     // for the line
};

class Loader {
 public:
  explicit Loader(std::string source) : source_(std::move(source)) {}

  void run(const toml::table& root, Config& cfg);
  bool failed() const { return !errors_.empty(); }
  std::string message();

 private:
  void error(const toml::source_region& where, std::string_view section, std::string_view key,
             std::string_view what);
  void applyPlain(std::string_view section, const toml::table& body, Config& cfg);
  // Applies one domain section's keys to `policy`; records the token_ttl line.
  void applyDomain(std::string_view label, const toml::table& body, DomainPolicy& policy,
                   const toml::node** ttl_node);
  void collectDomains(const toml::table& table, std::vector<DomainEntry>& out);
  void checkTtls(const Config& cfg, const toml::node* max_ttl_node);
  // argon2id_min_memory <= argon2id_memory <= argon2id_max_memory <= argon2id_check_memory.
  void checkPow(const Config& cfg);
  // max_reply_size >= max_request_size; mmtp_delivery "off" in
  // [domain_defaults]; no remote MMTP domain (domains, servers) served here.
  void checkMmtp(const Config& cfg, const toml::table* defaults);
  void unknownKey(std::string_view section, std::string_view label, const toml::key& key);

  std::string source_;
  std::vector<Diagnostic> errors_;
  const toml::node* defaults_ttl_ = nullptr;
  std::vector<std::pair<std::string, const toml::node*>> domain_ttls_;  // label, node
  const toml::table* pow_node_ = nullptr;                               // [pow], if present
  const toml::table* mmtp_node_ = nullptr;                              // [mmtp], if present
};

std::string sectionLabel(std::string_view name) { return "[" + std::string(name) + "]"; }

std::string domainLabel(std::string_view name) { return "[domain.\"" + printable(name) + "\"]"; }

void Loader::error(const toml::source_region& where, std::string_view section, std::string_view key,
                   std::string_view what) {
  std::string text = source_ + ":" + std::to_string(where.begin.line) + ": " + std::string(section);
  if (!key.empty()) text += " " + printable(key);
  text += ": ";
  text += what;
  errors_.push_back({where.begin.line, where.begin.column, std::move(text)});
}

std::string Loader::message() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return a.line != b.line ? a.line < b.line : a.column < b.column;
  });
  std::string out;
  for (size_t i = 0; i < errors_.size() && i < kMaxErrors; ++i) {
    if (i > 0) out += "\n";
    out += errors_[i].text;
  }
  if (errors_.size() > kMaxErrors) {
    out += "\n" + source_ + ": " + std::to_string(errors_.size() - kMaxErrors) + " more errors";
  }
  return out;
}

void Loader::unknownKey(std::string_view section, std::string_view label, const toml::key& key) {
  std::string what = "unknown key";
  for (const KeyInfo& info : keyTable()) {
    if (info.key == key.str() && info.section != section) {
      what += " (it belongs in [" + std::string(info.section) + "])";
      break;
    }
  }
  error(key.source(), label, key.str(), what);
}

void Loader::applyPlain(std::string_view section, const toml::table& body, Config& cfg) {
  const std::string label = sectionLabel(section);
  for (const auto& [key, value] : body) {
    const detail::KeyDef* def = detail::findKey(section, key.str());
    if (def == nullptr) {
      unknownKey(section, label, key);
      continue;
    }
    if (detail::Check problem = def->apply_config(value, cfg)) {
      error(problem->at ? problem->at->source() : key.source(), label, key.str(), problem->what);
    }
  }
}

void Loader::applyDomain(std::string_view label, const toml::table& body, DomainPolicy& policy,
                         const toml::node** ttl_node) {
  for (const auto& [key, value] : body) {
    const detail::KeyDef* def = detail::findKey(kDomainKeys, key.str());
    if (def == nullptr) {
      if (value.is_table()) {
        error(key.source(), label, key.str(),
              "a table here: quote domain names, as in [domain.\"example.org\"]");
      } else {
        unknownKey(kDomainKeys, label, key);
      }
      continue;
    }
    if (detail::Check problem = def->apply_domain(value, policy)) {
      error(problem->at ? problem->at->source() : key.source(), label, key.str(), problem->what);
    } else if (def->info.key == "token_ttl") {
      *ttl_node = &value;
    }
  }
}

void Loader::collectDomains(const toml::table& table, std::vector<DomainEntry>& out) {
  for (const auto& [key, value] : table) {
    const std::string label = domainLabel(key.str());
    const toml::table* body = value.as_table();
    if (body == nullptr) {
      error(key.source(), "[domain]", key.str(),
            "must be a section, as in [domain.\"example.org\"]");
      continue;
    }
    const std::string lower = asciiLower(key.str());
    const std::string_view bare = std::string_view(lower).substr(lower.starts_with('.') ? 1 : 0);
    if (Status s = smtp::checkDomain(bare); !s) {
      error(key.source(), label, "", "not a domain name: " + s.error().message());
      continue;
    }
    out.push_back({std::string(key.str()), smtp::domainKey(lower), body, &key});
  }
  std::stable_sort(out.begin(), out.end(), [](const DomainEntry& a, const DomainEntry& b) {
    return a.key->source().begin.line < b.key->source().begin.line;
  });
}

void Loader::checkTtls(const Config& cfg, const toml::node* max_ttl_node) {
  const int64_t max_ttl = cfg.tokens.max_ttl;
  const std::string max_text = formatDuration(max_ttl);
  if (cfg.domain_defaults.token_ttl > max_ttl) {
    const std::string ttl = formatDuration(cfg.domain_defaults.token_ttl);
    if (defaults_ttl_ != nullptr) {
      error(defaults_ttl_->source(), "[domain_defaults]", "token_ttl",
            ttl + " is above [tokens] max_ttl " + max_text);
    } else if (max_ttl_node != nullptr) {
      error(max_ttl_node->source(), "[tokens]", "max_ttl",
            max_text + " is below the default [domain_defaults] token_ttl " + ttl +
                "; lower token_ttl too");
    }
  }
  for (const auto& [label, node] : domain_ttls_) {
    const auto it = cfg.domains.find(smtp::domainKey(label));
    if (it == cfg.domains.end() || it->second.token_ttl <= max_ttl) continue;
    error(node->source(), domainLabel(label), "token_ttl",
          formatDuration(it->second.token_ttl) + " is above [tokens] max_ttl " + max_text);
  }
}

void Loader::checkPow(const Config& cfg) {
  const PowConfig& p = cfg.pow;
  if (p.argon2id_check_memory < p.argon2id_max_memory && pow_node_ != nullptr) {
    const toml::node* at = pow_node_->get("argon2id_check_memory");
    if (at == nullptr) at = pow_node_->get("argon2id_max_memory");
    if (at == nullptr) at = pow_node_;
    error(at->source(), "[pow]", "argon2id_check_memory",
          "must be at least argon2id_max_memory " + std::to_string(p.argon2id_max_memory) +
              " (KiB), is " + std::to_string(p.argon2id_check_memory) +
              ": a stamp within the bounds could never be checked");
  }
  if (p.argon2id_min_memory <= p.argon2id_memory && p.argon2id_memory <= p.argon2id_max_memory) {
    return;
  }
  if (pow_node_ == nullptr) return;  // the defaults are consistent
  const toml::node* at = pow_node_->get("argon2id_memory");
  if (at == nullptr) at = pow_node_;
  const std::string what = "must lie within argon2id_min_memory " +
                           std::to_string(p.argon2id_min_memory) + " .. argon2id_max_memory " +
                           std::to_string(p.argon2id_max_memory) + " (KiB), is " +
                           std::to_string(p.argon2id_memory);
  error(at->source(), "[pow]", "argon2id_memory", what);
}

void Loader::checkMmtp(const Config& cfg, const toml::table* defaults) {
  const MmtpConfig& m = cfg.mmtp;
  if (m.max_reply_size < m.max_request_size && mmtp_node_ != nullptr) {
    const toml::node* at = mmtp_node_->get("max_reply_size");
    if (at == nullptr) at = mmtp_node_->get("max_request_size");
    if (at == nullptr) at = mmtp_node_;
    error(at->source(), "[mmtp]", "max_reply_size",
          "must be at least max_request_size " + std::to_string(m.max_request_size) +
              " (bytes), is " + std::to_string(m.max_reply_size) +
              ": a message that was accepted could never be received");
  }
  if (cfg.domain_defaults.mmtp_delivery != MmtpDelivery::kOff && defaults != nullptr) {
    const toml::node* at = defaults->get("mmtp_delivery");
    if (at == nullptr) at = defaults;
    error(at->source(), "[domain_defaults]", "mmtp_delivery",
          std::string("\"") + mmtpDeliveryName(cfg.domain_defaults.mmtp_delivery) +
              "\" here would take MMTP mail for every domain in the world; set it in the "
              "[domain.\"NAME\"] sections of the domains served here");
  }
  if (mmtp_node_ == nullptr) return;
  // A remote MMTP domain that is also served here: its outbound mail would
  // be sent away while SENDs to it are kept (or the other way round).
  const auto checkRemote = [&](std::string_view key, std::string_view name, const toml::node& at) {
    // Entries that did not load were reported already.
    if (!cfg.mmtp.isMmtpDomain(name)) return;
    const DomainPolicy& policy = cfg.policyFor(name);
    // [domain_defaults] other than off is reported on its own.
    if (policy.mmtp_delivery == MmtpDelivery::kOff || &policy == &cfg.domain_defaults) return;
    error(at.source(), "[mmtp]", key,
          detail::quoted(name) +
              " is a remote MMTP domain here, but its policy has mmtp_delivery = \"" +
              mmtpDeliveryName(policy.mmtp_delivery) +
              "\" (served here); remove it from one of them");
  };
  if (const toml::array* list = mmtp_node_->get_as<toml::array>("domains")) {
    for (const toml::node& element : *list) {
      if (const auto* text = element.as_string()) checkRemote("domains", text->get(), element);
    }
  }
  if (const toml::table* servers = mmtp_node_->get_as<toml::table>("servers")) {
    for (const auto& [key, value] : *servers) checkRemote("servers", key.str(), value);
  }
}

void Loader::run(const toml::table& root, Config& cfg) {
  const toml::node* max_ttl_node = nullptr;
  const toml::table* defaults = nullptr;
  const toml::table* domains = nullptr;
  for (const auto& [key, value] : root) {
    const std::string_view name = key.str();
    const bool known = detail::isSection(name) || name == kDomainTable;
    if (!value.is_table()) {
      error(key.source(), known ? sectionLabel(name) : printable(name), "",
            known ? "must be a section, not a value" : "a key outside any section");
      continue;
    }
    if (!known) {
      error(key.source(), sectionLabel(printable(name)), "",
            "unknown section (known: [global], [log], [mtepd], [outbound], [tokens], [store], "
            "[milter], [policyd], [pow], [stoken], [mmtp], [domain_defaults], "
            "[domain.\"NAME\"])");
      continue;
    }
    const toml::table& body = *value.as_table();
    if (name == kDomainTable) {
      domains = &body;
    } else if (name == kDomainKeys) {
      defaults = &body;
    } else {
      applyPlain(name, body, cfg);
      if (name == "tokens") max_ttl_node = body.get("max_ttl");
      if (name == "pow") pow_node_ = &body;
      if (name == "mmtp") mmtp_node_ = &body;
    }
  }
  if (defaults != nullptr) {
    applyDomain("[domain_defaults]", *defaults, cfg.domain_defaults, &defaults_ttl_);
  }
  if (domains != nullptr) {
    std::vector<DomainEntry> entries;
    collectDomains(*domains, entries);
    for (const DomainEntry& entry : entries) {
      const std::string label = domainLabel(entry.name);
      if (cfg.domains.count(entry.lower) != 0) {
        error(entry.key->source(), label, "",
              "the same domain as an earlier section (names are compared without case)");
        continue;
      }
      DomainPolicy policy = cfg.domain_defaults;
      const toml::node* ttl = nullptr;
      applyDomain(label, *entry.body, policy, &ttl);
      if (ttl != nullptr) domain_ttls_.emplace_back(entry.name, ttl);
      cfg.domains.emplace(entry.lower, policy);
    }
  }
  checkTtls(cfg, max_ttl_node);
  checkPow(cfg);
  checkMmtp(cfg, defaults);
}

std::string joinPath(const std::string& dir, std::string_view file) {
  if (!dir.empty() && dir.back() == '/') return dir + std::string(file);
  return dir + "/" + std::string(file);
}

void resolveDefaults(Config& cfg) {
  if (cfg.tokens.key_file.empty())
    cfg.tokens.key_file = joinPath(cfg.global.state_dir, "token.keys");
  if (cfg.store.path.empty()) cfg.store.path = joinPath(cfg.global.state_dir, "mtep.db");
  if (cfg.mtepd.listen.empty()) cfg.mtepd.listen.push_back(ListenAddress{"127.0.0.1", 6211});
  if (cfg.policyd.listen.empty()) cfg.policyd.listen.push_back(ListenAddress{"127.0.0.1", 10046});
}

// Exact key, then the nearest ".parent" key; null when neither exists.
template <typename Map>
const typename Map::mapped_type* findDomainEntry(const Map& map, std::string_view domain) {
  const std::string lower = smtp::domainKey(domain);
  if (auto it = map.find(lower); it != map.end()) return &it->second;
  const std::string_view view = lower;
  for (size_t dot = view.find('.'); dot != std::string_view::npos; dot = view.find('.', dot + 1)) {
    if (auto it = map.find(view.substr(dot)); it != map.end()) return &it->second;
  }
  return nullptr;
}

}  // namespace

const char* unavailableName(Unavailable u) noexcept {
  switch (u) {
    case Unavailable::kTempfail:
      return "tempfail";
    case Unavailable::kAccept:
      return "accept";
    case Unavailable::kReject:
      return "reject";
  }
  return "?";
}

const char* mintStampsName(MintStamps m) noexcept {
  switch (m) {
    case MintStamps::kNone:
      return "none";
    case MintStamps::kHashcash:
      return "hashcash";
    case MintStamps::kArgon2id:
      return "argon2id";
  }
  return "?";
}

const char* mmtpDeliveryName(MmtpDelivery d) noexcept {
  switch (d) {
    case MmtpDelivery::kOff:
      return "off";
    case MmtpDelivery::kMailbox:
      return "mailbox";
    case MmtpDelivery::kMta:
      return "mta";
  }
  return "?";
}

std::string RateLimit::toString() const {
  if (!enabled()) return "";
  return std::to_string(count) + "/" + formatDuration(window);
}

Result<RateLimit> parseRateLimit(std::string_view text) {
  RateLimit limit;
  if (text.empty()) return limit;
  const size_t slash = text.find('/');
  const std::string_view count = text.substr(0, slash);
  if (slash == std::string_view::npos || count.empty() || count.size() > 7) {
    return Error(ErrorKind::kInvalid, "expected COUNT/DURATION, such as \"100/1h\"");
  }
  uint32_t n = 0;
  for (char ch : count) {
    if (ch < '0' || ch > '9') return Error(ErrorKind::kInvalid, "COUNT must be decimal digits");
    n = n * 10 + static_cast<uint32_t>(ch - '0');
  }
  auto window = parseDuration(text.substr(slash + 1));
  if (!window) return window.error();
  if (n == 0 || *window <= 0 || *window > 7 * 86400) {
    return Error(ErrorKind::kInvalid, "COUNT must be 1..9999999 and DURATION 1s..7d");
  }
  limit.count = n;
  limit.window = *window;
  return limit;
}

namespace {

// "*", an exact domain, or "*.parent" (any name below it); `patterns` are lower case.
bool matchesSenderPattern(const std::vector<std::string>& patterns, std::string_view domain) {
  const std::string lower = smtp::domainKey(domain);
  for (const std::string& pattern : patterns) {
    if (pattern == "*" || pattern == lower) return true;
    if (pattern.starts_with("*.") && lower.size() > pattern.size() - 1 &&
        lower.ends_with(std::string_view(pattern).substr(1))) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool DomainPolicy::requiresMtepFrom(std::string_view sender_domain) const {
  return require_mtep && matchesSenderPattern(require_mtep_from, sender_domain);
}

bool DomainPolicy::requiresSignatureFrom(std::string_view sender_domain) const {
  return matchesSenderPattern(require_signature_from, sender_domain);
}

bool DomainPolicy::checksSignaturesFrom(std::string_view sender_domain) const {
  return check_signatures || requiresSignatureFrom(sender_domain);
}

const DomainPolicy& Config::policyFor(std::string_view domain) const {
  const DomainPolicy* p = findDomainEntry(domains, domain);
  return p != nullptr ? *p : domain_defaults;
}

const DomainPolicy* Config::policyForAddress(const smtp::EnvelopeAddress& address) const {
  if (!address.found()) return nullptr;
  const DomainPolicy& policy = policyFor(address.domain);  // "" (postmaster): domain_defaults
  for (const std::string& other : address.routed_domains) {
    if (!(policyFor(other) == policy)) return nullptr;
  }
  return &policy;
}

const ServerAddress* MilterConfig::serverFor(std::string_view domain) const {
  return findDomainEntry(mtep_servers, domain);
}

const ServerAddress* MilterConfig::keyServerFor(std::string_view domain) const {
  return findDomainEntry(key_servers, domain);
}

const std::vector<std::string>* MilterConfig::tlsPinsFor(std::string_view domain) const {
  return findDomainEntry(tls_pins, domain);
}

const std::vector<std::string>* StokenConfig::tlsPinsFor(std::string_view domain) const {
  return findDomainEntry(tls_pins, domain);
}

const ServerAddress* StokenConfig::serverFor(std::string_view domain) const {
  return findDomainEntry(servers, domain);
}

bool MmtpConfig::isMmtpDomain(std::string_view domain) const {
  const std::string key = smtp::domainKey(domain);
  if (key.empty() || key.starts_with('.')) return false;
  return servers.count(key) != 0 || std::find(domains.begin(), domains.end(), key) != domains.end();
}

const ServerAddress* MmtpConfig::serverFor(std::string_view domain) const {
  const std::string key = smtp::domainKey(domain);
  if (key.starts_with('.')) return nullptr;
  const auto it = servers.find(key);
  return it == servers.end() ? nullptr : &it->second;
}

const std::vector<std::string>* MmtpConfig::tlsPinsFor(std::string_view domain) const {
  return findDomainEntry(tls_pins, domain);
}

int Config::mmtpDifficultyFor(std::string_view domain) const {
  const int own = policyFor(domain).mmtp_difficulty;
  return own != 0 ? own : mmtp.difficulty;
}

bool StokenConfig::refuses(std::string_view address_canonical) const {
  const size_t at = address_canonical.rfind('@');
  const std::string_view domain =
      at == std::string_view::npos ? std::string_view() : address_canonical.substr(at);
  for (const std::string& entry : refuse_recipients) {
    if (entry == address_canonical || (!domain.empty() && entry == domain)) return true;
  }
  return false;
}

bool MilterConfig::isInternal(const net::IpAddress& ip) const {
  for (const net::Network& network : internal_networks) {
    if (network.contains(ip)) return true;
  }
  return false;
}

Result<ConfigPtr> loadString(std::string_view text, const std::string& source_name) {
  toml::table root;
  try {
    root = toml::parse(text, std::string_view(source_name));
  } catch (const toml::parse_error& e) {
    const toml::source_position& at = e.source().begin;
    return Error(ErrorKind::kConfig, source_name + ":" + std::to_string(at.line) + ":" +
                                         std::to_string(at.column) +
                                         ": syntax: " + printable(e.description()));
  }
  auto cfg = std::make_shared<Config>();
  cfg->source = source_name;
  for (const char* network : {"127.0.0.0/8", "::1/128"}) {
    cfg->milter.internal_networks.push_back(*net::parseNetwork(network));
  }
  Loader loader(source_name);
  loader.run(root, *cfg);
  if (loader.failed()) return Error(ErrorKind::kConfig, loader.message());
  resolveDefaults(*cfg);
  return ConfigPtr(std::move(cfg));
}

Result<ConfigPtr> loadForDaemon(const std::string& path, std::string* absolute) {
  std::error_code ec;
  *absolute = std::filesystem::absolute(path, ec).string();
  if (ec) *absolute = path;
  return loadFile(*absolute);
}

Result<ConfigPtr> loadFile(const std::string& path) {
  const auto fail = [&](std::string_view what) {
    return Error(ErrorKind::kConfig, path + ": " + std::string(what));
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return fail(std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail("not a regular file");
  }
  std::string text;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return fail(std::strerror(err));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxFileSize) {
      ::close(fd);
      return fail("larger than 1 MiB; this is not a configuration file");
    }
  }
  ::close(fd);
  return loadString(text, path);
}

}  // namespace mtep::config

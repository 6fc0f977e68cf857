// The key table drives loading, the sample file and the manual page: check
// that they agree with each other and with the Config defaults.
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>

#include "config/config.h"

namespace mtep::config {
namespace {

const std::set<std::string> kSections = {"global", "log",    "mtepd",    "tokens",
                                         "store",  "milter", "outbound", "policyd",
                                         "pow",    "stoken", "mmtp",     "domain_defaults"};

ConfigPtr load(const std::string& text) {
  auto cfg = loadString(text, "k.conf");
  EXPECT_TRUE(cfg.ok()) << (cfg.ok() ? "" : cfg.error().message()) << "\n--- input:\n" << text;
  return cfg.ok() ? *cfg : nullptr;
}

TEST(KeyTable, KeysAreUniqueDocumentedAndInKnownSections) {
  std::set<std::string> seen;
  for (const KeyInfo& k : keyTable()) {
    const std::string id = std::string(k.section) + "." + std::string(k.key);
    EXPECT_TRUE(seen.insert(id).second) << "duplicate " << id;
    EXPECT_EQ(kSections.count(std::string(k.section)), 1u) << id;
    EXPECT_FALSE(k.type.empty()) << id;
    EXPECT_FALSE(k.default_text.empty()) << id;
    EXPECT_GT(k.doc.size(), 20u) << id;
  }
  EXPECT_EQ(seen.size(), 155u);  // update when adding a key: the struct gets a field too
}

TEST(KeyTable, EachDefaultTextLoadsToTheStructDefault) {
  ConfigPtr defaults = load("");
  ASSERT_NE(defaults, nullptr);
  for (const KeyInfo& k : keyTable()) {
    SCOPED_TRACE(std::string(k.section) + "." + std::string(k.key));
    ConfigPtr c = load("[" + std::string(k.section) + "]\n" + std::string(k.key) + " = " +
                       std::string(k.default_text) + "\n");
    ASSERT_NE(c, nullptr);
    EXPECT_TRUE(*c == *defaults);
  }
}

// "lo..hi" from the table; durations formatted like "1m".
bool parseBound(const KeyInfo& k, const std::string& text, int64_t* out) {
  if (k.type == "duration") {
    auto d = parseDuration(text);
    if (!d) return false;
    *out = *d;
    return true;
  }
  *out = std::stoll(text);
  return true;
}

// Keeps the cross-check argon2id_min_memory <= argon2id_memory <=
// argon2id_max_memory out of the way when one of them is tested at a bound.
std::string powMemoryCompanions(const KeyInfo& k, int64_t v) {
  if (k.section != "pow" || !k.key.starts_with("argon2id_") || !k.key.ends_with("memory")) {
    return "";
  }
  const std::string value = std::to_string(v);
  // ... and argon2id_max_memory <= argon2id_check_memory.
  const std::string check = "argon2id_check_memory = 4294967295\n";
  if (k.key == "argon2id_memory") {
    return "argon2id_min_memory = 8\nargon2id_max_memory = 4194304\n" + check;
  }
  if (k.key == "argon2id_min_memory") {
    return "argon2id_memory = " + value + "\nargon2id_max_memory = 4194304\n" + check;
  }
  if (k.key == "argon2id_check_memory") {
    return "argon2id_min_memory = 8\nargon2id_memory = 8\nargon2id_max_memory = 8\n";
  }
  return "argon2id_min_memory = 8\nargon2id_memory = 8\n" + check;  // argon2id_max_memory
}

// Keeps the cross-check max_request_size <= max_reply_size ([mmtp]) out of
// the way when one of them is tested at a bound.
std::string mmtpSizeCompanions(const KeyInfo& k) {
  if (k.section != "mmtp") return "";
  if (k.key == "max_reply_size") return "max_request_size = 4096\n";
  if (k.key == "max_request_size") return "max_reply_size = 1073741824\n";
  return "";
}

TEST(KeyTable, DocumentedRangesAreTheCheckedRanges) {
  int checked = 0;
  for (const KeyInfo& k : keyTable()) {
    if (k.type != "integer" && k.type != "duration") continue;
    SCOPED_TRACE(std::string(k.section) + "." + std::string(k.key) + " " + k.range);
    const size_t dots = k.range.find("..");
    ASSERT_NE(dots, std::string::npos);
    int64_t lo = 0, hi = 0;
    ASSERT_TRUE(parseBound(k, k.range.substr(0, dots), &lo));
    ASSERT_TRUE(parseBound(k, k.range.substr(dots + 2), &hi));
    ASSERT_LT(lo, hi);
    // Keep the cross-check token_ttl <= max_ttl out of the way at both bounds.
    const std::string prefix = k.key == "max_ttl" ? "[domain_defaults]\ntoken_ttl = 60\n"
                                                  : "[tokens]\nmax_ttl = \"366d\"\n";
    std::vector<std::string> headers = {"[" + std::string(k.section) + "]\n"};
    if (k.section == "domain_defaults") headers.push_back("[domain.\"x.example\"]\n");
    for (const std::string& header : headers) {
      const auto text = [&](int64_t v) {
        return prefix + header + std::string(k.key) + " = " + std::to_string(v) + "\n" +
               powMemoryCompanions(k, v) + mmtpSizeCompanions(k);
      };
      EXPECT_TRUE(loadString(text(lo), "r.conf").ok()) << text(lo);
      EXPECT_TRUE(loadString(text(hi), "r.conf").ok()) << text(hi);
      EXPECT_FALSE(loadString(text(lo - 1), "r.conf").ok()) << text(lo - 1);
      EXPECT_FALSE(loadString(text(hi + 1), "r.conf").ok()) << text(hi + 1);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 81);  // 65 numeric keys; the 8 per-domain ones in two kinds of section
}

TEST(SampleConfig, LoadsToTheDefaults) {
  ConfigPtr sample = load(sampleConfig());
  ConfigPtr defaults = load("");
  ASSERT_NE(sample, nullptr);
  ASSERT_NE(defaults, nullptr);
  EXPECT_TRUE(*sample == *defaults);
}

TEST(SampleConfig, SetsEveryKeyAtItsDefault) {
  const std::string sample = sampleConfig();
  for (const KeyInfo& k : keyTable()) {
    const std::string line = "\n" + std::string(k.key) + " = " + std::string(k.default_text) + "\n";
    EXPECT_NE(sample.find(line), std::string::npos) << line;
  }
}

TEST(SampleConfig, CommentedDomainExampleLoadsWhenUncommented) {
  std::istringstream in(sampleConfig());
  std::string out, line;
  bool in_example = false;
  while (std::getline(in, line)) {
    if (line.rfind("#[domain.", 0) == 0) in_example = true;
    if (in_example && line.rfind("#", 0) == 0) line.erase(0, 1);
    out += line + "\n";
  }
  ASSERT_TRUE(in_example) << "no commented domain example";
  ConfigPtr c = load(out);
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->domains.size(), 1u);
  EXPECT_TRUE(c->domains.begin()->second == c->domain_defaults);
}

TEST(SampleConfig, EveryCommentLineFitsTheWidth) {
  std::istringstream in(sampleConfig());
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("#", 0) == 0) {
      EXPECT_LE(line.size(), 80u) << line;
    }
  }
}

TEST(ReferenceRoff, StartsWithKeysAndDocumentsEveryKeyInItsSection) {
  const std::string roff = referenceRoff();
  ASSERT_EQ(roff.rfind(".SH KEYS\n", 0), 0u);
  for (const KeyInfo& k : keyTable()) {
    const size_t section = roff.find(".SS [" + std::string(k.section) + "]");
    ASSERT_NE(section, std::string::npos) << k.section;
    const size_t next = roff.find(".SS ", section + 1);
    const size_t key = roff.find("\n.TP\n.B " + std::string(k.key) + "\n", section);
    ASSERT_NE(key, std::string::npos) << k.key;
    EXPECT_LT(key, next) << k.key << " documented outside [" << k.section << "]";
    std::string doc;  // as the page must show it: quotes and backslashes escaped
    for (char c : k.doc) doc += c == '"' ? "\\(dq" : c == '\\' ? "\\e" : std::string(1, c);
    const size_t body = roff.find("\n" + doc + "\n", key);
    EXPECT_LT(body, next) << k.key;
  }
}

TEST(ReferenceRoff, UsesOnlyKnownRequestsAndNoRawQuotesOrBackslashes) {
  std::istringstream in(referenceRoff());
  std::string line;
  const std::set<std::string> requests = {".SH", ".SS", ".TP", ".B", ".br"};
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line[0] == '.') {
      EXPECT_EQ(requests.count(line.substr(0, line.find(' '))), 1u) << line;
    }
    EXPECT_EQ(line.find('"'), std::string::npos) << line;
    for (size_t i = line.find('\\'); i != std::string::npos; i = line.find('\\', i + 2)) {
      ASSERT_LT(i + 1, line.size()) << line;
      EXPECT_TRUE(line[i + 1] == 'e' || line[i + 1] == '(' || line[i + 1] == '&') << line;
    }
  }
}

}  // namespace
}  // namespace mtep::config

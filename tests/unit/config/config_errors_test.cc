// Every kind of configuration error names the right file, line, section and key.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.h"

namespace mtep::config {
namespace {

struct ErrorCase {
  const char* name;
  const char* text;
  const char* want_prefix;  // "FILE:LINE: [section] key:"
  const char* want_detail;  // a part of "what is wrong"
};

const std::vector<ErrorCase> kCases = {
    // Structure.
    {"unknown section", "[global]\nuser = \"x\"\n\n[bogus]\n",
     "t.conf:4: [bogus]:", "unknown section"},
    {"unknown key", "[global]\nuser = \"x\"\nfoo = 1\n", "t.conf:3: [global] foo:", "unknown key"},
    {"key in the wrong section", "[global]\nlisten = [\"127.0.0.1:1\"]\n",
     "t.conf:2: [global] listen:", "belongs in [mtepd]"},
    {"key outside any section", "\nuser = \"x\"\n", "t.conf:2: user:", "outside any section"},
    {"section written as a value", "global = 1\n", "t.conf:1: [global]:", "must be a section"},
    {"sub-table in a section", "[global]\n[global.extra]\nx = 1\n",
     "t.conf:2: [global] extra:", "unknown key"},
    // Types.
    {"string for a bool", "[mtepd]\n\nanswer_without_sender = \"yes\"\n",
     "t.conf:3: [mtepd] answer_without_sender:", "expected true or false, got a string"},
    {"string for an integer", "[mtepd]\nmax_connections = \"10\"\n",
     "t.conf:2: [mtepd] max_connections:", "expected an integer, got a string"},
    {"float for an integer", "[mtepd]\nmax_connections = 1.5\n",
     "t.conf:2: [mtepd] max_connections:", "got a floating-point number"},
    {"date for a string", "[log]\nlevel = 1979-05-27\n", "t.conf:2: [log] level:", "got a date"},
    {"bool for a duration", "[tokens]\nmax_ttl = true\n",
     "t.conf:2: [tokens] max_ttl:", "expected a duration"},
    {"control character in a string", "[global]\nuser = \"a\\nb\"\n",
     "t.conf:2: [global] user:", "control character"},
    // Integer bounds.
    {"max_connections 0", "[mtepd]\nmax_connections = 0\n",
     "t.conf:2: [mtepd] max_connections:", "out of range 1..1000000"},
    {"max_connections too big", "[mtepd]\nmax_connections = 1000001\n",
     "t.conf:2: [mtepd] max_connections:", "out of range"},
    {"max_request_size too small", "[mtepd]\nmax_request_size = 63\n",
     "t.conf:2: [mtepd] max_request_size:", "out of range 64..65536"},
    {"max_request_size too big", "[mtepd]\nmax_request_size = 65537\n",
     "t.conf:2: [mtepd] max_request_size:", "out of range"},
    {"max_commands 0", "[mtepd]\nmax_commands_per_connection = 0\n",
     "t.conf:2: [mtepd] max_commands_per_connection:", "out of range"},
    {"integer beyond uint32", "[mtepd]\nmax_connections = 4294967297\n",
     "t.conf:2: [mtepd] max_connections:", "out of range"},
    // Durations.
    {"idle_timeout 0", "[mtepd]\nidle_timeout = 0\n",
     "t.conf:2: [mtepd] idle_timeout:", "out of range 1s..1h"},
    {"idle_timeout negative", "[mtepd]\nidle_timeout = -5\n",
     "t.conf:2: [mtepd] idle_timeout:", "out of range"},
    {"idle_timeout over an hour", "[mtepd]\nidle_timeout = \"2h\"\n",
     "t.conf:2: [mtepd] idle_timeout:", "out of range"},
    {"duration with a bad unit", "[mtepd]\nidle_timeout = \"5x\"\n",
     "t.conf:2: [mtepd] idle_timeout:", "not a duration"},
    {"duration with a space", "[mtepd]\nidle_timeout = \"5 s\"\n",
     "t.conf:2: [mtepd] idle_timeout:", "not a duration"},
    {"max_ttl below a minute", "[tokens]\nmax_ttl = 59\n",
     "t.conf:2: [tokens] max_ttl:", "out of range 1m..366d"},
    {"max_ttl above 366 days", "[tokens]\nmax_ttl = \"367d\"\n",
     "t.conf:2: [tokens] max_ttl:", "out of range"},
    {"busy_timeout above a minute", "[store]\nbusy_timeout = \"61s\"\n",
     "t.conf:2: [store] busy_timeout:", "out of range 0s..1m"},
    {"overflowing duration", "[store]\nbusy_timeout = \"999999999999999999d\"\n",
     "t.conf:2: [store] busy_timeout:", "too long"},
    // Listen addresses.
    {"empty listen list", "[mtepd]\nlisten = []\n", "t.conf:2: [mtepd] listen:", "empty"},
    {"listen not a list", "[mtepd]\nlisten = \"127.0.0.1:6211\"\n",
     "t.conf:2: [mtepd] listen:", "expected a list"},
    {"listen host name", "[mtepd]\nlisten = [\"localhost:6211\"]\n",
     "t.conf:2: [mtepd] listen:", "not a numeric IPv4 address"},
    {"listen without port", "[mtepd]\nlisten = [\"127.0.0.1\"]\n",
     "t.conf:2: [mtepd] listen:", "missing :PORT"},
    {"listen port 0", "[mtepd]\nlisten = [\"127.0.0.1:0\"]\n",
     "t.conf:2: [mtepd] listen:", "1..65535"},
    {"listen port too big", "[mtepd]\nlisten = [\"127.0.0.1:65536\"]\n",
     "t.conf:2: [mtepd] listen:", "1..65535"},
    {"listen bare IPv6", "[mtepd]\nlisten = [\"::1:6211\"]\n",
     "t.conf:2: [mtepd] listen:", "brackets"},
    {"listen bad element on its own line",
     "[mtepd]\nlisten = [\n  \"127.0.0.1:6211\",\n  \"[::1]\",\n]\n",
     "t.conf:4: [mtepd] listen:", "missing :PORT"},
    {"listen element not a string", "[mtepd]\nlisten = [\n  6211,\n]\n",
     "t.conf:3: [mtepd] listen:", "got an integer"},
    {"listen duplicate", "[mtepd]\nlisten = [\"127.0.0.1:1\", \"127.0.0.1:1\"]\n",
     "t.conf:2: [mtepd] listen:", "listed twice"},
    // Choices and paths.
    {"unknown backend", "[store]\nbackend = \"mysql\"\n",
     "t.conf:2: [store] backend:", "known: \"sqlite\", \"redis\""},
    {"redis prefix with a space", "[store]\nredis_prefix = \"my site:\"\n",
     "t.conf:2: [store] redis_prefix:", "no spaces"},
    {"redis sentinel without port number", "[store]\nredis_sentinels = [\"10.0.0.1:x\"]\n",
     "t.conf:2: [store] redis_sentinels:", ""},
    {"redis database out of range", "[store]\nredis_database = -1\n",
     "t.conf:2: [store] redis_database:", "out of range"},
    {"unknown log level", "[log]\nlevel = \"loud\"\n", "t.conf:2: [log] level:", "not a log level"},
    {"relative state_dir", "[global]\nstate_dir = \"var/lib/mtep\"\n",
     "t.conf:2: [global] state_dir:", "not an absolute path"},
    {"empty state_dir", "[global]\nstate_dir = \"\"\n",
     "t.conf:2: [global] state_dir:", "not an absolute path"},
    {"relative key_file", "[tokens]\nkey_file = \"token.keys\"\n",
     "t.conf:2: [tokens] key_file:", "not an absolute path"},
    {"relative store path", "[store]\npath = \"mtep.db\"\n",
     "t.conf:2: [store] path:", "not an absolute path"},
    {"relative pid_file", "[mtepd]\npid_file = \"run/mtepd.pid\"\n",
     "t.conf:2: [mtepd] pid_file:", "not an absolute path"},
    {"user with a colon", "[global]\nuser = \"a:b\"\n",
     "t.conf:2: [global] user:", "not a user name"},
    // Domains.
    {"bad domain name", "[domain.\"bad_domain!.org\"]\nissue_tokens = true\n",
     "t.conf:1: [domain.\"bad_domain!.org\"]:", "not a domain name"},
    {"empty subdomain name", "[domain.\".\"]\n", "t.conf:1: [domain.\".\"]:", "not a domain name"},
    {"duplicate domain after lower-casing",
     "[domain.\"Example.org\"]\nissue_tokens = true\n\n[domain.\"example.ORG\"]\n",
     "t.conf:4: [domain.\"example.ORG\"]:", "same domain"},
    {"unquoted dotted domain", "[domain.example.org]\n",
     "t.conf:1: [domain.\"example\"] org:", "quote domain names"},
    {"domain entry not a section", "[domain]\n\"a.org\" = 1\n",
     "t.conf:2: [domain] a.org:", "must be a section"},
    {"unknown key in a domain", "[domain.\"a.org\"]\n\nfoo = 1\n",
     "t.conf:3: [domain.\"a.org\"] foo:", "unknown key"},
    {"domain token_ttl out of range", "[domain.\"a.org\"]\ntoken_ttl = 30\n",
     "t.conf:2: [domain.\"a.org\"] token_ttl:", "out of range"},
    {"domain token_ttl above max_ttl",
     "[tokens]\nmax_ttl = \"1d\"\n[domain_defaults]\ntoken_ttl = \"1h\"\n[domain.\"a.org\"]\n"
     "issue_tokens = true\ntoken_ttl = \"2d\"\n",
     "t.conf:7: [domain.\"a.org\"] token_ttl:", "above [tokens] max_ttl 1d"},
    {"default token_ttl above max_ttl", "[domain_defaults]\ntoken_ttl = \"40d\"\n",
     "t.conf:2: [domain_defaults] token_ttl:", "above [tokens] max_ttl 30d"},
    {"max_ttl below the default token_ttl", "[tokens]\n\nmax_ttl = \"1d\"\n",
     "t.conf:3: [tokens] max_ttl:", "below the default [domain_defaults] token_ttl 7d"},
    {"bool for issue_tokens", "[domain_defaults]\nissue_tokens = 1\n",
     "t.conf:2: [domain_defaults] issue_tokens:", "expected true or false"},
    // TOML syntax.
    {"unterminated header", "[global]\nuser = \"x\"\n[mtepd\n", "t.conf:3:", " syntax: "},
    {"missing value", "[log]\nlevel =\n", "t.conf:2:", " syntax: "},
    {"redefined table", "[log]\n[log]\n", "t.conf:2:", " syntax: "},
    {"duplicate key", "[log]\nlevel = \"info\"\nlevel = \"info\"\n", "t.conf:3:", " syntax: "},
    {"invalid UTF-8", "[log]\nlevel = \"\xff\"\n", "t.conf:2:", " syntax: "},
};

TEST(ConfigErrors, EachCaseNamesFileLineSectionAndKey) {
  for (const ErrorCase& c : kCases) {
    SCOPED_TRACE(c.name);
    auto cfg = loadString(c.text, "t.conf");
    ASSERT_FALSE(cfg.ok()) << "loaded without error: " << c.text;
    EXPECT_EQ(cfg.error().kind(), ErrorKind::kConfig);
    const std::string& got = cfg.error().message();
    EXPECT_EQ(got.rfind(c.want_prefix, 0), 0u) << "got:  " << got << "\nwant: " << c.want_prefix;
    EXPECT_NE(got.find(c.want_detail), std::string::npos)
        << "got:  " << got << "\nwant: ..." << c.want_detail << "...";
    EXPECT_EQ(got.find('\n'), std::string::npos) << "want one error, got: " << got;
  }
}

TEST(ConfigErrors, SyntaxErrorsCarryLineAndColumn) {
  auto cfg = loadString("[log]\nlevel = = 3\n", "s.conf");
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().message().rfind("s.conf:2:9: syntax: ", 0), 0u) << cfg.error().message();
}

TEST(ConfigErrors, SeveralErrorsAreAllReportedInLineOrder) {
  const std::string text =
      "[store]\nbackend = \"x\"\n[mtepd]\nmax_connections = 0\n[global]\nstate_dir = \"rel\"\n";
  auto cfg = loadString(text, "m.conf");
  ASSERT_FALSE(cfg.ok());
  const std::string& got = cfg.error().message();
  const size_t a = got.find("m.conf:2: [store] backend:");
  const size_t b = got.find("\nm.conf:4: [mtepd] max_connections:");
  const size_t c = got.find("\nm.conf:6: [global] state_dir:");
  ASSERT_NE(a, std::string::npos) << got;
  ASSERT_NE(b, std::string::npos) << got;
  ASSERT_NE(c, std::string::npos) << got;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
}

TEST(ConfigErrors, ManyErrorsAreCapped) {
  std::string text = "[global]\n";
  for (int i = 0; i < 50; ++i) text += "unknown_" + std::to_string(i) + " = 1\n";
  auto cfg = loadString(text, "c.conf");
  ASSERT_FALSE(cfg.ok());
  const std::string& got = cfg.error().message();
  size_t lines = 1;
  for (char ch : got) lines += ch == '\n' ? 1 : 0;
  EXPECT_EQ(lines, 21u) << got;
  EXPECT_NE(got.find("c.conf: 30 more errors"), std::string::npos) << got;
}

TEST(ConfigErrors, HostileKeyNamesCannotBreakTheMessageLine) {
  auto cfg = loadString("[global]\n\"evil\\nc.conf:9: [x] y: fake\" = 1\n", "h.conf");
  ASSERT_FALSE(cfg.ok());
  const std::string& got = cfg.error().message();
  EXPECT_EQ(got.find('\n'), std::string::npos) << got;
  EXPECT_NE(got.find("evil\\x0a"), std::string::npos) << got;
}

TEST(ConfigErrors, LongValuesAreShortenedInMessages) {
  const std::string value(5000, 'a');
  auto cfg = loadString("[log]\nlevel = \"" + value + "\"\n", "l.conf");
  ASSERT_FALSE(cfg.ok());
  EXPECT_LT(cfg.error().message().size(), 300u);
  EXPECT_NE(cfg.error().message().find("..."), std::string::npos);
}

}  // namespace
}  // namespace mtep::config

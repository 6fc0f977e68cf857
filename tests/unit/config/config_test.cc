// Loading: defaults, resolved paths, domains and their precedence, files.
#include "config/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "smtp/address.h"

namespace mtep::config {
namespace {

ConfigPtr mustLoad(const std::string& text) {
  auto cfg = loadString(text, "test.conf");
  EXPECT_TRUE(cfg.ok()) << (cfg.ok() ? "" : cfg.error().message());
  return cfg.ok() ? *cfg : std::make_shared<Config>();
}

TEST(ConfigDefaults, EmptyFileGivesEveryDefault) {
  ConfigPtr c = mustLoad("");
  EXPECT_EQ(c->source, "test.conf");
  EXPECT_EQ(c->global.user, "mtep");
  EXPECT_EQ(c->global.state_dir, "/var/lib/mtep");
  EXPECT_EQ(c->log.level, "info");
  ASSERT_EQ(c->mtepd.listen.size(), 1u);
  EXPECT_EQ(c->mtepd.listen[0].host, "127.0.0.1");
  EXPECT_EQ(c->mtepd.listen[0].port, 6211);
  EXPECT_EQ(c->mtepd.max_connections, 4096u);
  EXPECT_EQ(c->mtepd.max_request_size, 4096u);
  EXPECT_EQ(c->mtepd.max_commands_per_connection, 1000u);
  EXPECT_EQ(c->mtepd.idle_timeout, 30);
  EXPECT_TRUE(c->mtepd.answer_without_sender);
  EXPECT_FALSE(c->mtepd.answer_without_recipient) << "fail closed: tokens bound to a domain";
  EXPECT_EQ(c->mtepd.pid_file, "");
  EXPECT_EQ(c->tokens.key_file, "/var/lib/mtep/token.keys");
  EXPECT_EQ(c->tokens.max_ttl, 30 * 86400);
  EXPECT_EQ(c->store.backend, "sqlite");
  EXPECT_EQ(c->store.path, "/var/lib/mtep/mtep.db");
  EXPECT_EQ(c->store.busy_timeout, 2);
  EXPECT_TRUE(c->domain_defaults.issue_tokens);
  EXPECT_EQ(c->domain_defaults.token_ttl, 7 * 86400);
  EXPECT_TRUE(c->domains.empty());
}

TEST(ConfigDefaults, EmptySectionsChangeNothing) {
  ConfigPtr empty = mustLoad("");
  ConfigPtr sections =
      mustLoad("[global]\n[log]\n[mtepd]\n[tokens]\n[store]\n[domain_defaults]\n[domain]\n");
  EXPECT_TRUE(*empty == *sections);
}

TEST(ConfigDefaults, PathsFollowStateDir) {
  ConfigPtr c = mustLoad("[global]\nstate_dir = \"/srv/mtep/\"\n");
  EXPECT_EQ(c->tokens.key_file, "/srv/mtep/token.keys");
  EXPECT_EQ(c->store.path, "/srv/mtep/mtep.db");
  ConfigPtr d = mustLoad(
      "[global]\nstate_dir = \"/srv/mtep\"\n[tokens]\nkey_file = \"/etc/mtep/k\"\n"
      "[store]\npath = \"/tmp/x.db\"\n");
  EXPECT_EQ(d->tokens.key_file, "/etc/mtep/k");
  EXPECT_EQ(d->store.path, "/tmp/x.db");
}

TEST(ConfigValues, EveryKeyTakesAValue) {
  ConfigPtr c = mustLoad(
      "[global]\nuser = \"\"\nstate_dir = \"/s\"\n"
      "[log]\nlevel = \"debug\"\n"
      "[mtepd]\nlisten = [\"0.0.0.0:25\", \"[::]:6211\"]\nmax_connections = 1\n"
      "max_request_size = 65536\nmax_commands_per_connection = 1000000\nidle_timeout = \"1h\"\n"
      "answer_without_sender = false\npid_file = \"/run/mtepd.pid\"\n"
      "[tokens]\nkey_file = \"/k\"\nmax_ttl = \"366d\"\n"
      "[store]\nbackend = \"sqlite\"\npath = \"/d\"\nbusy_timeout = 0\n"
      "[domain_defaults]\nissue_tokens = false\ntoken_ttl = 60\n");
  EXPECT_EQ(c->global.user, "");
  EXPECT_EQ(c->global.state_dir, "/s");
  EXPECT_EQ(c->log.level, "debug");
  ASSERT_EQ(c->mtepd.listen.size(), 2u);
  EXPECT_EQ(c->mtepd.listen[0].toString(), "0.0.0.0:25");
  EXPECT_EQ(c->mtepd.listen[1].toString(), "[::]:6211");
  EXPECT_EQ(c->mtepd.max_connections, 1u);
  EXPECT_EQ(c->mtepd.max_request_size, 65536u);
  EXPECT_EQ(c->mtepd.max_commands_per_connection, 1000000u);
  EXPECT_EQ(c->mtepd.idle_timeout, 3600);
  EXPECT_FALSE(c->mtepd.answer_without_sender);
  EXPECT_EQ(c->mtepd.pid_file, "/run/mtepd.pid");
  EXPECT_EQ(c->tokens.key_file, "/k");
  EXPECT_EQ(c->tokens.max_ttl, 366 * 86400);
  EXPECT_EQ(c->store.path, "/d");
  EXPECT_EQ(c->store.busy_timeout, 0);
  EXPECT_FALSE(c->domain_defaults.issue_tokens);
  EXPECT_EQ(c->domain_defaults.token_ttl, 60);
}

TEST(ConfigDomains, SectionsInheritDefaultsWhereverTheyAreWritten) {
  // [domain_defaults] comes after the domain section in the file.
  ConfigPtr c = mustLoad(
      "[domain.\"a.org\"]\ntoken_ttl = \"1h\"\n"
      "[domain_defaults]\nissue_tokens = false\ntoken_ttl = \"2d\"\n");
  ASSERT_EQ(c->domains.count("a.org"), 1u);
  EXPECT_FALSE(c->domains.at("a.org").issue_tokens);
  EXPECT_EQ(c->domains.at("a.org").token_ttl, 3600);
  EXPECT_EQ(c->domain_defaults.token_ttl, 2 * 86400);
}

TEST(ConfigDomains, NamesAreLowerCased) {
  ConfigPtr c = mustLoad("[domain.\"MiXeD.Example.ORG\"]\n[domain.\".Sub.Example\"]\n");
  EXPECT_EQ(c->domains.count("mixed.example.org"), 1u);
  EXPECT_EQ(c->domains.count(".sub.example"), 1u);
  EXPECT_EQ(c->domains.size(), 2u);
}

TEST(ConfigDomains, PolicyForPrefersExactThenNearestParentThenDefaults) {
  ConfigPtr c = mustLoad(
      "[tokens]\nmax_ttl = \"366d\"\n"
      "[domain_defaults]\ntoken_ttl = 100\n"
      "[domain.\"a.b.example.org\"]\ntoken_ttl = 101\n"
      "[domain.\".b.example.org\"]\ntoken_ttl = 102\n"
      "[domain.\".example.org\"]\ntoken_ttl = 103\n"
      "[domain.\"example.org\"]\ntoken_ttl = 104\n");
  struct Case {
    const char* domain;
    int64_t want;
  };
  const Case cases[] = {
      {"a.b.example.org", 101},                            // exact beats every parent
      {"x.b.example.org", 102},                            // nearest parent
      {"y.x.b.example.org", 102}, {"b.example.org", 103},  // ".b.example.org" is for subdomains
                                                           // only
      {"c.example.org", 103},     {"example.org", 104},  // exact; ".example.org" does not cover it
      {"EXAMPLE.Org.", 104},                             // case and one trailing dot ignored
      {"A.B.Example.ORG", 101},   {"other.net", 100},     {"org", 100}, {"", 100},
      {"[192.0.2.1]", 100},
  };
  for (const Case& k : cases) {
    EXPECT_EQ(c->policyFor(k.domain).token_ttl, k.want) << k.domain;
  }
}

// Internationalized domains: U-label, A-label and Unicode case are one
// domain, whichever form the section and the address use (issue 13: an
// address in the other form used to get [domain_defaults]).
TEST(ConfigDomains, PolicyForTreatsULabelALabelAndUnicodeCaseAlike) {
  ConfigPtr c = mustLoad(
      "[domain.\"bücher.test\"]\nrequire_mtep = true\n"
      "[domain.\"xn--mnchen-3ya.test\"]\nrequire_stamp = true\n"
      "[domain.\".straße.test\"]\nrequire_mtep_capable = true\n"
      "[domain.\"sender.test\"]\nrequire_mtep = true\nrequire_mtep_from = [\"*.bücher.test\", \"xn--mnchen-3ya.test\"]\n"
      "[milter]\nmtep_servers = { \"ZÜRICH.test\" = \"127.0.0.1:1\" }\n");
  for (const char* d : {"bücher.test", "BÜCHER.TEST", "Bücher.Test.", "xn--bcher-kva.test",
                        "XN--BCHER-KVA.test"}) {
    EXPECT_TRUE(c->policyFor(d).require_mtep) << d;
  }
  for (const char* d : {"münchen.test", "MÜNCHEN.test", "xn--mnchen-3ya.test"}) {
    EXPECT_TRUE(c->policyFor(d).require_stamp) << d;
  }
  EXPECT_TRUE(c->policyFor("a.STRASSE.test").require_mtep_capable ||
              c->policyFor("a.straße.test").require_mtep_capable);
  EXPECT_TRUE(c->policyFor("a.xn--strae-oqa.test").require_mtep_capable);
  EXPECT_TRUE(c->policyFor("a.Straße.test").require_mtep_capable);
  EXPECT_FALSE(c->policyFor("bucher.test").require_mtep);
  const DomainPolicy& p = c->policyFor("sender.test");
  EXPECT_TRUE(p.requiresMtepFrom("x.xn--bcher-kva.test"));
  EXPECT_TRUE(p.requiresMtepFrom("x.BÜCHER.test"));
  EXPECT_TRUE(p.requiresMtepFrom("MÜNCHEN.test"));
  EXPECT_FALSE(p.requiresMtepFrom("bücher.test"));
  EXPECT_NE(c->milter.serverFor("zürich.test"), nullptr);
  EXPECT_NE(c->milter.serverFor("xn--zrich-kva.test"), nullptr);
}

// policyForAddress: the domain's policy, unless no domain is found or the
// local part routes to a domain under another policy.
TEST(ConfigDomains, PolicyForAddressNeedsADomainAndOneRoute) {
  ConfigPtr c = mustLoad(
      "[domain_defaults]\nrequire_stamp = true\n"
      "[domain.\"beta.test\"]\nrequire_mtep = true\n"
      "[domain.\"gamma.test\"]\nrequire_mtep = true\n");
  const std::string a70(70, 'a');
  struct Case {
    std::string address;
    const DomainPolicy* want;
  };
  const Case cases[] = {
      {"<bob@beta.test>", &c->policyFor("beta.test")},
      {"<bob+" + a70 + "@BETA.test.>", &c->policyFor("beta.test")},
      {"<postmaster>", &c->domain_defaults},
      {"<bob>", nullptr},
      {"<>", nullptr},
      {"<bob%beta.test@localhost>", nullptr},
      {"<\"bob@beta.test\"@localhost>", nullptr},
      {"<bob%gamma.test@beta.test>", nullptr},  // "bob" itself is under the defaults
      {"<bob%x.test@delta.test>", &c->domain_defaults},
  };
  for (const Case& k : cases) {
    const DomainPolicy* got = c->policyForAddress(smtp::envelopeAddress(k.address));
    if (k.want == nullptr) {
      EXPECT_EQ(got, nullptr) << k.address;
    } else {
      EXPECT_TRUE(got != nullptr && *got == *k.want) << k.address;
    }
  }
}

TEST(ConfigDomains, DomainDefaultsDoNotTriggerTtlErrorWhenEveryTtlFits) {
  ConfigPtr c = mustLoad(
      "[tokens]\nmax_ttl = \"1d\"\n[domain_defaults]\ntoken_ttl = \"1d\"\n"
      "[domain.\"a.org\"]\nissue_tokens = false\n");
  EXPECT_EQ(c->policyFor("a.org").token_ttl, 86400);
}

class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char tmpl[] = "/tmp/mtep-config-test-XXXXXX";
    const int fd = ::mkstemp(tmpl);
    EXPECT_GE(fd, 0);
    path_ = tmpl;
    if (fd >= 0) {
      EXPECT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
      ::close(fd);
    }
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(ConfigFile, LoadsAFileAndNamesItInErrors) {
  TempFile good("[log]\nlevel = \"error\"\n");
  auto cfg = loadFile(good.path());
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  EXPECT_EQ((*cfg)->log.level, "error");
  EXPECT_EQ((*cfg)->source, good.path());

  TempFile bad("[log]\nlevel = \"error\"\n\nbogus = 1\n");
  auto err = loadFile(bad.path());
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.error().kind(), ErrorKind::kConfig);
  EXPECT_EQ(err.error().message().rfind(bad.path() + ":4: [log] bogus:", 0), 0u)
      << err.error().message();
}

TEST(ConfigFile, MissingFileIsAConfigErrorNamingIt) {
  auto cfg = loadFile("/nonexistent/mtep.conf");
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().kind(), ErrorKind::kConfig);
  EXPECT_EQ(cfg.error().message().rfind("/nonexistent/mtep.conf: ", 0), 0u);
}

TEST(ConfigFile, DirectoryIsRefused) {
  auto cfg = loadFile("/tmp");
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.error().message().find("not a regular file"), std::string::npos);
}

TEST(ConfigFile, HugeFileIsRefused) {
  TempFile huge(std::string(2 << 20, '#'));
  auto cfg = loadFile(huge.path());
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.error().message().find("larger than"), std::string::npos);
}

}  // namespace
}  // namespace mtep::config

// The [milter] section and the per-domain require_mtep, require_mtep_from
// and mtep_unavailable keys: good values load, bad ones name FILE:LINE.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.h"

namespace mtep::config {
namespace {

ConfigPtr loadMilterKeys(const std::string& text) {
  auto cfg = loadString(text, "m.conf");
  EXPECT_TRUE(cfg.ok()) << text << "\n-> " << (cfg.ok() ? "" : cfg.error().message());
  return cfg.ok() ? *cfg : std::make_shared<Config>();
}

// The error for `text`: starts with `prefix` ("m.conf:LINE: [section] key:")
// and contains `detail`.
void expectError(const std::string& text, const std::string& prefix, const std::string& detail) {
  auto cfg = loadString(text, "m.conf");
  ASSERT_FALSE(cfg.ok()) << text;
  const std::string& msg = cfg.error().message();
  EXPECT_EQ(cfg.error().kind(), ErrorKind::kConfig);
  EXPECT_TRUE(msg.starts_with(prefix)) << "got:  " << msg << "\nwant: " << prefix << "...";
  EXPECT_NE(msg.find(detail), std::string::npos) << "got: " << msg << "\nwant part: " << detail;
}

TEST(MilterKeys, DefaultsWhenTheSectionIsMissing) {
  ConfigPtr cfg = loadMilterKeys("");
  EXPECT_EQ(cfg->milter.socket, "inet:8891@127.0.0.1");
  EXPECT_EQ(cfg->milter.authserv_id, "");
  ASSERT_EQ(cfg->milter.internal_networks.size(), 2u);
  EXPECT_EQ(cfg->milter.internal_networks[0].toString(), "127.0.0.0/8");
  EXPECT_EQ(cfg->milter.internal_networks[1].toString(), "::1/128");
  EXPECT_EQ(cfg->milter.query_timeout, 5);
  EXPECT_EQ(cfg->milter.cache_ttl, 60);
  EXPECT_EQ(cfg->milter.cache_size, 10000u);
  EXPECT_TRUE(cfg->milter.mtep_servers.empty());
  EXPECT_FALSE(cfg->domain_defaults.require_mtep);
  EXPECT_EQ(cfg->domain_defaults.require_mtep_from, std::vector<std::string>{"*"});
  EXPECT_EQ(cfg->domain_defaults.mtep_unavailable, Unavailable::kTempfail);
}

TEST(MilterKeys, AcceptsEverySocketForm) {
  for (const char* socket :
       {"inet:8891@127.0.0.1", "inet:1", "inet:65535@0.0.0.0", "inet6:8891@::1", "inet6:8891",
        "unix:/run/mtep/milter.sock", "local:/var/spool/postfix/mtep.sock"}) {
    ConfigPtr cfg = loadMilterKeys(std::string("[milter]\nsocket = \"") + socket + "\"\n");
    EXPECT_EQ(cfg->milter.socket, socket);
  }
}

TEST(MilterKeys, RefusesBadSockets) {
  const std::string long_path = "unix:/" + std::string(120, 'a');
  const std::string bad[] = {"",
                             "8891",
                             "tcp:8891@127.0.0.1",
                             "inet:0@127.0.0.1",
                             "inet:65536@127.0.0.1",
                             "inet:@127.0.0.1",
                             "inet:port@127.0.0.1",
                             "inet:8891@",
                             "inet:8891@localhost",
                             "inet:8891@::1",
                             "inet6:8891@127.0.0.1",
                             "unix:",
                             "unix:relative/path",
                             "local:milter.sock",
                             long_path};
  for (const std::string& socket : bad) {
    SCOPED_TRACE(socket);
    expectError("[milter]\n\nsocket = \"" + socket + "\"\n", "m.conf:3: [milter] socket:", "");
  }
  expectError("[milter]\nsocket = 8891\n", "m.conf:2: [milter] socket:", "expected a string");
}

TEST(MilterKeys, AuthservIdIsAPlainToken) {
  EXPECT_EQ(loadMilterKeys("[milter]\nauthserv_id = \"mx.example.org\"\n")->milter.authserv_id,
            "mx.example.org");
  const std::string bad[] = {"mx example",         "mx;x",    "mx(x)",
                             "\\\"mx\\\"",         "mx\\\\x", "\xC3\xA9x.example",
                             std::string(256, 'a')};
  for (const std::string& id : bad) {
    SCOPED_TRACE(id);
    expectError("[milter]\nauthserv_id = \"" + id + "\"\n", "m.conf:2: [milter] authserv_id:", "");
  }
  expectError("[milter]\nauthserv_id = \"a\\tb\"\n",
              "m.conf:2: [milter] authserv_id:", "control character");
}

TEST(MilterKeys, InternalNetworksReplaceTheDefault) {
  ConfigPtr cfg =
      loadMilterKeys("[milter]\ninternal_networks = [\"192.0.2.0/24\", \"2001:db8::/32\"]\n");
  ASSERT_EQ(cfg->milter.internal_networks.size(), 2u);
  auto ip = [](const char* text) { return *net::IpAddress::parse(text); };
  EXPECT_TRUE(cfg->milter.isInternal(ip("192.0.2.77")));
  EXPECT_TRUE(cfg->milter.isInternal(ip("2001:db8::5")));
  EXPECT_TRUE(cfg->milter.isInternal(ip("::ffff:192.0.2.77")));
  EXPECT_FALSE(cfg->milter.isInternal(ip("127.0.0.1")));
  EXPECT_FALSE(cfg->milter.isInternal(ip("::1")));

  ConfigPtr none = loadMilterKeys("[milter]\ninternal_networks = []\n");
  EXPECT_TRUE(none->milter.internal_networks.empty());
  EXPECT_FALSE(none->milter.isInternal(ip("127.0.0.1")));

  ConfigPtr dflt = loadMilterKeys("[milter]\n");
  EXPECT_TRUE(dflt->milter.isInternal(ip("127.1.2.3")));
  EXPECT_TRUE(dflt->milter.isInternal(ip("::1")));
  EXPECT_FALSE(dflt->milter.isInternal(ip("192.0.2.1")));
}

TEST(MilterKeys, BadInternalNetworkNamesTheLineOfTheElement) {
  expectError("[milter]\ninternal_networks = [\n  \"10.0.0.0/8\",\n  \"10.1.0.0/8\",\n]\n",
              "m.conf:4: [milter] internal_networks:", "bits set below the prefix");
  expectError("[milter]\ninternal_networks = [\"10.0.0.0/33\"]\n",
              "m.conf:2: [milter] internal_networks:", "prefix length must be 0..32");
  expectError("[milter]\ninternal_networks = [\"localhost\"]\n",
              "m.conf:2: [milter] internal_networks:", "not a numeric");
  expectError("[milter]\ninternal_networks = [\"10.0.0.0/8\", \"10.0.0.0/8\"]\n",
              "m.conf:2: [milter] internal_networks:", "listed twice");
  expectError("[milter]\ninternal_networks = \"10.0.0.0/8\"\n",
              "m.conf:2: [milter] internal_networks:", "expected a list of strings");
  expectError("[milter]\ninternal_networks = [8]\n",
              "m.conf:2: [milter] internal_networks:", "expected a string");
}

TEST(MilterKeys, QueryTimeoutBounds) {
  EXPECT_EQ(loadMilterKeys("[milter]\nquery_timeout = 1\n")->milter.query_timeout, 1);
  EXPECT_EQ(loadMilterKeys("[milter]\nquery_timeout = \"1m\"\n")->milter.query_timeout, 60);
  EXPECT_EQ(loadMilterKeys("[milter]\nquery_timeout = \"30s\"\n")->milter.query_timeout, 30);
  expectError("[milter]\nquery_timeout = 0\n",
              "m.conf:2: [milter] query_timeout:", "out of range 1s..1m");
  expectError("[milter]\nquery_timeout = \"61s\"\n",
              "m.conf:2: [milter] query_timeout:", "out of range");
  expectError("[milter]\nquery_timeout = \"5 s\"\n",
              "m.conf:2: [milter] query_timeout:", "not a duration");
  expectError("[milter]\nquery_timeout = 1.5\n",
              "m.conf:2: [milter] query_timeout:", "expected a duration");
  EXPECT_EQ(loadMilterKeys("[milter]\ncache_ttl = 0\n")->milter.cache_ttl, 0);
  expectError("[milter]\ncache_ttl = \"2h\"\n", "m.conf:2: [milter] cache_ttl:", "out of range");
  expectError("[milter]\ncache_size = -1\n", "m.conf:2: [milter] cache_size:", "out of range");
}

TEST(MilterKeys, MtepServersExactThenNearestParent) {
  ConfigPtr cfg = loadMilterKeys(
      "[milter.mtep_servers]\n"
      "\"Example.ORG\" = \"mtep.example.org\"\n"
      "\".example.org\" = \"[2001:db8::7]:7000\"\n"
      "\".deep.example.org\" = \"192.0.2.5:6212\"\n"
      "\"alpha.test\" = \"localhost:16211\"\n");
  const MilterConfig& m = cfg->milter;
  ASSERT_NE(m.serverFor("example.org"), nullptr);
  EXPECT_EQ(m.serverFor("example.org")->toString(), "mtep.example.org:6211");
  EXPECT_EQ(m.serverFor("EXAMPLE.org.")->toString(), "mtep.example.org:6211");
  ASSERT_NE(m.serverFor("a.example.org"), nullptr);
  EXPECT_EQ(m.serverFor("a.example.org")->toString(), "[2001:db8::7]:7000");
  EXPECT_EQ(m.serverFor("x.y.example.org")->toString(), "[2001:db8::7]:7000");
  EXPECT_EQ(m.serverFor("x.deep.example.org")->toString(), "192.0.2.5:6212");
  EXPECT_EQ(m.serverFor("deep.example.org")->toString(), "[2001:db8::7]:7000");
  EXPECT_EQ(m.serverFor("alpha.test")->port, 16211);
  EXPECT_EQ(m.serverFor("other.org"), nullptr);
  EXPECT_EQ(m.serverFor("notexample.org"), nullptr);
  EXPECT_EQ(m.serverFor("sub.alpha.test"), nullptr) << "an exact key covers no subdomain";
  EXPECT_EQ(m.serverFor(""), nullptr);

  ConfigPtr inline_form =
      loadMilterKeys("[milter]\nmtep_servers = { \"a.test\" = \"127.0.0.1:1\" }\n");
  EXPECT_EQ(inline_form->milter.serverFor("a.test")->toString(), "127.0.0.1:1");
}

TEST(MilterKeys, BadMtepServers) {
  struct Case {
    const char* body;
    const char* detail;
  };
  const Case cases[] = {
      {"\"a.test\" = \"bad host!\"", "not a host name"},
      {"\"a.test\" = \"host:0\"", "not a number 1..65535"},
      {"\"a.test\" = \"host:\"", "not a number"},
      {"\"a.test\" = \"::1\"", "brackets"},
      {"\"a.test\" = \"[::1\"", "missing ]"},
      {"\"a.test\" = \"[nothex]:1\"", "not a numeric IPv6"},
      {"\"a.test\" = \"[::1]x\"", "expected :PORT"},
      {"\"a.test\" = \"\"", "not a host name"},
      {"\"a.test\" = 6211", "expected a \"HOST[:PORT]\" string"},
      {"\"not a domain\" = \"host\"", "not a domain name"},
      {"\"a.test\" = \"h1\"\n\"A.test\" = \"h2\"", "listed twice"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    expectError(std::string("[milter.mtep_servers]\n") + c.body + "\n", "m.conf:", c.detail);
  }
  expectError("[milter]\nmtep_servers = \"a.test=host\"\n",
              "m.conf:2: [milter] mtep_servers:", "expected a table");
  // The line of the bad entry, not of the section.
  expectError("[milter.mtep_servers]\n\"a.test\" = \"h\"\n\"b.test\" = \"bad host\"\n",
              "m.conf:3: [milter] mtep_servers:", "not a host name");
}

TEST(DomainMtepKeys, RequireMtepFromPatterns) {
  ConfigPtr cfg = loadMilterKeys(
      "[domain.\"beta.test\"]\nrequire_mtep = true\n"
      "require_mtep_from = [\"*.Onion\", \"alpha.test\"]\n");
  const DomainPolicy& p = cfg->policyFor("beta.test");
  EXPECT_TRUE(p.require_mtep);
  EXPECT_EQ(p.require_mtep_from, (std::vector<std::string>{"*.onion", "alpha.test"}));
  EXPECT_TRUE(p.requiresMtepFrom("x.onion"));
  EXPECT_TRUE(p.requiresMtepFrom("a.b.ONION."));
  EXPECT_TRUE(p.requiresMtepFrom("alpha.test"));
  EXPECT_TRUE(p.requiresMtepFrom("Alpha.Test."));
  EXPECT_FALSE(p.requiresMtepFrom("onion"));
  EXPECT_FALSE(p.requiresMtepFrom("xonion"));
  EXPECT_FALSE(p.requiresMtepFrom("sub.alpha.test"));
  EXPECT_FALSE(p.requiresMtepFrom("gamma.test"));
  EXPECT_FALSE(p.requiresMtepFrom(""));
  // Without require_mtep the patterns do nothing.
  EXPECT_FALSE(cfg->policyFor("gamma.test").requiresMtepFrom("x.onion"));
  // The default "*" covers every sender, the null one too.
  ConfigPtr all = loadMilterKeys("[domain_defaults]\nrequire_mtep = true\n");
  EXPECT_TRUE(all->policyFor("any.test").requiresMtepFrom("x.test"));
  EXPECT_TRUE(all->policyFor("any.test").requiresMtepFrom(""));
}

TEST(DomainMtepKeys, BadRequireMtepFromPatterns) {
  const char* bad[] = {"a*.b", "*.*.b", "*a.b", "b.*", "*.", "", "exa mple.org", "-x.org", "**"};
  for (const char* pattern : bad) {
    SCOPED_TRACE(pattern);
    expectError(
        std::string("[domain.\"beta.test\"]\nrequire_mtep = true\nrequire_mtep_from = [\"") +
            pattern + "\"]\n",
        "m.conf:3: [domain.\"beta.test\"] require_mtep_from:", "");
  }
  expectError("[domain_defaults]\nrequire_mtep_from = [\"a*.b\"]\n",
              "m.conf:2: [domain_defaults] require_mtep_from:",
              "\"*\" is allowed alone or as the first label");
  expectError("[domain_defaults]\nrequire_mtep_from = []\n",
              "m.conf:2: [domain_defaults] require_mtep_from:", "empty");
  expectError("[domain_defaults]\nrequire_mtep_from = \"*\"\n",
              "m.conf:2: [domain_defaults] require_mtep_from:", "expected a list of strings");
  expectError("[domain_defaults]\nrequire_mtep = \"yes\"\n",
              "m.conf:2: [domain_defaults] require_mtep:", "expected true or false");
}

TEST(DomainMtepKeys, MtepUnavailableValues) {
  ConfigPtr cfg = loadMilterKeys(
      "[domain_defaults]\nmtep_unavailable = \"reject\"\n"
      "[domain.\"a.test\"]\nmtep_unavailable = \"accept\"\n"
      "[domain.\"t.test\"]\nmtep_unavailable = \"tempfail\"\n"
      "[domain.\"d.test\"]\nrequire_mtep = true\n");
  EXPECT_EQ(cfg->policyFor("a.test").mtep_unavailable, Unavailable::kAccept);
  EXPECT_EQ(cfg->policyFor("t.test").mtep_unavailable, Unavailable::kTempfail);
  EXPECT_EQ(cfg->policyFor("d.test").mtep_unavailable, Unavailable::kReject)
      << "a domain section inherits [domain_defaults]";
  EXPECT_EQ(cfg->policyFor("other.test").mtep_unavailable, Unavailable::kReject);
  EXPECT_STREQ(unavailableName(Unavailable::kTempfail), "tempfail");
  EXPECT_STREQ(unavailableName(Unavailable::kAccept), "accept");
  EXPECT_STREQ(unavailableName(Unavailable::kReject), "reject");
  for (const char* bad : {"defer", "Reject", "", "accept "}) {
    SCOPED_TRACE(bad);
    expectError(std::string("[domain.\"a.test\"]\n\nmtep_unavailable = \"") + bad + "\"\n",
                "m.conf:3: [domain.\"a.test\"] mtep_unavailable:",
                "is not one of tempfail, accept, reject");
  }
  expectError("[domain_defaults]\nmtep_unavailable = 1\n",
              "m.conf:2: [domain_defaults] mtep_unavailable:", "expected a string");
}

TEST(MilterKeys, UnknownKeyInMilterSection) {
  expectError("[milter]\nsocket = \"inet:1\"\nrequire_mtep = true\n",
              "m.conf:3: [milter] require_mtep:", "belongs in [domain_defaults]");
}

TEST(MilterKeys, TlsPinsOneOrManyPerDomainLowerCasedParentCovers) {
  const std::string a(52, 'a');
  const std::string b = std::string(51, 'B') + "7";
  ConfigPtr cfg =
      loadMilterKeys("[milter]\ntls_pins = { \"Alpha.Test\" = \"" + a + "\", \".beta.test\" = [\"" +
                     a + "\", \"" + b + "\"] }\ntls_ca_file = \"/etc/mtep/ca.pem\"\n");
  ASSERT_NE(cfg, nullptr);
  const auto* alpha = cfg->milter.tlsPinsFor("alpha.test.");
  ASSERT_NE(alpha, nullptr);
  EXPECT_EQ(*alpha, std::vector<std::string>{a});
  const auto* sub = cfg->milter.tlsPinsFor("mx.beta.test");
  ASSERT_NE(sub, nullptr);
  EXPECT_EQ(*sub, (std::vector<std::string>{a, std::string(51, 'b') + "7"}));
  EXPECT_EQ(cfg->milter.tlsPinsFor("gamma.test"), nullptr);
  EXPECT_EQ(cfg->milter.tls_ca_file, "/etc/mtep/ca.pem");
}

TEST(MilterKeys, BadTlsPinsNameTheLine) {
  const std::string good(52, 'a');
  struct Case {
    std::string body;
    const char* detail;
  };
  const Case cases[] = {
      {"\"a.test\" = \"abc\"", "52 base32 characters"},
      {"\"a.test\" = \"" + std::string(51, 'a') + "1\"", "base32"},
      {"\"a.test\" = []", "empty"},
      {"\"a.test\" = [\"" + good + "\", \"" + good + "\"]", "listed twice"},
      {"\"a.test\" = 5", "FINGERPRINT"},
      {"\"not a domain\" = \"" + good + "\"", "not a domain name"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    expectError("[milter.tls_pins]\n" + c.body + "\n", "m.conf:2", c.detail);
  }
  expectError("[milter]\ntls_ca_file = \"relative.pem\"\n", "m.conf:2: [milter] tls_ca_file:", "");
}

TEST(MilterKeys, AllowPrivateTargetsIsAListOfNetworks) {
  ConfigPtr cfg =
      loadMilterKeys("[milter]\nallow_private_targets = [\"10.0.0.0/8\", \"fd00::/8\"]\n");
  ASSERT_NE(cfg, nullptr);
  ASSERT_EQ(cfg->milter.allow_private_targets.size(), 2u);
  EXPECT_EQ(cfg->milter.allow_private_targets[0].toString(), "10.0.0.0/8");
  EXPECT_TRUE(loadMilterKeys("")->milter.allow_private_targets.empty());
  expectError("[milter]\nallow_private_targets = [\"10.1.2.3/8\"]\n",
              "m.conf:2: [milter] allow_private_targets:", "");
}

}  // namespace
}  // namespace mtep::config

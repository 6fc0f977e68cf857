// [mmtp] and the per-domain MMTP keys: defaults, values, refusals naming
// file and line, the cross-key checks, and the lookups the gateway uses.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"

namespace mtep::config {
namespace {

constexpr char kPin[] = "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst";  // 52 base32

ConfigPtr mustLoadMmtp(const std::string& text) {
  auto cfg = loadString(text, "test.conf");
  EXPECT_TRUE(cfg.ok()) << (cfg.ok() ? "" : cfg.error().message()) << "\n--- input:\n" << text;
  return cfg.ok() ? *cfg : std::make_shared<Config>();
}

std::string loadError(const std::string& text) {
  auto cfg = loadString(text, "test.conf");
  return cfg.ok() ? std::string("(loaded)") : cfg.error().message();
}

// The refusal names the file, the line, the section and the key.
void expectRefused(const std::string& text, const std::string& where, const std::string& what) {
  const std::string err = loadError(text);
  EXPECT_NE(err.find(where), std::string::npos) << "want " << where << ", got: " << err;
  EXPECT_NE(err.find(what), std::string::npos) << "want " << what << ", got: " << err;
}

TEST(MmtpKeys, DefaultsAreOffAndMatchTheDesign) {
  ConfigPtr c = mustLoadMmtp("");
  const MmtpConfig& m = c->mmtp;
  EXPECT_TRUE(m.listen.empty());
  EXPECT_TRUE(m.tls_listen.empty());
  EXPECT_TRUE(m.lmtp_listen.empty());
  EXPECT_EQ(m.inject_to.toString(), "127.0.0.1:25");
  EXPECT_TRUE(m.domains.empty());
  EXPECT_TRUE(m.servers.empty());
  EXPECT_EQ(m.tls_ca_file, "");
  EXPECT_TRUE(m.tls_pins.empty());
  EXPECT_EQ(m.difficulty, 5);  // what the reference client mints
  EXPECT_EQ(m.stamp_window, 3600);
  EXPECT_EQ(m.max_request_size, 1048576u);
  EXPECT_EQ(m.max_reply_size, 16777216u);
  EXPECT_EQ(m.mailbox_quota, 1000u);
  EXPECT_EQ(m.mailbox_size_limit, 52428800u);
  EXPECT_EQ(m.message_ttl, 30 * 86400);
  EXPECT_EQ(m.max_connections, 1024u);
  EXPECT_EQ(m.max_connections_per_client, 32u);
  EXPECT_EQ(m.idle_timeout, 300);
  EXPECT_EQ(m.dial_timeout, 30);
  EXPECT_EQ(m.reply_timeout, 60);
  EXPECT_EQ(c->domain_defaults.mmtp_delivery, MmtpDelivery::kOff);
  EXPECT_EQ(c->domain_defaults.mmtp_difficulty, 0);
  EXPECT_FALSE(m.isMmtpDomain("example.org"));
  EXPECT_EQ(c->mmtpDifficultyFor("example.org"), 5);
}

TEST(MmtpKeys, EveryKeyTakesAValue) {
  ConfigPtr c = mustLoadMmtp(
      "[mmtp]\n"
      "listen = [\"127.0.0.1:8025\"]\n"
      "tls_listen = [\"0.0.0.0:8026\", \"[::]:8026\"]\n"
      "lmtp_listen = [\"127.0.0.1:10026\"]\n"
      "inject_to = \"[::1]:10025\"\n"
      "domains = [\"Gamma.Test\", \"delta.test\"]\n"
      "servers = { \"Epsilon.Test\" = \"mmtp.epsilon.test\", \"zeta.test\" = \"192.0.2.7:9026\" }\n"
      "tls_ca_file = \"/etc/mtep/mmtp-ca.pem\"\n"
      "tls_pins = { \"gamma.test\" = \"" +
      std::string(kPin) +
      "\" }\n"
      "difficulty = 6\n"
      "stamp_window = \"10m\"\n"
      "max_request_size = 65536\n"
      "max_reply_size = 1048576\n"
      "mailbox_quota = 50\n"
      "mailbox_size_limit = 1099511627776\n"
      "message_ttl = \"7d\"\n"
      "max_connections = 100\n"
      "max_connections_per_client = 4\n"
      "idle_timeout = \"1m\"\n"
      "dial_timeout = \"5s\"\n"
      "reply_timeout = \"2m\"\n");
  const MmtpConfig& m = c->mmtp;
  ASSERT_EQ(m.listen.size(), 1u);
  EXPECT_EQ(m.listen[0].toString(), "127.0.0.1:8025");
  ASSERT_EQ(m.tls_listen.size(), 2u);
  EXPECT_EQ(m.tls_listen[1].toString(), "[::]:8026");
  ASSERT_EQ(m.lmtp_listen.size(), 1u);
  EXPECT_EQ(m.lmtp_listen[0].port, 10026);
  EXPECT_EQ(m.inject_to.toString(), "[::1]:10025");
  EXPECT_EQ(m.domains, (std::vector<std::string>{"gamma.test", "delta.test"}));
  EXPECT_EQ(m.servers.size(), 2u);
  EXPECT_EQ(m.tls_ca_file, "/etc/mtep/mmtp-ca.pem");
  ASSERT_NE(m.tlsPinsFor("GAMMA.test"), nullptr);
  EXPECT_EQ(m.tlsPinsFor("gamma.test")->at(0), kPin);
  EXPECT_EQ(m.tlsPinsFor("delta.test"), nullptr);
  EXPECT_EQ(m.difficulty, 6);
  EXPECT_EQ(m.stamp_window, 600);
  EXPECT_EQ(m.max_request_size, 65536u);
  EXPECT_EQ(m.max_reply_size, 1048576u);
  EXPECT_EQ(m.mailbox_quota, 50u);
  EXPECT_EQ(m.mailbox_size_limit, uint64_t{1} << 40);
  EXPECT_EQ(m.message_ttl, 7 * 86400);
  EXPECT_EQ(m.max_connections, 100u);
  EXPECT_EQ(m.max_connections_per_client, 4u);
  EXPECT_EQ(m.idle_timeout, 60);
  EXPECT_EQ(m.dial_timeout, 5);
  EXPECT_EQ(m.reply_timeout, 120);
}

TEST(MmtpKeys, IsMmtpDomainIsExactAndIgnoresCase) {
  ConfigPtr c = mustLoadMmtp(
      "[mmtp]\ndomains = [\"gamma.test\"]\nservers = { \"Epsilon.Test\" = \"mmtp.epsilon.test\" "
      "}\n");
  const MmtpConfig& m = c->mmtp;
  EXPECT_TRUE(m.isMmtpDomain("gamma.test"));
  EXPECT_TRUE(m.isMmtpDomain("GAMMA.TEST"));
  EXPECT_TRUE(m.isMmtpDomain("gamma.test."));
  EXPECT_TRUE(m.isMmtpDomain("epsilon.test"));  // servers marks its domains too
  EXPECT_TRUE(m.isMmtpDomain("EPSILON.test"));
  // Exact: neither subdomains nor parents, nor a suffix that merely matches.
  EXPECT_FALSE(m.isMmtpDomain("sub.gamma.test"));
  EXPECT_FALSE(m.isMmtpDomain("test"));
  EXPECT_FALSE(m.isMmtpDomain("xgamma.test"));
  EXPECT_FALSE(m.isMmtpDomain(".gamma.test"));
  EXPECT_FALSE(m.isMmtpDomain("sub.epsilon.test"));
  EXPECT_FALSE(m.isMmtpDomain(""));
  EXPECT_FALSE(m.isMmtpDomain("beta.test"));
}

TEST(MmtpKeys, ServerForDefaultsToPort8026AndIsNullForDomainsOnly) {
  ConfigPtr c = mustLoadMmtp(
      "[mmtp]\ndomains = [\"gamma.test\"]\n"
      "servers = { \"epsilon.test\" = \"mmtp.epsilon.test\", \"zeta.test\" = "
      "\"[2001:db8::7]:9026\", "
      "\"eta.test\" = \"192.0.2.9\" }\n");
  const MmtpConfig& m = c->mmtp;
  ASSERT_NE(m.serverFor("Epsilon.Test"), nullptr);
  EXPECT_EQ(m.serverFor("epsilon.test")->toString(), "mmtp.epsilon.test:8026");
  EXPECT_EQ(m.serverFor("zeta.test")->toString(), "[2001:db8::7]:9026");
  EXPECT_EQ(m.serverFor("eta.test")->port, 8026);
  EXPECT_EQ(m.serverFor("gamma.test"), nullptr);  // reached at its own name
  EXPECT_EQ(m.serverFor("sub.epsilon.test"), nullptr);
  EXPECT_EQ(m.serverFor("beta.test"), nullptr);
}

TEST(MmtpKeys, DomainsAndServersAreExactNames) {
  expectRefused("[mmtp]\ndomains = [\"gamma.test\", \".lists.test\"]\n",
                "test.conf:2:", "exact names");
  expectRefused("[mmtp]\n\nservers = { \".lists.test\" = \"mmtp.lists.test\" }\n",
                "test.conf:3:", "exact names");
  expectRefused("[mmtp]\ndomains = [\"not a domain\"]\n", "test.conf:2: [mmtp] domains",
                "not a domain name");
  expectRefused("[mmtp]\ndomains = [\"Gamma.Test\",\n  \"gamma.test\"]\n",
                "test.conf:3:", "listed twice");
  expectRefused("[mmtp]\ndomains = \"gamma.test\"\n", "test.conf:2: [mmtp] domains",
                "a list of strings");
  expectRefused("[mmtp]\nservers = { \"gamma.test\" = \"host:99999\" }\n",
                "test.conf:2: [mmtp] servers", "");
  expectRefused("[mmtp]\nservers = { \"Gamma.test\" = \"a\", \"gamma.TEST\" = \"b\" }\n",
                "test.conf:2: [mmtp] servers", "listed twice");
  // A domain in both domains and servers is fine: servers says where.
  ConfigPtr c = mustLoadMmtp(
      "[mmtp]\ndomains = [\"gamma.test\"]\nservers = { \"gamma.test\" = \"mmtp.gamma.test\" }\n");
  ASSERT_NE(c->mmtp.serverFor("gamma.test"), nullptr);
  EXPECT_EQ(c->mmtp.serverFor("gamma.test")->host, "mmtp.gamma.test");
}

TEST(MmtpKeys, ListenersRefusePort25NamingFileAndLine) {
  expectRefused("[mmtp]\nlisten = [\"127.0.0.1:8025\",\n  \"0.0.0.0:25\"]\n",
                "test.conf:3: [mmtp] listen", "port 25");
  expectRefused("[mmtp]\n\ntls_listen = [\"[::]:25\"]\n", "test.conf:3: [mmtp] tls_listen",
                "port 25");
  expectRefused("[mmtp]\nlisten = [\"mx.example.org:8025\"]\n", "test.conf:2: [mmtp] listen", "");
  expectRefused("[mmtp]\nlisten = [\"127.0.0.1:8025\", \"127.0.0.1:8025\"]\n",
                "test.conf:2: [mmtp] listen", "listed twice");
  ConfigPtr c =
      mustLoadMmtp("[mmtp]\nlisten = [\"127.0.0.1:2525\"]\ntls_listen = [\"[::1]:8026\"]\n");
  EXPECT_EQ(c->mmtp.listen.at(0).port, 2525);
  EXPECT_EQ(c->mmtp.tls_listen.at(0).port, 8026);
}

TEST(MmtpKeys, BadValuesNameFileAndLine) {
  struct Case {
    const char* line;
    const char* want;
  };
  for (const Case& k : {
           Case{"difficulty = 0", "1..8"},
           Case{"difficulty = 9", "1..8"},
           Case{"difficulty = \"5\"", "integer"},
           Case{"stamp_window = \"30s\"", "stamp_window"},
           Case{"stamp_window = \"8d\"", "stamp_window"},
           Case{"stamp_window = \"1 hour\"", "stamp_window"},
           Case{"max_request_size = 4095", "4096..67108864"},
           Case{"max_request_size = 67108865", "4096..67108864"},
           Case{"max_reply_size = 65535", "65536..1073741824"},
           Case{"max_reply_size = 1073741825", "65536..1073741824"},
           Case{"mailbox_quota = 0", "mailbox_quota"},
           Case{"mailbox_quota = 1000001", "mailbox_quota"},
           Case{"mailbox_size_limit = 65535", "mailbox_size_limit"},
           Case{"mailbox_size_limit = 1099511627777", "mailbox_size_limit"},
           Case{"mailbox_size_limit = -1", "mailbox_size_limit"},
           Case{"message_ttl = \"59m\"", "message_ttl"},
           Case{"message_ttl = \"3651d\"", "message_ttl"},
           Case{"max_connections = 0", "max_connections"},
           Case{"max_connections = 100001", "max_connections"},
           Case{"max_connections_per_client = 0", "max_connections_per_client"},
           Case{"max_connections_per_client = 100001", "max_connections_per_client"},
           Case{"idle_timeout = 0", "idle_timeout"},
           Case{"idle_timeout = \"2h\"", "idle_timeout"},
           Case{"dial_timeout = 0", "dial_timeout"},
           Case{"dial_timeout = \"11m\"", "dial_timeout"},
           Case{"reply_timeout = 0", "reply_timeout"},
           Case{"reply_timeout = \"61m\"", "reply_timeout"},
           Case{"inject_to = \"host:0\"", "inject_to"},
           Case{"inject_to = 25", "inject_to"},
           Case{"lmtp_listen = \"127.0.0.1:10026\"", "lmtp_listen"},
           Case{"tls_ca_file = \"relative.pem\"", "tls_ca_file"},
           Case{"tls_pins = { \"gamma.test\" = \"short\" }", "fingerprint"},
           Case{"frobnicate = 1", "unknown key"},
       }) {
    SCOPED_TRACE(k.line);
    expectRefused(std::string("# comment\n[mmtp]\n") + k.line + "\n", "test.conf:3: [mmtp]",
                  k.want);
  }
}

TEST(MmtpKeys, ReplySizeMustHoldTheLargestRequest) {
  expectRefused("[mmtp]\nmax_request_size = 67108864\n", "test.conf:2: [mmtp] max_reply_size",
                "at least max_request_size 67108864");
  expectRefused("[mmtp]\nmax_request_size = 1048576\n\nmax_reply_size = 1048575\n",
                "test.conf:4: [mmtp] max_reply_size", "at least max_request_size");
  ConfigPtr c = mustLoadMmtp("[mmtp]\nmax_request_size = 1048576\nmax_reply_size = 1048576\n");
  EXPECT_EQ(c->mmtp.max_reply_size, c->mmtp.max_request_size);
}

TEST(MmtpKeys, DeliveryPerDomainTakesOffMailboxMta) {
  ConfigPtr c = mustLoadMmtp(
      "[domain.\"alpha.test\"]\nmmtp_delivery = \"mailbox\"\n"
      "[domain.\"beta.test\"]\nmmtp_delivery = \"mta\"\n"
      "[domain.\"gamma.test\"]\nmmtp_delivery = \"off\"\n"
      "[domain.\".lists.test\"]\nmmtp_delivery = \"mailbox\"\n");
  EXPECT_EQ(c->policyFor("alpha.test").mmtp_delivery, MmtpDelivery::kMailbox);
  EXPECT_EQ(c->policyFor("BETA.test").mmtp_delivery, MmtpDelivery::kMta);
  EXPECT_EQ(c->policyFor("gamma.test").mmtp_delivery, MmtpDelivery::kOff);
  EXPECT_EQ(c->policyFor("a.lists.test").mmtp_delivery, MmtpDelivery::kMailbox);
  EXPECT_EQ(c->policyFor("other.test").mmtp_delivery, MmtpDelivery::kOff);
  EXPECT_STREQ(mmtpDeliveryName(MmtpDelivery::kOff), "off");
  EXPECT_STREQ(mmtpDeliveryName(MmtpDelivery::kMailbox), "mailbox");
  EXPECT_STREQ(mmtpDeliveryName(MmtpDelivery::kMta), "mta");
  expectRefused("[domain.\"alpha.test\"]\n\nmmtp_delivery = \"relay\"\n",
                "test.conf:3: [domain.\"alpha.test\"] mmtp_delivery",
                "not one of off, mailbox, mta");
  expectRefused("[domain.\"alpha.test\"]\nmmtp_delivery = \"Mailbox\"\n",
                "test.conf:2:", "not one of");
  expectRefused("[domain.\"alpha.test\"]\nmmtp_delivery = true\n", "test.conf:2:", "string");
}

// Every domain in the world would be served: the gateway would take (and
// with "mta", hand its MTA from loopback) mail for any domain.
TEST(MmtpKeys, DomainDefaultsNeverDeliver) {
  expectRefused("[domain_defaults]\n\nmmtp_delivery = \"mta\"\n",
                "test.conf:3: [domain_defaults] mmtp_delivery", "every domain");
  expectRefused("[domain_defaults]\nmmtp_delivery = \"mailbox\"\n",
                "test.conf:2: [domain_defaults] mmtp_delivery", "every domain");
  ConfigPtr c = mustLoadMmtp("[domain_defaults]\nmmtp_delivery = \"off\"\n");
  EXPECT_EQ(c->domain_defaults.mmtp_delivery, MmtpDelivery::kOff);
}

TEST(MmtpKeys, ARemoteMmtpDomainIsNotServedHere) {
  expectRefused(
      "[mmtp]\ndomains = [\"other.test\",\n  \"Alpha.Test\"]\n"
      "[domain.\"alpha.test\"]\nmmtp_delivery = \"mailbox\"\n",
      "test.conf:3: [mmtp] domains", "\"Alpha.Test\"");
  expectRefused(
      "[mmtp]\nservers = { \"a.lists.test\" = \"mmtp.lists.test\" }\n"
      "[domain.\".lists.test\"]\nmmtp_delivery = \"mta\"\n",
      "test.conf:2: [mmtp] servers", "mmtp_delivery = \"mta\"");
  // Reported once: a [domain_defaults] that delivers is its own error.
  const std::string err =
      loadError("[mmtp]\ndomains = [\"alpha.test\"]\n[domain_defaults]\nmmtp_delivery = \"mta\"\n");
  EXPECT_NE(err.find("test.conf:4: [domain_defaults] mmtp_delivery"), std::string::npos) << err;
  EXPECT_EQ(err.find("remote MMTP domain"), std::string::npos) << err;
  // Off (or a domain section without mmtp_delivery) is fine.
  ConfigPtr c = mustLoadMmtp(
      "[mmtp]\ndomains = [\"alpha.test\"]\n[domain.\"alpha.test\"]\nmmtp_difficulty = 7\n");
  EXPECT_TRUE(c->mmtp.isMmtpDomain("alpha.test"));
}

TEST(MmtpKeys, DifficultyForADomainFallsBackToTheSection) {
  ConfigPtr c = mustLoadMmtp(
      "[mmtp]\ndifficulty = 4\n"
      "[domain.\"alpha.test\"]\nmmtp_delivery = \"mailbox\"\nmmtp_difficulty = 6\n"
      "[domain.\"beta.test\"]\nmmtp_delivery = \"mta\"\n"
      "[domain.\".gamma.test\"]\nmmtp_difficulty = 8\n");
  EXPECT_EQ(c->mmtpDifficultyFor("alpha.test"), 6);
  EXPECT_EQ(c->mmtpDifficultyFor("ALPHA.test."), 6);
  EXPECT_EQ(c->mmtpDifficultyFor("beta.test"), 4);  // 0 in its section: [mmtp] difficulty
  EXPECT_EQ(c->mmtpDifficultyFor("x.gamma.test"), 8);
  EXPECT_EQ(c->mmtpDifficultyFor("unknown.test"), 4);
  EXPECT_EQ(mustLoadMmtp("")->mmtpDifficultyFor("alpha.test"), 5);
  expectRefused("[domain.\"alpha.test\"]\nmmtp_difficulty = 9\n",
                "test.conf:2: [domain.\"alpha.test\"] mmtp_difficulty", "0..8");
  expectRefused("[domain_defaults]\nmmtp_difficulty = -1\n",
                "test.conf:2: [domain_defaults] mmtp_difficulty", "0..8");
}

}  // namespace
}  // namespace mtep::config

// The sender-signature keys: [milter] key_servers (port 25 by default),
// the key cache, [mtepd] user_keys and its login limits, and the
// per-domain check_signatures, reject_bad_signatures, require_signature_from.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.h"

namespace mtep::config {
namespace {

ConfigPtr loadSignatureKeys(const std::string& text) {
  auto cfg = loadString(text, "s.conf");
  EXPECT_TRUE(cfg.ok()) << text << "\n-> " << (cfg.ok() ? "" : cfg.error().message());
  return cfg.ok() ? *cfg : std::make_shared<Config>();
}

std::string errorOf(const std::string& text) {
  auto cfg = loadString(text, "s.conf");
  return cfg.ok() ? std::string("(loaded)") : cfg.error().message();
}

TEST(SignatureKeys, Defaults) {
  ConfigPtr cfg = loadSignatureKeys("");
  EXPECT_TRUE(cfg->milter.key_servers.empty());
  EXPECT_EQ(cfg->milter.key_cache_ttl, 3600);
  EXPECT_EQ(cfg->milter.key_cache_size, 10000u);
  EXPECT_EQ(cfg->milter.max_signed_message_size, 10485760u);
  EXPECT_TRUE(cfg->mtepd.user_keys);
  EXPECT_EQ(cfg->mtepd.auth_failures_per_client.toString(), "5/15m");
  EXPECT_EQ(cfg->mtepd.auth_failures_per_user.toString(), "10/1h");
  EXPECT_FALSE(cfg->domain_defaults.check_signatures);
  EXPECT_FALSE(cfg->domain_defaults.reject_bad_signatures);
  EXPECT_TRUE(cfg->domain_defaults.require_signature_from.empty());
  EXPECT_FALSE(cfg->domain_defaults.checksSignaturesFrom("alpha.test"));
}

TEST(SignatureKeys, KeyServersDefaultToPort25) {
  ConfigPtr cfg = loadSignatureKeys(
      "[milter]\nkey_servers = { \"alpha.test\" = \"127.0.0.1\", \".beta.test\" = "
      "\"mx.beta.test:2525\", \"Gamma.Test\" = \"[::1]\" }\n");
  ASSERT_EQ(cfg->milter.key_servers.size(), 3u);
  EXPECT_EQ(cfg->milter.key_servers.at("alpha.test").toString(), "127.0.0.1:25");
  EXPECT_EQ(cfg->milter.key_servers.at(".beta.test").toString(), "mx.beta.test:2525");
  EXPECT_EQ(cfg->milter.key_servers.at("gamma.test").toString(), "[::1]:25");
  // mtep_servers keep 6211.
  cfg = loadSignatureKeys("[milter]\nmtep_servers = { \"alpha.test\" = \"127.0.0.1\" }\n");
  EXPECT_EQ(cfg->milter.mtep_servers.at("alpha.test").port, 6211);
}

TEST(SignatureKeys, BadValuesNameFileAndLine) {
  EXPECT_TRUE(
      errorOf("[milter]\n\nkey_servers = { \"a.test\" = \"h:0\" }\n").starts_with("s.conf:3:"));
  EXPECT_TRUE(errorOf("[mtepd]\nauth_failures_per_user = \"lots\"\n")
                  .starts_with("s.conf:2: [mtepd] auth_failures_per_user:"));
  EXPECT_TRUE(errorOf("[milter]\nkey_cache_ttl = \"8d\"\n").starts_with("s.conf:2:"));
  EXPECT_TRUE(errorOf("[milter]\nmax_signed_message_size = 10\n").starts_with("s.conf:2:"));
  EXPECT_TRUE(
      errorOf("[domain_defaults]\nrequire_signature_from = [\"*x\"]\n").starts_with("s.conf:2:"));
  EXPECT_TRUE(errorOf("[domain_defaults]\ncheck_signatures = 1\n").starts_with("s.conf:2:"));
}

TEST(SignatureKeys, RequireSignatureFromMatchesLikeRequireMtepFrom) {
  ConfigPtr cfg = loadSignatureKeys(
      "[domain.\"beta.test\"]\nrequire_signature_from = [\"Alpha.Test\", \"*.onion\"]\n"
      "[domain.\"gamma.test\"]\ncheck_signatures = true\nreject_bad_signatures = true\n"
      "[mtepd]\nuser_keys = false\nauth_failures_per_client = \"\"\n");
  const DomainPolicy& beta = cfg->policyFor("beta.test");
  EXPECT_TRUE(beta.requiresSignatureFrom("alpha.test"));
  EXPECT_TRUE(beta.requiresSignatureFrom("ALPHA.test."));
  EXPECT_TRUE(beta.requiresSignatureFrom("x.onion"));
  EXPECT_FALSE(beta.requiresSignatureFrom("onion"));
  EXPECT_FALSE(beta.requiresSignatureFrom("sub.alpha.test"));
  EXPECT_TRUE(beta.checksSignaturesFrom("alpha.test"));
  EXPECT_FALSE(beta.checksSignaturesFrom("other.test"));
  EXPECT_FALSE(beta.check_signatures);
  const DomainPolicy& gamma = cfg->policyFor("gamma.test");
  EXPECT_TRUE(gamma.checksSignaturesFrom("anyone.test"));
  EXPECT_TRUE(gamma.reject_bad_signatures);
  EXPECT_FALSE(gamma.requiresSignatureFrom("anyone.test"));
  EXPECT_FALSE(cfg->mtepd.user_keys);
  EXPECT_FALSE(cfg->mtepd.auth_failures_per_client.enabled());
}

}  // namespace
}  // namespace mtep::config

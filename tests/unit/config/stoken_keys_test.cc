// [stoken] and the per-domain submission token keys: defaults, values,
// refusals naming file and line.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"

namespace mtep::config {
namespace {

ConfigPtr mustLoadStoken(const std::string& text) {
  auto cfg = loadString(text, "test.conf");
  EXPECT_TRUE(cfg.ok()) << (cfg.ok() ? "" : cfg.error().message());
  return cfg.ok() ? *cfg : std::make_shared<Config>();
}

std::string loadErrorStoken(const std::string& text) {
  auto cfg = loadString(text, "test.conf");
  return cfg.ok() ? std::string("(loaded)") : cfg.error().message();
}

TEST(StokenKeys, TheTokenServerNeverListensOnPort25) {
  EXPECT_NE(loadErrorStoken("[stoken]\nlisten = [\"127.0.0.1:465\", \"0.0.0.0:25\"]\n")
                .find("test.conf:2"),
            std::string::npos);
  EXPECT_NE(loadErrorStoken("[stoken]\nstarttls_listen = [\"[::1]:25\"]\n").find("port 25"),
            std::string::npos);
  ConfigPtr c = mustLoadStoken(
      "[stoken]\nlisten = [\"127.0.0.1:465\"]\nstarttls_listen = [\"127.0.0.1:587\"]\n");
  ASSERT_EQ(c->stoken.listen.size(), 1u);
  EXPECT_EQ(c->stoken.listen[0].port, 465);
  EXPECT_EQ(c->stoken.starttls_listen[0].port, 587);
}

TEST(StokenKeys, DefaultsAreOffAndSane) {
  ConfigPtr c = mustLoadStoken("");
  EXPECT_TRUE(c->stoken.listen.empty());
  EXPECT_TRUE(c->stoken.starttls_listen.empty());
  EXPECT_TRUE(c->stoken.filter_listen.empty());
  EXPECT_EQ(c->stoken.deliver_to.toString(), "127.0.0.1:24");
  EXPECT_EQ(c->stoken.reinject_to.toString(), "127.0.0.1:10025");
  EXPECT_EQ(c->stoken.submission_port, 465u);
  EXPECT_EQ(c->stoken.temporary_ttl, 7 * 86400);
  EXPECT_EQ(c->stoken.permanent_ttl, 365 * 86400);
  EXPECT_EQ(c->stoken.permanent_refresh, 30 * 86400);
  EXPECT_EQ(c->stoken.max_message_size, 25u * 1024 * 1024);
  EXPECT_EQ(c->stoken.max_recipients, 100u);
  EXPECT_TRUE(c->stoken.refuse_recipients.empty());
  EXPECT_FALSE(c->domain_defaults.distribute_submission_tokens);
  EXPECT_FALSE(c->domain_defaults.accept_submission_tokens);
  EXPECT_FALSE(c->domain_defaults.deliver_by_token);
  EXPECT_EQ(c->domain_defaults.submission_token_rate, 60);
}

TEST(StokenKeys, EveryKeyTakesAValue) {
  ConfigPtr c = mustLoadStoken(
      "[stoken]\nlisten = [\"127.0.0.1:10465\"]\nstarttls_listen = [\"[::1]:10587\"]\n"
      "filter_listen = [\"127.0.0.1:10024\"]\ndeliver_to = \"[::1]\"\n"
      "reinject_to = \"localhost\"\nservers = { \"Beta.Test\" = \"127.0.0.2\" }\n"
      "submission_port = 587\ntemporary_ttl = \"2d\"\npermanent_ttl = \"30d\"\n"
      "permanent_refresh = \"1d\"\nmax_message_size = 1048576\nmax_recipients = 5\n"
      "delivery_timeout = \"1m\"\ndial_timeout = \"5s\"\n"
      "refuse_recipients = [\"Scan@Alpha.Test\", \"@Scanned.Test\"]\n"
      "[domain.\"alpha.test\"]\ndistribute_submission_tokens = true\n"
      "accept_submission_tokens = true\ndeliver_by_token = true\nsubmission_token_rate = 0\n");
  EXPECT_EQ(c->stoken.listen.at(0).toString(), "127.0.0.1:10465");
  EXPECT_EQ(c->stoken.starttls_listen.at(0).toString(), "[::1]:10587");
  EXPECT_EQ(c->stoken.filter_listen.at(0).port, 10024);
  EXPECT_EQ(c->stoken.deliver_to.toString(), "[::1]:24");
  EXPECT_EQ(c->stoken.reinject_to.toString(), "localhost:25");
  ASSERT_NE(c->stoken.serverFor("beta.test"), nullptr);
  EXPECT_EQ(c->stoken.serverFor("beta.test")->toString(), "127.0.0.2:465");
  EXPECT_EQ(c->stoken.serverFor("gamma.test"), nullptr);
  EXPECT_EQ(c->stoken.submission_port, 587u);
  EXPECT_EQ(c->stoken.temporary_ttl, 2 * 86400);
  EXPECT_EQ(c->stoken.permanent_ttl, 30 * 86400);
  EXPECT_EQ(c->stoken.permanent_refresh, 86400);
  EXPECT_EQ(c->stoken.max_message_size, 1048576u);
  EXPECT_EQ(c->stoken.max_recipients, 5u);
  EXPECT_EQ(c->stoken.delivery_timeout, 60);
  EXPECT_EQ(c->stoken.dial_timeout, 5);
  EXPECT_TRUE(c->stoken.refuses("scan@alpha.test"));
  EXPECT_TRUE(c->stoken.refuses("anyone@scanned.test"));
  EXPECT_FALSE(c->stoken.refuses("other@alpha.test"));
  EXPECT_FALSE(c->stoken.refuses("x@sub.scanned.test"));
  const DomainPolicy& p = c->policyFor("alpha.test");
  EXPECT_TRUE(p.distribute_submission_tokens);
  EXPECT_TRUE(p.accept_submission_tokens);
  EXPECT_TRUE(p.deliver_by_token);
  EXPECT_EQ(p.submission_token_rate, 0);
  EXPECT_FALSE(c->policyFor("beta.test").accept_submission_tokens);
}

TEST(StokenKeys, BadValuesNameFileAndLine) {
  EXPECT_NE(loadErrorStoken("[stoken]\n\nrefuse_recipients = [\"ok@a.test\", \"not an address\"]\n")
                .find("test.conf:3"),
            std::string::npos);
  EXPECT_NE(
      loadErrorStoken("[stoken]\nrefuse_recipients = [\"@bad domain\"]\n").find("test.conf:2"),
      std::string::npos);
  EXPECT_NE(loadErrorStoken("[stoken]\ndeliver_to = \"host:99999\"\n").find("test.conf:2"),
            std::string::npos);
  EXPECT_NE(loadErrorStoken("[stoken]\nlisten = [\"example.org:465\"]\n").find("test.conf:2"),
            std::string::npos);
  EXPECT_NE(loadErrorStoken("[stoken]\nsecret_option = 1\n").find("test.conf:2"),
            std::string::npos);
  EXPECT_NE(loadErrorStoken("[domain_defaults]\naccept_submission_tokens = \"yes\"\n")
                .find("test.conf:2"),
            std::string::npos);
}

}  // namespace
}  // namespace mtep::config

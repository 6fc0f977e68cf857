// [outbound] and the new [mtepd] listener keys: defaults, values, refusals.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"

namespace mtep::config {
namespace {

ConfigPtr mustLoadOutbound(const std::string& text) {
  auto cfg = loadString(text, "test.conf");
  EXPECT_TRUE(cfg.ok()) << (cfg.ok() ? "" : cfg.error().message());
  return cfg.ok() ? *cfg : std::make_shared<Config>();
}

std::string loadErrorOutbound(const std::string& text) {
  auto cfg = loadString(text, "test.conf");
  return cfg.ok() ? std::string("(loaded)") : cfg.error().message();
}

TEST(OutboundKeys, DefaultsPointAtTorAndI2pdAndTheListenersAreOff) {
  ConfigPtr c = mustLoadOutbound("");
  EXPECT_EQ(c->outbound.onion_proxy.toString(), "127.0.0.1:9050");
  EXPECT_EQ(c->outbound.i2p_proxy.toString(), "127.0.0.1:4447");
  EXPECT_TRUE(c->outbound.isolate_streams);
  EXPECT_EQ(c->outbound.proxy_timeout, 30);
  EXPECT_TRUE(c->outbound.startmtep_fallback);
  EXPECT_EQ(c->outbound.smtp_port, 25u);
  EXPECT_EQ(c->outbound.smtp_timeout, 120);
  EXPECT_TRUE(c->outbound.trust_on_first_use);
  EXPECT_TRUE(c->mtepd.smtp_listen.empty());
  EXPECT_TRUE(c->mtepd.onion_relay.empty());
  EXPECT_EQ(c->mtepd.tls_cert_file, "");
  EXPECT_EQ(c->mtepd.smtp_idle_timeout, 300);
}

TEST(OutboundKeys, EveryKeyTakesAValue) {
  ConfigPtr c = mustLoadOutbound(
      "[outbound]\nonion_proxy = \"[::1]:9150\"\ni2p_proxy = \"\"\n"
      "proxy_username = \"u\"\nproxy_password = \"p\"\nisolate_streams = false\n"
      "proxy_timeout = \"2m\"\nstartmtep_fallback = false\nsmtp_port = 2525\n"
      "smtp_timeout = \"10s\"\ntrust_on_first_use = false\n"
      "[mtepd]\nsmtp_listen = [\"127.0.0.1:2525\"]\nonion_relay = [\"127.0.0.1:10027\"]\n"
      "hostname = \"mx.example.org\"\ntls_cert_file = \"/c.pem\"\ntls_key_file = \"/k.pem\"\n"
      "smtp_idle_timeout = \"1m\"\nsmtp_max_line = 4096\nrelay_max_message_size = 1048576\n");
  EXPECT_EQ(c->outbound.onion_proxy.toString(), "[::1]:9150");
  EXPECT_FALSE(c->outbound.i2p_proxy.enabled());
  EXPECT_EQ(c->outbound.proxy_username, "u");
  EXPECT_EQ(c->outbound.proxy_password, "p");
  EXPECT_FALSE(c->outbound.isolate_streams);
  EXPECT_EQ(c->outbound.proxy_timeout, 120);
  EXPECT_FALSE(c->outbound.startmtep_fallback);
  EXPECT_EQ(c->outbound.smtp_port, 2525u);
  EXPECT_EQ(c->outbound.smtp_timeout, 10);
  EXPECT_FALSE(c->outbound.trust_on_first_use);
  ASSERT_EQ(c->mtepd.smtp_listen.size(), 1u);
  EXPECT_EQ(c->mtepd.smtp_listen[0].toString(), "127.0.0.1:2525");
  ASSERT_EQ(c->mtepd.onion_relay.size(), 1u);
  EXPECT_EQ(c->mtepd.onion_relay[0].port, 10027);
  EXPECT_EQ(c->mtepd.hostname, "mx.example.org");
  EXPECT_EQ(c->mtepd.tls_cert_file, "/c.pem");
  EXPECT_EQ(c->mtepd.tls_key_file, "/k.pem");
  EXPECT_EQ(c->mtepd.smtp_idle_timeout, 60);
  EXPECT_EQ(c->mtepd.smtp_max_line, 4096u);
  EXPECT_EQ(c->mtepd.relay_max_message_size, 1048576u);
}

TEST(OutboundKeys, ProxyMustBeNumericWithAPort) {
  EXPECT_NE(loadErrorOutbound("[outbound]\nonion_proxy = \"localhost:9050\"\n").find("onion_proxy"),
            std::string::npos);
  EXPECT_NE(loadErrorOutbound("[outbound]\nonion_proxy = \"127.0.0.1\"\n").find("onion_proxy"),
            std::string::npos);
  EXPECT_NE(loadErrorOutbound("[outbound]\nonion_proxy = \"127.0.0.1:0\"\n").find("onion_proxy"),
            std::string::npos);
  EXPECT_NE(loadErrorOutbound("[outbound]\ni2p_proxy = 4447\n").find("i2p_proxy"),
            std::string::npos);
}

TEST(OutboundKeys, CredentialsLongerThanRfc1929AllowsAreRefused) {
  const std::string long_name(256, 'u');
  EXPECT_NE(loadErrorOutbound("[outbound]\nproxy_username = \"" + long_name + "\"\n")
                .find("longer than 255 bytes"),
            std::string::npos);
  EXPECT_NE(loadErrorOutbound("[outbound]\nproxy_password = \"" + long_name + "\"\n")
                .find("longer than 255 bytes"),
            std::string::npos);
}

TEST(OutboundKeys, BadListenerValuesNameTheKey) {
  EXPECT_NE(loadErrorOutbound("[mtepd]\nsmtp_listen = [\"mx:25\"]\n").find("smtp_listen"),
            std::string::npos);
  EXPECT_NE(loadErrorOutbound("[mtepd]\nonion_relay = [\"127.0.0.1:1\", \"127.0.0.1:1\"]\n")
                .find("listed twice"),
            std::string::npos);
  EXPECT_NE(loadErrorOutbound("[mtepd]\nhostname = \"not a name\"\n").find("hostname"),
            std::string::npos);
  EXPECT_NE(loadErrorOutbound("[mtepd]\ntls_cert_file = \"relative.pem\"\n").find("tls_cert_file"),
            std::string::npos);
  EXPECT_NE(loadErrorOutbound("[mtepd]\nsmtp_max_line = 100\n").find("smtp_max_line"),
            std::string::npos);
  EXPECT_NE(loadErrorOutbound("[outbound]\nsmtp_port = 0\n").find("smtp_port"), std::string::npos);
}

}  // namespace
}  // namespace mtep::config

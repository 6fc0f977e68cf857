// parseListenAddress, parseDuration and formatDuration.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "config/config.h"

namespace mtep::config {
namespace {

TEST(ParseListenAddress, AcceptsNumericAddressesWithPorts) {
  struct Case {
    const char* in;
    const char* host;
    uint16_t port;
    const char* back;
  };
  const Case cases[] = {
      {"127.0.0.1:6211", "127.0.0.1", 6211, "127.0.0.1:6211"},
      {"0.0.0.0:1", "0.0.0.0", 1, "0.0.0.0:1"},
      {"192.0.2.7:65535", "192.0.2.7", 65535, "192.0.2.7:65535"},
      {"[::1]:6211", "::1", 6211, "[::1]:6211"},
      {"[::]:25", "::", 25, "[::]:25"},
      {"[2001:db8::5]:6211", "2001:db8::5", 6211, "[2001:db8::5]:6211"},
      {"[::ffff:192.0.2.1]:6211", "::ffff:192.0.2.1", 6211, "[::ffff:192.0.2.1]:6211"},
  };
  for (const Case& c : cases) {
    auto a = parseListenAddress(c.in);
    ASSERT_TRUE(a.ok()) << c.in << ": " << a.error().message();
    EXPECT_EQ(a->host, c.host) << c.in;
    EXPECT_EQ(a->port, c.port) << c.in;
    EXPECT_EQ(a->toString(), c.back) << c.in;
    // toString() reads back to the same address.
    auto again = parseListenAddress(a->toString());
    ASSERT_TRUE(again.ok()) << a->toString();
    EXPECT_TRUE(*again == *a) << c.in;
  }
}

TEST(ParseListenAddress, RefusesEverythingElse) {
  const char* bad[] = {
      "",
      ":6211",
      "127.0.0.1",
      "127.0.0.1:",
      "127.0.0.1:0",
      "127.0.0.1:65536",
      "127.0.0.1:99999999999",
      "127.0.0.1:+80",
      "127.0.0.1:-1",
      "127.0.0.1: 80",
      "127.0.0.1:80 ",
      " 127.0.0.1:80",
      "127.1:80",
      "256.0.0.1:80",
      "localhost:6211",
      "mail.example.org:6211",
      "::1:6211",
      "[::1]",
      "[::1]6211",
      "[::1:6211",
      "[]:6211",
      "[127.0.0.1]:6211",
      "[fe80::1%eth0]:6211",
      "[::1]:",
      "[::1]:0",
      "[::1]:6211x",
  };
  for (const char* in : bad) {
    auto a = parseListenAddress(in);
    EXPECT_FALSE(a.ok()) << "accepted \"" << in << "\" as " << (a.ok() ? a->toString() : "");
    if (!a.ok()) {
      EXPECT_EQ(a.error().kind(), ErrorKind::kInvalid) << in;
    }
  }
}

TEST(ParseDuration, ReadsEachUnit) {
  struct Case {
    const char* in;
    int64_t want;
  };
  const Case cases[] = {
      {"0s", 0},      {"30s", 30},        {"5m", 300},  {"12h", 43200},
      {"7d", 604800}, {"366d", 31622400}, {"0007s", 7}, {"86400s", 86400},
  };
  for (const Case& c : cases) {
    auto d = parseDuration(c.in);
    ASSERT_TRUE(d.ok()) << c.in;
    EXPECT_EQ(*d, c.want) << c.in;
  }
}

TEST(ParseDuration, RefusesMalformedAndOverflowing) {
  const char* bad[] = {"",
                       "s",
                       "5",
                       "5x",
                       "5S",
                       "-5s",
                       "+5s",
                       " 5s",
                       "5s ",
                       "5 s",
                       "1.5h",
                       "h5",
                       "5ms",
                       "0x5s",
                       "99999999999999999999s",
                       "106751991167301d",
                       "9223372036854775808s"};
  for (const char* in : bad) {
    auto d = parseDuration(in);
    EXPECT_FALSE(d.ok()) << "accepted \"" << in << "\" as " << (d.ok() ? *d : 0);
  }
  EXPECT_TRUE(parseDuration("9223372036854775807s").ok());
  EXPECT_TRUE(parseDuration("106751991167300d").ok());
}

TEST(FormatDuration, PicksTheLargestExactUnitAndRoundTrips) {
  EXPECT_EQ(formatDuration(0), "0s");
  EXPECT_EQ(formatDuration(59), "59s");
  EXPECT_EQ(formatDuration(60), "1m");
  EXPECT_EQ(formatDuration(90), "90s");
  EXPECT_EQ(formatDuration(3600), "1h");
  EXPECT_EQ(formatDuration(86400), "1d");
  EXPECT_EQ(formatDuration(90000), "25h");
  std::mt19937_64 rng(20240611);
  std::uniform_int_distribution<int64_t> dist(0, 400LL * 86400);
  for (int i = 0; i < 2000; ++i) {
    const int64_t s = dist(rng);
    auto back = parseDuration(formatDuration(s));
    ASSERT_TRUE(back.ok()) << s;
    EXPECT_EQ(*back, s);
  }
}

}  // namespace
}  // namespace mtep::config

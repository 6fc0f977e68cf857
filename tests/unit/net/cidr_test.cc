// IpAddress and Network: parsing, printing, matching.
#include "net/cidr.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <string>

namespace mtep::net {
namespace {

IpAddress ip(const char* text) {
  auto r = IpAddress::parse(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? *r : IpAddress{};
}

Network network(const char* text) {
  auto r = parseNetwork(text);
  EXPECT_TRUE(r.ok()) << text << ": " << (r.ok() ? "" : r.error().message());
  return r.ok() ? *r : Network{};
}

TEST(IpAddress, ParsesNumericV4AndV6) {
  const IpAddress v4 = ip("192.0.2.1");
  EXPECT_EQ(v4.family, AF_INET);
  EXPECT_EQ(v4.bytes[0], 192);
  EXPECT_EQ(v4.bytes[3], 1);
  EXPECT_EQ(v4.toString(), "192.0.2.1");
  const IpAddress v6 = ip("2001:DB8::1");
  EXPECT_EQ(v6.family, AF_INET6);
  EXPECT_EQ(v6.toString(), "2001:db8::1");
  EXPECT_EQ(ip("::").toString(), "::");
}

TEST(IpAddress, RefusesNamesAndJunkWithoutEchoingThem) {
  const std::string bad[] = {"",
                             "localhost",
                             "192.0.2",
                             "192.0.2.256",
                             "192.0.2.1 ",
                             " 192.0.2.1",
                             "0x7f.0.0.1",
                             "192.0.2.1/32",
                             "fe80::1%eth0",
                             "[::1]",
                             std::string("192.0.2.1\0junk", 14),
                             std::string(100, '1')};
  for (const std::string& text : bad) {
    auto r = IpAddress::parse(text);
    EXPECT_FALSE(r.ok()) << text;
    if (!r.ok()) {
      EXPECT_EQ(r.error().kind(), ErrorKind::kInvalid);
      if (text.size() > 3) {
        EXPECT_EQ(r.error().message().find(text), std::string::npos);
      }
    }
  }
}

TEST(IpAddress, UnmapsV4MappedV6) {
  const IpAddress mapped = ip("::ffff:192.0.2.7");
  EXPECT_EQ(mapped.family, AF_INET6);
  EXPECT_EQ(mapped.unmapped(), ip("192.0.2.7"));
  EXPECT_EQ(ip("2001:db8::1").unmapped(), ip("2001:db8::1"));
  EXPECT_EQ(ip("::192.0.2.7").unmapped().family, AF_INET6) << "v4-compatible is not mapped";
  EXPECT_EQ(ip("10.0.0.1").unmapped(), ip("10.0.0.1"));
}

TEST(Network, ParsesAndPrints) {
  struct Case {
    const char* in;
    const char* out;
  };
  const Case cases[] = {
      {"127.0.0.0/8", "127.0.0.0/8"},
      {"192.0.2.1", "192.0.2.1/32"},
      {"0.0.0.0/0", "0.0.0.0/0"},
      {"10.0.0.0/9", "10.0.0.0/9"},
      {"192.0.2.128/25", "192.0.2.128/25"},
      {"::1", "::1/128"},
      {"::/0", "::/0"},
      {"2001:db8::/32", "2001:db8::/32"},
      {"2001:db8:8000::/33", "2001:db8:8000::/33"},
  };
  for (const Case& c : cases) EXPECT_EQ(network(c.in).toString(), c.out) << c.in;
}

TEST(Network, MatchesV4) {
  const Network n = network("10.128.0.0/9");
  EXPECT_TRUE(n.contains(ip("10.128.0.0")));
  EXPECT_TRUE(n.contains(ip("10.255.255.255")));
  EXPECT_FALSE(n.contains(ip("10.127.255.255")));
  EXPECT_FALSE(n.contains(ip("11.128.0.0")));
  EXPECT_FALSE(n.contains(ip("::ffff:11.128.0.1")));
  EXPECT_TRUE(n.contains(ip("::ffff:10.200.0.1"))) << "mapped matches as v4";
  EXPECT_FALSE(n.contains(ip("::a80:1"))) << "v6 never matches a v4 network";
  const Network host = network("192.0.2.1/32");
  EXPECT_TRUE(host.contains(ip("192.0.2.1")));
  EXPECT_FALSE(host.contains(ip("192.0.2.2")));
}

TEST(Network, MatchesV6) {
  const Network n = network("2001:db8:8000::/33");
  EXPECT_TRUE(n.contains(ip("2001:db8:8000::1")));
  EXPECT_TRUE(n.contains(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(n.contains(ip("2001:db8:7fff::1")));
  EXPECT_FALSE(n.contains(ip("192.0.2.1")));
  const Network host = network("::1");
  EXPECT_TRUE(host.contains(ip("::1")));
  EXPECT_FALSE(host.contains(ip("::2")));
}

TEST(Network, SlashZeroMatchesItsWholeFamily) {
  const Network v4 = network("0.0.0.0/0");
  EXPECT_TRUE(v4.contains(ip("0.0.0.0")));
  EXPECT_TRUE(v4.contains(ip("255.255.255.255")));
  EXPECT_TRUE(v4.contains(ip("::ffff:1.2.3.4")));
  EXPECT_FALSE(v4.contains(ip("2001:db8::1")));
  const Network v6 = network("::/0");
  EXPECT_TRUE(v6.contains(ip("2001:db8::1")));
  EXPECT_TRUE(v6.contains(ip("::")));
  EXPECT_FALSE(v6.contains(ip("1.2.3.4")));
}

TEST(Network, MappedV6NetworkMatchesTheV4AddressesItCarries) {
  const Network n = network("::ffff:10.0.0.0/104");
  EXPECT_EQ(n.toString(), "10.0.0.0/8");
  EXPECT_TRUE(n.contains(ip("10.1.2.3")));
  EXPECT_TRUE(n.contains(ip("::ffff:10.1.2.3")));
  EXPECT_FALSE(n.contains(ip("11.1.2.3")));
  EXPECT_EQ(network("::ffff:192.0.2.1").toString(), "192.0.2.1/32");
}

TEST(Network, RefusesHostBitsBelowThePrefix) {
  const char* bad[] = {"10.1.2.3/8", "10.0.0.1/31",    "0.0.0.1/0", "192.0.2.129/25",
                       "::1/127",    "2001:db8::1/64", "::/0x",     "2001:db8:8000::/32"};
  for (const char* text : bad) {
    auto r = parseNetwork(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().kind(), ErrorKind::kInvalid);
  }
  auto r = parseNetwork("10.1.2.3/8");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("bits set below the prefix"), std::string::npos)
      << r.error().message();
}

TEST(Network, RefusesBadPrefixes) {
  const std::string bad[] = {"10.0.0.0/",
                             "10.0.0.0/33",
                             "10.0.0.0/-1",
                             "10.0.0.0/+8",
                             "10.0.0.0/08",
                             "10.0.0.0/ 8",
                             "10.0.0.0/8 ",
                             "10.0.0.0/8/8",
                             "::/129",
                             "::/1000",
                             "/8",
                             "",
                             "10.0.0.0//8",
                             "10.0.0.0/4294967304",
                             std::string("10.0.0.0/8\0", 11)};
  for (const std::string& text : bad) {
    auto r = parseNetwork(text);
    EXPECT_FALSE(r.ok()) << text;
  }
  EXPECT_TRUE(parseNetwork("10.0.0.0/8").ok());
  EXPECT_TRUE(parseNetwork("::/128").ok());
  EXPECT_TRUE(parseNetwork("0.0.0.0/32").ok());
}

}  // namespace
}  // namespace mtep::net

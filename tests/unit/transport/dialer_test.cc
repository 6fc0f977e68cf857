#include "transport/dialer.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <string>
#include <vector>

#include "unit/transport/fake_servers.h"

namespace mtep::transport {
namespace {

using testing::closedPort;
using testing::CountingResolver;
using testing::FakeSocks;
using testing::loopbackAddress;
using testing::LoopbackServer;

const std::string kOnion = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion";
const std::string kI2p = "ukeu3k5oycgaauneqgtnvselmt4yemvoilkln7jpvamvfx7dnkdq.b32.i2p";

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

DialOptions quickOptions() {
  DialOptions o;
  o.connect_timeout_ms = 2000;
  o.proxy_timeout_ms = 2000;
  o.timeouts.read_timeout_ms = 2000;
  o.isolate_streams = false;
  return o;
}

// Reads what the peer sends first (up to n bytes) through the dialled stream.
std::string readN(Stream& s, size_t n) {
  std::string out;
  char buf[64];
  while (out.size() < n) {
    auto got = s.readSome(buf, std::min(sizeof buf, n - out.size()));
    if (!got || *got == 0) break;
    out.append(buf, *got);
  }
  return out;
}

TEST(RouteFor, SuffixDecidesCaseInsensitiveWithTheRootDot) {
  struct Case {
    const char* host;
    Route want;
  };
  const std::vector<Case> cases = {
      {"abc.onion", Route::kOnion},
      {"ABC.ONION", Route::kOnion},
      {"abc.onion.", Route::kOnion},
      {"x.y.OnIoN", Route::kOnion},
      {"abc.b32.i2p", Route::kI2p},
      {"abc.I2P.", Route::kI2p},
      {"onion", Route::kOnion},
      {"mx.example.org", Route::kDirect},
      {"onion.example", Route::kDirect},
      {"abc.onion..", Route::kOnion},  // malformed: dial() refuses it, never DNS
      {"abc.example..", Route::kDirect},
      {"abc.onionx", Route::kDirect},
      {"127.0.0.1", Route::kDirect},
      {"", Route::kDirect},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(routeFor(c.host), c.want)
        << c.host << ": got " << routeName(routeFor(c.host)) << ", want " << routeName(c.want);
  }
}

TEST(Dialer, OnionNameGoesToTheProxyAsAtyp3AndNeverToTheResolver) {
  FakeSocks proxy(FakeSocks::Options{});
  CountingResolver resolver;
  DialOptions o = quickOptions();
  o.onion_proxy = proxy.proxy();
  DialFailure why = DialFailure::kOther;
  auto s = dial(kOnion, 25, o, resolver, &why);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(why, DialFailure::kNone);
  EXPECT_EQ(resolver.calls, 0);
  const FakeSocks::Seen seen = proxy.seen();
  EXPECT_EQ(seen.atyp, 3);
  EXPECT_EQ(seen.host, kOnion);
  EXPECT_EQ(seen.port, 25);
  EXPECT_EQ(seen.methods, std::string(1, '\0'));
  EXPECT_EQ((*s)->label(), kOnion + ":25 via SOCKS 127.0.0.1:" + std::to_string(proxy.port()));
  // The peer's first bytes came in the same segment as the SOCKS reply.
  EXPECT_EQ(readN(**s, 16), FakeSocks::kPeerGreeting);
  ASSERT_TRUE((*s)->writeAll("EHLO x\r\n").ok());
  EXPECT_EQ(readN(**s, 8), "EHLO x\r\n");
}

// Each of isOverlayName, the resolver and the dialer once dropped one
// trailing dot on its own: "x.onion.." was routed direct and given to the
// resolver. A name with an empty label is refused before routing.
TEST(Dialer, NameWithAnEmptyLabelIsInvalidAndGoesNowhere) {
  FakeSocks onion(FakeSocks::Options{});
  FakeSocks i2p(FakeSocks::Options{});
  DialOptions o = quickOptions();
  o.onion_proxy = onion.proxy();
  o.i2p_proxy = i2p.proxy();
  for (const std::string& host : {kOnion + "..", kOnion + "...", "x." + kOnion.substr(0, 5) +
                                  "..onion", std::string(".onion"), kI2p + "..",
                                  std::string("mx.example.org.."), std::string(".example.org"),
                                  std::string("."), std::string("..")}) {
    SCOPED_TRACE(host);
    CountingResolver resolver;
    DialFailure why = DialFailure::kNone;
    auto s = dial(host, 25, o, resolver, &why);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().kind(), ErrorKind::kInvalid) << s.error().message();
    EXPECT_NE(s.error().message().find("empty"), std::string::npos) << s.error().message();
    EXPECT_EQ(why, DialFailure::kOther);
    EXPECT_EQ(resolver.calls, 0);
  }
  EXPECT_EQ(onion.seen().methods, "") << "the onion proxy must not be asked";
  EXPECT_EQ(i2p.seen().methods, "") << "the i2p proxy must not be asked";
}

TEST(Dialer, I2pNameGoesToTheI2pProxyTrailingDotDropped) {
  FakeSocks onion(FakeSocks::withMode(FakeSocks::Mode::kClose));
  FakeSocks i2p(FakeSocks::Options{});
  CountingResolver resolver;
  DialOptions o = quickOptions();
  o.onion_proxy = onion.proxy();
  o.i2p_proxy = i2p.proxy();
  auto s = dial(kI2p + ".", 6211, o, resolver);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(resolver.calls, 0);
  EXPECT_EQ(i2p.seen().atyp, 3);
  EXPECT_EQ(i2p.seen().host, kI2p);
  EXPECT_EQ(i2p.seen().port, 6211);
  EXPECT_EQ(onion.seen().methods, "") << "the onion proxy must not be asked";
}

TEST(Dialer, IsolationSendsMtepAndTheDestinationAsCredentials) {
  FakeSocks proxy(FakeSocks::withAuth("mtep", kOnion + ":6211"));
  CountingResolver resolver;
  DialOptions o = quickOptions();
  o.onion_proxy = proxy.proxy();
  o.isolate_streams = true;
  auto s = dial(kOnion, 6211, o, resolver);
  ASSERT_TRUE(s.ok()) << s.error().message();
  const FakeSocks::Seen seen = proxy.seen();
  EXPECT_EQ(seen.methods, std::string("\x00\x02", 2));
  EXPECT_EQ(seen.username, "mtep");
  EXPECT_EQ(seen.password, kOnion + ":6211");
}

TEST(Dialer, IsolationAcceptsAProxyThatPicksNoAuthentication) {
  FakeSocks proxy(FakeSocks::Options{});
  CountingResolver resolver;
  DialOptions o = quickOptions();
  o.onion_proxy = proxy.proxy();
  o.isolate_streams = true;
  auto s = dial(kOnion, 25, o, resolver);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(proxy.seen().methods, std::string("\x00\x02", 2));
  EXPECT_EQ(proxy.seen().username, "");
}

TEST(Dialer, ConfiguredCredentialsAreSent) {
  FakeSocks proxy(FakeSocks::withAuth("alice", "s3cret"));
  CountingResolver resolver;
  DialOptions o = quickOptions();
  o.onion_proxy = proxy.proxy();
  o.proxy_username = "alice";
  o.proxy_password = "s3cret";
  o.isolate_streams = true;  // configured credentials win
  auto s = dial(kOnion, 25, o, resolver);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(proxy.seen().username, "alice");
  EXPECT_EQ(proxy.seen().password, "s3cret");
}

struct FailureCase {
  const char* name;
  FakeSocks::Options proxy;
  std::string username;  // configured
  DialFailure want_why;
  std::string want_text;
};

TEST(Dialer, ProxyFailuresAreClassified) {
  const std::vector<FailureCase> cases = {
      {"garbage", FakeSocks::withMode(FakeSocks::Mode::kGarbage), "", DialFailure::kProxy,
       "broke SOCKS5: version 72 in the method reply"},
      {"silent", FakeSocks::withMode(FakeSocks::Mode::kSilent), "", DialFailure::kProxy,
       "no answer within 300 ms waiting for the method reply"},
      {"closes", FakeSocks::withMode(FakeSocks::Mode::kClose), "", DialFailure::kProxy,
       "proxy closed the connection before the method reply"},
      {"refused", FakeSocks::withReply(5), "", DialFailure::kPeerNoAnswer,
       "proxy replied 5 (connection refused)"},
      {"host unreachable", FakeSocks::withReply(4), "", DialFailure::kPeerNoAnswer,
       "host unreachable"},
      {"TTL expired", FakeSocks::withReply(6), "", DialFailure::kPeerNoAnswer, "TTL expired"},
      {"general failure", FakeSocks::withReply(1), "", DialFailure::kProxy,
       "general SOCKS server failure"},
      {"not allowed", FakeSocks::withReply(2), "", DialFailure::kProxy,
       "connection not allowed by ruleset"},
      {"silent after the request", FakeSocks::withMode(FakeSocks::Mode::kSilentAfterRequest), "",
       DialFailure::kPeerNoAnswer, "no answer within 300 ms waiting for the connect reply"},
      {"wrong credentials", FakeSocks::withAuth("alice", "right"), "alice", DialFailure::kProxy,
       "refused the username/password (status 1)"},
      {"credentials required, none offered", FakeSocks::withAuth("alice", ""), "",
       DialFailure::kProxy, "accepts none of the methods offered (no authentication)"},
  };
  for (const FailureCase& c : cases) {
    SCOPED_TRACE(c.name);
    FakeSocks proxy(c.proxy);
    CountingResolver resolver;
    DialOptions o = quickOptions();
    o.proxy_timeout_ms = 300;
    o.onion_proxy = proxy.proxy();
    o.proxy_username = c.username;
    o.proxy_password = "wrong";
    DialFailure why = DialFailure::kNone;
    auto s = dial(kOnion, 25, o, resolver, &why);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().kind(), ErrorKind::kTemporary);
    EXPECT_EQ(why, c.want_why);
    EXPECT_TRUE(contains(s.error().message(), c.want_text))
        << "got \"" << s.error().message() << "\", want it to contain \"" << c.want_text << "\"";
    EXPECT_TRUE(contains(s.error().message(), kOnion + ":25 via SOCKS 127.0.0.1:"))
        << s.error().message();
    EXPECT_EQ(resolver.calls, 0);
  }
}

TEST(Dialer, DeadlineBoundsTheHandshake) {
  FakeSocks proxy(FakeSocks::withMode(FakeSocks::Mode::kSilent));
  CountingResolver resolver;
  DialOptions o = quickOptions();
  o.onion_proxy = proxy.proxy();
  o.timeouts.deadline = SteadyClock::now() + std::chrono::milliseconds(200);
  o.proxy_timeout_ms = 60000;
  DialFailure why = DialFailure::kNone;
  auto s = dial(kOnion, 25, o, resolver, &why);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(why, DialFailure::kProxy);
  EXPECT_TRUE(contains(s.error().message(), "the deadline passed waiting for the method reply"))
      << s.error().message();
}

TEST(Dialer, ProxyDownIsAProxyFailure) {
  CountingResolver resolver;
  DialOptions o = quickOptions();
  o.onion_proxy = Proxy{"127.0.0.1", closedPort()};
  DialFailure why = DialFailure::kNone;
  auto s = dial(kOnion, 25, o, resolver, &why);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(why, DialFailure::kProxy);
  EXPECT_EQ(s.error().kind(), ErrorKind::kTemporary);
  EXPECT_TRUE(contains(s.error().message(), "SOCKS proxy 127.0.0.1:")) << s.error().message();
  EXPECT_EQ(resolver.calls, 0);
}

TEST(Dialer, NoProxyConfiguredIsNotFoundAndNeverResolves) {
  CountingResolver resolver;
  resolver.answer.push_back(loopbackAddress(closedPort()));
  DialOptions o = quickOptions();
  for (const std::string& host : {kOnion, kI2p}) {
    DialFailure why = DialFailure::kNone;
    auto s = dial(host, 25, o, resolver, &why);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().kind(), ErrorKind::kNotFound);
    EXPECT_EQ(why, DialFailure::kOther);
    EXPECT_TRUE(contains(s.error().message(),
                         "no SOCKS proxy for ." + std::string(routeName(routeFor(host)))))
        << s.error().message();
  }
  EXPECT_EQ(resolver.calls, 0);
}

TEST(Dialer, NonNumericProxyAddressIsRefusedWithoutResolving) {
  CountingResolver resolver;
  DialOptions o = quickOptions();
  o.onion_proxy = Proxy{"localhost", 9050};
  DialFailure why = DialFailure::kNone;
  auto s = dial(kOnion, 25, o, resolver, &why);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(why, DialFailure::kOther);
  EXPECT_EQ(resolver.calls, 0);
}

TEST(Dialer, OverlongOnionNameIsInvalid) {
  FakeSocks proxy(FakeSocks::Options{});
  CountingResolver resolver;
  DialOptions o = quickOptions();
  o.onion_proxy = proxy.proxy();
  DialFailure why = DialFailure::kNone;
  auto s = dial(std::string(250, 'a') + ".onion", 25, o, resolver, &why);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind(), ErrorKind::kInvalid);
  EXPECT_EQ(why, DialFailure::kOther);
}

TEST(Dialer, NumericHostSkipsTheResolver) {
  LoopbackServer peer([](int fd) { testing::sendAll(fd, "hi\n"); });
  CountingResolver resolver;
  auto s = dial("127.0.0.1", peer.port(), quickOptions(), resolver);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(resolver.calls, 0);
  EXPECT_EQ(readN(**s, 3), "hi\n");
  EXPECT_EQ((*s)->label(), "127.0.0.1:" + std::to_string(peer.port()));
}

TEST(Dialer, NameIsResolvedAndEachAddressTriedInTurn) {
  LoopbackServer peer([](int fd) { testing::sendAll(fd, "hi\n"); });
  CountingResolver resolver;
  resolver.answer = {loopbackAddress(closedPort()), loopbackAddress(peer.port())};
  DialFailure why = DialFailure::kOther;
  auto s = dial("mx.example.test", 25, quickOptions(), resolver, &why);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(why, DialFailure::kNone);
  EXPECT_EQ(resolver.calls, 1);
  EXPECT_EQ(resolver.hosts, std::vector<std::string>{"mx.example.test:25"});
  EXPECT_EQ(readN(**s, 3), "hi\n");
  EXPECT_EQ((*s)->label(), "mx.example.test:25 (127.0.0.1)");
}

// ---- targets that are not public ------------------------------------------

sockaddr_storage v4(const char* text, uint16_t port) {
  sockaddr_storage ss{};
  auto* sa = reinterpret_cast<sockaddr_in*>(&ss);
  sa->sin_family = AF_INET;
  sa->sin_port = htons(port);
  ::inet_pton(AF_INET, text, &sa->sin_addr);
  return ss;
}

sockaddr_storage v6(const char* text, uint16_t port) {
  sockaddr_storage ss{};
  auto* sa = reinterpret_cast<sockaddr_in6*>(&ss);
  sa->sin6_family = AF_INET6;
  sa->sin6_port = htons(port);
  ::inet_pton(AF_INET6, text, &sa->sin6_addr);
  return ss;
}

TEST(RefusedTarget, NamesEachNonPublicKindAndPassesPublicAddresses) {
  const TargetPolicy refuse{.refuse_non_public = true, .allowed = {}};
  struct Case {
    sockaddr_storage address;
    const char* want;  // nullptr: allowed
  };
  const std::vector<Case> cases = {
      {v4("127.0.0.1", 6379), "loopback"},     {v4("127.255.0.9", 25), "loopback"},
      {v4("10.1.2.3", 25), "private"},         {v4("172.16.0.1", 25), "private"},
      {v4("172.31.255.1", 25), "private"},     {v4("192.168.1.1", 25), "private"},
      {v4("100.64.0.1", 25), "shared"},        {v4("169.254.169.254", 80), "link-local"},
      {v4("0.0.0.0", 25), "unspecified"},      {v4("224.0.0.1", 25), "multicast"},
      {v4("255.255.255.255", 25), "broadcast"}, {v4("240.0.0.1", 25), "reserved"},
      {v6("::1", 25), "loopback"},             {v6("::", 25), "unspecified"},
      {v6("fe80::1", 25), "link-local"},       {v6("fd00::1", 25), "unique-local"},
      {v6("fec0::1", 25), "site-local"},       {v6("ff02::1", 25), "multicast"},
      {v6("::ffff:127.0.0.1", 25), "loopback"}, {v6("::ffff:10.0.0.1", 25), "private"},
      {v6("64:ff9b::7f00:1", 25), "loopback"}, {v6("::127.0.0.1", 25), "reserved"},
      {v4("8.8.8.8", 25), nullptr},            {v4("172.32.0.1", 25), nullptr},
      {v4("100.128.0.1", 25), nullptr},        {v4("192.0.2.1", 25), nullptr},
      {v6("2001:db8::1", 25), nullptr},        {v6("2a00:1450::1", 25), nullptr},
      {v6("::ffff:8.8.8.8", 25), nullptr},
  };
  for (const Case& c : cases) {
    const char* got = refusedTarget(refuse, c.address);
    EXPECT_EQ(std::string(got != nullptr ? got : "(allowed)"),
              std::string(c.want != nullptr ? c.want : "(allowed)"))
        << "address family " << c.address.ss_family;
  }
  // Off: nothing refused; allowed networks pass (mapped addresses too).
  EXPECT_EQ(refusedTarget(TargetPolicy{}, v4("127.0.0.1", 25)), nullptr);
  TargetPolicy lab{.refuse_non_public = true, .allowed = {*net::parseNetwork("10.0.0.0/8")}};
  EXPECT_EQ(refusedTarget(lab, v4("10.9.9.9", 25)), nullptr);
  EXPECT_EQ(refusedTarget(lab, v6("::ffff:10.9.9.9", 25)), nullptr);
  EXPECT_STREQ(refusedTarget(lab, v4("192.168.0.1", 25)), "private");
}

TEST(Dialer, NameResolvingToLoopbackIsRefusedWithoutAConnection) {
  LoopbackServer peer([](int fd) { testing::sendAll(fd, "hi\n"); });
  CountingResolver resolver;
  resolver.answer = {loopbackAddress(peer.port())};
  DialOptions o = quickOptions();
  o.targets.refuse_non_public = true;
  DialFailure why = DialFailure::kNone;
  auto s = dial("localhost", peer.port(), o, resolver, &why);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind(), ErrorKind::kTemporary);
  EXPECT_EQ(why, DialFailure::kRefusedTarget);
  EXPECT_TRUE(contains(s.error().message(), "refused to connect to localhost:" +
                                                std::to_string(peer.port()) +
                                                " (127.0.0.1): a loopback address"))
      << s.error().message();
  auto numeric = dial("127.0.0.1", peer.port(), o, resolver, &why);
  ASSERT_FALSE(numeric.ok());
  EXPECT_EQ(why, DialFailure::kRefusedTarget);
  // Listed: it connects. Connections are accepted in order, so if either
  // refused dial had connected, this one would not be the first accepted.
  o.targets.allowed = {*net::parseNetwork("127.0.0.0/8")};
  auto allowed = dial("localhost", peer.port(), o, resolver, &why);
  ASSERT_TRUE(allowed.ok()) << allowed.error().message();
  EXPECT_EQ(readN(**allowed, 3), "hi\n");
  EXPECT_EQ(peer.accepted(), 1);
}

TEST(Dialer, RefusedAddressIsSkippedAndAPublicOneTried) {
  CountingResolver resolver;
  // 192.0.2.1 (documentation, public by our rules) cannot be reached here:
  // that it was tried shows in the message; the loopback one never was.
  resolver.answer = {loopbackAddress(closedPort()), v4("192.0.2.1", 25)};
  DialOptions o = quickOptions();
  o.connect_timeout_ms = 200;
  o.targets.refuse_non_public = true;
  DialFailure why = DialFailure::kNone;
  auto s = dial("mx.example.test", 25, o, resolver, &why);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(why, DialFailure::kPeerNoAnswer);
  EXPECT_TRUE(contains(s.error().message(), "a loopback address")) << s.error().message();
  EXPECT_TRUE(contains(s.error().message(), "192.0.2.1")) << s.error().message();
}

TEST(Dialer, EveryAddressRefusedIsPeerNoAnswer) {
  CountingResolver resolver;
  resolver.answer = {loopbackAddress(closedPort()), loopbackAddress(closedPort())};
  DialFailure why = DialFailure::kNone;
  auto s = dial("mx.example.test", 25, quickOptions(), resolver, &why);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind(), ErrorKind::kTemporary);
  EXPECT_EQ(why, DialFailure::kPeerNoAnswer);
  EXPECT_TRUE(contains(s.error().message(), "Connection refused")) << s.error().message();
}

TEST(Dialer, ResolverFailureIsAName) {
  CountingResolver resolver;
  resolver.error = Error(ErrorKind::kNotFound, "cannot resolve nx.example.test: not found");
  DialFailure why = DialFailure::kNone;
  auto s = dial("nx.example.test", 25, quickOptions(), resolver, &why);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(why, DialFailure::kName);
  EXPECT_EQ(s.error().kind(), ErrorKind::kTemporary);
  resolver.error.reset();
  s = dial("empty.example.test", 25, quickOptions(), resolver, &why);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(why, DialFailure::kName);
}

TEST(Dialer, BadArgumentsAreRefused) {
  CountingResolver resolver;
  DialFailure why = DialFailure::kNone;
  EXPECT_FALSE(dial("", 25, quickOptions(), resolver, &why).ok());
  EXPECT_EQ(why, DialFailure::kOther);
  EXPECT_FALSE(dial("127.0.0.1", 0, quickOptions(), resolver, &why).ok());
  DialOptions o = quickOptions();
  o.connect_timeout_ms = 0;
  EXPECT_FALSE(dial("127.0.0.1", 25, o, resolver, &why).ok());
  EXPECT_EQ(resolver.calls, 0);
}

TEST(SystemResolver, NeverResolvesOverlayNames) {
  for (const std::string& host : {kOnion, kI2p, std::string("x.ONION.")}) {
    auto r = systemResolver().resolve(host, 25);
    ASSERT_FALSE(r.ok()) << host;
    EXPECT_EQ(r.error().kind(), ErrorKind::kNotFound);
  }
}

TEST(SystemResolver, ResolvesNumericAndLocalhost) {
  auto r = systemResolver().resolve("127.0.0.1", 6211);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 1u);
  const auto* sin = reinterpret_cast<const sockaddr_in*>(&(*r)[0]);
  EXPECT_EQ(sin->sin_family, AF_INET);
  EXPECT_EQ(ntohs(sin->sin_port), 6211);
  auto l = systemResolver().resolve("localhost", 25);
  ASSERT_TRUE(l.ok()) << l.error().message();
  EXPECT_FALSE(l->empty());
}

TEST(SystemResolver, InvalidNameIsAnError) {
  auto r = systemResolver().resolve("no such host.invalid", 25);
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace mtep::transport

// Tests for verify::RemoteVerifier against small MTEP servers on 127.0.0.1
// (port 0) with a fake resolver: verdict mapping, what the server received,
// failing addresses and candidates, silence, the cache (counted in
// connections) and the detail text. Only result kinds are asserted, never
// timings.

#include "verify/remote_verifier.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mtep/protocol.h"
#include "unit/smtp_client/scripted_server.h"
#include "unit/verify/fakes.h"
#include "unit/verify/socks_forwarder.h"
#include "util/unique_fd.h"

namespace mtep::verify {
namespace {

using testing::answering;
using testing::DeadPort;
using testing::FakeResolver;
using testing::MtepTestServer;
using testing::silent;

const std::string kToken(62, 'T');

std::shared_ptr<config::Config> configFor(const std::string& domain, const std::string& host,
                                          uint16_t port) {
  auto cfg = std::make_shared<config::Config>();
  cfg->milter.query_timeout = 5;
  cfg->milter.cache_ttl = 60;
  cfg->milter.cache_size = 100;
  if (!domain.empty()) cfg->milter.mtep_servers.emplace(domain, config::ServerAddress{host, port});
  return cfg;
}

VerifyQuery queryFor(std::string token = kToken, std::string sender = "alice@alpha.test",
                     std::string recipient = "bob@beta.test") {
  return VerifyQuery{std::move(token), std::move(sender), "alpha.test", std::move(recipient),
                     "4XyZ"};
}

std::vector<std::string> elementsOf(const std::string& payload) {
  auto r = proto::parseRequestPayload(payload, proto::Limits{});
  if (!r.ok()) return {"<unparsable: " + r.error().message() + ">"};
  return r->elements;
}

class Verifier : public ::testing::Test {
 protected:
  VerifyOutcome ask(const std::shared_ptr<config::Config>& cfg, const VerifyQuery& q = queryFor()) {
    RemoteVerifier v(cfg, resolver, clock);
    return v.verify(q);
  }
  FakeResolver resolver;
  FakeClock clock;
};

TEST_F(Verifier, YesIsValidAndTheRequestCarriesTokenSenderAndRecipient) {
  MtepTestServer server(answering(netstring::encode("K2.0.0 token known")));
  ASSERT_TRUE(server.ok());
  const VerifyOutcome o = ask(configFor("alpha.test", "127.0.0.1", server.port()));
  EXPECT_EQ(o.kind, VerifyKind::kValid) << o.detail;
  EXPECT_EQ(o.server, "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(o.detail, "K2.0.0 token known");
  EXPECT_FALSE(o.cached);
  const auto requests = server.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(elementsOf(requests[0]),
            (std::vector<std::string>{"?", kToken, "alice@alpha.test", "bob@beta.test"}));
  EXPECT_TRUE(resolver.calls().empty());
}

TEST_F(Verifier, QueryWithoutRecipientSendsTokenAndSenderOnly) {
  MtepTestServer server(answering(netstring::encode("K2.0.0 token known")));
  ASSERT_TRUE(server.ok());
  const VerifyOutcome o =
      ask(configFor("alpha.test", "127.0.0.1", server.port()), queryFor(kToken, "alice@alpha.test", ""));
  EXPECT_EQ(o.kind, VerifyKind::kValid) << o.detail;
  const auto requests = server.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(elementsOf(requests[0]), (std::vector<std::string>{"?", kToken, "alice@alpha.test"}));
}

TEST_F(Verifier, NoIsRefused) {
  MtepTestServer server(answering(netstring::encode("D5.7.8 Nobody here issued that token")));
  ASSERT_TRUE(server.ok());
  const VerifyOutcome o = ask(configFor("alpha.test", "127.0.0.1", server.port()));
  EXPECT_EQ(o.kind, VerifyKind::kRefused) << o.detail;
  EXPECT_EQ(o.detail, "D5.7.8 Nobody here issued that token");
}

TEST_F(Verifier, PermanentInformationalIsRefused) {
  MtepTestServer server(answering(netstring::encode("I5.5.1 not understood")));
  ASSERT_TRUE(server.ok());
  const VerifyOutcome o = ask(configFor("alpha.test", "127.0.0.1", server.port()));
  EXPECT_EQ(o.kind, VerifyKind::kRefused) << o.detail;
}

// mtepd's own "too many connections" reply must not turn into a 550.
TEST_F(Verifier, BusyInformationalIsUnsure) {
  MtepTestServer server(answering(netstring::encode("I4.3.2 Too many connections")));
  ASSERT_TRUE(server.ok());
  const VerifyOutcome o = ask(configFor("alpha.test", "127.0.0.1", server.port()));
  EXPECT_EQ(o.kind, VerifyKind::kUnsure) << o.detail;
}

TEST_F(Verifier, TemporaryIsUnsureAndNeverCached) {
  MtepTestServer server(answering(netstring::encode("Z4.3.0 try later")));
  ASSERT_TRUE(server.ok());
  RemoteVerifier v(configFor("alpha.test", "127.0.0.1", server.port()), resolver, clock);
  EXPECT_EQ(v.verify(queryFor()).kind, VerifyKind::kUnsure);
  const VerifyOutcome again = v.verify(queryFor());
  EXPECT_EQ(again.kind, VerifyKind::kUnsure);
  EXPECT_FALSE(again.cached);
  EXPECT_EQ(server.connections(), 2);
  EXPECT_EQ(v.cache().size(), 0u);
}

TEST_F(Verifier, GarbageIsUnreachable) {
  MtepTestServer server(answering("HTTP/1.0 400 Bad Request\r\n\r\n"));
  ASSERT_TRUE(server.ok());
  const VerifyOutcome o = ask(configFor("alpha.test", "127.0.0.1", server.port()));
  EXPECT_EQ(o.kind, VerifyKind::kUnreachable);
  EXPECT_FALSE(o.detail.empty());
}

TEST_F(Verifier, ClosedPortIsUnreachable) {
  DeadPort dead;
  ASSERT_TRUE(dead.ok());
  const VerifyOutcome o = ask(configFor("alpha.test", "127.0.0.1", dead.port()));
  EXPECT_EQ(o.kind, VerifyKind::kUnreachable);
  EXPECT_EQ(o.server, "127.0.0.1:" + std::to_string(dead.port()));
  EXPECT_FALSE(o.detail.empty());
}

TEST_F(Verifier, FirstAddressDeadThenSecondAnswers) {
  MtepTestServer server(answering(netstring::encode("K2.0.0 ok")));
  ASSERT_TRUE(server.ok());
  // The server listens on 127.0.0.1 only: 127.0.0.2 on the same port refuses.
  resolver.setAddresses("mtep.alpha.test", {"127.0.0.2", "127.0.0.1"});
  const VerifyOutcome o = ask(configFor("alpha.test", "mtep.alpha.test", server.port()));
  EXPECT_EQ(o.kind, VerifyKind::kValid) << o.detail;
  EXPECT_EQ(o.server, "mtep.alpha.test:" + std::to_string(server.port()));
  EXPECT_EQ(resolver.calls(), (std::vector<std::string>{"addresses mtep.alpha.test"}));
}

TEST_F(Verifier, FirstSrvTargetDeadThenSecondAnswers) {
  MtepTestServer server(answering(netstring::encode("K2.0.0 ok")));
  DeadPort dead;
  ASSERT_TRUE(server.ok() && dead.ok());
  resolver.setSrv("_mtep._tcp.alpha.test", {{20, 0, server.port(), "live.alpha.test"},
                                            {10, 0, dead.port(), "dead.alpha.test"}});
  resolver.setAddresses("dead.alpha.test", {"127.0.0.1"});
  resolver.setAddresses("live.alpha.test", {"127.0.0.1"});
  auto cfg = configFor("", "", 0);
  cfg->milter.allow_private_targets = {*net::parseNetwork("127.0.0.0/8")};
  const VerifyOutcome o = ask(cfg);
  EXPECT_EQ(o.kind, VerifyKind::kValid) << o.detail;
  EXPECT_EQ(o.server, "live.alpha.test:" + std::to_string(server.port()));
  EXPECT_EQ(resolver.calls(),
            (std::vector<std::string>{"srv _mtep._tcp.alpha.test", "addresses dead.alpha.test",
                                      "addresses live.alpha.test"}));
}

TEST_F(Verifier, HostWithoutAddressMovesToTheNextCandidate) {
  MtepTestServer server(answering(netstring::encode("K2.0.0 ok")));
  ASSERT_TRUE(server.ok());
  resolver.setSrv("_mtep._tcp.alpha.test", {{1, 0, server.port(), "gone.alpha.test"},
                                            {2, 0, server.port(), "empty.alpha.test"},
                                            {3, 0, server.port(), "live.alpha.test"}});
  resolver.failAddresses("gone.alpha.test", ErrorKind::kTemporary);
  resolver.setAddresses("empty.alpha.test", {});
  resolver.setAddresses("live.alpha.test", {"127.0.0.1"});
  auto cfg = configFor("", "", 0);
  cfg->milter.allow_private_targets = {*net::parseNetwork("127.0.0.1")};
  const VerifyOutcome o = ask(cfg);
  EXPECT_EQ(o.kind, VerifyKind::kValid) << o.detail;
}

// A sender's DNS must not make us talk to our own services: an SRV record
// for localhost:6379 (a Redis) is refused, and no connection is made.
TEST_F(Verifier, SrvAnswerPointingAtLocalhostIsRefusedWithoutAConnection) {
  resolver.setSrv("_mtep._tcp.alpha.test", {{10, 0, 6379, "localhost"}});
  resolver.setAddresses("localhost", {"127.0.0.1", "::1"});
  const VerifyOutcome o = ask(configFor("", "", 0));
  EXPECT_EQ(o.kind, VerifyKind::kUnreachable);
  EXPECT_EQ(o.server, "localhost:6379");
  EXPECT_NE(o.detail.find("refused to connect to [::1]:6379: a loopback address"),
            std::string::npos)
      << o.detail;

  // The same with a port we listen on: nothing arrives in its queue.
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(listener.get(), 4), 0);
  ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&sa), &len), 0);
  const uint16_t port = ntohs(sa.sin_port);
  resolver.setSrv("_mtep._tcp.beta.test", {{10, 0, port, "internal.beta.test"}});
  resolver.setAddresses("internal.beta.test", {"127.0.0.1"});
  VerifyQuery q = queryFor(kToken, "bob@beta.test");
  q.sender_domain = "beta.test";
  const VerifyOutcome refused = ask(configFor("", "", 0), q);
  EXPECT_EQ(refused.kind, VerifyKind::kUnreachable);
  // connect() returns only once the connection is queued: none is.
  EXPECT_LT(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK), 0);
  EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << std::strerror(errno);
}

TEST_F(Verifier, AddressLiteralSenderDomainOnLoopbackIsRefused) {
  VerifyQuery q = queryFor(kToken, "bob@[127.0.0.1]");
  q.sender_domain = "[127.0.0.1]";
  const VerifyOutcome o = ask(configFor("", "", 0), q);
  EXPECT_EQ(o.kind, VerifyKind::kUnreachable);
  EXPECT_NE(o.detail.find("loopback"), std::string::npos) << o.detail;
}

TEST_F(Verifier, ListedPrivateTargetIsAsked) {
  MtepTestServer server(answering(netstring::encode("K2.0.0 ok")));
  ASSERT_TRUE(server.ok());
  resolver.setSrv("_mtep._tcp.alpha.test", {{10, 0, server.port(), "lab.alpha.test"}});
  resolver.setAddresses("lab.alpha.test", {"127.0.0.1"});
  auto cfg = configFor("", "", 0);
  cfg->milter.allow_private_targets = {*net::parseNetwork("127.0.0.0/8")};
  EXPECT_EQ(ask(cfg).kind, VerifyKind::kValid);
}

TEST_F(Verifier, SilentServerIsUnreachableWithinQueryTimeout) {
  MtepTestServer server(silent());
  ASSERT_TRUE(server.ok());
  auto cfg = configFor("alpha.test", "127.0.0.1", server.port());
  cfg->milter.query_timeout = 1;
  const VerifyOutcome o = ask(cfg);
  EXPECT_EQ(o.kind, VerifyKind::kUnreachable);
  EXPECT_FALSE(o.detail.empty());
}

TEST_F(Verifier, DiscoveryFailureIsUnreachableWithNoServer) {
  const VerifyOutcome o = ask(configFor("", "", 0));  // the fake resolver knows nothing
  EXPECT_EQ(o.kind, VerifyKind::kUnreachable);
  EXPECT_EQ(o.server, "");
  EXPECT_FALSE(o.detail.empty());
}

const std::string kOnion = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion";

VerifyQuery onionQuery(const std::string& domain = kOnion) {
  VerifyQuery q = queryFor(kToken, "bob@" + domain);
  q.sender_domain = domain;
  return q;
}

TEST_F(Verifier, OnionSenderWithoutProxyIsUnreachableWithoutDns) {
  auto cfg = configFor("", "", 0);
  cfg->outbound.onion_proxy = {"", 0};
  const VerifyOutcome o = ask(cfg, onionQuery());
  EXPECT_EQ(o.kind, VerifyKind::kUnreachable);
  EXPECT_NE(o.detail.find("SOCKS"), std::string::npos) << o.detail;
  EXPECT_TRUE(resolver.calls().empty());
}

TEST_F(Verifier, OnionSenderIsAskedThroughTheProxyByName) {
  MtepTestServer server(answering(netstring::encode("K2.0.0 token known")));
  ASSERT_TRUE(server.ok());
  mtep::testing::SocksForwarder proxy({{6211, server.port()}});
  auto cfg = configFor("", "", 0);
  cfg->outbound.onion_proxy = {"127.0.0.1", proxy.port()};
  // An SMTorP domain: the fingerprint label is not part of the service name.
  const VerifyOutcome o = ask(cfg, onionQuery(std::string(52, 'f') + "." + kOnion));
  EXPECT_EQ(o.kind, VerifyKind::kValid) << o.detail;
  EXPECT_EQ(o.server, kOnion + ":6211");
  EXPECT_EQ(proxy.names(), (std::vector<std::string>{kOnion + ":6211"}));
  EXPECT_TRUE(resolver.calls().empty());
}

TEST_F(Verifier, OnionSenderFallsBackToStartMtepWhen6211Refuses) {
  using namespace mtep::testing;
  ScriptedServer smtp({send("220 peer ESMTP\r\n"), line(),
                       send("250-peer\r\n250 X-STARTMTEP\r\n"), line(),
                       send("220 2.0.0 go\r\n"), request(), send("18:K2.0.0 known there,"),
                       request(), send("6:K2.3.0,"), line(), send("221 bye\r\n")});
  SocksForwarder proxy({{25, smtp.port()}});  // nothing on 6211: reply 5, refused
  auto cfg = configFor("", "", 0);
  cfg->outbound.onion_proxy = {"127.0.0.1", proxy.port()};
  const VerifyOutcome o = ask(cfg, onionQuery());
  EXPECT_EQ(o.kind, VerifyKind::kValid) << o.detail;
  EXPECT_EQ(o.detail, "K2.0.0 known there");
  EXPECT_EQ(proxy.names(), (std::vector<std::string>{kOnion + ":6211", kOnion + ":25"}));
  smtp.join();
  ASSERT_EQ(smtp.received().size(), 5u);
  EXPECT_EQ(smtp.received()[1], "STARTMTEP");
  EXPECT_TRUE(resolver.calls().empty());
}

TEST_F(Verifier, FallbackOffLeavesARefusingOnionUnreachable) {
  mtep::testing::SocksForwarder proxy({});
  auto cfg = configFor("", "", 0);
  cfg->outbound.onion_proxy = {"127.0.0.1", proxy.port()};
  cfg->outbound.startmtep_fallback = false;
  const VerifyOutcome o = ask(cfg, onionQuery());
  EXPECT_EQ(o.kind, VerifyKind::kUnreachable);
  EXPECT_EQ(proxy.names(), (std::vector<std::string>{kOnion + ":6211"}));
}

TEST_F(Verifier, StaticEntryWithItsOwnPortGetsNoFallback) {
  mtep::testing::SocksForwarder proxy({});
  auto cfg = configFor(kOnion, kOnion, 7000);
  cfg->outbound.onion_proxy = {"127.0.0.1", proxy.port()};
  const VerifyOutcome o = ask(cfg, onionQuery());
  EXPECT_EQ(o.kind, VerifyKind::kUnreachable);
  EXPECT_EQ(proxy.names(), (std::vector<std::string>{kOnion + ":7000"}));
}

TEST_F(Verifier, CacheHitAvoidsASecondConnection) {
  MtepTestServer server(answering(netstring::encode("K2.0.0 ok")));
  ASSERT_TRUE(server.ok());
  RemoteVerifier v(configFor("alpha.test", "127.0.0.1", server.port()), resolver, clock);
  const VerifyOutcome first = v.verify(queryFor());
  const VerifyOutcome second = v.verify(queryFor());
  EXPECT_EQ(first.kind, VerifyKind::kValid);
  EXPECT_FALSE(first.cached);
  EXPECT_EQ(second.kind, VerifyKind::kValid);
  EXPECT_TRUE(second.cached);
  EXPECT_EQ(second.server, first.server);
  EXPECT_EQ(server.connections(), 1);
}

TEST_F(Verifier, RefusalsAreCachedToo) {
  MtepTestServer server(answering(netstring::encode("D5.7.8 no")));
  ASSERT_TRUE(server.ok());
  RemoteVerifier v(configFor("alpha.test", "127.0.0.1", server.port()), resolver, clock);
  EXPECT_EQ(v.verify(queryFor()).kind, VerifyKind::kRefused);
  EXPECT_TRUE(v.verify(queryFor()).cached);
  EXPECT_EQ(server.connections(), 1);
}

TEST_F(Verifier, CacheKeyHoldsTokenAndSender) {
  MtepTestServer server(answering(netstring::encode("K2.0.0 ok")));
  ASSERT_TRUE(server.ok());
  RemoteVerifier v(configFor("alpha.test", "127.0.0.1", server.port()), resolver, clock);
  EXPECT_FALSE(v.verify(queryFor(kToken, "alice@alpha.test")).cached);
  EXPECT_FALSE(v.verify(queryFor(kToken, "bob@alpha.test")).cached);
  EXPECT_FALSE(v.verify(queryFor(std::string(62, 'U'), "alice@alpha.test")).cached);
  EXPECT_EQ(server.connections(), 3);
}

// A "yes" for mail to beta.test must not answer for gamma.test from the
// cache; another recipient at beta.test asks the same question.
TEST_F(Verifier, CacheKeyHoldsTheRecipientDomain) {
  MtepTestServer server(answering(netstring::encode("K2.0.0 ok")));
  ASSERT_TRUE(server.ok());
  RemoteVerifier v(configFor("alpha.test", "127.0.0.1", server.port()), resolver, clock);
  EXPECT_FALSE(v.verify(queryFor(kToken, "alice@alpha.test", "bob@beta.test")).cached);
  EXPECT_FALSE(v.verify(queryFor(kToken, "alice@alpha.test", "carol@gamma.test")).cached);
  EXPECT_TRUE(v.verify(queryFor(kToken, "alice@alpha.test", "dave@Beta.Test")).cached);
  EXPECT_EQ(server.connections(), 2);
}

TEST_F(Verifier, CachedAnswerExpiresWithTheClock) {
  MtepTestServer server(answering(netstring::encode("K2.0.0 ok")));
  ASSERT_TRUE(server.ok());
  RemoteVerifier v(configFor("alpha.test", "127.0.0.1", server.port()), resolver, clock);
  (void)v.verify(queryFor());
  clock.advance(59);
  EXPECT_TRUE(v.verify(queryFor()).cached);
  clock.advance(1);
  EXPECT_FALSE(v.verify(queryFor()).cached);
  EXPECT_EQ(server.connections(), 2);
}

TEST_F(Verifier, CacheSizeBoundEvictsTheOldestAnswer) {
  MtepTestServer server(answering(netstring::encode("K2.0.0 ok")));
  ASSERT_TRUE(server.ok());
  auto cfg = configFor("alpha.test", "127.0.0.1", server.port());
  cfg->milter.cache_size = 1;
  RemoteVerifier v(cfg, resolver, clock);
  (void)v.verify(queryFor(kToken, "a@alpha.test"));
  (void)v.verify(queryFor(kToken, "b@alpha.test"));
  EXPECT_FALSE(v.verify(queryFor(kToken, "a@alpha.test")).cached);
  EXPECT_EQ(server.connections(), 3);
  EXPECT_EQ(v.cache().size(), 1u);
}

TEST_F(Verifier, ZeroCacheTtlCachesNothing) {
  MtepTestServer server(answering(netstring::encode("K2.0.0 ok")));
  ASSERT_TRUE(server.ok());
  auto cfg = configFor("alpha.test", "127.0.0.1", server.port());
  cfg->milter.cache_ttl = 0;
  RemoteVerifier v(cfg, resolver, clock);
  (void)v.verify(queryFor());
  EXPECT_FALSE(v.verify(queryFor()).cached);
  EXPECT_EQ(server.connections(), 2);
}

TEST_F(Verifier, DetailIsPrintableAsciiCutAt120) {
  const std::string text = "caf\xc3\xa9 " + std::string(300, 'x');
  MtepTestServer server(answering(netstring::encode("D5.7.8 " + text)));
  ASSERT_TRUE(server.ok());
  const VerifyOutcome o = ask(configFor("alpha.test", "127.0.0.1", server.port()));
  EXPECT_EQ(o.kind, VerifyKind::kRefused);
  EXPECT_EQ(o.detail.size(), 120u);
  EXPECT_EQ(o.detail.rfind("D5.7.8 caf?? xxx", 0), 0u) << o.detail;
  for (const char c : o.detail) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f) << static_cast<int>(c);
  }
}

TEST_F(Verifier, SetConfigSwitchesServers) {
  MtepTestServer yes(answering(netstring::encode("K2.0.0 ok")));
  MtepTestServer no(answering(netstring::encode("D5.7.8 no")));
  ASSERT_TRUE(yes.ok() && no.ok());
  RemoteVerifier v(configFor("alpha.test", "127.0.0.1", yes.port()), resolver, clock);
  EXPECT_EQ(v.verify(queryFor(kToken, "a@alpha.test")).kind, VerifyKind::kValid);
  v.setConfig(configFor("alpha.test", "127.0.0.1", no.port()));
  EXPECT_EQ(v.verify(queryFor(kToken, "b@alpha.test")).kind, VerifyKind::kRefused);
}

TEST_F(Verifier, ConcurrentQueriesAllGetAnswers) {
  MtepTestServer server(answering(netstring::encode("K2.0.0 ok")));
  ASSERT_TRUE(server.ok());
  RemoteVerifier v(configFor("alpha.test", "127.0.0.1", server.port()), resolver, clock);
  constexpr int kThreads = 4;
  std::vector<VerifyKind> kinds(kThreads, VerifyKind::kUnreachable);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&v, &kinds, i] {
      kinds[static_cast<size_t>(i)] =
          v.verify(queryFor(kToken, "u" + std::to_string(i) + "@alpha.test")).kind;
    });
  }
  for (auto& t : threads) t.join();
  for (const VerifyKind k : kinds) EXPECT_EQ(k, VerifyKind::kValid);
  EXPECT_EQ(v.cache().size(), static_cast<size_t>(kThreads));
}

}  // namespace
}  // namespace mtep::verify

// RemoteKeyFetcher: key-server discovery (static entry, overlay names,
// address literals, MX hosts, the domain), which answers end the search,
// and the cache of keys and "none" answers. A fake resolver, a scripted
// PUBKEY client and a fake clock; one case uses the real client against a
// port where nothing listens.
#include "verify/key_fetcher.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "unit/verify/fakes.h"
#include "util/clock.h"

namespace mtep::verify {
namespace {

using testing::DeadPort;
using testing::FakeResolver;

e2ee::PublicKey keyOf(uint8_t fill) {
  e2ee::PublicKey k{};
  k.fill(fill);
  return k;
}

// Answers by "host:port": a key, or an error of the given kind; anything
// else is a refused connection (kTemporary). Records each question.
class ScriptedClient final : public KeyServerClient {
 public:
  Result<e2ee::PublicKey> pubkey(const std::string& host, uint16_t port, std::string_view address,
                                 const e2ee::KeyClientOptions& options) override {
    const std::string where = transport::hostPort(host, port);
    calls.push_back(where + " " + std::string(address));
    last_options = options;
    if (auto it = keys.find(where); it != keys.end()) return it->second;
    if (auto it = errors.find(where); it != errors.end()) return Error(it->second, "scripted");
    return Error(ErrorKind::kTemporary, where + ": connection refused");
  }
  std::map<std::string, e2ee::PublicKey> keys;
  std::map<std::string, ErrorKind> errors;
  std::vector<std::string> calls;
  e2ee::KeyClientOptions last_options;
};

std::shared_ptr<config::Config> baseConfig() {
  auto cfg = std::make_shared<config::Config>();
  cfg->milter.query_timeout = 5;
  cfg->milter.key_cache_ttl = 3600;
  cfg->milter.key_cache_size = 100;
  cfg->outbound.smtp_port = 2525;
  return cfg;
}

milter::KeyQuery fetcherQueryFor(std::string address = "alice@alpha.test",
                                 std::string domain = "alpha.test") {
  return milter::KeyQuery{std::move(address), std::move(domain), "4XyZ"};
}

class KeyFetcherTest : public ::testing::Test {
 protected:
  RemoteKeyFetcher fetcher(std::shared_ptr<config::Config> c = nullptr) {
    return RemoteKeyFetcher(c ? c : cfg, resolver, clock, client);
  }
  std::shared_ptr<config::Config> cfg = baseConfig();
  FakeResolver resolver;
  FakeClock clock;
  ScriptedClient client;
};

TEST_F(KeyFetcherTest, StaticEntryIsAskedOnItsPortWithoutDns) {
  cfg->milter.key_servers.emplace("alpha.test", config::ServerAddress{"192.0.2.10", 587});
  client.keys["192.0.2.10:587"] = keyOf(1);
  auto f = fetcher();
  const milter::KeyOutcome o = f.fetch(fetcherQueryFor());
  EXPECT_EQ(o.kind, milter::KeyKind::kFound) << o.detail;
  EXPECT_EQ(o.key, keyOf(1));
  EXPECT_EQ(o.server, "192.0.2.10:587");
  EXPECT_FALSE(o.cached);
  EXPECT_EQ(client.calls, (std::vector<std::string>{"192.0.2.10:587 alice@alpha.test"}));
  EXPECT_TRUE(resolver.calls().empty());
}

TEST_F(KeyFetcherTest, ParentEntryCoversSubdomains) {
  cfg->milter.key_servers.emplace(".alpha.test", config::ServerAddress{"192.0.2.11", 25});
  client.keys["192.0.2.11:25"] = keyOf(2);
  auto f = fetcher();
  const milter::KeyOutcome o =
      f.fetch(fetcherQueryFor("bob@eu.mail.alpha.test", "eu.mail.alpha.test"));
  EXPECT_EQ(o.kind, milter::KeyKind::kFound) << o.detail;
  EXPECT_TRUE(resolver.calls().empty());
}

TEST_F(KeyFetcherTest, MxHostsInPreferenceOrderOnTheSmtpPort) {
  resolver.setMx("alpha.test", {{20, "mx2.alpha.test"}, {10, "mx1.alpha.test"}});
  resolver.setAddresses("mx1.alpha.test", {"192.0.2.1"});
  resolver.setAddresses("mx2.alpha.test", {"192.0.2.2"});
  client.keys["192.0.2.2:2525"] = keyOf(3);
  auto f = fetcher();
  const milter::KeyOutcome o = f.fetch(fetcherQueryFor());
  EXPECT_EQ(o.kind, milter::KeyKind::kFound) << o.detail;
  EXPECT_EQ(o.server, "mx2.alpha.test:2525");
  EXPECT_EQ(client.calls, (std::vector<std::string>{"192.0.2.1:2525 alice@alpha.test",
                                                    "192.0.2.2:2525 alice@alpha.test"}));
}

TEST_F(KeyFetcherTest, NoMxMeansTheDomainItself) {
  resolver.setMx("alpha.test", {});
  resolver.setAddresses("alpha.test", {"192.0.2.5"});
  client.keys["192.0.2.5:2525"] = keyOf(4);
  auto f = fetcher();
  EXPECT_EQ(f.fetch(fetcherQueryFor()).kind, milter::KeyKind::kFound);
}

TEST_F(KeyFetcherTest, AServerThatSaysNoKeyIsFinal) {
  resolver.setMx("alpha.test", {{10, "mx1.alpha.test"}, {20, "mx2.alpha.test"}});
  resolver.setAddresses("mx1.alpha.test", {"192.0.2.1"});
  resolver.setAddresses("mx2.alpha.test", {"192.0.2.2"});
  client.errors["192.0.2.1:2525"] = ErrorKind::kNotFound;
  client.keys["192.0.2.2:2525"] = keyOf(5);
  auto f = fetcher();
  const milter::KeyOutcome o = f.fetch(fetcherQueryFor());
  EXPECT_EQ(o.kind, milter::KeyKind::kNone);
  EXPECT_EQ(client.calls.size(), 1u) << "the second MX must not be asked";
}

TEST_F(KeyFetcherTest, AnotherPermanentRefusalIsNone) {
  cfg->milter.key_servers.emplace("alpha.test", config::ServerAddress{"192.0.2.10", 25});
  client.errors["192.0.2.10:25"] = ErrorKind::kInvalid;
  auto f = fetcher();
  EXPECT_EQ(f.fetch(fetcherQueryFor()).kind, milter::KeyKind::kNone);
}

TEST_F(KeyFetcherTest, UnreachableServersAreTemporaryAndNotCached) {
  resolver.setMx("alpha.test", {{10, "mx1.alpha.test"}});
  resolver.setAddresses("mx1.alpha.test", {"192.0.2.1", "2001:db8::1"});
  client.errors["[2001:db8::1]:2525"] = ErrorKind::kTemporary;  // a 4xx, say
  auto f = fetcher();
  milter::KeyOutcome o = f.fetch(fetcherQueryFor());
  EXPECT_EQ(o.kind, milter::KeyKind::kTemporary);
  EXPECT_EQ(client.calls.size(), 2u);
  EXPECT_FALSE(o.detail.empty());
  o = f.fetch(fetcherQueryFor());
  EXPECT_EQ(o.kind, milter::KeyKind::kTemporary);
  EXPECT_FALSE(o.cached);
  EXPECT_EQ(client.calls.size(), 4u) << "temporary failures are asked again";
  EXPECT_EQ(f.cache().size(), 0u);
}

TEST_F(KeyFetcherTest, TemporaryDnsFailureIsTemporary) {
  resolver.failMx("alpha.test", ErrorKind::kTemporary);
  auto f = fetcher();
  EXPECT_EQ(f.fetch(fetcherQueryFor()).kind, milter::KeyKind::kTemporary);
  EXPECT_TRUE(client.calls.empty());
  EXPECT_EQ(f.cache().size(), 0u);
}

TEST_F(KeyFetcherTest, NoSuchDomainOrNullMxIsNoneAndCached) {
  resolver.setMx("nullmx.test", {{0, ""}});
  auto f = fetcher();
  EXPECT_EQ(f.fetch(fetcherQueryFor("a@nowhere.test", "nowhere.test")).kind,
            milter::KeyKind::kNone);
  EXPECT_EQ(f.fetch(fetcherQueryFor("a@nullmx.test", "nullmx.test")).kind, milter::KeyKind::kNone);
  EXPECT_TRUE(client.calls.empty());
  const size_t lookups = resolver.calls().size();
  const milter::KeyOutcome again = f.fetch(fetcherQueryFor("a@nowhere.test", "nowhere.test"));
  EXPECT_EQ(again.kind, milter::KeyKind::kNone);
  EXPECT_TRUE(again.cached);
  EXPECT_EQ(resolver.calls().size(), lookups);
}

TEST_F(KeyFetcherTest, OnionDomainGoesToTheProxyAsANameNeverToDns) {
  const std::string onion(56, 'a');
  cfg->outbound.onion_proxy = config::ProxyAddress{"127.0.0.1", 9050};
  auto f = fetcher();
  f.fetch(fetcherQueryFor("alice@" + onion + ".onion", onion + ".onion"));
  f.fetch(fetcherQueryFor("bob@fp12345678." + onion + ".onion", "fp12345678." + onion + ".onion"));
  EXPECT_TRUE(resolver.calls().empty());
  ASSERT_EQ(client.calls.size(), 2u);
  EXPECT_EQ(client.calls[0], onion + ".onion:2525 alice@" + onion + ".onion");
  EXPECT_EQ(client.calls[1].substr(0, onion.size() + 12), onion + ".onion:2525 ")
      << "SMTorP: the onion service itself";
  EXPECT_EQ(client.last_options.dial.onion_proxy.port, 9050);
}

TEST_F(KeyFetcherTest, AddressLiteralDomainIsAskedDirectly) {
  client.keys["192.0.2.77:2525"] = keyOf(6);
  auto f = fetcher();
  EXPECT_EQ(f.fetch(fetcherQueryFor("a@[192.0.2.77]", "[192.0.2.77]")).kind,
            milter::KeyKind::kFound);
  EXPECT_TRUE(resolver.calls().empty());
  EXPECT_EQ(f.fetch(fetcherQueryFor("a@[300.1.1.1]", "[300.1.1.1]")).kind, milter::KeyKind::kNone);
}

TEST_F(KeyFetcherTest, DiscoveredServerMustHaveACertificateForItsNameAndAPublicAddress) {
  resolver.setMx("alpha.test", {{10, "mx1.alpha.test"}});
  resolver.setAddresses("mx1.alpha.test", {"192.0.2.1"});
  cfg->milter.tls_ca_file = "/etc/mtep/ca.pem";
  cfg->milter.allow_private_targets = {*net::parseNetwork("10.0.0.0/8")};
  auto f = fetcher();
  f.fetch(fetcherQueryFor());
  const e2ee::KeyClientOptions& o = client.last_options;
  EXPECT_TRUE(o.tls.verify_certificate);
  EXPECT_EQ(o.tls.name, "mx1.alpha.test") << "the MX name, not the address connected to";
  EXPECT_EQ(o.tls.ca_file, "/etc/mtep/ca.pem");
  EXPECT_TRUE(o.tls.pins.empty());
  EXPECT_TRUE(o.dial.targets.refuse_non_public);
  ASSERT_EQ(o.dial.targets.allowed.size(), 1u);
  EXPECT_EQ(o.dial.targets.allowed[0].toString(), "10.0.0.0/8");
}

TEST_F(KeyFetcherTest, PinnedDomainTrustsItsPinsInsteadOfACa) {
  const std::string pin(52, 'a');
  cfg->milter.key_servers.emplace(".alpha.test", config::ServerAddress{"127.0.0.1", 2526});
  cfg->milter.tls_pins.emplace(".alpha.test", std::vector<std::string>{pin});
  auto f = fetcher();
  f.fetch(fetcherQueryFor("bob@eu.alpha.test", "eu.alpha.test"));
  const e2ee::KeyClientOptions& o = client.last_options;
  EXPECT_EQ(o.tls.pins, std::vector<std::string>{pin});
  // A static entry is the admin's choice: its address is not refused.
  EXPECT_FALSE(o.dial.targets.refuse_non_public);
}

TEST_F(KeyFetcherTest, StaticEntryWithoutPinNeedsACertificateForItsHost) {
  cfg->milter.key_servers.emplace("alpha.test", config::ServerAddress{"keys.alpha.test", 25});
  resolver.setAddresses("keys.alpha.test", {"192.0.2.9"});
  auto f = fetcher();
  f.fetch(fetcherQueryFor());
  EXPECT_TRUE(client.last_options.tls.verify_certificate);
  EXPECT_EQ(client.last_options.tls.name, "keys.alpha.test");
}

TEST_F(KeyFetcherTest, OverlayServerIsTrustedByItsAddress) {
  const std::string onion(56, 'b');
  cfg->outbound.onion_proxy = config::ProxyAddress{"127.0.0.1", 9050};
  auto f = fetcher();
  f.fetch(fetcherQueryFor("alice@" + onion + ".onion", onion + ".onion"));
  EXPECT_FALSE(client.last_options.tls.checks());
}

TEST_F(KeyFetcherTest, FoundKeysAreCachedForTheTtlWhateverTheCase) {
  cfg->milter.key_servers.emplace("alpha.test", config::ServerAddress{"192.0.2.10", 25});
  client.keys["192.0.2.10:25"] = keyOf(7);
  auto f = fetcher();
  EXPECT_FALSE(f.fetch(fetcherQueryFor()).cached);
  const milter::KeyOutcome hit = f.fetch(fetcherQueryFor("Alice@Alpha.Test", "alpha.test"));
  EXPECT_TRUE(hit.cached);
  EXPECT_EQ(hit.kind, milter::KeyKind::kFound);
  EXPECT_EQ(hit.key, keyOf(7));
  EXPECT_EQ(client.calls.size(), 1u);
  clock.advance(3599);
  EXPECT_TRUE(f.fetch(fetcherQueryFor()).cached);
  clock.advance(1);
  EXPECT_FALSE(f.fetch(fetcherQueryFor()).cached) << "expired after key_cache_ttl";
  EXPECT_EQ(client.calls.size(), 2u);
}

TEST_F(KeyFetcherTest, NoneAnswersAreCachedToo) {
  cfg->milter.key_servers.emplace("alpha.test", config::ServerAddress{"192.0.2.10", 25});
  client.errors["192.0.2.10:25"] = ErrorKind::kNotFound;
  auto f = fetcher();
  EXPECT_EQ(f.fetch(fetcherQueryFor()).kind, milter::KeyKind::kNone);
  const milter::KeyOutcome hit = f.fetch(fetcherQueryFor());
  EXPECT_EQ(hit.kind, milter::KeyKind::kNone);
  EXPECT_TRUE(hit.cached);
  EXPECT_EQ(client.calls.size(), 1u);
}

TEST_F(KeyFetcherTest, TtlZeroCachesNothing) {
  cfg->milter.key_cache_ttl = 0;
  cfg->milter.key_servers.emplace("alpha.test", config::ServerAddress{"192.0.2.10", 25});
  client.keys["192.0.2.10:25"] = keyOf(8);
  auto f = fetcher();
  f.fetch(fetcherQueryFor());
  EXPECT_FALSE(f.fetch(fetcherQueryFor()).cached);
  EXPECT_EQ(client.calls.size(), 2u);
}

TEST_F(KeyFetcherTest, ReloadedConfigIsUsedForTheNextFetch) {
  auto f = fetcher();
  auto next = baseConfig();
  next->milter.key_servers.emplace("alpha.test", config::ServerAddress{"192.0.2.12", 25});
  client.keys["192.0.2.12:25"] = keyOf(9);
  f.setConfig(next);
  EXPECT_EQ(f.fetch(fetcherQueryFor()).kind, milter::KeyKind::kFound);
}

TEST(KeyCache, OldestEntryGoesFirstWhenFull) {
  FakeClock clock;
  KeyCache cache(clock);
  milter::KeyOutcome found;
  found.kind = milter::KeyKind::kFound;
  cache.put("a", found, 60, 2);
  clock.advance(1);
  cache.put("b", found, 60, 2);
  clock.advance(1);
  cache.put("c", found, 60, 2);
  milter::KeyOutcome out;
  EXPECT_FALSE(cache.get("a", &out));
  EXPECT_TRUE(cache.get("b", &out));
  EXPECT_TRUE(cache.get("c", &out));
  EXPECT_EQ(cache.size(), 2u);
}

TEST(KeyCache, TemporaryIsNeverStored) {
  FakeClock clock;
  KeyCache cache(clock);
  milter::KeyOutcome temp;
  temp.kind = milter::KeyKind::kTemporary;
  cache.put("a", temp, 60, 10);
  milter::KeyOutcome out;
  EXPECT_FALSE(cache.get("a", &out));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(RealKeyFetcher, NothingListeningIsTemporary) {
  DeadPort dead;
  ASSERT_TRUE(dead.ok());
  auto cfg = baseConfig();
  cfg->milter.query_timeout = 3;
  cfg->milter.key_servers.emplace("alpha.test", config::ServerAddress{"127.0.0.1", dead.port()});
  FakeResolver resolver;
  FakeClock clock;
  RemoteKeyFetcher f(cfg, resolver, clock);
  const milter::KeyOutcome o = f.fetch(fetcherQueryFor());
  EXPECT_EQ(o.kind, milter::KeyKind::kTemporary) << o.detail;
  EXPECT_EQ(o.server, "127.0.0.1:" + std::to_string(dead.port()));
  EXPECT_FALSE(o.detail.empty());
}

}  // namespace
}  // namespace mtep::verify

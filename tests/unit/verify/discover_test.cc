// Tests for verify::discover with a fake resolver that records every call:
// static entries beat SRV, SRV beats MX, MX beats the domain itself; what
// each DNS failure leads to; overlay names never reach the resolver.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "unit/verify/fakes.h"
#include "verify/remote_verifier.h"

namespace mtep::verify {
namespace {

using testing::FakeResolver;

int64_t soon() { return dns::monotonicMs() + 5000; }

// "host:port/via" for each candidate, or "error <kind>".
std::vector<std::string> run(const config::MilterConfig& cfg, FakeResolver& r,
                             std::string_view domain) {
  auto c = discover(cfg, r, domain, soon());
  if (!c) return {std::string("error ") + errorKindName(c.error().kind())};
  std::vector<std::string> out;
  for (const Candidate& x : *c) out.push_back(x.host + ":" + std::to_string(x.port) + "/" + x.via);
  return out;
}

using List = std::vector<std::string>;

class Discover : public ::testing::Test {
 protected:
  void SetUp() override {
    // Every step has an answer, so a test shows which one wins.
    resolver.setSrv("_mtep._tcp.alpha.test", {{10, 0, 7000, "mtep.alpha.test"}});
    resolver.setMx("alpha.test", {{10, "mx.alpha.test"}});
  }
  config::MilterConfig cfg;
  FakeResolver resolver;
};

TEST_F(Discover, StaticEntryBeatsDnsAndAsksNothing) {
  cfg.mtep_servers.emplace("alpha.test", config::ServerAddress{"192.0.2.7", 7001});
  EXPECT_EQ(run(cfg, resolver, "alpha.test"), (List{"192.0.2.7:7001/static"}));
  EXPECT_TRUE(resolver.calls().empty());
}

TEST_F(Discover, StaticParentEntryCoversSubdomains) {
  cfg.mtep_servers.emplace(".alpha.test", config::ServerAddress{"mtep.alpha.test", 6211});
  EXPECT_EQ(run(cfg, resolver, "Sub.Alpha.Test."), (List{"mtep.alpha.test:6211/static"}));
  EXPECT_TRUE(resolver.calls().empty());
}

// A sender domain with an empty label is refused before any lookup: once
// "x.onion..." lost one dot here and looked like a DNS name, and the
// resolver dropped another before asking DNS for "_mtep._tcp.x.onion.".
TEST_F(Discover, DomainWithAnEmptyLabelIsInvalidAndAsksNothing) {
  for (const char* domain : {"alpha.test..", "x.onion...", "x.onion..", ".alpha.test",
                             "a..alpha.test", "."}) {
    EXPECT_EQ(run(cfg, resolver, domain), (List{"error invalid"})) << domain;
  }
  EXPECT_TRUE(resolver.calls().empty());
}

TEST_F(Discover, SrvBeatsMxInPriorityThenWeightOrder) {
  resolver.setSrv("_mtep._tcp.alpha.test", {{20, 0, 7002, "c.alpha.test"},
                                            {10, 5, 7001, "b.alpha.test"},
                                            {10, 50, 7000, "a.alpha.test"}});
  EXPECT_EQ(run(cfg, resolver, "alpha.test"),
            (List{"a.alpha.test:7000/srv", "b.alpha.test:7001/srv", "c.alpha.test:7002/srv"}));
  EXPECT_EQ(resolver.calls(), (List{"srv _mtep._tcp.alpha.test"}));
}

TEST_F(Discover, SrvDotMeansNoServiceAndNoFallback) {
  resolver.setSrv("_mtep._tcp.alpha.test", {{0, 0, 0, ""}});
  EXPECT_EQ(run(cfg, resolver, "alpha.test"), (List{"error not-found"}));
  EXPECT_EQ(resolver.calls(), (List{"srv _mtep._tcp.alpha.test"}));
}

TEST_F(Discover, SrvRecordsWithPortZeroAreSkipped) {
  resolver.setSrv("_mtep._tcp.alpha.test",
                  {{1, 0, 0, "zero.alpha.test"}, {2, 0, 7000, "mtep.alpha.test"}});
  EXPECT_EQ(run(cfg, resolver, "alpha.test"), (List{"mtep.alpha.test:7000/srv"}));
}

TEST_F(Discover, SrvNxDomainFallsToMxInPreferenceOrder) {
  resolver.failSrv("_mtep._tcp.alpha.test", ErrorKind::kNotFound);
  resolver.setMx("alpha.test", {{20, "mx2.alpha.test"}, {5, "mx1.alpha.test"}});
  EXPECT_EQ(run(cfg, resolver, "alpha.test"),
            (List{"mx1.alpha.test:6211/mx", "mx2.alpha.test:6211/mx"}));
  EXPECT_EQ(resolver.calls(), (List{"srv _mtep._tcp.alpha.test", "mx alpha.test"}));
}

TEST_F(Discover, SrvNoDataFallsToMx) {
  resolver.setSrv("_mtep._tcp.alpha.test", {});
  EXPECT_EQ(run(cfg, resolver, "alpha.test"), (List{"mx.alpha.test:6211/mx"}));
}

TEST_F(Discover, SrvTemporaryFailureStopsInsteadOfSkippingToMx) {
  resolver.failSrv("_mtep._tcp.alpha.test", ErrorKind::kTemporary);
  EXPECT_EQ(run(cfg, resolver, "alpha.test"), (List{"error temporary"}));
  EXPECT_EQ(resolver.calls(), (List{"srv _mtep._tcp.alpha.test"}));
}

TEST_F(Discover, MxTemporaryFailureStopsInsteadOfUsingTheDomain) {
  resolver.setSrv("_mtep._tcp.alpha.test", {});
  resolver.failMx("alpha.test", ErrorKind::kTemporary);
  EXPECT_EQ(run(cfg, resolver, "alpha.test"), (List{"error temporary"}));
}

TEST_F(Discover, NoMxFallsToTheDomainItself) {
  resolver.setSrv("_mtep._tcp.alpha.test", {});
  resolver.setMx("alpha.test", {});
  EXPECT_EQ(run(cfg, resolver, "alpha.test"), (List{"alpha.test:6211/domain"}));
}

TEST_F(Discover, NxDomainForTheDomainIsNotFound) {
  EXPECT_EQ(run(cfg, resolver, "nowhere.test"), (List{"error not-found"}));
  EXPECT_EQ(resolver.calls(), (List{"srv _mtep._tcp.nowhere.test", "mx nowhere.test"}));
}

TEST_F(Discover, NullMxIsNotFound) {
  resolver.setSrv("_mtep._tcp.alpha.test", {});
  resolver.setMx("alpha.test", {{0, ""}});
  EXPECT_EQ(run(cfg, resolver, "alpha.test"), (List{"error not-found"}));
}

TEST_F(Discover, OverlayNamesWithoutStaticEntryAreAskedThemselvesWithoutDns) {
  EXPECT_EQ(run(cfg, resolver, "abcdefgh.onion"), (List{"abcdefgh.onion:6211/overlay"}));
  EXPECT_EQ(run(cfg, resolver, "x.y.I2P"), (List{"x.y.i2p:6211/overlay"}));
  EXPECT_EQ(run(cfg, resolver, "abcdefgh.onion."), (List{"abcdefgh.onion:6211/overlay"}));
  EXPECT_TRUE(resolver.calls().empty());
}

TEST_F(Discover, SmtorpFingerprintLabelIsNotPartOfTheOnionHost) {
  const std::string onion = std::string(56, 'a') + ".onion";
  const std::string fp(52, 'b');
  EXPECT_EQ(run(cfg, resolver, fp + "." + onion), (List{onion + ":6211/overlay"}));
  EXPECT_EQ(run(cfg, resolver, "x." + fp + "." + onion), (List{onion + ":6211/overlay"}));
  EXPECT_EQ(run(cfg, resolver, onion), (List{onion + ":6211/overlay"}));
  // The label before ".onion" is not an onion v3 name: nothing is stripped.
  EXPECT_EQ(run(cfg, resolver, "fp.short.onion"), (List{"fp.short.onion:6211/overlay"}));
  EXPECT_TRUE(resolver.calls().empty());
}

TEST_F(Discover, OverlayNameWithStaticEntryUsesIt) {
  cfg.mtep_servers.emplace("abcdefgh.onion", config::ServerAddress{"127.0.0.1", 9211});
  EXPECT_EQ(run(cfg, resolver, "abcdefgh.onion"), (List{"127.0.0.1:9211/static"}));
  EXPECT_TRUE(resolver.calls().empty());
}

TEST_F(Discover, DomainIsLowerCasedWithoutTrailingDot) {
  run(cfg, resolver, "ALPHA.Test.");
  EXPECT_EQ(resolver.calls(), (List{"srv _mtep._tcp.alpha.test"}));
}

TEST_F(Discover, AddressLiteralIsUsedWithoutDns) {
  EXPECT_EQ(run(cfg, resolver, "[192.0.2.9]"), (List{"192.0.2.9:6211/domain"}));
  EXPECT_EQ(run(cfg, resolver, "[IPv6:2001:db8::9]"), (List{"2001:db8::9:6211/domain"}));
  EXPECT_EQ(run(cfg, resolver, "[not an address]"), (List{"error invalid"}));
  EXPECT_TRUE(resolver.calls().empty());
}

TEST_F(Discover, EmptyDomainIsInvalid) {
  EXPECT_EQ(run(cfg, resolver, ""), (List{"error invalid"}));
  EXPECT_EQ(run(cfg, resolver, "."), (List{"error invalid"}));
  EXPECT_TRUE(resolver.calls().empty());
}

TEST_F(Discover, PassedDeadlineIsTemporaryWithoutAsking) {
  auto c = discover(cfg, resolver, "alpha.test", dns::monotonicMs() - 1);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind(), ErrorKind::kTemporary);
  EXPECT_TRUE(resolver.calls().empty());
}

}  // namespace
}  // namespace mtep::verify

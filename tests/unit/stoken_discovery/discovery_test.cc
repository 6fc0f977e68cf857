// Tests for stoken::discoverTokenServers() and orderSrv() with a fake
// resolver: static entries, _submissions/_submission SRV in RFC 2782
// order, "." targets, MX fallback (implicit and null MX), errors.

#include "stoken/discovery.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace mtep::stoken {
namespace {

// Answers from tables; a name absent from a table is kNotFound; names in
// `failing` are kTemporary. Records every name asked.
class FakeResolver : public dns::Resolver {
 public:
  std::map<std::string, std::vector<dns::SrvRecord>> srv_records;
  std::map<std::string, std::vector<dns::MxRecord>> mx_records;
  std::vector<std::string> failing;
  std::vector<std::string> asked;

  Result<std::vector<dns::SrvRecord>> srv(std::string_view name, int64_t) override {
    asked.emplace_back("SRV " + std::string(name));
    if (fails(name)) return Error(ErrorKind::kTemporary, "SERVFAIL");
    auto it = srv_records.find(std::string(name));
    if (it == srv_records.end()) return Error(ErrorKind::kNotFound, "NXDOMAIN");
    return it->second;
  }
  Result<std::vector<dns::MxRecord>> mx(std::string_view name, int64_t) override {
    asked.emplace_back("MX " + std::string(name));
    if (fails(name)) return Error(ErrorKind::kTemporary, "SERVFAIL");
    auto it = mx_records.find(std::string(name));
    if (it == mx_records.end()) return Error(ErrorKind::kNotFound, "NXDOMAIN");
    return it->second;
  }
  Result<std::vector<std::string>> addresses(std::string_view, int64_t) override {
    return Error(ErrorKind::kNotFound, "not used");
  }

 private:
  bool fails(std::string_view name) const {
    for (const auto& f : failing) {
      if (f == name) return true;
    }
    return false;
  }
};

using Servers = std::vector<TokenServer>;
constexpr int64_t kDeadline = 1 << 30;
uint32_t pickLowest(uint32_t) { return 0; }

TokenServer ts(std::string host, uint16_t port, bool implicit, ServerSource src) {
  return TokenServer{std::move(host), port, implicit, src};
}

TEST(TokenServerDiscovery, StaticEntryAloneAndNoDnsAsked) {
  FakeResolver r;
  r.mx_records["beta.test"] = {{10, "mx.beta.test"}};
  DiscoveryOptions o;
  o.servers["Beta.Test."] = {"127.0.0.1", 10465};
  auto c = discoverTokenServers(o, r, "BETA.test", kDeadline);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(*c, (Servers{ts("127.0.0.1", 10465, true, ServerSource::kStatic)}));
  EXPECT_TRUE(r.asked.empty());
}

TEST(TokenServerDiscovery, SubmissionsThenSubmissionThenMx) {
  FakeResolver r;
  r.srv_records["_submissions._tcp.beta.test"] = {{10, 0, 465, "tls.beta.test"}};
  r.srv_records["_submission._tcp.beta.test"] = {{10, 0, 587, "plain.beta.test"}};
  r.mx_records["beta.test"] = {{20, "mx2.beta.test"}, {10, "mx1.beta.test"}};
  DiscoveryOptions o;
  o.submission_port = 4650;
  auto c = discoverTokenServers(o, r, "beta.test.", kDeadline);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(*c, (Servers{ts("tls.beta.test", 465, true, ServerSource::kSubmissionsSrv),
                         ts("plain.beta.test", 587, false, ServerSource::kSubmissionSrv),
                         ts("mx1.beta.test", 4650, true, ServerSource::kMx),
                         ts("mx2.beta.test", 4650, true, ServerSource::kMx)}));
  EXPECT_EQ(r.asked, (std::vector<std::string>{"SRV _submissions._tcp.beta.test",
                                               "SRV _submission._tcp.beta.test",
                                               "MX beta.test"}));
}

TEST(TokenServerDiscovery, SrvByPriorityThenWeight) {
  FakeResolver r;
  r.srv_records["_submissions._tcp.beta.test"] = {{20, 0, 465, "late.beta.test"},
                                                  {10, 5, 465, "light.beta.test"},
                                                  {10, 0, 465, "zero.beta.test"},
                                                  {10, 60, 465, "heavy.beta.test"}};
  // pick(total) = total: the last running sum wins each round.
  auto c = discoverTokenServers({}, r, "beta.test", kDeadline,
                                [](uint32_t total) { return total; });
  ASSERT_TRUE(c.ok());
  ASSERT_GE(c->size(), 4u);
  EXPECT_EQ((*c)[0].host, "heavy.beta.test");
  EXPECT_EQ((*c)[1].host, "light.beta.test");
  EXPECT_EQ((*c)[2].host, "zero.beta.test");
  EXPECT_EQ((*c)[3].host, "late.beta.test");
}

TEST(OrderSrv, WeightZeroFirstWhenPickIsZero) {
  std::vector<dns::SrvRecord> in = {{1, 50, 1, "a"}, {1, 0, 1, "b"}, {0, 9, 1, "c"}};
  auto out = orderSrv(in, pickLowest);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].target, "c");
  EXPECT_EQ(out[1].target, "b");
  EXPECT_EQ(out[2].target, "a");
}

TEST(OrderSrv, RandomOrderKeepsPriorities) {
  std::vector<dns::SrvRecord> in = {{2, 1, 1, "x"}, {1, 1, 1, "y"}, {1, 1, 1, "z"}};
  for (int i = 0; i < 20; ++i) {
    auto out = orderSrv(in, {});
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[2].target, "x");
  }
}

TEST(TokenServerDiscovery, DotTargetMeansThatServiceIsNotOffered) {
  FakeResolver r;
  r.srv_records["_submissions._tcp.beta.test"] = {{0, 0, 0, ""}};
  r.srv_records["_submission._tcp.beta.test"] = {{10, 0, 587, "sub.beta.test"}};
  r.mx_records["beta.test"] = {{10, "mx.beta.test"}};
  auto c = discoverTokenServers({}, r, "beta.test", kDeadline);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, (Servers{ts("sub.beta.test", 587, false, ServerSource::kSubmissionSrv),
                         ts("mx.beta.test", 465, true, ServerSource::kMx)}));
}

TEST(TokenServerDiscovery, BothSrvNamesRefusingMeansNoServerNotTheMx) {
  FakeResolver r;
  r.srv_records["_submissions._tcp.beta.test"] = {{0, 0, 0, "."}};
  r.srv_records["_submission._tcp.beta.test"] = {{0, 0, 0, ""}};
  r.mx_records["beta.test"] = {{10, "mx.beta.test"}};
  auto c = discoverTokenServers({}, r, "beta.test", kDeadline);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind(), ErrorKind::kNotFound);
}

TEST(TokenServerDiscovery, NoMxRecordsMeansTheDomainItself) {
  FakeResolver r;
  r.mx_records["beta.test"] = {};
  auto c = discoverTokenServers({}, r, "beta.test", kDeadline);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, (Servers{ts("beta.test", 465, true, ServerSource::kMx)}));
}

TEST(TokenServerDiscovery, NullMxGivesNothing) {
  FakeResolver r;
  r.mx_records["beta.test"] = {{0, ""}};
  auto c = discoverTokenServers({}, r, "beta.test", kDeadline);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind(), ErrorKind::kNotFound);
}

TEST(TokenServerDiscovery, DuplicatesAndZeroPortsAreDropped) {
  FakeResolver r;
  r.srv_records["_submissions._tcp.beta.test"] = {{10, 0, 465, "mx.beta.test"},
                                                  {20, 0, 0, "zero.beta.test"}};
  r.mx_records["beta.test"] = {{10, "MX.beta.test"}, {20, "mx.beta.test"}};
  auto c = discoverTokenServers({}, r, "beta.test", kDeadline);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, (Servers{ts("mx.beta.test", 465, true, ServerSource::kSubmissionsSrv)}));
}

TEST(TokenServerDiscovery, AtMostMaxCandidates) {
  FakeResolver r;
  for (int i = 0; i < 50; ++i) {
    r.mx_records["beta.test"].push_back({static_cast<uint16_t>(i), "mx" + std::to_string(i) + ".beta.test"});
  }
  DiscoveryOptions o;
  o.max_candidates = 3;
  auto c = discoverTokenServers(o, r, "beta.test", kDeadline);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->size(), 3u);
}

TEST(TokenServerDiscovery, TemporaryFailureWithoutCandidatesIsTemporary) {
  FakeResolver r;
  r.failing = {"_submissions._tcp.beta.test", "beta.test"};
  auto c = discoverTokenServers({}, r, "beta.test", kDeadline);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind(), ErrorKind::kTemporary);
}

TEST(TokenServerDiscovery, TemporaryFailureBesideCandidatesKeepsThem) {
  FakeResolver r;
  r.failing = {"_submissions._tcp.beta.test"};
  r.mx_records["beta.test"] = {{10, "mx.beta.test"}};
  auto c = discoverTokenServers({}, r, "beta.test", kDeadline);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, (Servers{ts("mx.beta.test", 465, true, ServerSource::kMx)}));
}

TEST(TokenServerDiscovery, UnknownDomainIsNotFound) {
  FakeResolver r;
  auto c = discoverTokenServers({}, r, "nowhere.test", kDeadline);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind(), ErrorKind::kNotFound);
}

TEST(TokenServerDiscovery, MalformedDomainIsInvalidAndNothingIsAsked) {
  FakeResolver r;
  for (const char* bad : {"", ".", "x..test", "beta.test..", ".beta.test"}) {
    auto c = discoverTokenServers({}, r, bad, kDeadline);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.error().kind(), ErrorKind::kInvalid) << bad;
  }
  EXPECT_TRUE(r.asked.empty());
}

TEST(TokenServerDiscovery, StaticEntryForAnotherDomainDoesNotMatchASuffix) {
  FakeResolver r;
  DiscoveryOptions o;
  o.servers["test"] = {"127.0.0.1", 1};
  o.servers["eta.test"] = {"127.0.0.1", 2};
  auto c = discoverTokenServers(o, r, "beta.test", kDeadline);
  EXPECT_FALSE(c.ok());
  EXPECT_FALSE(r.asked.empty());
}

}  // namespace
}  // namespace mtep::stoken

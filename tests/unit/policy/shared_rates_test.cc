// The engine's shared rate counters (Engine::setSharedRates, [store]
// backend "redis"): the rate gates are asked for as a RateCheck, counted
// nowhere in memory, and the answer given back decides: under passes, over
// gives the gate's 450 4.7.1, temporary gives 451 4.3.0. Without the flag
// (SQLite) nothing is ever asked for.
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <utility>

#include "config/config.h"
#include "policy/policy.h"
#include "util/clock.h"

namespace mtep::policy {
namespace {

constexpr int64_t kRatesNow = 1'700'000'040;

config::ConfigPtr loadRates(const std::string& toml) {
  auto cfg = config::loadString(toml, "test.conf");
  EXPECT_TRUE(cfg.ok()) << (cfg.ok() ? "" : cfg.error().message());
  return cfg.ok() ? *cfg : std::make_shared<const config::Config>();
}

Request rateRcpt(const std::string& recipient, const std::string& sender = "alice@alpha.test",
                 const std::string& client = "192.0.2.1", const std::string& instance = "1.1") {
  Request r;
  for (auto [n, v] : std::initializer_list<std::pair<const char*, std::string>>{
           {"request", "smtpd_access_policy"},
           {"protocol_state", "RCPT"},
           {"client_address", client},
           {"client_port", "40000"},
           {"sender", sender},
           {"recipient", recipient},
           {"queue_id", ""},
           {"instance", instance}}) {
    r.attributes.emplace_back(n, std::move(v));
  }
  return r;
}

RateAnswer under() {
  RateAnswer a;
  a.result = RateAnswer::Result::kUnder;
  return a;
}
RateAnswer over(RateCheck::Gate gate) {
  RateAnswer a;
  a.result = RateAnswer::Result::kOver;
  a.gate = gate;
  return a;
}
RateAnswer temporary(std::string detail) {
  RateAnswer a;
  a.result = RateAnswer::Result::kTemporary;
  a.detail = std::move(detail);
  return a;
}

constexpr const char* kBothGates =
    "[domain.\"beta.test\"]\nrate_limit_client = \"3/1m\"\nrate_limit_sender = \"2/1h\"\n";

class SharedRatesTest : public ::testing::Test {
 protected:
  void use(const std::string& toml, bool shared = true) {
    engine_ = std::make_unique<Engine>(loadRates(toml), clock_);
    engine_->setSharedRates(shared);
  }
  // decide() must ask for a rate check; returns it.
  RateCheck asked(const Request& r) {
    Outcome o = engine_->decide(r);
    EXPECT_TRUE(o.needs_rates) << "no rate check asked; got " << o.decision.action;
    EXPECT_FALSE(o.needs_lookup || o.needs_stamps);
    if (!o.needs_rates || !o.rates) return {};
    return *o.rates;
  }
  // decide() with `answer` must be final; returns the action.
  std::string action(const Request& r, const RateAnswer* answer) {
    Outcome o = engine_->decide(r, answer);
    EXPECT_FALSE(o.needs_rates || o.needs_lookup || o.needs_stamps);
    log_ = o.decision.log;
    return o.decision.action;
  }

  FakeClock clock_{kRatesNow};
  std::unique_ptr<Engine> engine_;
  std::string log_;
};

TEST_F(SharedRatesTest, AsksForTheClientAndSenderGatesOfTheRecipientsPolicy) {
  use(kBothGates);
  EXPECT_TRUE(engine_->sharedRates());
  RateCheck check = asked(rateRcpt("bob@beta.test", "Alice@Alpha.test"));
  ASSERT_EQ(check.entries.size(), 2u);
  EXPECT_EQ(check.entries[0].gate, RateCheck::Gate::kClient);
  EXPECT_EQ(check.entries[0].key, "c:beta.test:192.0.2.1");
  EXPECT_EQ(check.entries[0].window, 60);
  EXPECT_EQ(check.entries[0].limit, 3u);
  EXPECT_EQ(check.entries[1].gate, RateCheck::Gate::kSender);
  EXPECT_EQ(check.entries[1].key, "s:beta.test:alice@alpha.test");
  EXPECT_EQ(check.entries[1].window, 3600);
  EXPECT_EQ(check.entries[1].limit, 2u);
  EXPECT_EQ(engine_->rateCounters(), 0u) << "asking counts nothing in memory";
}

TEST_F(SharedRatesTest, OnlyTheGatesThatApplyAreAsked) {
  use("[domain_defaults]\nrate_limit_client = \"5/1h\"\n");
  RateCheck d = asked(rateRcpt("x@gamma.test"));
  ASSERT_EQ(d.entries.size(), 1u);
  EXPECT_EQ(d.entries[0].key, "c::192.0.2.1") << "[domain_defaults] is section \"\"";
  use("[domain.\"beta.test\"]\nrate_limit_sender = \"2/1h\"\n");
  RateCheck s = asked(rateRcpt("x@beta.test"));
  ASSERT_EQ(s.entries.size(), 1u);
  EXPECT_EQ(s.entries[0].gate, RateCheck::Gate::kSender);
  // The null sender is not limited; without any gate nothing is asked.
  EXPECT_EQ(action(rateRcpt("x@beta.test", ""), nullptr), "DUNNO");
  EXPECT_EQ(action(rateRcpt("x@free.test"), nullptr), "DUNNO");
}

TEST_F(SharedRatesTest, UnderTheLimitPassesAndCountsNothingInMemory) {
  use(kBothGates);
  const Request r = rateRcpt("bob@beta.test");
  asked(r);
  const RateAnswer a = under();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(action(r, &a), "DUNNO") << i;
  EXPECT_EQ(log_,
            "NOQUEUE: policy: action=dunno reason=passed sender=<alice@alpha.test> "
            "rcpt=<bob@beta.test>");
  EXPECT_EQ(engine_->rateCounters(), 0u);
}

TEST_F(SharedRatesTest, OverGivesThatGatesReply) {
  use(kBothGates);
  const Request r = rateRcpt("bob@beta.test");
  const RateAnswer client = over(RateCheck::Gate::kClient);
  EXPECT_EQ(action(r, &client),
            "450 4.7.1 Too many recipients at beta.test from 192.0.2.1; try again later");
  EXPECT_EQ(log_,
            "NOQUEUE: policy: action=tempfail reason=rate-limit-client sender=<alice@alpha.test> "
            "rcpt=<bob@beta.test> reply=\"450 4.7.1\"");
  const RateAnswer sender = over(RateCheck::Gate::kSender);
  EXPECT_EQ(action(r, &sender),
            "450 4.7.1 Too many recipients at beta.test from sender alice@alpha.test; try again "
            "later");
  EXPECT_NE(log_.find("reason=rate-limit-sender"), std::string::npos) << log_;
}

TEST_F(SharedRatesTest, TemporaryTempfailsAndNeverAccepts) {
  use(kBothGates);
  const RateAnswer t = temporary("redis 127.0.0.1:6379: timed out");
  EXPECT_EQ(action(rateRcpt("bob@beta.test"), &t),
            "451 4.3.0 Cannot check the rate limits now; try again later");
  EXPECT_EQ(log_,
            "NOQUEUE: policy: action=tempfail reason=rate-store-unavailable "
            "sender=<alice@alpha.test> rcpt=<bob@beta.test> "
            "detail=\"redis 127.0.0.1:6379: timed out\" reply=\"451 4.3.0\"");
}

TEST_F(SharedRatesTest, TheAnswerStandsAcrossTheLookupThatFollows) {
  use(std::string(kBothGates) + "require_mtep_capable = true\n");
  const Request r = rateRcpt("bob@beta.test");
  asked(r);
  const RateAnswer a = under();
  Outcome o = engine_->decide(r, &a);
  ASSERT_TRUE(o.needs_lookup);
  EXPECT_FALSE(o.needs_rates);
  engine_->recordLookup(o.lookup, LookupAnswer::kYes);
  EXPECT_EQ(action(r, &a), "PREPEND X-MTEP-Policy: capable=yes sender-domain=alpha.test");
  // Gates before the rate gate still come first: the mixing rule.
  use("[domain_defaults]\nrefuse_mixed_onion = true\nrate_limit_client = \"3/1m\"\n");
  const Request onion = rateRcpt("x@abc.onion");
  asked(onion);
  EXPECT_EQ(action(onion, &a), "DUNNO");
  EXPECT_EQ(action(rateRcpt("y@beta.test"), nullptr).substr(0, 9), "452 4.5.3")
      << "refused before the rate gate: nothing to count";
}

TEST_F(SharedRatesTest, InMemoryModeNeverAsksAndCountsAsBefore) {
  use(kBothGates, /*shared=*/false);
  EXPECT_FALSE(engine_->sharedRates());
  for (int i = 0; i < 2; ++i) EXPECT_EQ(action(rateRcpt("b@beta.test"), nullptr), "DUNNO") << i;
  EXPECT_EQ(action(rateRcpt("b@beta.test"), nullptr).substr(0, 9), "450 4.7.1");
  EXPECT_EQ(engine_->rateCounters(), 2u);
  // An answer handed in is ignored there: the memory decides.
  const RateAnswer a = under();
  EXPECT_EQ(action(rateRcpt("b@beta.test"), &a).substr(0, 9), "450 4.7.1");
}

}  // namespace
}  // namespace mtep::policy

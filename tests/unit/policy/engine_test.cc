// mtep-policyd's engine: every gate and reply, lookups asked and answered,
// once-only PREPEND, the .onion mixing rule, rate windows on a fake clock,
// and stamps spent in a real SQLite store.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "policy/policy.h"
#include "pow/pow.h"
#include "store/store.h"
#include "util/clock.h"

namespace mtep::policy {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kNow = 1'700'000'040;  // a multiple of 60: windows start here

config::ConfigPtr load(const std::string& toml) {
  auto cfg = config::loadString(toml, "test.conf");
  EXPECT_TRUE(cfg.ok()) << (cfg.ok() ? "" : cfg.error().message());
  return cfg.ok() ? *cfg : std::make_shared<const config::Config>();
}

Request req(std::initializer_list<std::pair<const char*, std::string>> attrs) {
  Request r;
  r.attributes.emplace_back("request", "smtpd_access_policy");
  for (const auto& [n, v] : attrs) r.attributes.emplace_back(n, v);
  return r;
}

Request rcpt(const std::string& recipient, const std::string& instance = "1.1",
             const std::string& sender = "alice@alpha.test",
             const std::string& client = "192.0.2.1") {
  return req({{"protocol_state", "RCPT"},
              {"protocol_name", "ESMTP"},
              {"client_address", client},
              {"client_port", "40000"},
              {"sender", sender},
              {"recipient", recipient},
              {"queue_id", ""},
              {"instance", instance}});
}

Request data(const std::string& recipients, const std::string& sender = "alice@alpha.test",
             std::vector<std::pair<const char*, std::string>> more = {},
             const std::string& instance = "exim-1") {
  Request r = req({{"protocol_state", "END-OF-MESSAGE"},
                   {"client_address", "192.0.2.1"},
                   {"sender", sender},
                   {"queue_id", "1qAbCd-000001-XY"},
                   {"mtep_instance", instance},
                   {"mtep_recipients", recipients}});
  for (auto& [n, v] : more) r.attributes.emplace_back(n, std::move(v));
  return r;
}

class EngineTest : public ::testing::Test {
 protected:
  void use(const std::string& toml) {
    cfg_ = load(toml);
    engine_ = std::make_unique<Engine>(cfg_, clock_);
  }
  // Decides, expecting a final decision; returns the action.
  // A stamp check asked for runs here, as mtep-policyd's StampChecks
  // would run it on a worker, with stamp_store_.
  std::string action(const Request& r) {
    Outcome o = engine_->decide(r);
    EXPECT_FALSE(o.needs_lookup) << "unexpected lookup " << o.lookup.key();
    if (o.needs_stamps) {
      ++stamp_checks_;
      const std::shared_ptr<const StampCheck> check = o.stamps;
      const StampAnswer answer = runStampCheck(*check, stamp_store_, nullptr);
      o = engine_->finishStamps(r, *check, answer);
      EXPECT_FALSE(o.needs_stamps || o.needs_lookup);
    }
    last_log_ = o.decision.log;
    return o.decision.action;
  }
  // Decides, expecting a lookup of `kind`; answers it and decides again.
  std::string answered(const Request& r, Lookup::Kind kind, LookupAnswer answer) {
    Outcome o = engine_->decide(r);
    EXPECT_TRUE(o.needs_lookup);
    if (!o.needs_lookup) return "(no lookup) " + o.decision.action;
    EXPECT_EQ(o.lookup.kind, kind);
    last_lookup_ = o.lookup;
    engine_->recordLookup(o.lookup, answer);
    return action(r);
  }

  FakeClock clock_{kNow};
  config::ConfigPtr cfg_;
  std::unique_ptr<Engine> engine_;
  std::string last_log_;
  Lookup last_lookup_;
  store::Store* stamp_store_ = nullptr;  // what stamp checks spend in
  int stamp_checks_ = 0;                 // stamp checks decide() asked for
};

// ---- requests that are not ours -------------------------------------------

TEST_F(EngineTest, AnotherRequestTypeClosesWithoutReplyAndIsLogged) {
  use("");
  Request r;
  r.attributes = {{"request", "junk"}, {"protocol_state", "RCPT"}};
  Outcome o = engine_->decide(r);
  EXPECT_FALSE(o.needs_lookup);
  EXPECT_EQ(o.decision.action, "");
  EXPECT_EQ(o.decision.log, "NOQUEUE: policy: action=close reason=bad-request request=\"junk\"");
  EXPECT_EQ(engine_->decide(Request{}).decision.action, "");
}

TEST_F(EngineTest, OtherProtocolStatesGetDunno) {
  use("[domain_defaults]\nrequire_mtep_capable = true\n");
  for (const char* state : {"CONNECT", "EHLO", "HELO", "MAIL", "VRFY", "ETRN", ""}) {
    EXPECT_EQ(action(req({{"protocol_state", state}, {"sender", "a@b.test"}})), "DUNNO") << state;
  }
}

TEST_F(EngineTest, RcptWithoutGatesGetsDunno) {
  use("");
  EXPECT_EQ(action(rcpt("bob@beta.test")), "DUNNO");
  EXPECT_EQ(last_log_,
            "NOQUEUE: policy: action=dunno reason=passed sender=<alice@alpha.test> "
            "rcpt=<bob@beta.test>");
}

// Issue 13: Postfix takes local parts over 64 octets (recipient_delimiter
// = +); such a recipient gets its domain's gates like any other.
TEST_F(EngineTest, RecipientOurParserRefusesIsRateLimitedLikeAnyOther) {
  use("[domain.\"beta.test\"]\nrate_limit_client = \"3/1h\"\n");
  const std::string a70(70, 'a');
  EXPECT_EQ(action(rcpt("bob@beta.test", "1")), "DUNNO");
  EXPECT_EQ(action(rcpt("bob+" + a70 + "@beta.test", "2")), "DUNNO");
  EXPECT_EQ(action(rcpt("<bob+" + a70 + "@Beta.Test.>", "3")), "DUNNO");
  EXPECT_EQ(action(rcpt("bob+" + a70 + "@beta.test", "4")),
            "450 4.7.1 Too many recipients at beta.test from 192.0.2.1; try again later");
  EXPECT_NE(last_log_.find("reason=rate-limit-client"), std::string::npos) << last_log_;
}

TEST_F(EngineTest, RecipientWithoutDomainIsDeferredWhereAnyGateCouldApply) {
  use("[domain.\"beta.test\"]\nrate_limit_client = \"3/1h\"\n");
  for (const char* to : {"", "bob", "\"bob@beta.test\"", "<bob@beta.test", "bob@beta.test (x)"}) {
    EXPECT_EQ(action(rcpt(to)),
              "451 4.1.3 Cannot tell which domain's policy applies to this recipient address; "
              "write it as local-part@domain")
        << to;
    EXPECT_NE(last_log_.find("action=defer reason=unknown-recipient-domain"), std::string::npos)
        << last_log_;
  }
  // A local part routing to a domain under another policy (Postfix's
  // percent hack, "@" and "!" inside a local domain's address).
  for (const char* to : {"bob%beta.test@localhost", "bob@beta.test@localhost",
                         "beta.test!bob@localhost", "\"bob@beta.test\"@localhost"}) {
    EXPECT_EQ(action(rcpt(to)).substr(0, 9), "451 4.1.3") << to;
    EXPECT_NE(last_log_.find("reason=routed-recipient"), std::string::npos) << last_log_;
  }
  EXPECT_EQ(action(rcpt("bob%gamma.test@delta.test")), "DUNNO");
}

TEST_F(EngineTest, RecipientWithoutDomainGetsDunnoWhereNoGateExists) {
  use("[domain.\"beta.test\"]\nrequire_mtep = true\n");  // the milter's, not a RCPT gate
  EXPECT_EQ(action(rcpt("")), "DUNNO");
  EXPECT_NE(last_log_.find("reason=bad-recipient"), std::string::npos);
  EXPECT_EQ(action(rcpt("bob")), "DUNNO");
}

// The bare postmaster is the MTA's own: [domain_defaults].
TEST_F(EngineTest, PostmasterGetsTheDefaultPolicy) {
  use("[domain_defaults]\nrequire_mtep_capable = true\n");
  EXPECT_EQ(answered(rcpt("postmaster"), Lookup::Kind::kMtepCapable, LookupAnswer::kNo).substr(0, 10),
            "550 5.7.25");
  use("[domain.\"beta.test\"]\nrequire_mtep_capable = true\n");
  EXPECT_EQ(action(rcpt("Postmaster")), "DUNNO");
}

// ---- require_mtep_capable ----------------------------------------------------

constexpr const char* kCapable = "[domain.\"beta.test\"]\nrequire_mtep_capable = true\n";

TEST_F(EngineTest, CapableSenderAsksOnceAndPrependsOncePerInstanceAcrossThreeRcpts) {
  use(kCapable);
  EXPECT_EQ(answered(rcpt("bob@beta.test"), Lookup::Kind::kMtepCapable, LookupAnswer::kYes),
            "PREPEND X-MTEP-Policy: capable=yes sender-domain=alpha.test");
  EXPECT_EQ(last_lookup_.domain, "alpha.test");
  EXPECT_EQ(last_log_,
            "NOQUEUE: policy: action=prepend reason=mtep-capable sender=<alice@alpha.test> "
            "rcpt=<bob@beta.test> header=\"capable=yes sender-domain=alpha.test\"");
  // The answer is cached: no second lookup; no second PREPEND in the message.
  EXPECT_EQ(action(rcpt("carol@beta.test")), "DUNNO");
  EXPECT_EQ(action(rcpt("dave@BETA.test.")), "DUNNO");
  // Another message gets its own header.
  EXPECT_EQ(action(rcpt("bob@beta.test", "2.2")),
            "PREPEND X-MTEP-Policy: capable=yes sender-domain=alpha.test");
}

TEST_F(EngineTest, SenderWithoutMtepServerIsRejectedAndTheAnswerCached) {
  use(kCapable);
  const std::string want =
      "550 5.7.25 Mail to beta.test needs a sender domain with an MTEP server, and alpha.test "
      "has none; ask the postmaster of alpha.test to enable MTEP";
  EXPECT_EQ(answered(rcpt("bob@beta.test"), Lookup::Kind::kMtepCapable, LookupAnswer::kNo), want);
  EXPECT_EQ(last_log_,
            "NOQUEUE: policy: action=reject reason=not-mtep-capable sender=<alice@alpha.test> "
            "rcpt=<bob@beta.test> reply=\"550 5.7.25\"");
  clock_.advance(299);
  EXPECT_EQ(action(rcpt("bob@beta.test")), want);
  clock_.advance(2);  // past lookup_cache_ttl (5m)
  EXPECT_TRUE(engine_->decide(rcpt("bob@beta.test")).needs_lookup);
}

TEST_F(EngineTest, TemporaryCapableAnswerTempfailsAndIsNotCached) {
  use(kCapable);
  EXPECT_EQ(answered(rcpt("bob@beta.test"), Lookup::Kind::kMtepCapable, LookupAnswer::kTemporary),
            "451 4.7.25 Cannot find out whether alpha.test has an MTEP server now; try again "
            "later");
  // Requests that waited for the same answer get it; later ones ask again.
  EXPECT_EQ(action(rcpt("carol@beta.test")).substr(0, 10), "451 4.7.25");
  clock_.advance(2);
  EXPECT_TRUE(engine_->decide(rcpt("bob@beta.test")).needs_lookup);
}

TEST_F(EngineTest, TemporaryCapableAnswerFollowsMtepUnavailable) {
  use(std::string(kCapable) + "mtep_unavailable = \"reject\"\n");
  EXPECT_EQ(answered(rcpt("bob@beta.test"), Lookup::Kind::kMtepCapable, LookupAnswer::kTemporary),
            "550 5.7.25 Cannot find out whether alpha.test has an MTEP server; ask the "
            "postmaster of alpha.test");
  use(std::string(kCapable) + "mtep_unavailable = \"accept\"\n");
  // Accepted, but not noted as capable.
  EXPECT_EQ(answered(rcpt("bob@beta.test"), Lookup::Kind::kMtepCapable, LookupAnswer::kTemporary),
            "DUNNO");
}

TEST_F(EngineTest, CapableGateSkipsTheNullSenderAndRefusesBadSenders) {
  use(kCapable);
  EXPECT_EQ(action(rcpt("bob@beta.test", "1", "")), "DUNNO");
  EXPECT_EQ(action(rcpt("bob@beta.test", "1", "<>")), "DUNNO");
  EXPECT_EQ(action(rcpt("bob@beta.test", "1", "not an address")),
            "550 5.7.25 Mail to beta.test needs MTEP, and the envelope sender is not an address "
            "MTEP can vouch for");
  EXPECT_EQ(action(rcpt("bob@beta.test", "1", "a@[192.0.2.7]")).substr(0, 10), "550 5.7.25");
  // Other domains are not gated.
  EXPECT_EQ(action(rcpt("x@gamma.test")), "DUNNO");
}

TEST_F(EngineTest, RepliesShowPeerBytesAsQuestionMarks) {
  use(kCapable);
  const std::string a =
      answered(rcpt("bob@beta.test", "1", "al@b\xc3\xa9t.test"), Lookup::Kind::kMtepCapable,
               LookupAnswer::kNo);
  ASSERT_EQ(a.substr(0, 10), "550 5.7.25");
  EXPECT_NE(a.find("b??t.test has none"), std::string::npos) << a;
  for (char c : a) EXPECT_TRUE(c >= 0x20 && c < 0x7f && c != '%') << a;
  EXPECT_LT(a.size(), 200u + 11u);
}

// ---- refuse_mixed_onion ------------------------------------------------------

TEST_F(EngineTest, OnionAndOtherRecipientsAreNotMixedInOneInstance) {
  use("[domain_defaults]\nrefuse_mixed_onion = true\n");
  EXPECT_EQ(action(rcpt("a@abcdef.onion")), "DUNNO");
  EXPECT_EQ(action(rcpt("b@beta.test")),
            "452 4.5.3 Mail to other recipients is not mixed with .onion recipients: send to "
            "this recipient in a separate message");
  EXPECT_EQ(last_log_,
            "NOQUEUE: policy: action=defer reason=mixed-onion sender=<alice@alpha.test> "
            "rcpt=<b@beta.test> reply=\"452 4.5.3\"");
  EXPECT_EQ(action(rcpt("c@XYZ.ONION.")), "DUNNO");
  // The first recipient fixes the kind the other way round too.
  EXPECT_EQ(action(rcpt("b@beta.test", "2")), "DUNNO");
  EXPECT_EQ(action(rcpt("a@abcdef.onion", "2")),
            "452 4.5.3 Mail to .onion recipients is not mixed with other recipients: send to "
            "this recipient in a separate message");
}

TEST_F(EngineTest, TwoInstancesDoNotInfluenceEachOther) {
  use("[domain_defaults]\nrefuse_mixed_onion = true\n");
  EXPECT_EQ(action(rcpt("a@abcdef.onion", "1")), "DUNNO");
  EXPECT_EQ(action(rcpt("b@beta.test", "2")), "DUNNO");
  EXPECT_EQ(action(rcpt("c@other.onion", "1")), "DUNNO");
  EXPECT_EQ(action(rcpt("d@gamma.test", "2")), "DUNNO");
  EXPECT_EQ(engine_->instances(), 2u);
}

TEST_F(EngineTest, MixingIsRefusedWhenEitherSidesPolicyForbidsIt) {
  use("[domain.\"beta.test\"]\nrefuse_mixed_onion = true\n");
  // The strict recipient first.
  EXPECT_EQ(action(rcpt("b@beta.test", "1")), "DUNNO");
  EXPECT_EQ(action(rcpt("a@abcdef.onion", "1")).substr(0, 9), "452 4.5.3");
  // The strict recipient second.
  EXPECT_EQ(action(rcpt("a@abcdef.onion", "2")), "DUNNO");
  EXPECT_EQ(action(rcpt("b@beta.test", "2")).substr(0, 9), "452 4.5.3");
  // Neither strict: mixing allowed.
  EXPECT_EQ(action(rcpt("a@abcdef.onion", "3")), "DUNNO");
  EXPECT_EQ(action(rcpt("g@gamma.test", "3")), "DUNNO");
}

TEST_F(EngineTest, WithoutPostfixInstanceMtepInstanceOrTheClientIdentifiesTheMessage) {
  use("[domain_defaults]\nrefuse_mixed_onion = true\n");
  auto exim = [](const std::string& to, const std::string& id) {
    return req({{"protocol_state", "RCPT"}, {"client_address", "192.0.2.9"},
                {"sender", "s@alpha.test"}, {"recipient", to}, {"mtep_instance", id}});
  };
  EXPECT_EQ(action(exim("a@x.onion", "m1")), "DUNNO");
  EXPECT_EQ(action(exim("b@beta.test", "m1")).substr(0, 9), "452 4.5.3");
  EXPECT_EQ(action(exim("b@beta.test", "m2")), "DUNNO");
  auto bare = [](const std::string& to, const std::string& port) {
    return req({{"protocol_state", "RCPT"}, {"client_address", "192.0.2.9"},
                {"client_port", port}, {"sender", "s@alpha.test"}, {"recipient", to}});
  };
  EXPECT_EQ(action(bare("a@x.onion", "1000")), "DUNNO");
  EXPECT_EQ(action(bare("b@beta.test", "1000")).substr(0, 9), "452 4.5.3");
  EXPECT_EQ(action(bare("b@beta.test", "1001")), "DUNNO");
}

TEST_F(EngineTest, ARefusedRecipientDoesNotFixTheMessagesKind) {
  use("[domain_defaults]\nrefuse_mixed_onion = true\n"
      "[domain.\"blocked.onion\"]\nrefuse_mixed_onion = true\nrequire_mtep_capable = true\n");
  EXPECT_EQ(answered(rcpt("a@blocked.onion"), Lookup::Kind::kMtepCapable, LookupAnswer::kNo)
                .substr(0, 10),
            "550 5.7.25");
  EXPECT_EQ(action(rcpt("b@beta.test")), "DUNNO");
}

TEST_F(EngineTest, InstancesExpireAfterInstanceTtl) {
  use("[policyd]\ninstance_ttl = \"1m\"\n[domain_defaults]\nrefuse_mixed_onion = true\n");
  EXPECT_EQ(action(rcpt("a@x.onion")), "DUNNO");
  clock_.advance(60);
  EXPECT_EQ(action(rcpt("b@beta.test")).substr(0, 9), "452 4.5.3");  // 60 s since last use
  clock_.advance(61);
  EXPECT_EQ(action(rcpt("c@y.onion")), "DUNNO");  // forgotten: a new message
  EXPECT_EQ(engine_->instances(), 1u);
  clock_.advance(61);
  engine_->expire();
  EXPECT_EQ(engine_->instances(), 0u);
}

TEST_F(EngineTest, InstancesAreCappedOldestFirst) {
  use("[domain_defaults]\nrefuse_mixed_onion = true\n");
  engine_->setCapacity(100);
  EXPECT_EQ(action(rcpt("a@x.onion", "first")), "DUNNO");
  EXPECT_EQ(action(rcpt("a@x.onion", "second")), "DUNNO");
  for (int i = 0; i < 98; ++i) {
    ASSERT_EQ(action(rcpt("b@beta.test", "n" + std::to_string(i))), "DUNNO");
  }
  EXPECT_EQ(engine_->instances(), 100u);
  EXPECT_EQ(action(rcpt("b@beta.test", "second")).substr(0, 9), "452 4.5.3");  // used again
  EXPECT_EQ(action(rcpt("b@beta.test", "one-more")), "DUNNO");
  EXPECT_EQ(engine_->instances(), 100u);
  // "first" was the least recently used and is gone: no 452; "second" stays.
  EXPECT_EQ(action(rcpt("b@beta.test", "first")), "DUNNO");
  EXPECT_EQ(action(rcpt("b@beta.test", "second")).substr(0, 9), "452 4.5.3");
}

TEST_F(EngineTest, CachedLookupsAndRateCountersAreCappedToo) {
  use("[domain_defaults]\nrequire_mtep_capable = true\nrate_limit_client = \"5/1h\"\n");
  engine_->setCapacity(3);
  for (int i = 0; i < 5; ++i) {
    const std::string sender = "a@s" + std::to_string(i) + ".test";
    const std::string client = "192.0.2." + std::to_string(i + 1);
    EXPECT_EQ(answered(rcpt("b@beta.test", std::to_string(i), sender, client),
                       Lookup::Kind::kMtepCapable, LookupAnswer::kYes)
                  .substr(0, 7),
              "PREPEND");
  }
  EXPECT_EQ(engine_->cachedLookups(), 3u);
  EXPECT_EQ(engine_->rateCounters(), 3u);
  EXPECT_TRUE(engine_->decide(rcpt("b@beta.test", "9", "a@s0.test")).needs_lookup);
  EXPECT_FALSE(engine_->decide(rcpt("b@beta.test", "9", "a@s4.test")).needs_lookup);
}

// ---- rate limits -------------------------------------------------------------

TEST_F(EngineTest, ClientRateLimitUsesASlidingWindow) {
  use("[domain.\"beta.test\"]\nrate_limit_client = \"3/1m\"\n");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(action(rcpt("b@beta.test", std::to_string(i))), "DUNNO");
  const std::string over =
      "450 4.7.1 Too many recipients at beta.test from 192.0.2.1; try again later";
  EXPECT_EQ(action(rcpt("b@beta.test")), over);
  EXPECT_EQ(last_log_,
            "NOQUEUE: policy: action=tempfail reason=rate-limit-client sender=<alice@alpha.test> "
            "rcpt=<b@beta.test> reply=\"450 4.7.1\"");
  // Other clients and other policy sections count apart.
  EXPECT_EQ(action(rcpt("b@beta.test", "x", "alice@alpha.test", "192.0.2.2")), "DUNNO");
  EXPECT_EQ(action(rcpt("g@gamma.test")), "DUNNO");
  // Start of the next window: the previous one still weighs fully.
  clock_.advance(60);
  EXPECT_EQ(action(rcpt("b@beta.test")), over);
  // Half way: 3 * 0.5 + 0 = 1.5, room for one more (2.5), not two (3.5).
  clock_.advance(30);
  EXPECT_EQ(action(rcpt("b@beta.test")), "DUNNO");
  EXPECT_EQ(action(rcpt("b@beta.test")), over);
  // Two windows later everything is forgotten.
  clock_.advance(120);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(action(rcpt("b@beta.test")), "DUNNO");
  EXPECT_EQ(action(rcpt("b@beta.test")), over);
}

TEST_F(EngineTest, SenderRateLimitCountsPerSenderAndSkipsTheNullSender) {
  use("[domain_defaults]\nrate_limit_sender = \"2/1h\"\n");
  EXPECT_EQ(action(rcpt("b@beta.test", "1", "alice@alpha.test")), "DUNNO");
  EXPECT_EQ(action(rcpt("b@beta.test", "1", "ALICE@alpha.test")), "DUNNO");
  EXPECT_EQ(action(rcpt("b@beta.test", "1", "alice@ALPHA.test")),
            "450 4.7.1 Too many recipients at beta.test from sender alice@ALPHA.test; try again "
            "later");
  EXPECT_EQ(action(rcpt("b@beta.test", "1", "bob@alpha.test")), "DUNNO");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(action(rcpt("b@beta.test", "1", "")), "DUNNO");
}

TEST_F(EngineTest, RateLimitCountsOnlyAcceptedRecipientsOnce) {
  use("[domain.\"beta.test\"]\nrate_limit_client = \"1/1m\"\nrequire_mtep_capable = true\n"
      "refuse_mixed_onion = true\n");
  // A recipient refused before the rate gate is not counted.
  EXPECT_EQ(action(rcpt("x@zzz.onion", "m")), "DUNNO");
  EXPECT_EQ(action(rcpt("b@beta.test", "m")).substr(0, 9), "452 4.5.3");
  // Waiting for a lookup counts nothing; the final answer counts once.
  EXPECT_EQ(answered(rcpt("b@beta.test", "n"), Lookup::Kind::kMtepCapable, LookupAnswer::kYes)
                .substr(0, 7),
            "PREPEND");
  EXPECT_EQ(action(rcpt("c@beta.test", "n")).substr(0, 9), "450 4.7.1");
  EXPECT_EQ(engine_->rateCounters(), 1u);
  clock_.advance(120);
  engine_->expire();
  EXPECT_EQ(engine_->rateCounters(), 0u);
}

TEST_F(EngineTest, SetConfigSwapsThePolicy) {
  use("");
  EXPECT_EQ(action(rcpt("b@beta.test")), "DUNNO");
  engine_->setConfig(load(kCapable));
  EXPECT_TRUE(engine_->decide(rcpt("b@beta.test")).needs_lookup);
}

// ---- END-OF-MESSAGE: require_mtep ----------------------------------------------

constexpr const char* kMtep = "[domain.\"beta.test\"]\nrequire_mtep = true\n";
const std::string kToken = "dGhpcyBpcyBhIHRva2Vu";

TEST_F(EngineTest, DataWithoutOurAttributesGetsDunno) {
  use(kMtep);
  EXPECT_EQ(action(req({{"protocol_state", "DATA"}, {"sender", "a@alpha.test"},
                        {"recipient", "b@beta.test"}})),
            "DUNNO");
}

TEST_F(EngineTest, MissingTokenIsRejectedWithTheMiltersWords) {
  use(kMtep);
  const std::string want =
      "550 5.7.25 Mail to beta.test needs an MTEP-Token from alpha.test's MTEP server; ask the "
      "postmaster of alpha.test to enable MTEP";
  EXPECT_EQ(action(data("bob@beta.test")), want);
  EXPECT_EQ(last_log_,
            "1qAbCd-000001-XY: policy: action=reject reason=no-token sender=<alice@alpha.test> "
            "recipients=1 reply=\"550 5.7.25\"");
  EXPECT_EQ(action(data("bob@beta.test", "alice@alpha.test", {{"mtep_token", " "}})), want);
}

TEST_F(EngineTest, SeveralOrMalformedTokensAreRejected) {
  use(kMtep);
  EXPECT_EQ(action(data("bob@beta.test", "alice@alpha.test",
                        {{"mtep_token", kToken}, {"mtep_token", kToken}})),
            "550 5.7.25 The message has 2 MTEP-Token headers for beta.test, which takes exactly "
            "one; ask the postmaster of alpha.test");
  EXPECT_EQ(action(data("bob@beta.test", "alice@alpha.test", {{"mtep_token", "not/base64url!"}})),
            "550 5.7.25 The MTEP-Token header is malformed; ask the postmaster of alpha.test to "
            "check their MTEP setup");
  EXPECT_EQ(action(data("bob@beta.test", "alice@alpha.test",
                        {{"mtep_token", std::string(257, 'A')}}))
                .substr(0, 14),
            "550 5.7.25 The");
}

TEST_F(EngineTest, VouchedTokenPassesWithOnePrepend) {
  use(kMtep);
  const Request r = data("Bob@Beta.test, carol@beta.test", "Alice@Alpha.test",
                         {{"mtep_token", " dGhpcyBpcyBhIHRva2Vu "}});
  EXPECT_EQ(answered(r, Lookup::Kind::kToken, LookupAnswer::kYes),
            "PREPEND X-MTEP-Policy: mtep=pass sender-domain=alpha.test");
  EXPECT_EQ(last_lookup_.domain, "alpha.test");
  EXPECT_EQ(last_lookup_.sender, "alice@alpha.test");
  EXPECT_EQ(last_lookup_.token, kToken);
  EXPECT_EQ(last_lookup_.recipient, "bob@beta.test");
  // The same message decided again (Exim re-asking) gets no second header.
  EXPECT_EQ(action(r), "DUNNO");
}

TEST_F(EngineTest, RefusedTokenIsRejected) {
  use(kMtep);
  EXPECT_EQ(answered(data("bob@beta.test", "alice@alpha.test", {{"mtep_token", kToken}}),
                     Lookup::Kind::kToken, LookupAnswer::kNo),
            "550 5.7.25 alpha.test's MTEP server does not vouch for this message's MTEP-Token "
            "for beta.test; ask the postmaster of alpha.test");
}

// Exim joins the headers with commas (mtep-acl.conf); each domain reads its own.
TEST_F(EngineTest, PicksTheTokenNamingItsDomainAndAsksWithItsRecipient) {
  use(kMtep);
  const std::string gamma(72, 'G');
  const std::string beta(72, 'B');
  const Request r = data("bob@beta.test", "alice@alpha.test",
                         {{"mtep_token", gamma + "; domain=gamma.test," + beta +
                                             "; domain=Beta.Test"}});
  EXPECT_EQ(answered(r, Lookup::Kind::kToken, LookupAnswer::kYes),
            "PREPEND X-MTEP-Policy: mtep=pass sender-domain=alpha.test");
  EXPECT_EQ(last_lookup_.token, beta);
  EXPECT_EQ(last_lookup_.recipient, "bob@beta.test");
}

TEST_F(EngineTest, TokenNamingOnlyAnotherDomainIsRejectedWithoutALookup) {
  use(kMtep);
  const Request r = data("bob@beta.test", "alice@alpha.test",
                         {{"mtep_token", std::string(72, 'G') + "; domain=gamma.test"}});
  Outcome o = engine_->decide(r);
  EXPECT_FALSE(o.needs_lookup);
  EXPECT_EQ(o.decision.action,
            "550 5.7.25 The message has no MTEP-Token for beta.test from alpha.test's MTEP "
            "server; ask the postmaster of alpha.test");
}

TEST_F(EngineTest, EachRecipientDomainIsLookedUpWithItsOwnToken) {
  use(std::string(kMtep) + "[domain.\"delta.test\"]\nrequire_mtep = true\n");
  const std::string beta(72, 'B');
  const std::string delta(72, 'D');
  const Request r = data("bob@beta.test, eve@delta.test", "alice@alpha.test",
                         {{"mtep_token", beta + "; domain=beta.test"},
                          {"mtep_token", delta + "; domain=delta.test"}});
  Outcome first = engine_->decide(r);
  ASSERT_TRUE(first.needs_lookup);
  EXPECT_EQ(first.lookup.token, beta);
  EXPECT_EQ(first.lookup.recipient, "bob@beta.test");
  engine_->recordLookup(first.lookup, LookupAnswer::kYes);
  Outcome second = engine_->decide(r);
  ASSERT_TRUE(second.needs_lookup);
  EXPECT_EQ(second.lookup.token, delta);
  EXPECT_EQ(second.lookup.recipient, "eve@delta.test");
  engine_->recordLookup(second.lookup, LookupAnswer::kNo);
  EXPECT_EQ(action(r),
            "550 5.7.25 alpha.test's MTEP server does not vouch for this message's MTEP-Token "
            "for delta.test; ask the postmaster of alpha.test");
}

TEST_F(EngineTest, TemporaryTokenAnswerNeverAcceptsUnlessConfigured) {
  const Request r = data("bob@beta.test", "alice@alpha.test", {{"mtep_token", kToken}});
  use(kMtep);
  EXPECT_EQ(answered(r, Lookup::Kind::kToken, LookupAnswer::kTemporary),
            "451 4.7.25 Cannot verify the MTEP token with alpha.test's MTEP server now; try "
            "again later");
  clock_.advance(2);
  EXPECT_TRUE(engine_->decide(r).needs_lookup);
  use(std::string(kMtep) + "mtep_unavailable = \"reject\"\n");
  EXPECT_EQ(answered(r, Lookup::Kind::kToken, LookupAnswer::kTemporary),
            "550 5.7.25 Cannot verify the MTEP token with alpha.test's MTEP server; ask the "
            "postmaster of alpha.test");
  use(std::string(kMtep) + "mtep_unavailable = \"accept\"\n");
  EXPECT_EQ(answered(r, Lookup::Kind::kToken, LookupAnswer::kTemporary),
            "PREPEND X-MTEP-Policy: mtep=temperror sender-domain=alpha.test");
}

TEST_F(EngineTest, TheMostCarefulUnavailableSettingWins) {
  use("[domain.\"acc.test\"]\nrequire_mtep = true\nmtep_unavailable = \"accept\"\n"
      "[domain.\"rej.test\"]\nrequire_mtep = true\nmtep_unavailable = \"reject\"\n"
      "[domain.\"tmp.test\"]\nrequire_mtep = true\n");
  auto with = [](const std::string& to) {
    return data(to, "alice@alpha.test", {{"mtep_token", kToken}}, to);
  };
  EXPECT_EQ(answered(with("a@acc.test b@rej.test"), Lookup::Kind::kToken,
                     LookupAnswer::kTemporary).substr(0, 10),
            "550 5.7.25");
  EXPECT_EQ(action(with("a@acc.test,b@rej.test,c@tmp.test")).substr(0, 10), "451 4.7.25");
  EXPECT_EQ(action(with("a@acc.test")).substr(0, 7), "PREPEND");
}

TEST_F(EngineTest, RequireMtepFollowsRequireMtepFromAndPassesTheNullSender) {
  use("[domain.\"beta.test\"]\nrequire_mtep = true\nrequire_mtep_from = [\"*.onion\"]\n");
  EXPECT_EQ(action(data("bob@beta.test", "alice@alpha.test")), "DUNNO");
  EXPECT_EQ(action(data("bob@beta.test", "x@abc.onion")).substr(0, 10), "550 5.7.25");
  use(kMtep);
  EXPECT_EQ(action(data("bob@beta.test", "")), "DUNNO");
  EXPECT_EQ(action(data("bob@beta.test", "junk")),
            "550 5.7.25 Mail to beta.test needs MTEP, and the envelope sender is not an address "
            "MTEP can vouch for");
  EXPECT_EQ(action(data("other@gamma.test", "alice@alpha.test")), "DUNNO");
}

TEST_F(EngineTest, DataFallsBackToTheRecipientAttribute) {
  use(kMtep);
  Request r = data("", "alice@alpha.test");
  r.attributes.emplace_back("recipient", "bob@beta.test");
  EXPECT_EQ(action(r).substr(0, 10), "550 5.7.25");
}

// A recipient our parser refuses is checked by its domain's policy; one
// without a domain defers the message where require_mtep or require_stamp
// could apply (it used to be skipped and the message passed).
TEST_F(EngineTest, DataRecipientOurParserRefusesIsChecked) {
  use(kMtep);
  const std::string long_rcpt = "bob+" + std::string(70, 'a') + "@beta.test";
  EXPECT_EQ(action(data(long_rcpt)).substr(0, 10), "550 5.7.25");
  EXPECT_NE(last_log_.find("reason=no-token"), std::string::npos) << last_log_;
  EXPECT_EQ(action(data("<bob@beta.test.>")).substr(0, 10), "550 5.7.25");
  EXPECT_EQ(action(data("other@gamma.test, bob")),
            "451 4.1.3 Cannot tell which domain's policy applies to a recipient address of this "
            "message; write it as local-part@domain");
  EXPECT_EQ(last_log_,
            "1qAbCd-000001-XY: policy: action=defer reason=unknown-recipient-domain "
            "sender=<alice@alpha.test> recipients=1 rcpt=<bob> reply=\"451 4.1.3\"");
  use("[domain.\"beta.test\"]\nrate_limit_client = \"3/1h\"\n");
  EXPECT_EQ(action(data("other@gamma.test, bob")), "DUNNO");
}

// A sender our parser refuses: its domain still decides whether
// require_mtep_from covers it; where it does, MTEP cannot vouch for it.
TEST_F(EngineTest, SenderOurParserRefusesIsMatchedByItsDomain) {
  use("[domain.\"beta.test\"]\nrequire_mtep = true\nrequire_mtep_from = [\"*.onion\"]\n");
  const std::string local(70, 'a');
  EXPECT_EQ(action(data("bob@beta.test", local + "@alpha.test")), "DUNNO");
  EXPECT_EQ(action(data("bob@beta.test", local + "@abc.onion")),
            "550 5.7.25 Mail to beta.test needs MTEP, and the envelope sender is not an address "
            "MTEP can vouch for");
  EXPECT_EQ(action(data("bob@beta.test", "junk")).substr(0, 10), "550 5.7.25");
}

// ---- END-OF-MESSAGE: require_stamp -----------------------------------------------

class StampTest : public EngineTest {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mtep-policy-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto st = store::openSqlite({.path = dir_ + "/mtep.db"}, clock_);
    ASSERT_TRUE(st.ok()) << st.error().message();
    store_ = std::move(*st);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void useWithStore(const std::string& toml) {
    use(toml);
    stamp_store_ = store_.get();
  }
  std::string stamp(const std::string& resource, int bits = 8) {
    pow::MintOptions o;
    o.bits = bits;
    o.resource = resource;
    o.now = kNow;
    o.threads = 1;
    auto m = pow::mint(o);
    EXPECT_TRUE(m.ok()) << m.error().message();
    return m.ok() ? m->stamp : "";
  }

  std::string dir_;
  std::unique_ptr<store::Store> store_;
};

constexpr const char* kStamps = "[domain.\"beta.test\"]\nrequire_stamp = true\nstamp_bits = 8\n";

TEST_F(StampTest, ValidStampsPassOnceAndAreSpent) {
  useWithStore(kStamps);
  const std::string stamps = stamp("bob@beta.test") + ", " + stamp("carol@beta.test");
  const Request r = data("<bob@beta.test>, carol@beta.test, x@gamma.test", "alice@alpha.test",
                         {{"mtep_stamps", stamps}}, "m1");
  EXPECT_EQ(action(r), "PREPEND X-MTEP-Policy: stamp=pass sender-domain=alpha.test");
  EXPECT_EQ(last_log_,
            "1qAbCd-000001-XY: policy: action=prepend reason=stamp=pass "
            "sender=<alice@alpha.test> recipients=3 stamps=2 "
            "header=\"stamp=pass sender-domain=alpha.test\"");
  const Request again = data("bob@beta.test carol@beta.test", "alice@alpha.test",
                             {{"mtep_stamps", stamps}}, "m2");
  const std::string a = action(again);
  EXPECT_EQ(a.substr(0, 53), "550 5.7.1 No valid proof-of-work stamp for bob@beta.t");
  EXPECT_NE(a.find("(spent"), std::string::npos) << a;
  EXPECT_NE(a.find("; mint one with: hashcash -m -b 8 -r bob@beta.test"), std::string::npos) << a;
  EXPECT_NE(last_log_.find("reason=stamp-spent"), std::string::npos) << last_log_;
}

TEST_F(StampTest, AMissingStampNamesTheRecipientAndSpendsNothing) {
  useWithStore(kStamps);
  const std::string bob = stamp("bob@beta.test");
  const std::string carol = stamp("carol@beta.test");
  EXPECT_EQ(action(data("bob@beta.test, carol@beta.test", "alice@alpha.test",
                        {{"mtep_stamps", bob}}, "m1")),
            "550 5.7.1 No valid proof-of-work stamp for carol@beta.test (wrong-resource: no "
            "stamp for \"carol@beta.test\"); mint one with: hashcash -m -b 8 -r carol@beta.test");
  // Bob's stamp was not spent: the full set passes afterwards.
  EXPECT_EQ(action(data("bob@beta.test, carol@beta.test", "alice@alpha.test",
                        {{"mtep_stamps", bob}, {"mtep_stamps", carol}}, "m2"))
                .substr(0, 7),
            "PREPEND");
}

TEST_F(StampTest, RecipientOurParserRefusesStillNeedsAStamp) {
  useWithStore(kStamps);
  const std::string rcpt = "bob+" + std::string(70, 'a') + "@beta.test";
  const std::string a = action(data(rcpt, "alice@alpha.test", {{"mtep_stamps", stamp("bob@beta.test")}}));
  EXPECT_EQ(a.substr(0, 52), "550 5.7.1 No valid proof-of-work stamp for bob+aaaaa") << a;
  EXPECT_NE(last_log_.find("reason=stamp-"), std::string::npos) << last_log_;
}

TEST_F(StampTest, NoStampsAtAllIsRejected) {
  useWithStore(kStamps);
  const std::string a = action(data("bob@beta.test", "alice@alpha.test"));
  EXPECT_EQ(a.substr(0, 57), "550 5.7.1 No valid proof-of-work stamp for bob@beta.test ");
}

TEST_F(StampTest, WithoutAStoreStampsTempfail) {
  use(kStamps);
  EXPECT_EQ(action(data("bob@beta.test", "alice@alpha.test",
                        {{"mtep_stamps", stamp("bob@beta.test")}})),
            "451 4.3.0 Cannot check proof-of-work stamps now; try again later");
  EXPECT_NE(last_log_.find("reason=no-store"), std::string::npos);
}

class FailingStore : public store::Store {
 public:
  const char* backendName() const override { return "failing"; }
  Status revokeToken(std::string_view, int64_t) override { return down(); }
  Result<bool> isTokenRevoked(std::string_view) override { return down(); }
  Result<bool> recordOnce(std::string_view, std::string_view, int64_t) override { return down(); }
  Result<uint64_t> purgeExpired() override { return down(); }
  Status putValue(std::string_view, std::string_view, std::string_view, int64_t) override {
    return down();
  }
  Result<std::string> getValue(std::string_view, std::string_view) override { return down(); }
  Result<bool> eraseValue(std::string_view, std::string_view) override { return down(); }
  Result<std::vector<std::pair<std::string, std::string>>> listValues(std::string_view,
                                                                      size_t) override {
    return down();
  }

 private:
  static Error down() { return Error(ErrorKind::kTemporary, "down"); }
};

TEST_F(StampTest, StoreTroubleTempfails) {
  use(kStamps);
  FailingStore failing;
  stamp_store_ = &failing;
  EXPECT_EQ(action(data("bob@beta.test", "alice@alpha.test",
                        {{"mtep_stamps", stamp("bob@beta.test")}})),
            "451 4.3.0 Cannot check proof-of-work stamps now; try again later");
}

TEST_F(StampTest, TokenIsCheckedBeforeStampsAreSpent) {
  useWithStore(std::string(kStamps) + "require_mtep = true\n");
  const std::string s = stamp("bob@beta.test");
  const Request r =
      data("bob@beta.test", "alice@alpha.test", {{"mtep_stamps", s}, {"mtep_token", kToken}});
  EXPECT_EQ(answered(r, Lookup::Kind::kToken, LookupAnswer::kNo).substr(0, 10), "550 5.7.25");
  // Refused for the token: the stamp is still unspent.
  const Request r2 = data("bob@beta.test", "alice@alpha.test",
                          {{"mtep_stamps", s}, {"mtep_token", "b3RoZXI"}}, "m2");
  EXPECT_EQ(answered(r2, Lookup::Kind::kToken, LookupAnswer::kYes),
            "PREPEND X-MTEP-Policy: mtep=pass stamp=pass sender-domain=alpha.test");
}

TEST_F(StampTest, DomainsWithDifferentBitsAreCheckedBeforeAnyIsSpent) {
  useWithStore(std::string(kStamps) +
               "[domain.\"hard.test\"]\nrequire_stamp = true\nstamp_bits = 12\n");
  const std::string bob = stamp("bob@beta.test");
  const std::string weak = stamp("h@hard.test", 8);
  const std::string a = action(data("bob@beta.test h@hard.test", "alice@alpha.test",
                                    {{"mtep_stamps", bob + " " + weak}}, "m1"));
  EXPECT_TRUE(a.starts_with("550 5.7.1 No valid proof-of-work stamp for h@hard.test (too-weak"))
      << a;
  // Bob's stamp survived the refusal.
  EXPECT_EQ(action(data("bob@beta.test", "alice@alpha.test", {{"mtep_stamps", bob}}, "m2"))
                .substr(0, 7),
            "PREPEND");
}

TEST_F(StampTest, Argon2idStampsKeepTheirCommas) {
  useWithStore("[pow]\nargon2id_min_memory = 64\n"
               "[domain.\"beta.test\"]\nrequire_stamp = true\nargon2id_stamp_bits = 1\n"
               "stamp_bits = 8\n");
  pow::MintOptions o;
  o.algorithm = pow::Algorithm::kArgon2id;
  o.bits = 1;
  o.resource = "bob@beta.test";
  o.now = kNow;
  o.threads = 1;
  o.memory_kib = 64;
  auto m = pow::mint(o);
  ASSERT_TRUE(m.ok()) << m.error().message();
  ASSERT_NE(m->stamp.find(','), std::string::npos);
  const std::string hc = stamp("carol@beta.test");
  EXPECT_EQ(action(data("bob@beta.test, carol@beta.test", "alice@alpha.test",
                        {{"mtep_stamps", hc + "," + m->stamp}})),
            "PREPEND X-MTEP-Policy: stamp=pass sender-domain=alpha.test");
}

// ---- helpers -------------------------------------------------------------------

TEST(PolicyHelpers, SplitRecipientsOnCommasAndSpaces) {
  EXPECT_EQ(splitRecipients("a@b.test, c@d.test"),
            (std::vector<std::string>{"a@b.test", "c@d.test"}));
  EXPECT_EQ(splitRecipients(" <a@b.test>,,c@d.test\te@f.test "),
            (std::vector<std::string>{"a@b.test", "c@d.test", "e@f.test"}));
  EXPECT_TRUE(splitRecipients(" , ").empty());
}

TEST(PolicyHelpers, SplitStampsKeepsArgon2idParameters) {
  const std::string a = "argon2id:1:m=64,t=1,p=1:1:231114:bob@beta.test::c2FsdHNhbHQ:1";
  const std::string h = "1:8:231114:carol@beta.test::abc:1";
  EXPECT_EQ(splitStamps(h + "," + a + ", " + h + "\t" + a),
            (std::vector<std::string>{h, a, h, a}));
  EXPECT_EQ(splitStamps(a + ",ARGON2ID:x"), (std::vector<std::string>{a, "ARGON2ID:x"}));
  EXPECT_TRUE(splitStamps(" ,, ").empty());
}

TEST(PolicyHelpers, OnionDomains) {
  EXPECT_TRUE(isOnionDomain("abc.onion"));
  EXPECT_TRUE(isOnionDomain("ABC.ONION."));
  EXPECT_TRUE(isOnionDomain("onion"));
  EXPECT_FALSE(isOnionDomain("onion.test"));
  EXPECT_FALSE(isOnionDomain("notonion"));
}

TEST(PolicyHelpers, LookupKeysDifferByEveryField) {
  Lookup a{Lookup::Kind::kMtepCapable, "alpha.test", "", "", ""};
  Lookup b{Lookup::Kind::kToken, "alpha.test", "tok", "a@alpha.test", "bob@beta.test"};
  Lookup c = b;
  c.token = "tok2";
  Lookup d = b;
  d.sender = "b@alpha.test";
  Lookup e = b;
  e.recipient = "carol@gamma.test";
  EXPECT_NE(a.key(), b.key());
  EXPECT_NE(b.key(), c.key());
  EXPECT_NE(b.key(), d.key());
  EXPECT_NE(b.key(), e.key());
  EXPECT_EQ(b.key(), Lookup(b).key());
}

}  // namespace
}  // namespace mtep::policy

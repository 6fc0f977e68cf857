// Session and proof of work: which stamps and recipients reach the stamp
// checker, what each outcome answers, the combined Authentication-Results,
// and the stamps minted for outbound mail (fake checker and minter; no
// libmilter, no store). Also the stamp header helpers.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "milter/session.h"
#include "unit/milter/fakes.h"
#include "util/log.h"

namespace mtep::milter {
namespace {

using testing::describe;
using testing::expectSafeReply;
using testing::FakeMinter;
using testing::FakeStampChecker;
using testing::FakeStampMinter;
using testing::FakeVerifier;
using testing::RecordingActions;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kStampToken =
    "AQAAAAFn0xF2AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJA";
constexpr const char* kStampExternal = "203.0.113.9";
constexpr const char* kStampInternal = "10.1.2.3";

constexpr std::string_view kStampConfig = R"(
[milter]
authserv_id = "mx.beta.test"
internal_networks = ["10.0.0.0/8"]

[pow]
max_stamps = 3

[domain."beta.test"]
require_mtep = true
require_stamp = true

[domain."accept.test"]
require_mtep = true
mtep_unavailable = "accept"
require_stamp = true

[domain."stamps.test"]
require_stamp = true

[domain."stamps2.test"]
require_stamp = true
stamp_bits = 24

[domain."alpha.test"]
mint_stamps = "hashcash"

[domain."argon.test"]
mint_stamps = "argon2id"

[domain."quiet.test"]
issue_tokens = false
mint_stamps = "hashcash"
)";

config::ConfigPtr loadStampConfig() { return testing::loadConfig(kStampConfig); }

std::string stampFor(const std::string& rcpt) { return "1:20:261123:" + rcpt + "::c2FsdA:42"; }

class StampSessionTest : public ::testing::Test {
 protected:
  Session open(const std::string& address = kStampExternal, bool with_stamps = true) {
    SessionEnv env;
    env.config = config_;
    env.authserv_id = "mx.beta.test";
    env.verifier = &verifier_;
    env.minter = &minter_;
    if (with_stamps) {
      env.stamp_checker = &checker_;
      env.stamp_minter = &stamp_minter_;
    }
    Session s(std::move(env));
    s.connect({"client.example", address});
    return s;
  }

  Decision send(Session& s, std::string_view sender, const std::vector<std::string>& rcpts,
                const Headers& headers) {
    rcpt_.clear();
    EXPECT_EQ(s.mailFrom(sender, "", "4XyZ").step, Step::kContinue);
    for (const std::string& r : rcpts) rcpt_.push_back(s.rcpt(r));
    for (const auto& [name, value] : headers) s.header(name, value);
    Decision d = s.endOfMessage(actions_, "4XyZ");
    expectSafeReply(d);
    return d;
  }

  config::ConfigPtr config_ = loadStampConfig();
  FakeVerifier verifier_;
  FakeMinter minter_;
  FakeStampChecker checker_;
  FakeStampMinter stamp_minter_;
  RecordingActions actions_;
  std::vector<Decision> rcpt_;
};

// ---- Inbound ----

// A stamp checker with a double-spend record like lib/pow's: a stamp is
// spent with the query's message identity; a later query naming the same
// identity may spend it again, any other is refused ("spent").
class LedgerStampChecker : public StampChecker {
 public:
  StampOutcome check(const StampQuery& query) override {
    identities.push_back(query.message_identity);
    StampOutcome out;
    out.kind = StampKind::kValid;
    for (const std::string& rcpt : query.recipients) {
      RecipientStamp r;
      r.recipient = rcpt;
      r.required_bits = 20;
      r.verdict = "malformed";
      for (const std::string& stamp : query.stamps) {
        if (stamp.find(":" + rcpt + ":") == std::string::npos) continue;
        r.verdict = "valid";
        r.stamp = stamp;
      }
      r.valid = r.verdict == "valid";
      if (!r.valid) out.kind = StampKind::kRefused;
      out.recipients.push_back(r);
    }
    return out;
  }
  StampOutcome spend(const StampQuery& query, const StampOutcome& checked) override {
    StampOutcome out = checked;
    for (RecipientStamp& r : out.recipients) {
      auto it = spent.find(r.stamp);
      if (it == spent.end()) {
        spent.emplace(r.stamp, query.message_identity);
      } else if (query.message_identity.empty() || it->second != query.message_identity) {
        r.valid = false;
        r.verdict = "spent";
        out.kind = StampKind::kRefused;
      }
    }
    return out;
  }
  std::map<std::string, std::string> spent;  // stamp -> identity
  std::vector<std::string> identities;       // of every query
};

TEST_F(StampSessionTest, AFailedHeaderChangeSpendsNothingAndTheRetryOfTheSameMessagePasses) {
  LedgerStampChecker ledger;
  const std::string stamp = stampFor("carol@stamps.test");
  const auto deliver = [&](const std::string& qid, const std::string& body) {
    SessionEnv env;
    env.config = config_;
    env.authserv_id = "mx.beta.test";
    env.stamp_checker = &ledger;
    Session s(std::move(env));
    s.connect({"client.example", kStampExternal});
    EXPECT_EQ(s.mailFrom("<zoe@elsewhere.test>", "", qid).step, Step::kContinue);
    EXPECT_EQ(s.rcpt("<carol@stamps.test>").step, Step::kContinue);
    // Our MTA's own trace header differs on every attempt.
    s.header("Received", " from client.example by mx.beta.test with ESMTP id " + qid);
    s.header("Subject", " hello");
    s.header("Message-ID", " <1@elsewhere.test>");
    s.header("X-Hashcash", " " + stamp);
    EXPECT_TRUE(s.body(body)) << "the body is part of the message's identity";
    Decision d = s.endOfMessage(actions_, qid);
    expectSafeReply(d);
    return d;
  };
  actions_.fail = true;  // inserting Authentication-Results fails once
  EXPECT_EQ(describe(deliver("Q1", "Hi Carol\r\n")),
            "tempfail 451 4.3.0 mtep-milter cannot decide about this message now; try again "
            "later");
  EXPECT_TRUE(ledger.spent.empty()) << "nothing spent for a tempfailed message";
  actions_.fail = false;
  EXPECT_EQ(describe(deliver("Q2", "Hi Carol\r\n")), "continue") << "the sender's retry";
  EXPECT_EQ(ledger.spent.size(), 1u);
  // The MTA fails the message after us; the sender retries once more.
  EXPECT_EQ(describe(deliver("Q3", "Hi Carol\r\n")), "continue");
  // Another message reusing the stamp.
  Decision other = deliver("Q4", "Buy now\r\n");
  EXPECT_EQ(other.step, Step::kReject) << describe(other);
  EXPECT_NE(other.reply.text.find("carol@stamps.test (spent"), std::string::npos)
      << other.reply.text;
  ASSERT_EQ(ledger.identities.size(), 4u);
  EXPECT_EQ(ledger.identities[0].size(), 64u);
  EXPECT_EQ(ledger.identities[0], ledger.identities[1]);
  EXPECT_EQ(ledger.identities[0], ledger.identities[2]);
  EXPECT_NE(ledger.identities[0], ledger.identities[3]);
}

TEST_F(StampSessionTest, AStoreThatFailsAtTheSpendTempfails) {
  checker_.spend_temporary = true;
  Session s = open();
  Decision d = send(s, "<zoe@elsewhere.test>", {"<carol@stamps.test>"},
                    {{"X-Hashcash", stampFor("carol@stamps.test")}});
  EXPECT_EQ(describe(d),
            "tempfail 451 4.3.0 Cannot check proof-of-work stamps now; try again later");
  EXPECT_TRUE(checker_.spent.empty());
}

TEST_F(StampSessionTest, TheBodyIsNotSkippedWhenStampsAreChecked) {
  Session s = open();
  ASSERT_EQ(s.mailFrom("<zoe@elsewhere.test>", "", "Q").step, Step::kContinue);
  s.rcpt("<carol@gamma.test>");  // no stamps required there
  s.header("Subject", " x");
  EXPECT_FALSE(s.body("text\r\n")) << "nothing needs the body";
  s.abort();
  ASSERT_EQ(s.mailFrom("<zoe@elsewhere.test>", "", "Q").step, Step::kContinue);
  s.rcpt("<carol@stamps.test>");
  s.header("Subject", " x");
  EXPECT_TRUE(s.body("text\r\n"));
}

TEST_F(StampSessionTest, ValidStampPassesWithHashcashResultAndIsSpent) {
  Session s = open();
  Decision d = send(s, "<zoe@elsewhere.test>", {"<Carol@Stamps.Test>"},
                    {{"X-Hashcash", " " + stampFor("carol@stamps.test")}});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  ASSERT_EQ(checker_.queries.size(), 1u);
  EXPECT_EQ(checker_.queries[0].recipients, std::vector<std::string>{"carol@stamps.test"});
  EXPECT_EQ(checker_.queries[0].stamps, std::vector<std::string>{stampFor("carol@stamps.test")});
  EXPECT_EQ(checker_.queries[0].queue_id, "4XyZ");
  EXPECT_EQ(checker_.queries[0].config, config_);
  EXPECT_EQ(checker_.spent, std::vector<std::string>{"carol@stamps.test"});
  const std::vector<std::string> want = {
      "insert Authentication-Results: mx.beta.test; x-hashcash=pass"};
  EXPECT_EQ(actions_.ops, want);
  EXPECT_TRUE(verifier_.queries.empty()) << "stamps.test does not require MTEP";
}

// A recipient our parser refuses (a local part over 64 octets) still needs
// its own stamp: the stamp is checked for the address as written, lower case.
TEST_F(StampSessionTest, RecipientOurParserRefusesStillNeedsAStamp) {
  const std::string rcpt = "carol+" + std::string(70, 'x') + "@stamps.test";
  Session s = open();
  Decision d =
      send(s, "<zoe@elsewhere.test>", {"<Carol+" + std::string(70, 'X') + "@Stamps.Test.>"}, {});
  EXPECT_EQ(d.step, Step::kReject) << describe(d);
  EXPECT_EQ(d.reply.esc, "5.7.1");
  ASSERT_EQ(checker_.queries.size(), 1u);
  EXPECT_EQ(checker_.queries[0].recipients, std::vector<std::string>{rcpt});
  EXPECT_TRUE(checker_.spent.empty());

  Session s2 = open();
  d = send(s2, "<zoe@elsewhere.test>", {"<" + rcpt + ">"}, {{"X-Hashcash", stampFor(rcpt)}});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  EXPECT_EQ(checker_.spent, std::vector<std::string>{rcpt});
}

TEST_F(StampSessionTest, MtepAndStampResultsShareOneAuthenticationResultsHeader) {
  Session s = open();
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"},
                    {{"MTEP-Token", kStampToken}, {"X-Hashcash", stampFor("bob@beta.test")}});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  const std::vector<std::string> want = {
      "insert Authentication-Results: mx.beta.test; mtep=pass smtp.mailfrom=alice@alpha.test; "
      "x-hashcash=pass"};
  EXPECT_EQ(actions_.ops, want);
}

TEST_F(StampSessionTest, TemperrorAcceptAndStampsCombine) {
  verifier_.fallback = FakeVerifier::outcome(VerifyKind::kUnreachable, "timed out");
  Session s = open();
  Decision d = send(s, "<alice@alpha.test>", {"<bob@accept.test>"},
                    {{"MTEP-Token", kStampToken}, {"Hashcash", stampFor("bob@accept.test")}});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  const std::vector<std::string> want = {
      "insert Authentication-Results: mx.beta.test; mtep=temperror (server unreachable) "
      "smtp.mailfrom=alice@alpha.test; x-hashcash=pass"};
  EXPECT_EQ(actions_.ops, want);
}

TEST_F(StampSessionTest, MissingStampIsRejectedNamingRecipientVerdictAndFix) {
  Session s = open();
  Decision d = send(s, "<zoe@elsewhere.test>", {"<carol@stamps.test>"}, {{"Subject", " hi"}});
  EXPECT_EQ(describe(d),
            "reject 550 5.7.1 No valid proof-of-work stamp for carol@stamps.test (malformed: no "
            "stamp for it); mint one with: hashcash -m -b 20 -r carol@stamps.test");
  EXPECT_TRUE(actions_.ops.empty());
  EXPECT_TRUE(checker_.spent.empty());
}

TEST_F(StampSessionTest, EachRefusingVerdictIsNamedWithTheRequiredBits) {
  checker_.required_bits = 23;
  for (const char* verdict : {"too-weak", "spent", "expired", "wrong-resource", "false-claim"}) {
    checker_.verdicts["carol@stamps.test"] = verdict;
    actions_.ops.clear();
    Session s = open();
    Decision d = send(s, "<zoe@elsewhere.test>", {"<carol@stamps.test>"},
                      {{"X-Hashcash", stampFor("carol@stamps.test")}});
    EXPECT_EQ(d.step, Step::kReject) << verdict;
    EXPECT_EQ(d.reply.code, "550");
    EXPECT_EQ(d.reply.esc, "5.7.1");
    EXPECT_NE(d.reply.text.find(std::string("carol@stamps.test (") + verdict), std::string::npos)
        << d.reply.text;
    EXPECT_NE(d.reply.text.find("mint one with: hashcash -m -b 23 -r carol@stamps.test"),
              std::string::npos)
        << d.reply.text;
    EXPECT_TRUE(actions_.ops.empty()) << verdict;
  }
  EXPECT_TRUE(checker_.spent.empty());
}

TEST_F(StampSessionTest, TheFirstRecipientWithoutAStampIsNamed) {
  checker_.verdicts["dave@stamps2.test"] = "too-weak";
  Session s = open();
  Decision d = send(s, "<zoe@elsewhere.test>", {"<carol@stamps.test>", "<dave@stamps2.test>"},
                    {{"X-Hashcash", stampFor("carol@stamps.test")},
                     {"X-Hashcash", stampFor("dave@stamps2.test")}});
  EXPECT_EQ(d.step, Step::kReject);
  EXPECT_NE(d.reply.text.find("stamp for dave@stamps2.test (too-weak"), std::string::npos)
      << d.reply.text;
  EXPECT_TRUE(checker_.spent.empty()) << "a refused message spends nothing";
}

TEST_F(StampSessionTest, StoreUnavailableTempfails) {
  checker_.temporary = true;
  Session s = open();
  Decision d = send(s, "<zoe@elsewhere.test>", {"<carol@stamps.test>"},
                    {{"X-Hashcash", stampFor("carol@stamps.test")}});
  EXPECT_EQ(describe(d),
            "tempfail 451 4.3.0 Cannot check proof-of-work stamps now; try again later");
  EXPECT_TRUE(actions_.ops.empty());
}

TEST_F(StampSessionTest, NoStampCheckerTempfailsWhereStampsAreRequired) {
  Session s = open(kStampExternal, false);
  Decision d = send(s, "<zoe@elsewhere.test>", {"<carol@stamps.test>"},
                    {{"X-Hashcash", stampFor("carol@stamps.test")}});
  EXPECT_EQ(d.step, Step::kTempfail);
  EXPECT_EQ(d.reply.esc, "4.3.0");
  // Where no stamp is required the missing checker does not matter.
  d = send(s, "<zoe@elsewhere.test>", {"<carol@gamma.test>"}, {});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
}

TEST_F(StampSessionTest, CheckerThatAnswersForTooFewRecipientsTempfails) {
  class ShortChecker : public StampChecker {
   public:
    StampOutcome check(const StampQuery&) override {
      StampOutcome out;
      out.kind = StampKind::kValid;
      return out;
    }
    StampOutcome spend(const StampQuery&, const StampOutcome& checked) override { return checked; }
  } short_checker;
  SessionEnv env;
  env.config = config_;
  env.authserv_id = "mx.beta.test";
  env.stamp_checker = &short_checker;
  Session s(std::move(env));
  s.connect({"c", kStampExternal});
  Decision d = send(s, "<zoe@elsewhere.test>", {"<carol@stamps.test>"}, {});
  EXPECT_EQ(d.step, Step::kTempfail) << describe(d);
  EXPECT_TRUE(actions_.ops.empty());
}

TEST_F(StampSessionTest, AnMtepRefusalComesFirstAndBurnsNoStamp) {
  Session s = open();
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"},
                    {{"X-Hashcash", stampFor("bob@beta.test")}});
  EXPECT_EQ(d.reply.esc, "5.7.25") << describe(d);
  EXPECT_TRUE(checker_.queries.empty());

  verifier_.fallback = FakeVerifier::outcome(VerifyKind::kUnsure, "Z4.7.0 busy");
  d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"},
           {{"MTEP-Token", kStampToken}, {"X-Hashcash", stampFor("bob@beta.test")}});
  EXPECT_EQ(d.reply.esc, "4.7.25") << describe(d);
  EXPECT_TRUE(checker_.queries.empty());
}

TEST_F(StampSessionTest, OneCheckCoversRecipientsOfDifferentStampPolicies) {
  Session s = open();
  Decision d = send(
      s, "<zoe@elsewhere.test>",
      {"<carol@stamps.test>", "<erin@gamma.test>", "<dave@stamps2.test>", "<CAROL@stamps.test>"},
      {{"X-Hashcash", stampFor("carol@stamps.test")},
       {"X-Hashcash", stampFor("dave@stamps2.test")}});
  for (const Decision& r : rcpt_) EXPECT_EQ(r.step, Step::kContinue) << describe(r);
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  ASSERT_EQ(checker_.queries.size(), 1u);
  const std::vector<std::string> want = {"carol@stamps.test", "dave@stamps2.test"};
  EXPECT_EQ(checker_.queries[0].recipients, want) << "gamma.test needs none; duplicates once";
}

TEST_F(StampSessionTest, ARecipientDeferredForAnotherMtepPolicyIsNotChecked) {
  Session s = open();
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>", "<carol@stamps.test>"},
                    {{"MTEP-Token", kStampToken}, {"X-Hashcash", stampFor("bob@beta.test")}});
  ASSERT_EQ(rcpt_.size(), 2u);
  EXPECT_EQ(rcpt_[1].reply.esc, "4.5.3");
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  ASSERT_EQ(checker_.queries.size(), 1u);
  EXPECT_EQ(checker_.queries[0].recipients, std::vector<std::string>{"bob@beta.test"});
}

TEST_F(StampSessionTest, StampHeadersAreCollectedUnfoldedTrimmedAndCapped) {
  Session s = open();
  send(s, "<zoe@elsewhere.test>", {"<carol@stamps.test>"},
       {{"x-hashcash", " \t1:20:261123:carol@stamps.test\r\n\t::c2FsdA:1 \t"},
        {"Subject", " 1:20:261123:carol@stamps.test::c2FsdA:0"},
        {"HASHCASH", "two"},
        {"MTEP-Stamp", "three"},
        {"X-Hashcash", "four, past max_stamps = 3"}});
  ASSERT_EQ(checker_.queries.size(), 1u);
  const std::vector<std::string> want = {"1:20:261123:carol@stamps.test\t::c2FsdA:1", "two",
                                         "three"};
  EXPECT_EQ(checker_.queries[0].stamps, want);
}

TEST_F(StampSessionTest, NullSenderIsNotExempt) {
  Session s = open();
  Decision d = send(s, "<>", {"<carol@stamps.test>"}, {});
  EXPECT_EQ(d.step, Step::kReject) << describe(d);
  EXPECT_EQ(d.reply.esc, "5.7.1");
  d = send(s, "<>", {"<carol@stamps.test>"}, {{"X-Hashcash", stampFor("carol@stamps.test")}});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
}

TEST_F(StampSessionTest, InternalMailIsNotChecked) {
  Session s = open(kStampInternal);
  Decision d = send(s, "<zoe@elsewhere.test>", {"<carol@stamps.test>"}, {});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  EXPECT_TRUE(checker_.queries.empty());
}

TEST_F(StampSessionTest, SpoofedResultsAreStillRemovedBeforeOurs) {
  Session s = open();
  Decision d = send(s, "<zoe@elsewhere.test>", {"<carol@stamps.test>"},
                    {{"Authentication-Results", " mx.beta.test; x-hashcash=pass"},
                     {"X-Hashcash", stampFor("carol@stamps.test")}});
  EXPECT_EQ(d.step, Step::kContinue);
  const std::vector<std::string> want = {
      "delete Authentication-Results #1",
      "insert Authentication-Results: mx.beta.test; x-hashcash=pass"};
  EXPECT_EQ(actions_.ops, want);
}

TEST_F(StampSessionTest, AbortForgetsStampsAndRecipients) {
  Session s = open();
  s.mailFrom("<zoe@elsewhere.test>", "", "Q");
  s.rcpt("<carol@stamps.test>");
  s.header("X-Hashcash", stampFor("carol@stamps.test"));
  s.abort();
  Decision d = send(s, "<zoe@elsewhere.test>", {"<carol@gamma.test>"}, {});
  EXPECT_EQ(d.step, Step::kContinue);
  EXPECT_TRUE(checker_.queries.empty());
}

// ---- Outbound ----

TEST_F(StampSessionTest, OutboundMintsOneHashcashStampPerDistinctRecipient) {
  Session s = open(kStampInternal);
  Decision d = send(s, "<alice@alpha.test>",
                    {"<bob@beta.test>", "<Carol@Gamma.Test>", "<BOB@beta.test>"}, {});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  ASSERT_EQ(stamp_minter_.queries.size(), 2u);
  EXPECT_EQ(stamp_minter_.queries[0].recipient, "bob@beta.test");
  EXPECT_EQ(stamp_minter_.queries[1].recipient, "carol@gamma.test");
  EXPECT_EQ(stamp_minter_.queries[0].sender_domain, "alpha.test");
  EXPECT_EQ(stamp_minter_.queries[0].config, config_);
  const std::vector<std::string> want = {
      std::string("add MTEP-Token: ") + minter_.token + "; domain=beta.test",
      std::string("add MTEP-Token: ") + minter_.token + "; domain=gamma.test",
      "add X-Hashcash: 1:20:261123:bob@beta.test::c2FsdA:1",
      "add X-Hashcash: 1:20:261123:carol@gamma.test::c2FsdA:2"};
  EXPECT_EQ(actions_.ops, want);
  EXPECT_TRUE(checker_.queries.empty());
}

TEST_F(StampSessionTest, OutboundKeepsTheUsersOwnStampHeaders) {
  Session s = open(kStampInternal);
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"},
                    {{"X-Hashcash", " 1:24:261123:bob@beta.test::bXluZQ:7"}});
  EXPECT_EQ(d.step, Step::kContinue);
  for (const std::string& op : actions_.ops) {
    EXPECT_EQ(op.rfind("delete", 0), std::string::npos) << op;
  }
  EXPECT_EQ(actions_.ops.size(), 2u);
}

TEST_F(StampSessionTest, OutboundArgon2idStampsGoInMtepStampHeaders) {
  Session s = open(kStampInternal);
  stamp_minter_.fixed = "argon2id:1:m=4096,t=1,p=1:4:261123:bob@beta.test::c2FsdGFsdA:9";
  Decision d = send(s, "<al@argon.test>", {"<bob@beta.test>"}, {});
  EXPECT_EQ(d.step, Step::kContinue);
  ASSERT_EQ(actions_.ops.size(), 2u);
  EXPECT_EQ(actions_.ops[1], "add MTEP-Stamp: " + *stamp_minter_.fixed);
}

TEST_F(StampSessionTest, OutboundStampsWithoutTokens) {
  Session s = open(kStampInternal);
  Decision d = send(s, "<carol@quiet.test>", {"<bob@beta.test>"}, {});
  EXPECT_EQ(d.step, Step::kContinue);
  const std::vector<std::string> want = {"add X-Hashcash: 1:20:261123:bob@beta.test::c2FsdA:1"};
  EXPECT_EQ(actions_.ops, want);
  EXPECT_TRUE(minter_.calls.empty());
}

TEST_F(StampSessionTest, OutboundFromADomainWithoutMintStampsMintsNone) {
  Session s = open(kStampInternal);
  Decision d = send(s, "<dave@stamps.test>", {"<bob@beta.test>"}, {});
  EXPECT_EQ(d.step, Step::kContinue);
  EXPECT_TRUE(stamp_minter_.queries.empty());
  d = send(s, "<>", {"<bob@beta.test>"}, {});
  EXPECT_EQ(d.step, Step::kContinue);
  EXPECT_TRUE(stamp_minter_.queries.empty()) << "the null sender has no domain to mint for";
}

TEST_F(StampSessionTest, OutboundMintingOutOfBudgetTempfails) {
  stamp_minter_.error = Error(ErrorKind::kTemporary, "out of budget after 30 s");
  Session s = open(kStampInternal);
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"}, {});
  EXPECT_EQ(describe(d),
            "tempfail 451 4.3.0 Cannot add proof-of-work stamps to this message now; try again "
            "later");
  for (const std::string& op : actions_.ops) {
    EXPECT_EQ(op.find("X-Hashcash"), std::string::npos) << "no stamp header after a failure";
  }
}

TEST_F(StampSessionTest, OutboundWithoutStampMinterTempfails) {
  Session s = open(kStampInternal, false);
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"}, {});
  EXPECT_EQ(d.step, Step::kTempfail);
  EXPECT_EQ(d.reply.esc, "4.3.0");
}

TEST_F(StampSessionTest, OutboundRefusesAMintedStampThatCouldInjectHeaders) {
  stamp_minter_.fixed = "1:20:261123:bob@beta.test::c2FsdA:1\r\nBcc: victim@example.org";
  Session s = open(kStampInternal);
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"}, {});
  EXPECT_EQ(d.step, Step::kTempfail);
  for (const std::string& op : actions_.ops) EXPECT_EQ(op.find("Bcc"), std::string::npos) << op;
}

TEST_F(StampSessionTest, OutboundSkipsRecipientsThatCannotBeAResource) {
  Session s = open(kStampInternal);
  Decision d = send(s, "<alice@alpha.test>", {"<\"a:b\"@gamma.test>", "<bob@beta.test>"}, {});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  ASSERT_EQ(stamp_minter_.queries.size(), 1u);
  EXPECT_EQ(stamp_minter_.queries[0].recipient, "bob@beta.test");
}

TEST_F(StampSessionTest, OutboundHeaderChangeFailureTempfails) {
  actions_.fail = true;
  Session s = open(kStampInternal);
  Decision d = send(s, "<carol@quiet.test>", {"<bob@beta.test>"}, {});
  EXPECT_EQ(d.step, Step::kTempfail);
  EXPECT_EQ(d.reply.esc, "4.3.0");
}

// ---- Log lines ----

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

TEST_F(StampSessionTest, StampDecisionsAreLoggedOneLineEach) {
  log::open("stamps_test", true);
  log::setMinLevel(log::Level::kInfo);
  checker_.verdicts["carol@stamps.test"] = "too-weak";
  Session in = open();
  ::testing::internal::CaptureStderr();
  send(in, "<zoe@elsewhere.test>", {"<carol@stamps.test>"},
       {{"X-Hashcash", stampFor("carol@stamps.test")}});
  send(in, "<zoe@elsewhere.test>", {"<dave@stamps2.test>"},
       {{"X-Hashcash", stampFor("dave@stamps2.test")}});
  Session out = open(kStampInternal);
  send(out, "<alice@alpha.test>", {"<bob@beta.test>"}, {});
  const std::vector<std::string> got = lines(::testing::internal::GetCapturedStderr());
  ASSERT_EQ(got.size(), 4u);
  EXPECT_NE(got[0].find("4XyZ: mtep: action=reject reason=stamp-too-weak "
                        "sender=<zoe@elsewhere.test> rcpt=<carol@stamps.test> stamps=1 "
                        "detail=\"claims 8 bits, 20 required\" reply=\"550 5.7.1\""),
            std::string::npos)
      << got[0];
  EXPECT_NE(got[1].find("4XyZ: mtep: action=pass reason=stamps-valid sender=<zoe@elsewhere.test> "
                        "stamps=1 x-hashcash=pass"),
            std::string::npos)
      << got[1];
  EXPECT_NE(got[2].find("action=token-added reason=issued"), std::string::npos) << got[2];
  EXPECT_NE(got[3].find("4XyZ: mtep: action=stamps-added reason=minted sender=<alice@alpha.test> "
                        "stamps=1 algorithm=hashcash"),
            std::string::npos)
      << got[3];
}

// ---- Header helpers ----

TEST(StampHeaders, NamesAreTheThreeStampHeadersInAnyCase) {
  for (const char* name :
       {"X-Hashcash", "x-hashcash", "Hashcash", "HASHCASH", "MTEP-Stamp", "mtep-stamp"}) {
    EXPECT_TRUE(isStampHeader(name)) << name;
  }
  for (const char* name : {"X-Hashcash2", "Hashcas", "MTEP-Token", "", "X-Hashcash "}) {
    EXPECT_FALSE(isStampHeader(name)) << name;
  }
}

TEST(StampHeaders, NormalizeUnfoldsAndTrims) {
  struct Case {
    const char* in;
    const char* want;
  };
  const Case cases[] = {
      {" 1:20:261123:a@b::c:1", "1:20:261123:a@b::c:1"},
      {"\t1:20:261123:a@b\r\n\t::c:1\r\n", "1:20:261123:a@b\t::c:1"},
      {"\r\n ", ""},
      {"", ""},
      {"a b", "a b"},
  };
  for (const Case& c : cases) EXPECT_EQ(normalizeStampHeader(c.in), c.want) << c.in;
}

TEST(StampHeaders, AnOverlongValueStaysOverTheLimitWhateverItEndsWith) {
  const std::string valid = "1:20:261123:a@b::c:1";
  // A valid stamp followed by spaces and one more byte: cutting and then
  // trimming would have turned it into the valid stamp.
  const std::string padded = valid + std::string(kMaxStampHeader, ' ') + "x";
  EXPECT_EQ(normalizeStampHeader(padded).size(), kMaxStampHeader + 1);
  const std::string folded = valid + std::string(kMaxStampHeader, '\n') + "x";
  EXPECT_EQ(normalizeStampHeader(folded), valid + "x") << "CR and LF are dropped, not counted";
  EXPECT_EQ(normalizeStampHeader(std::string(5000, 'a')).size(), kMaxStampHeader + 1);
  EXPECT_EQ(normalizeStampHeader(std::string(kMaxStampHeader, 'a')).size(), kMaxStampHeader);
}

TEST(StampHeaders, AppendAuthResultAddsOneResinfo) {
  EXPECT_EQ(appendAuthResult("", "mx.beta.test", "x-hashcash", "pass"),
            "mx.beta.test; x-hashcash=pass");
  EXPECT_EQ(appendAuthResult("mx.beta.test; mtep=pass smtp.mailfrom=a@b", "ignored", "x-hashcash",
                             "pass"),
            "mx.beta.test; mtep=pass smtp.mailfrom=a@b; x-hashcash=pass");
  EXPECT_EQ(appendAuthResult("", "mx\r\n.beta.test", "x-hash\ncash", "pa\rss"),
            "mx.beta.test; x-hashcash=pass");
}

}  // namespace
}  // namespace mtep::milter

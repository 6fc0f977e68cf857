// The milter's submission tokens: Submission-Token headers added to
// outbound mail (To/Cc recipients only, Bcc privacy), recorded from
// inbound mail for the recipient the token names; To/Cc address lists;
// a token book that fails (mail still goes).
#include "milter/submission_tokens.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "fakes.h"
#include "stoken/token.h"

namespace mtep::milter {
namespace {

using testing::describe;
using testing::RecordingActions;

constexpr char kSubmissionConfig[] = R"(
[milter]
internal_networks = ["127.0.0.1/32"]
[domain_defaults]
issue_tokens = false
[domain."beta.test"]
distribute_submission_tokens = true
accept_submission_tokens = true
[domain."quiet.test"]
)";

token::KeyRing ringOf() {
  token::Key k;
  k.id = 1;
  k.secret.fill(0x33);
  return token::KeyRing::fromKeys({k});
}

class FakeTokens : public SubmissionTokens {
 public:
  Result<std::string> temporary(std::string_view remote, std::string_view local,
                                const stoken::BookLimits& limits) override {
    made.emplace_back(std::string(remote), std::string(local));
    ttl = limits.temporary_ttl;
    if (down) return Error(ErrorKind::kTemporary, "database is locked");
    return stoken::mint(stoken::Kind::kTemporary, ring, remote, local, 1'700'000'000);
  }
  Result<bool> hold(std::string_view local, std::string_view remote, std::string_view token,
                    stoken::Kind kind, const stoken::BookLimits&) override {
    if (down) return Error(ErrorKind::kTemporary, "database is locked");
    held.push_back({std::string(local), std::string(remote), std::string(token), kind});
    return true;
  }
  struct Held {
    std::string local, remote, token;
    stoken::Kind kind;
  };
  token::KeyRing ring = ringOf();
  bool down = false;
  int64_t ttl = 0;
  std::vector<std::pair<std::string, std::string>> made;  // (remote, local)
  std::vector<Held> held;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

class SubmissionTokenSessionTest : public ::testing::Test {
 protected:
  Decision send(const std::string& client, std::string_view sender,
                const std::vector<std::string>& rcpts, const Headers& headers) {
    SessionEnv env;
    env.config = config_;
    env.authserv_id = "mx.beta.test";
    env.submission_tokens = &tokens_;
    Session s(std::move(env));
    s.connect({"client.example", client});
    s.mailFrom(sender, "", "Q1");
    for (const std::string& r : rcpts) {
      Decision d = s.rcpt(r);
      EXPECT_EQ(d.step, Step::kContinue) << describe(d);
    }
    for (const auto& [name, value] : headers) s.header(name, value);
    return s.endOfMessage(actions_, "Q1");
  }
  std::vector<std::string> addedTokens() const {
    std::vector<std::string> out;
    for (const std::string& op : actions_.ops) {
      if (op.rfind("add Submission-Token: ", 0) == 0) out.push_back(op.substr(22));
    }
    return out;
  }

  config::ConfigPtr config_ = testing::loadConfig(kSubmissionConfig);
  FakeTokens tokens_;
  RecordingActions actions_;
};

TEST_F(SubmissionTokenSessionTest, OutboundOneRecipientGetsATokenForItsPair) {
  Decision d = send("127.0.0.1", "<Bob@Beta.Test>", {"<alice@alpha.test>"}, {});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  const auto added = addedTokens();
  ASSERT_EQ(added.size(), 1u);
  EXPECT_EQ(
      stoken::verify(added[0], "alice@alpha.test", "bob@beta.test", tokens_.ring, 1'700'000'000, {})
          .outcome,
      stoken::Outcome::kValid);
  EXPECT_EQ(tokens_.ttl, 7 * 86400);
}

TEST_F(SubmissionTokenSessionTest, OutboundBccRecipientsGetNoVisibleToken) {
  Decision d =
      send("127.0.0.1", "<bob@beta.test>",
           {"<alice@alpha.test>", "<carol@gamma.test>", "<secret@delta.test>"},
           {{"To", " Alice <alice@alpha.test>"}, {"Cc", " \"Carol, C.\" <Carol@Gamma.test>"}});
  EXPECT_EQ(d.step, Step::kContinue);
  ASSERT_EQ(tokens_.made.size(), 2u);
  EXPECT_EQ(tokens_.made[0].first, "alice@alpha.test");
  EXPECT_EQ(tokens_.made[1].first, "carol@gamma.test");
  EXPECT_EQ(addedTokens().size(), 2u);
}

TEST_F(SubmissionTokenSessionTest, OutboundFromADomainThatDoesNotDistributeAddsNothing) {
  Decision d = send("127.0.0.1", "<bob@quiet.test>", {"<alice@alpha.test>"}, {});
  EXPECT_EQ(d.step, Step::kContinue);
  EXPECT_TRUE(addedTokens().empty());
  EXPECT_TRUE(tokens_.made.empty());
}

TEST_F(SubmissionTokenSessionTest, OutboundBookDownStillDeliversWithoutToken) {
  tokens_.down = true;
  Decision d = send("127.0.0.1", "<bob@beta.test>", {"<alice@alpha.test>"}, {});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  EXPECT_TRUE(addedTokens().empty());
}

TEST_F(SubmissionTokenSessionTest, OutboundHeaderFailureTempfails) {
  actions_.fail = true;
  Decision d = send("127.0.0.1", "<bob@beta.test>", {"<alice@alpha.test>"}, {});
  EXPECT_EQ(d.step, Step::kTempfail);
  EXPECT_EQ(d.reply.code, "451");
}

TEST_F(SubmissionTokenSessionTest, InboundHoldsTheTokenNamingEachRecipient) {
  // alpha's milter (here: beta's config) receives from alice@alpha.test a
  // message for bob and dan, each with his own token in the header.
  auto for_bob = stoken::mint(stoken::Kind::kTemporary, tokens_.ring, "bob@beta.test",
                              "alice@alpha.test", 1'700'000'000);
  auto for_dan = stoken::mint(stoken::Kind::kTemporary, tokens_.ring, "dan@beta.test",
                              "alice@alpha.test", 1'700'000'000);
  ASSERT_TRUE(for_bob.ok() && for_dan.ok());
  Decision d =
      send("192.0.2.1", "<alice@alpha.test>", {"<dan@beta.test>", "<bob@beta.test>"},
           {{"Submission-Token", " " + *for_bob}, {"Submission-Token", "\r\n\t" + *for_dan}});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  ASSERT_EQ(tokens_.held.size(), 2u);
  EXPECT_EQ(tokens_.held[0].local, "dan@beta.test");
  EXPECT_EQ(tokens_.held[0].remote, "alice@alpha.test");
  EXPECT_EQ(tokens_.held[0].token, *for_dan);
  EXPECT_EQ(tokens_.held[1].local, "bob@beta.test");
  EXPECT_EQ(tokens_.held[1].token, *for_bob);
  EXPECT_TRUE(actions_.ops.empty()) << "the headers stay";
}

TEST_F(SubmissionTokenSessionTest, InboundTokenForAnotherRecipientIsNotHeld) {
  auto for_carol = stoken::mint(stoken::Kind::kTemporary, tokens_.ring, "carol@beta.test",
                                "alice@alpha.test", 1'700'000'000);
  ASSERT_TRUE(for_carol.ok());
  send("192.0.2.1", "<alice@alpha.test>", {"<bob@beta.test>"}, {{"Submission-Token", *for_carol}});
  EXPECT_TRUE(tokens_.held.empty());
}

TEST_F(SubmissionTokenSessionTest, InboundForeignFormatHeldOnlyWhenUnambiguous) {
  send("192.0.2.1", "<alice@alpha.test>", {"<bob@beta.test>"},
       {{"Submission-Token", " s6xW15h9Dh"}});
  ASSERT_EQ(tokens_.held.size(), 1u);
  EXPECT_EQ(tokens_.held[0].token, "s6xW15h9Dh");
  tokens_.held.clear();
  send("192.0.2.1", "<alice@alpha.test>", {"<bob@beta.test>", "<dan@beta.test>"},
       {{"Submission-Token", " s6xW15h9Dh"}});
  EXPECT_TRUE(tokens_.held.empty());
}

TEST_F(SubmissionTokenSessionTest, InboundIgnoresOtherDomainsNullSenderAndJunk) {
  send("192.0.2.1", "<alice@alpha.test>", {"<x@quiet.test>"}, {{"Submission-Token", "abc"}});
  send("192.0.2.1", "<>", {"<bob@beta.test>"}, {{"Submission-Token", "abc"}});
  send("192.0.2.1", "<alice@alpha.test>", {"<bob@beta.test>"},
       {{"Submission-Token", "abc def"}, {"Submission-Token", std::string(300, 'a')}});
  EXPECT_TRUE(tokens_.held.empty());
}

TEST_F(SubmissionTokenSessionTest, InboundBookDownStillDelivers) {
  tokens_.down = true;
  Decision d =
      send("192.0.2.1", "<alice@alpha.test>", {"<bob@beta.test>"}, {{"Submission-Token", "abc"}});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
}

TEST(AddressesOf, ListsNamesQuotesCommentsAndGroups) {
  std::vector<std::string> out;
  addressesOf(
      "Alice <Alice@Alpha.Test>, bob@beta.test (Bob, B.), \"Smith, C\" <c@gamma.test>,"
      " friends: d@delta.test, e@eps.test;, undisclosed-recipients:;, not an address",
      &out, 100);
  const std::vector<std::string> want = {"alice@alpha.test", "bob@beta.test", "c@gamma.test",
                                         "d@delta.test", "e@eps.test"};
  EXPECT_EQ(out, want);
}

TEST(AddressesOf, StopsAtTheLimitAndKeepsNoDuplicates) {
  std::vector<std::string> out;
  addressesOf("a@x.test, A@X.test, b@x.test, c@x.test", &out, 2);
  const std::vector<std::string> want = {"a@x.test", "b@x.test"};
  EXPECT_EQ(out, want);
  std::vector<std::string> big;
  addressesOf(std::string(1 << 20, '<'), &big, 100);
  EXPECT_TRUE(big.empty());
}

TEST(DistributionRecipients, OneRecipientAlwaysSeveralOnlyVisible) {
  EXPECT_EQ(distributionRecipients({"a@x.test"}, {}), std::vector<std::string>{"a@x.test"});
  EXPECT_EQ(distributionRecipients({"a@x.test", "b@x.test"}, {"b@x.test"}),
            std::vector<std::string>{"b@x.test"});
  EXPECT_TRUE(distributionRecipients({"a@x.test", "b@x.test"}, {}).empty());
}

}  // namespace
}  // namespace mtep::milter

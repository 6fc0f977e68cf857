// The STOKEN router's per-recipient decisions (lib/stoken/router.h):
// batches by domain, what a token attempt's replies mean (2.1.13 holds the
// permanent, 5.7.x drops the token, a loss after the dot defers), and the
// re-injection's replies mapped back; nothing 2xx that was not delivered.
#include "stoken/router.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "stoken/protocol.h"
#include "util/base64.h"

namespace mtep::stoken {
namespace {

smtp::Reply reply(uint16_t code, smtp::EnhancedStatus s, std::string text) {
  smtp::Reply r;
  r.code = code;
  r.enhanced = s;
  r.text = std::move(text);
  return r;
}

AttemptReply delivered(smtp::Reply r) { return {std::move(r), true, true, false}; }
AttemptReply refused(smtp::Reply r) { return {std::move(r), false, true, false}; }
AttemptReply madeUp(smtp::Reply r) { return {std::move(r), false, false, false}; }

const std::string kPerm(52, 'P');
HeldToken held(char c = 'T') { return {std::string(52, c), Kind::kTemporary}; }

TEST(RouterBatches, GroupsHeldRecipientsByDomainInOrder) {
  MessageRoute r({"a@Beta.test", "b@gamma.test", "c@beta.test.", "d@beta.test", "e@delta.test"});
  r.setHeld(0, held());
  r.setHeld(1, held());
  r.setHeld(2, held());
  // d has no token: never in a batch.
  auto b = r.tokenBatches();
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].domain, "beta.test");
  EXPECT_EQ(b[0].recipients, (std::vector<size_t>{0, 2}));
  EXPECT_EQ(b[1].domain, "gamma.test");
  EXPECT_EQ(b[1].recipients, (std::vector<size_t>{1}));
  EXPECT_EQ(r.toReinject(), (std::vector<size_t>{0, 1, 2, 3, 4}));  // all still pending
}

TEST(RouterBatches, AuthLineAndRcptParams) {
  const std::string line = tokenAuthLine("bob@beta.test", "tok");
  ASSERT_EQ(line.rfind("AUTH STOKEN ", 0), 0u);
  auto p = parseAuthPayload(line.substr(12));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->recipient, "bob@beta.test");
  EXPECT_EQ(p->token, "tok");
  EXPECT_EQ(tokenRcptParams("h", "m"), "STOKEN=h MYSTOKEN=m");
  EXPECT_EQ(tokenRcptParams("h", ""), "STOKEN=h");
}

TEST(RouterToken, Delivered2113HoldsTheNewPermanentAnd2112Not) {
  MessageRoute r({"bob@beta.test", "carol@beta.test"});
  r.setHeld(0, held());
  r.setHeld(1, held('Q'));
  auto b = r.tokenBatches();
  ASSERT_EQ(b.size(), 1u);
  Attempt a;
  a.recipients = {delivered(reply(250, {2, 1, 13}, "<bob@beta.test> " + kPerm + " id1 Saved")),
                  delivered(reply(250, {2, 1, 12}, "<carol@beta.test> id2 Saved"))};
  auto e = r.applyTokenAttempt(b[0], a);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].what, TokenEffect::What::kHold);
  EXPECT_EQ(e[0].recipient, 0u);
  EXPECT_EQ(e[0].permanent, kPerm);
  EXPECT_EQ(r.state(0), RouteState::kByToken);
  EXPECT_EQ(r.state(1), RouteState::kByToken);
  EXPECT_TRUE(r.toReinject().empty());
  auto replies = r.replies();
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].code, 250);
  // The permanent token never reaches Postfix (its logs).
  EXPECT_EQ(replies[0].toString().find(kPerm), std::string::npos);
  EXPECT_NE(replies[0].toString().find("id1"), std::string::npos);
}

TEST(RouterToken, A2113ForAnotherAddressIsNotHeldForThisOne) {
  MessageRoute r({"bob@beta.test"});
  r.setHeld(0, held());
  Attempt a;
  a.recipients = {delivered(reply(250, {2, 1, 13}, "<mallory@beta.test> " + kPerm + " id Saved"))};
  auto e = r.applyTokenAttempt(r.tokenBatches()[0], a);
  EXPECT_TRUE(e.empty());
  EXPECT_EQ(r.state(0), RouteState::kByToken);  // the server said delivered
}

TEST(RouterToken, RcptRefusal57DropsThatTokenAndReinjects) {
  MessageRoute r({"bob@beta.test", "carol@beta.test"});
  r.setHeld(0, held());
  r.setHeld(1, held());
  Attempt a;
  a.recipients = {refused(reply(550, {5, 7, 8}, "token not valid")),
                  delivered(reply(250, {2, 1, 12}, "<carol@beta.test> id Saved"))};
  auto e = r.applyTokenAttempt(r.tokenBatches()[0], a);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].what, TokenEffect::What::kDrop);
  EXPECT_EQ(e[0].recipient, 0u);
  EXPECT_EQ(r.state(0), RouteState::kReinject);
  EXPECT_EQ(r.state(1), RouteState::kByToken);
  EXPECT_EQ(r.toReinject(), (std::vector<size_t>{0}));
}

TEST(RouterToken, AuthRefusalDropsOnlyTheFirstRecipientsToken) {
  MessageRoute r({"bob@beta.test", "carol@beta.test"});
  r.setHeld(0, held());
  r.setHeld(1, held());
  Attempt a;
  a.credentials_refused = reply(535, {5, 7, 8}, "Authentication credentials invalid");
  // smtp::deliver copies the session's failing reply to every recipient.
  a.recipients = {madeUp(a.credentials_refused), madeUp(a.credentials_refused)};
  auto e = r.applyTokenAttempt(r.tokenBatches()[0], a);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].what, TokenEffect::What::kDrop);
  EXPECT_EQ(e[0].recipient, 0u);
  EXPECT_EQ(r.toReinject(), (std::vector<size_t>{0, 1}));
}

TEST(RouterToken, AuthTempfailKeepsTheToken) {
  MessageRoute r({"bob@beta.test"});
  r.setHeld(0, held());
  Attempt a;
  a.credentials_refused = reply(454, {4, 7, 0}, "try later");
  a.recipients = {madeUp(a.credentials_refused)};
  EXPECT_TRUE(r.applyTokenAttempt(r.tokenBatches()[0], a).empty());
  EXPECT_EQ(r.state(0), RouteState::kReinject);
}

TEST(RouterToken, A57BeforeMailIsNotTheTokensFault) {
  // A server refusing us at LHLO with 5.7.x (or anything made up) judges no token.
  MessageRoute r({"bob@beta.test"});
  r.setHeld(0, held());
  Attempt a;
  a.before_mail = true;
  a.recipients = {refused(reply(554, {5, 7, 0}, "go away"))};
  EXPECT_TRUE(r.applyTokenAttempt(r.tokenBatches()[0], a).empty());
  EXPECT_EQ(r.state(0), RouteState::kReinject);
}

TEST(RouterToken, OtherFailuresReinjectAndKeepTheToken) {
  for (const AttemptReply& x :
       {madeUp(reply(451, {4, 4, 1}, "dial")), madeUp(reply(451, {4, 7, 0}, "STOKEN missing")),
        refused(reply(452, {4, 2, 2}, "quota")), refused(reply(552, {5, 2, 2}, "over quota")),
        refused(reply(550, {5, 1, 1}, "no such user"))}) {
    MessageRoute r({"bob@beta.test"});
    r.setHeld(0, held());
    Attempt a;
    a.recipients = {x};
    EXPECT_TRUE(r.applyTokenAttempt(r.tokenBatches()[0], a).empty()) << x.reply.toString();
    EXPECT_EQ(r.state(0), RouteState::kReinject) << x.reply.toString();
  }
}

TEST(RouterToken, LostAfterTheDotDefersAndIsNotReinjected) {
  MessageRoute r({"bob@beta.test", "carol@beta.test"});
  r.setHeld(0, held());
  r.setHeld(1, held());
  Attempt a;
  a.recipients = {delivered(reply(250, {2, 1, 12}, "<bob@beta.test> id Saved")),
                  {reply(451, {4, 4, 2}, "lost"), false, false, true}};
  EXPECT_TRUE(r.applyTokenAttempt(r.tokenBatches()[0], a).empty());
  EXPECT_EQ(r.state(0), RouteState::kByToken);
  EXPECT_EQ(r.state(1), RouteState::kDeferred);
  EXPECT_TRUE(r.toReinject().empty());
  auto replies = r.replies();
  EXPECT_EQ(replies[1].code, 451);
  ASSERT_TRUE(replies[1].enhanced.has_value());
  EXPECT_EQ(replies[1].enhanced->toString(), "4.4.2");
}

TEST(RouterToken, AMismatchedAttemptReinjectsTheBatch) {
  MessageRoute r({"bob@beta.test"});
  r.setHeld(0, held());
  Attempt a;  // no recipients
  EXPECT_TRUE(r.applyTokenAttempt(r.tokenBatches()[0], a).empty());
  EXPECT_EQ(r.state(0), RouteState::kReinject);
}

TEST(RouterReinject, EachRecipientGetsItsOwnAnswer) {
  MessageRoute r({"a@x.test", "b@x.test", "c@x.test", "d@x.test"});
  Attempt a;
  a.recipients = {delivered(reply(250, {2, 0, 0}, "Ok: queued as 1")),
                  refused(reply(550, {5, 1, 1}, "no such user")),
                  refused(reply(450, {4, 2, 0}, "greylisted")),
                  {reply(451, {4, 4, 2}, "lost"), false, false, true}};
  r.applyReinjectAttempt(r.toReinject(), a);
  auto replies = r.replies();
  EXPECT_EQ(replies[0].code, 250);
  EXPECT_EQ(replies[1].code, 550);
  EXPECT_EQ(replies[2].code, 450);
  EXPECT_EQ(replies[3].code, 451);
  EXPECT_EQ(r.count(RouteState::kDone), 1u);
  EXPECT_EQ(r.count(RouteState::kRefused), 1u);
  EXPECT_EQ(r.count(RouteState::kDeferred), 2u);
}

TEST(RouterReinject, A5xxBeforeMailNeverBounces) {
  MessageRoute r({"a@x.test"});
  Attempt a;
  a.before_mail = true;
  a.recipients = {refused(reply(554, {5, 3, 0}, "wrong port"))};
  r.applyReinjectAttempt(r.toReinject(), a);
  EXPECT_EQ(r.replies()[0].code, 451);
}

TEST(RouterReinject, A2xxThatWasNotDeliveredIsNot250) {
  // An attacker-ish server answering 250 to RCPT but the session broke:
  // the client's outcome says not delivered; never 2xx to Postfix.
  MessageRoute r({"a@x.test"});
  Attempt a;
  a.recipients = {{reply(250, {2, 1, 5}, "ok"), false, true, false}};
  r.applyReinjectAttempt(r.toReinject(), a);
  EXPECT_EQ(r.replies()[0].code / 100, 4);
}

TEST(RouterReplies, UndecidedRecipientsAre451) {
  MessageRoute r({"a@x.test", "b@x.test"});
  auto replies = r.replies();
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].code, 451);
  r.failUndecided(reply(451, {4, 3, 0}, "internal"));
  EXPECT_EQ(r.count(RouteState::kDeferred), 2u);
}

}  // namespace
}  // namespace mtep::stoken

// configNeedsBody(): whether the milter may decline the body step
// (SMFIP_NOBODY), and what a Session does when it did and a message
// needs the body all the same.
#include <gtest/gtest.h>

#include <string>

#include "milter/session.h"
#include "unit/milter/fakes.h"

namespace mtep::milter {
namespace {

bool needsBody(const std::string& toml) {
  return configNeedsBody(*testing::loadConfig("[milter]\nauthserv_id = \"mx.beta.test\"\n" + toml));
}

TEST(ConfigNeedsBody, TokensAndOutboundMintingNeedNoBody) {
  EXPECT_FALSE(needsBody(""));
  EXPECT_FALSE(needsBody("[domain.\"beta.test\"]\nrequire_mtep = true\n"));
  EXPECT_FALSE(
      needsBody("[domain.\"beta.test\"]\nissue_tokens = true\nmint_stamps = \"hashcash\"\n"
                "distribute_submission_tokens = true\naccept_submission_tokens = true\n"));
  EXPECT_FALSE(needsBody("[domain.\"beta.test\"]\nreject_bad_signatures = true\n"))
      << "reject_bad_signatures does nothing without check_signatures";
}

TEST(ConfigNeedsBody, StampsAndSignaturesNeedIt) {
  struct Case {
    const char* toml;
    const char* why;
  };
  const Case cases[] = {
      {"[domain.\"beta.test\"]\nrequire_stamp = true\n", "stamps are spent with the body's hash"},
      {"[domain.\"beta.test\"]\ncheck_signatures = true\n", "signatures cover the body"},
      {"[domain.\"beta.test\"]\nrequire_signature_from = [\"alpha.test\"]\n", "required signature"},
      {"[domain_defaults]\nrequire_stamp = true\n", "the defaults count too"},
      {"[domain_defaults]\ncheck_signatures = true\n", "the defaults count too"},
      {"[domain.\"a.test\"]\nrequire_mtep = true\n[domain.\"z.test\"]\ncheck_signatures = true\n",
       "any one domain is enough"},
  };
  for (const Case& c : cases) EXPECT_TRUE(needsBody(c.toml)) << c.why << ":\n" << c.toml;
}

// A Session told the body was declined (SMFIP_NOBODY under an older config,
// say) must not judge a message that needs it: no stamp spent, no
// signature verdict, a tempfail instead.
// A connected Session of `toml`'s config whose body step was declined.
Session declinedSession(const std::string& toml) {
  SessionEnv env;
  env.config = testing::loadConfig(toml);
  env.authserv_id = "mx.beta.test";
  Session s(std::move(env));
  s.setBodyDeclined(true);
  s.connect({"client.example", "203.0.113.9"});
  return s;
}

TEST(BodyDeclinedSession, MessageThatNeedsTheBodyTempfailsWithoutIt) {
  Session s = declinedSession(
      "[milter]\nauthserv_id = \"mx.beta.test\"\n[domain.\"sig.test\"]\ncheck_signatures = true\n");
  EXPECT_EQ(s.mailFrom("<alice@alpha.test>", "", "Q1").step, Step::kContinue);
  EXPECT_EQ(s.rcpt("<bob@sig.test>").step, Step::kContinue);
  s.header("From", "alice@alpha.test");
  testing::RecordingActions actions;
  Decision d = s.endOfMessage(actions, "Q1");
  EXPECT_EQ(d.step, Step::kTempfail) << testing::describe(d);
  EXPECT_EQ(d.reply.esc, "4.3.0");
  EXPECT_TRUE(actions.ops.empty());
  // The same message whose body did come is judged (no signature: none).
  EXPECT_EQ(s.mailFrom("<alice@alpha.test>", "", "Q1b").step, Step::kContinue);
  EXPECT_EQ(s.rcpt("<bob@sig.test>").step, Step::kContinue);
  s.header("From", "alice@alpha.test");
  s.body("hello\r\n");
  EXPECT_EQ(s.endOfMessage(actions, "Q1b").step, Step::kContinue);
}

TEST(BodyDeclinedSession, MessageWithoutBodyPoliciesIsJudgedAsUsual) {
  Session s = declinedSession(
      "[milter]\nauthserv_id = \"mx.beta.test\"\n[domain.\"plain.test\"]\nrequire_mtep = false\n");
  EXPECT_EQ(s.mailFrom("<alice@alpha.test>", "", "Q2").step, Step::kContinue);
  EXPECT_EQ(s.rcpt("<bob@plain.test>").step, Step::kContinue);
  testing::RecordingActions actions;
  EXPECT_EQ(s.endOfMessage(actions, "Q2").step, Step::kContinue);
}

}  // namespace
}  // namespace mtep::milter

// Session: the milter's decisions, driven with a recording Actions, a
// scripted verifier and a fake minter (no libmilter, no network).
#include "milter/session.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "unit/milter/fakes.h"
#include "util/log.h"

namespace mtep::milter {
namespace {

using testing::FakeMinter;
using testing::describe;
using testing::expectSafeReply;
using testing::FakeVerifier;
using testing::RecordingActions;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kToken = "AQAAAAFn0xF2AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJA";
constexpr const char* kExternal = "203.0.113.9";
constexpr const char* kInternal = "10.1.2.3";

constexpr std::string_view kConfig = R"(
[milter]
authserv_id = "mx.beta.test"
internal_networks = ["127.0.0.0/8", "10.0.0.0/8", "2001:db8:1::/48"]

[domain_defaults]
token_ttl = "2d"

[domain."beta.test"]
require_mtep = true

[domain."accept.test"]
require_mtep = true
mtep_unavailable = "accept"

[domain."reject.test"]
require_mtep = true
mtep_unavailable = "reject"

[domain."onion-only.test"]
require_mtep = true
require_mtep_from = ["*.onion"]

[domain."quiet.test"]
issue_tokens = false

[domain."delta.test"]
require_mtep = true
)";

config::ConfigPtr loadConfig() { return testing::loadConfig(kConfig); }


class SessionTest : public ::testing::Test {
 protected:
  SessionEnv env() {
    SessionEnv env;
    env.config = config_;
    env.authserv_id = "mx.beta.test";
    env.verifier = &verifier_;
    env.minter = &minter_;
    return env;
  }
  Session open(const std::string& address = kExternal) {
    Session s(env());
    s.connect({"client.example", address});
    return s;
  }

  // One whole transaction; returns the end-of-message decision. RCPT and
  // MAIL decisions are kept in rcpt_ and mail_.
  Decision send(Session& s, std::string_view sender, const std::vector<std::string>& rcpts,
                const Headers& headers, std::string_view auth = "") {
    mail_ = s.mailFrom(sender, auth, "4XyZ");
    rcpt_.clear();
    for (const std::string& r : rcpts) rcpt_.push_back(s.rcpt(r));
    for (const auto& [name, value] : headers) s.header(name, value);
    Decision d = s.endOfMessage(actions_, "4XyZ");
    expectSafeReply(d);
    for (const Decision& r : rcpt_) expectSafeReply(r);
    return d;
  }

  config::ConfigPtr config_ = loadConfig();
  FakeVerifier verifier_;
  FakeMinter minter_;
  RecordingActions actions_;
  Decision mail_;
  std::vector<Decision> rcpt_;
};

std::string passHeader(std::string_view sender) {
  return "insert Authentication-Results: mx.beta.test; mtep=pass smtp.mailfrom=" +
         std::string(sender);
}

// ---- Outbound ----

TEST_F(SessionTest, OutboundReplacesExistingTokensWithAFreshOne) {
  Session s = open(kInternal);
  EXPECT_TRUE(s.internal());
  Decision d = send(s, "<Alice@Alpha.Test>", {"<bob@beta.test>"},
                    {{"Subject", " hi"}, {"MTEP-Token", " old1"}, {"mtep-token", " old2"}});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  const std::vector<std::string> want = {
      "delete MTEP-Token #2", "delete MTEP-Token #1",
      std::string("add MTEP-Token: ") + minter_.token + "; domain=beta.test"};
  EXPECT_EQ(actions_.ops, want);
  ASSERT_EQ(minter_.calls.size(), 1u);
  EXPECT_EQ(minter_.calls[0].sender, "alice@alpha.test");
  EXPECT_EQ(minter_.calls[0].domain, "beta.test");
  EXPECT_EQ(minter_.calls[0].ttl, 2 * 86400);
  EXPECT_TRUE(verifier_.queries.empty()) << "internal mail is never checked";
}

TEST_F(SessionTest, OutboundWithoutExistingTokenOnlyAdds) {
  Session s = open("127.0.0.1");
  Decision d = send(s, "<alice@alpha.test>", {"<bob@gamma.test>"}, {});
  EXPECT_EQ(d.step, Step::kContinue);
  ASSERT_EQ(actions_.ops.size(), 1u);
  EXPECT_EQ(actions_.ops[0], std::string("add MTEP-Token: ") + minter_.token + "; domain=gamma.test");
}

TEST_F(SessionTest, OutboundMintsOneTokenPerRecipientDomain) {
  minter_.per_domain["beta.test"] = std::string(72, 'B');
  minter_.per_domain["gamma.test"] = std::string(72, 'G');
  Session s = open(kInternal);
  Decision d = send(s, "<alice@alpha.test>",
                    {"<bob@beta.test>", "<Carol@Gamma.TEST>", "<dave@BETA.test>"}, {});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  ASSERT_EQ(minter_.calls.size(), 2u);
  EXPECT_EQ(minter_.calls[0].domain, "beta.test");
  EXPECT_EQ(minter_.calls[1].domain, "gamma.test");
  const std::vector<std::string> want = {
      "add MTEP-Token: " + std::string(72, 'B') + "; domain=beta.test",
      "add MTEP-Token: " + std::string(72, 'G') + "; domain=gamma.test"};
  EXPECT_EQ(actions_.ops, want);
}

TEST_F(SessionTest, OutboundSkipsDomainsAHeaderCannotName) {
  Session s = open(kInternal);
  Decision d = send(s, "<alice@alpha.test>", {"<bob@b\xc3\xa9ta.test>", "<carol@gamma.test>"}, {});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  ASSERT_EQ(minter_.calls.size(), 1u);
  EXPECT_EQ(minter_.calls[0].domain, "gamma.test");
  ASSERT_EQ(actions_.ops.size(), 1u);
}

TEST_F(SessionTest, OutboundNullSenderGetsNoToken) {
  Session s = open(kInternal);
  Decision d = send(s, "<>", {"<bob@beta.test>"}, {{"MTEP-Token", " old"}});
  EXPECT_EQ(d.step, Step::kContinue);
  EXPECT_TRUE(actions_.ops.empty());
  EXPECT_TRUE(minter_.calls.empty());
}

TEST_F(SessionTest, OutboundSenderDomainWithoutIssueTokensIsLeftAlone) {
  Session s = open(kInternal);
  Decision d = send(s, "<carol@quiet.test>", {"<bob@beta.test>"}, {{"MTEP-Token", " theirs"}});
  EXPECT_EQ(d.step, Step::kContinue);
  EXPECT_TRUE(actions_.ops.empty());
  EXPECT_TRUE(minter_.calls.empty());
}

TEST_F(SessionTest, SaslAuthenticatedExternalClientIsOutbound) {
  Session s = open(kExternal);
  EXPECT_FALSE(s.internal());
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"}, {}, "alice");
  EXPECT_TRUE(s.internal());
  EXPECT_EQ(rcpt_[0].step, Step::kContinue);
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  EXPECT_TRUE(verifier_.queries.empty());
  ASSERT_EQ(actions_.ops.size(), 1u);
  EXPECT_EQ(actions_.ops[0], std::string("add MTEP-Token: ") + minter_.token + "; domain=beta.test");
  // SASL lasts for the connection: the next MAIL is outbound too.
  actions_.ops.clear();
  d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"}, {});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  EXPECT_EQ(actions_.ops.size(), 1u);
}

TEST_F(SessionTest, OutboundMintingFailureTempfails) {
  minter_.error = Error(ErrorKind::kTemporary, "no usable key");
  Session s = open(kInternal);
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"}, {{"MTEP-Token", " old"}});
  EXPECT_EQ(d.step, Step::kTempfail);
  EXPECT_EQ(d.reply.code, "451");
  EXPECT_EQ(d.reply.esc, "4.3.0");
  EXPECT_TRUE(actions_.ops.empty());
}

TEST_F(SessionTest, OutboundRefusesAMintedTokenThatCouldInjectHeaders) {
  minter_.token = "abc\r\nBcc: victim@example.org";
  Session s = open(kInternal);
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"}, {});
  EXPECT_EQ(d.step, Step::kTempfail);
  EXPECT_EQ(d.reply.esc, "4.3.0");
  EXPECT_TRUE(actions_.ops.empty());
}

TEST_F(SessionTest, OutboundHeaderChangeFailureTempfails) {
  actions_.fail = true;
  Session s = open(kInternal);
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"}, {});
  EXPECT_EQ(d.step, Step::kTempfail);
  EXPECT_EQ(d.reply.esc, "4.3.0");
}

TEST_F(SessionTest, InternalNetworksMatchV6AndMappedV4AndUnknownAddressIsExternal) {
  EXPECT_TRUE(open("2001:db8:1:2::5").internal());
  EXPECT_TRUE(open("::ffff:10.9.9.9").internal());
  EXPECT_FALSE(open("::1").internal()) << "the configured list replaces the default";
  EXPECT_FALSE(open("2001:db8:2::5").internal());
  EXPECT_FALSE(open("").internal());
  EXPECT_FALSE(open("not an address").internal());
}

// Without the connect step (SMFIP_NOCONNECT) the client comes from the
// MAIL macros; a missing or odd {client_addr} must leave it external.
TEST_F(SessionTest, ClientFromMailMacrosIsInternalOnlyForAnInternalAddress) {
  struct Case {
    const char* addr;
    bool internal;
  };
  const Case cases[] = {
      {"10.1.2.3", true},
      {"IPv6:2001:db8:1::5", true},
      {"ipv6:2001:db8:1::5", true},
      {"IPv6:::ffff:10.9.9.9", true},
      {"", false},
      {"unknown", false},
      {"IPv6:", false},
      {"IPv6:10.1.2.3.4", false},
      {"[10.1.2.3]", false},
      {" 10.1.2.3", false},
      {"IPv6:IPv6:2001:db8:1::5", false},
      {"203.0.113.9", false},
      {"IPv6:2001:db8:2::5", false},
  };
  for (const Case& c : cases) {
    const ConnectInfo info = connectInfoFromMacros("client.example", c.addr);
    EXPECT_EQ(info.hostname, "client.example");
    SessionEnv env;
    env.config = config_;
    env.authserv_id = "mx.beta.test";
    Session s(std::move(env));
    s.connect(info);
    EXPECT_EQ(s.internal(), c.internal)
        << "{client_addr}=\"" << c.addr << "\" got address \"" << info.address << "\"";
  }
}

TEST_F(SessionTest, ClientFromMailMacrosWithoutAddressSendsInbound) {
  // An outside client whose MTA sends no {client_addr}: its mail to a
  // require_mtep domain is checked, never given a token.
  Session s(env());
  s.connect(connectInfoFromMacros("", ""));
  Decision d = send(s, "<alice@beta.test>", {"<bob@beta.test>"}, {});
  EXPECT_EQ(d.step, Step::kReject) << describe(d);
  EXPECT_EQ(d.reply.esc, "5.7.25");
  EXPECT_TRUE(minter_.calls.empty());
}

// ---- Inbound, policy applies ----

TEST_F(SessionTest, InboundValidTokenPassesAndAddsAuthenticationResults) {
  Session s = open();
  Decision d = send(s, "<Alice@Alpha.Test>", {"<bob@beta.test>"},
                    {{"From", " alice@alpha.test"}, {"MTEP-Token", std::string(" ") + kToken}});
  EXPECT_EQ(mail_.step, Step::kContinue);
  EXPECT_EQ(rcpt_[0].step, Step::kContinue);
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  ASSERT_EQ(verifier_.queries.size(), 1u);
  EXPECT_EQ(verifier_.queries[0].token, kToken);
  EXPECT_EQ(verifier_.queries[0].sender, "alice@alpha.test");
  EXPECT_EQ(verifier_.queries[0].sender_domain, "alpha.test");
  EXPECT_EQ(verifier_.queries[0].queue_id, "4XyZ");
  const std::vector<std::string> want = {passHeader("alice@alpha.test")};
  EXPECT_EQ(actions_.ops, want);
}

TEST_F(SessionTest, InboundRefusedTokenIsRejectedWithTheServersReason) {
  verifier_.script.push_back(
      FakeVerifier::outcome(VerifyKind::kRefused, "D5.7.8 Nobody here issued 100% of\r\nthat"));
  Session s = open();
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"}, {{"MTEP-Token", kToken}});
  EXPECT_EQ(d.step, Step::kReject);
  EXPECT_EQ(d.reply.code, "550");
  EXPECT_EQ(d.reply.esc, "5.7.25");
  EXPECT_NE(d.reply.text.find("alpha.test's MTEP server does not vouch"), std::string::npos)
      << d.reply.text;
  EXPECT_NE(d.reply.text.find("D5.7.8 Nobody here issued"), std::string::npos) << d.reply.text;
  EXPECT_TRUE(actions_.ops.empty());
}

TEST_F(SessionTest, InboundWithoutTokenIsRejectedAndToldWhatToDo) {
  Session s = open();
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"}, {{"Subject", " x"}});
  EXPECT_EQ(describe(d),
            "reject 550 5.7.25 Mail to beta.test needs an MTEP-Token from alpha.test's MTEP "
            "server; ask the postmaster of alpha.test to enable MTEP");
  EXPECT_TRUE(verifier_.queries.empty());
  EXPECT_TRUE(actions_.ops.empty());
}

TEST_F(SessionTest, InboundWithTwoTokensForOneDomainIsRejectedWithoutAsking) {
  for (const Headers& headers :
       {Headers{{"MTEP-Token", kToken}, {"MTEP-Token", kToken}},
        Headers{{"MTEP-Token", std::string(kToken) + "; domain=beta.test"},
                {"MTEP-Token", std::string(kToken) + "; Domain=BETA.test."}}}) {
    Session s = open();
    Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"}, headers);
    EXPECT_EQ(d.step, Step::kReject);
    EXPECT_EQ(d.reply.esc, "5.7.25");
    EXPECT_EQ(d.reply.text,
              "The message has 2 MTEP-Token headers for beta.test, which takes exactly one; ask "
              "the postmaster of alpha.test");
    EXPECT_TRUE(verifier_.queries.empty());
  }
}

// ---- Inbound, tokens bound to recipient domains ----

const std::string kBetaToken = std::string(72, 'B');
const std::string kGammaToken = std::string(72, 'G');
const std::string kDeltaToken = std::string(72, 'D');

TEST_F(SessionTest, InboundPicksTheTokenNamingItsOwnDomainAndSendsTheRecipient) {
  Session s = open();
  Decision d = send(s, "<alice@alpha.test>", {"<Bob@Beta.Test>"},
                    {{"MTEP-Token", " " + kGammaToken + "; domain=gamma.test"},
                     {"MTEP-Token", " " + kBetaToken + " ;\r\n\tdomain = beta.test"}});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  ASSERT_EQ(verifier_.queries.size(), 1u);
  EXPECT_EQ(verifier_.queries[0].token, kBetaToken);
  EXPECT_EQ(verifier_.queries[0].recipient, "bob@beta.test");
  EXPECT_EQ(verifier_.queries[0].sender, "alice@alpha.test");
}

TEST_F(SessionTest, InboundTokenNamingOnlyAnotherDomainIsRejectedWithoutAsking) {
  Session s = open();
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"},
                    {{"MTEP-Token", kGammaToken + "; domain=gamma.test"}});
  EXPECT_EQ(describe(d),
            "reject 550 5.7.25 The message has no MTEP-Token for beta.test from alpha.test's "
            "MTEP server; ask the postmaster of alpha.test");
  EXPECT_TRUE(verifier_.queries.empty());
}

TEST_F(SessionTest, InboundTokenWithoutDomainStillCountsForEveryDomain) {
  Session s = open();
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>", "<eve@delta.test>"},
                    {{"MTEP-Token", kToken}});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  ASSERT_EQ(verifier_.queries.size(), 2u);
  EXPECT_EQ(verifier_.queries[0].token, kToken);
  EXPECT_EQ(verifier_.queries[0].recipient, "bob@beta.test");
  EXPECT_EQ(verifier_.queries[1].token, kToken);
  EXPECT_EQ(verifier_.queries[1].recipient, "eve@delta.test");
}

TEST_F(SessionTest, InboundTwoOwnDomainsAreAskedOnceEachWithTheirOwnToken) {
  Session s = open();
  Decision d = send(s, "<alice@alpha.test>",
                    {"<bob@beta.test>", "<eve@delta.test>", "<carl@beta.test>"},
                    {{"MTEP-Token", kBetaToken + "; domain=beta.test"},
                     {"MTEP-Token", kGammaToken + "; domain=gamma.test"},
                     {"MTEP-Token", kDeltaToken + "; domain=delta.test"}});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  ASSERT_EQ(verifier_.queries.size(), 2u);
  EXPECT_EQ(verifier_.queries[0].token, kBetaToken);
  EXPECT_EQ(verifier_.queries[0].recipient, "bob@beta.test");
  EXPECT_EQ(verifier_.queries[1].token, kDeltaToken);
  EXPECT_EQ(verifier_.queries[1].recipient, "eve@delta.test");
}

TEST_F(SessionTest, InboundRefusalForOneOfTwoDomainsRejectsTheMessage) {
  verifier_.script.push_back(FakeVerifier::outcome(VerifyKind::kValid, "K2.7.0 yes"));
  verifier_.script.push_back(FakeVerifier::outcome(VerifyKind::kRefused, "D5.7.8 another domain"));
  Session s = open();
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>", "<eve@delta.test>"},
                    {{"MTEP-Token", kBetaToken + "; domain=beta.test"},
                     {"MTEP-Token", kBetaToken + "; domain=delta.test"}});
  EXPECT_EQ(d.step, Step::kReject) << describe(d);
  EXPECT_EQ(d.reply.esc, "5.7.25");
  EXPECT_NE(d.reply.text.find("for delta.test: D5.7.8"), std::string::npos) << d.reply.text;
  EXPECT_TRUE(actions_.ops.empty());
}

TEST_F(SessionTest, InboundTokenHeaderWithABadDomainIsMalformed) {
  for (const std::string& value :
       {kBetaToken + "; domain=", kBetaToken + "; domain=b\xc3\xa9ta.test",
        kBetaToken + "; dom=beta.test", kBetaToken + "; domain=beta.test; x=y",
        kBetaToken + "; domain=a b"}) {
    Session s = open();
    Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"}, {{"MTEP-Token", value}});
    EXPECT_EQ(d.step, Step::kReject) << value;
    EXPECT_NE(d.reply.text.find("malformed"), std::string::npos) << d.reply.text;
    EXPECT_TRUE(verifier_.queries.empty());
  }
}

TEST_F(SessionTest, InboundRecipientOfOneDomainTooManyGets452) {
  config_ = testing::loadConfig("[domain_defaults]\nrequire_mtep = true\n");
  Session s = open();
  ASSERT_EQ(s.mailFrom("<alice@alpha.test>", "", "4XyZ").step, Step::kContinue);
  for (size_t i = 0; i < kMaxCheckedDomains; ++i) {
    EXPECT_EQ(s.rcpt("<u@d" + std::to_string(i) + ".test>").step, Step::kContinue) << i;
  }
  EXPECT_EQ(s.rcpt("<v@d0.test>").step, Step::kContinue) << "a domain already in: no limit";
  Decision extra = s.rcpt("<u@one-more.test>");
  EXPECT_EQ(extra.step, Step::kTempfail);
  EXPECT_EQ(extra.reply.code, "452");
  EXPECT_EQ(extra.reply.esc, "4.5.3");
  expectSafeReply(extra);
}

TEST_F(SessionTest, InboundOversizedTokenIsRejectedWithoutAsking) {
  Session s = open();
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"},
                    {{"MTEP-Token", " " + std::string(300, 'A')}});
  EXPECT_EQ(d.step, Step::kReject);
  EXPECT_EQ(d.reply.code, "550");
  EXPECT_EQ(d.reply.esc, "5.7.25");
  EXPECT_NE(d.reply.text.find("malformed"), std::string::npos) << d.reply.text;
  EXPECT_TRUE(verifier_.queries.empty());
}

TEST_F(SessionTest, InboundTokenWithForeignBytesIsRejectedWithoutAsking) {
  for (const char* value : {" abc def", " abc+def/", " %s%s%n", " ", "", " \r\n\t"}) {
    Session s = open();
    Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"}, {{"MTEP-Token", value}});
    EXPECT_EQ(d.step, Step::kReject) << "value [" << value << "]";
  }
  EXPECT_TRUE(verifier_.queries.empty());
}

TEST_F(SessionTest, InboundFoldedTokenHeaderIsUnfoldedAndTrimmed) {
  for (const std::string& value :
       {std::string("\r\n\t") + kToken, std::string(" \t") + kToken + " \t ",
        std::string("\n ") + kToken + "\r\n"}) {
    verifier_.queries.clear();
    Session s = open();
    Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"}, {{"MTEP-Token", value}});
    EXPECT_EQ(d.step, Step::kContinue) << describe(d);
    ASSERT_EQ(verifier_.queries.size(), 1u);
    EXPECT_EQ(verifier_.queries[0].token, kToken);
  }
}

TEST_F(SessionTest, UnreachableServerFollowsMtepUnavailable) {
  struct Case {
    const char* rcpt;
    Step step;
    const char* code;
    const char* esc;
    std::vector<std::string> ops;
  };
  const Case cases[] = {
      {"<bob@beta.test>", Step::kTempfail, "451", "4.7.25", {}},
      {"<bob@reject.test>", Step::kReject, "550", "5.7.25", {}},
      {"<bob@accept.test>",
       Step::kContinue,
       "",
       "",
       {"insert Authentication-Results: mx.beta.test; mtep=temperror (server unreachable) "
        "smtp.mailfrom=alice@alpha.test"}},
  };
  for (const Case& c : cases) {
    actions_.ops.clear();
    verifier_.script.push_back(
        FakeVerifier::outcome(VerifyKind::kUnreachable, "connection refused", ""));
    Session s = open();
    Decision d = send(s, "<alice@alpha.test>", {c.rcpt}, {{"MTEP-Token", kToken}});
    EXPECT_EQ(d.step, c.step) << c.rcpt << ": " << describe(d);
    EXPECT_EQ(d.reply.code, c.code) << c.rcpt;
    EXPECT_EQ(d.reply.esc, c.esc) << c.rcpt;
    EXPECT_EQ(actions_.ops, c.ops) << c.rcpt;
  }
}

TEST_F(SessionTest, TempfailTextSaysToTryAgainLater) {
  verifier_.script.push_back(FakeVerifier::outcome(VerifyKind::kUnreachable, "timeout"));
  Session s = open();
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"}, {{"MTEP-Token", kToken}});
  EXPECT_EQ(describe(d),
            "tempfail 451 4.7.25 Cannot verify the MTEP token with alpha.test's MTEP server now; "
            "try again later");
}

TEST_F(SessionTest, UnsureServerIsTreatedLikeUnreachable) {
  verifier_.script.push_back(FakeVerifier::outcome(VerifyKind::kUnsure, "Z4.3.0 busy"));
  verifier_.script.push_back(FakeVerifier::outcome(VerifyKind::kUnsure, "Z4.3.0 busy"));
  Session s = open();
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"}, {{"MTEP-Token", kToken}});
  EXPECT_EQ(d.step, Step::kTempfail);
  EXPECT_EQ(d.reply.esc, "4.7.25");
  d = send(s, "<alice@alpha.test>", {"<bob@accept.test>"}, {{"MTEP-Token", kToken}});
  EXPECT_EQ(d.step, Step::kContinue);
  ASSERT_EQ(actions_.ops.size(), 1u);
  EXPECT_NE(actions_.ops[0].find("mtep=temperror (server unsure)"), std::string::npos)
      << actions_.ops[0];
}

// MAIL may be answered without a reply (SMFIP_NR_MAIL): what it refused
// must still be refused at RCPT and at end of message, or a sender the
// milter cannot judge would get through unchecked.
TEST_F(SessionTest, RefusalAtMailIsRepeatedAtEveryRcptAndAtEndOfMessage) {
  SessionEnv env;  // no config: every MAIL tempfails
  env.authserv_id = "mx.beta.test";
  env.verifier = &verifier_;
  env.minter = &minter_;
  Session s(std::move(env));
  s.connect({"c", kExternal});
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>", "<carol@quiet.test>"},
                    {{"MTEP-Token", kToken}});
  EXPECT_EQ(mail_.step, Step::kTempfail);
  for (const Decision& r : rcpt_) {
    EXPECT_EQ(r.step, Step::kTempfail) << describe(r);
    EXPECT_EQ(r.reply.esc, "4.3.0");
  }
  EXPECT_EQ(d.step, Step::kTempfail) << describe(d);
  EXPECT_EQ(d.reply.esc, "4.3.0");
  EXPECT_TRUE(actions_.ops.empty());
  EXPECT_TRUE(verifier_.queries.empty());
  s.abort();
  EXPECT_EQ(s.rcpt("<bob@beta.test>").step, Step::kContinue) << "no transaction after abort";
}

TEST_F(SessionTest, MissingVerifierCountsAsUnreachable) {
  SessionEnv env;
  env.config = config_;
  env.authserv_id = "mx.beta.test";
  Session s(std::move(env));
  s.connect({"c", kExternal});
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"}, {{"MTEP-Token", kToken}});
  EXPECT_EQ(d.step, Step::kTempfail);
  EXPECT_EQ(d.reply.esc, "4.7.25");
}

TEST_F(SessionTest, InboundHeaderChangeFailureTempfails) {
  actions_.fail = true;
  Session s = open();
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"}, {{"MTEP-Token", kToken}});
  EXPECT_EQ(d.step, Step::kTempfail);
  EXPECT_EQ(d.reply.esc, "4.3.0");
}

// ---- Inbound, who the policy applies to ----

TEST_F(SessionTest, DomainWithoutPolicyIsUntouchedExceptSpoofedResults) {
  Session s = open();
  Decision d = send(s, "<alice@alpha.test>", {"<bob@gamma.test>"},
                    {{"Authentication-Results", " mx.beta.test; mtep=pass smtp.mailfrom=x@y"},
                     {"MTEP-Token", " garbage!"}});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  EXPECT_TRUE(verifier_.queries.empty());
  const std::vector<std::string> want = {"delete Authentication-Results #1"};
  EXPECT_EQ(actions_.ops, want);
}

TEST_F(SessionTest, RequireMtepFromOnionAppliesToOnionSendersOnly) {
  Session s = open();
  Decision d = send(s, "<x@abcdef.onion>", {"<bob@onion-only.test>"}, {});
  EXPECT_EQ(d.step, Step::kReject) << describe(d);
  EXPECT_EQ(d.reply.esc, "5.7.25");

  d = send(s, "<x@abcdef.onion>", {"<bob@onion-only.test>"}, {{"MTEP-Token", kToken}});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  ASSERT_EQ(verifier_.queries.size(), 1u);
  EXPECT_EQ(verifier_.queries[0].sender_domain, "abcdef.onion");

  actions_.ops.clear();
  d = send(s, "<alice@alpha.test>", {"<bob@onion-only.test>"}, {});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  EXPECT_EQ(verifier_.queries.size(), 1u);
  EXPECT_TRUE(actions_.ops.empty());
}

TEST_F(SessionTest, SpoofedResultsWithOurIdAreDeletedHighestFirstForeignKept) {
  Session s = open();
  Decision d =
      send(s, "<alice@alpha.test>", {"<bob@beta.test>"},
           {{"Authentication-Results", " mx.beta.test; mtep=pass smtp.mailfrom=alice@alpha.test"},
            {"Authentication-Results", " other.example; spf=pass smtp.mailfrom=alpha.test"},
            {"authentication-results", " (sneaky)\r\n\t(more (nested)) MX.Beta.TEST; dkim=pass"},
            {"Authentication-Results", " mx.beta.test.evil; mtep=pass"},
            {"Authentication-Results", "\"mx.beta.test\"; mtep=pass"},
            {"MTEP-Token", kToken}});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  const std::vector<std::string> want = {
      "delete Authentication-Results #5", "delete Authentication-Results #3",
      "delete Authentication-Results #1", passHeader("alice@alpha.test")};
  EXPECT_EQ(actions_.ops, want);
}

TEST_F(SessionTest, RecipientsUnderDifferentPoliciesAreSplit) {
  Session s = open();
  s.mailFrom("<alice@alpha.test>", "", "Q1");
  EXPECT_EQ(s.rcpt("<bob@beta.test>").step, Step::kContinue);
  Decision other = s.rcpt("<carol@gamma.test>");
  expectSafeReply(other);
  EXPECT_EQ(other.step, Step::kTempfail);
  EXPECT_EQ(other.reply.code, "452");
  EXPECT_EQ(other.reply.esc, "4.5.3");
  EXPECT_NE(other.reply.text.find("separate message"), std::string::npos) << other.reply.text;
  // A different mtep_unavailable is a different policy too.
  EXPECT_EQ(s.rcpt("<dave@accept.test>").step, Step::kTempfail);
  EXPECT_EQ(s.rcpt("<erin@beta.test>").step, Step::kContinue);
  EXPECT_EQ(s.rcpt("<frank@sub.gamma.test>").step, Step::kTempfail);
}

TEST_F(SessionTest, FirstUncheckedRecipientDefersLaterCheckedOnes) {
  Session s = open();
  s.mailFrom("<alice@alpha.test>", "", "Q1");
  EXPECT_EQ(s.rcpt("<carol@gamma.test>").step, Step::kContinue);
  EXPECT_EQ(s.rcpt("<bob@beta.test>").step, Step::kTempfail);
  for (const auto& [name, value] : Headers{{"Subject", " x"}}) s.header(name, value);
  Decision d = s.endOfMessage(actions_, "Q1");
  EXPECT_EQ(d.step, Step::kContinue) << "the message went only to gamma.test";
  EXPECT_TRUE(verifier_.queries.empty());
}

TEST_F(SessionTest, FiftyRecipientsUnderOnePolicyAreAllAccepted) {
  std::vector<std::string> rcpts;
  for (int i = 0; i < 50; ++i) rcpts.push_back("<user" + std::to_string(i) + "@beta.test>");
  Session s = open();
  Decision d = send(s, "<alice@alpha.test>", rcpts, {{"MTEP-Token", kToken}});
  ASSERT_EQ(rcpt_.size(), 50u);
  for (const Decision& r : rcpt_) EXPECT_EQ(r.step, Step::kContinue) << describe(r);
  EXPECT_EQ(d.step, Step::kContinue);
  EXPECT_EQ(verifier_.queries.size(), 1u) << "one question per message";
}

TEST_F(SessionTest, AbortForgetsTheMessage) {
  Session s = open();
  s.mailFrom("<alice@alpha.test>", "", "Q1");
  EXPECT_EQ(s.rcpt("<bob@beta.test>").step, Step::kContinue);
  s.header("MTEP-Token", kToken);
  s.abort();
  // Next transaction, under another policy, without a token.
  s.mailFrom("<alice@alpha.test>", "", "Q2");
  EXPECT_EQ(s.rcpt("<carol@accept.test>").step, Step::kContinue) << "policy was reset";
  Decision d = s.endOfMessage(actions_, "Q2");
  EXPECT_EQ(d.step, Step::kReject) << "token from the aborted message reused: " << describe(d);
  EXPECT_TRUE(verifier_.queries.empty());
}

TEST_F(SessionTest, NextMailFromForgetsTheMessage) {
  Session s = open();
  s.mailFrom("<alice@alpha.test>", "", "Q1");
  EXPECT_EQ(s.rcpt("<bob@beta.test>").step, Step::kContinue);
  s.header("MTEP-Token", kToken);
  s.header("Authentication-Results", "mx.beta.test; mtep=pass");
  s.mailFrom("<alice@alpha.test>", "", "Q2");
  EXPECT_EQ(s.rcpt("<bob@beta.test>").step, Step::kContinue);
  Decision d = s.endOfMessage(actions_, "Q2");
  EXPECT_EQ(d.step, Step::kReject) << describe(d);
  EXPECT_TRUE(actions_.ops.empty());
}

TEST_F(SessionTest, EndOfMessageForgetsTheMessage) {
  Session s = open();
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"}, {{"MTEP-Token", kToken}});
  EXPECT_EQ(d.step, Step::kContinue);
  // Headers and end of message without a new MAIL: nothing is decided.
  actions_.ops.clear();
  s.header("MTEP-Token", kToken);
  d = s.endOfMessage(actions_, "");
  EXPECT_EQ(d.step, Step::kContinue);
  EXPECT_TRUE(actions_.ops.empty());
  EXPECT_EQ(verifier_.queries.size(), 1u);
}

TEST_F(SessionTest, NullSenderPassesWithMtepNone) {
  Session s = open();
  Decision d = send(s, "<>", {"<bob@beta.test>", "<carol@gamma.test>"},
                    {{"Authentication-Results", " mx.beta.test; mtep=pass"}});
  EXPECT_EQ(rcpt_[1].step, Step::kContinue) << "bounces are never split";
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  const std::vector<std::string> want = {"delete Authentication-Results #1",
                                         "insert Authentication-Results: mx.beta.test; mtep=none"};
  EXPECT_EQ(actions_.ops, want);
  EXPECT_TRUE(verifier_.queries.empty());
}

TEST_F(SessionTest, NullSenderToOnionOnlyDomainIsUntouched) {
  Session s = open();
  Decision d = send(s, "<>", {"<bob@onion-only.test>"}, {});
  EXPECT_EQ(d.step, Step::kContinue);
  EXPECT_TRUE(actions_.ops.empty());
}

TEST_F(SessionTest, Utf8SenderIsLowerCasedInAsciiOnly) {
  Session s = open();
  Decision d = send(s,
                    "<J\xC3\x96RG@B\xC3\xBC"
                    "cher.TEST>",
                    {"<bob@beta.test>"}, {{"MTEP-Token", kToken}});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  ASSERT_EQ(verifier_.queries.size(), 1u);
  EXPECT_EQ(verifier_.queries[0].sender,
            "j\xC3\x96rg@b\xC3\xBc"
            "cher.test");
  EXPECT_EQ(verifier_.queries[0].sender_domain,
            "b\xC3\xBc"
            "cher.test");
  EXPECT_EQ(actions_.ops[0], passHeader("j\xC3\x96rg@b\xC3\xBc"
                                        "cher.test"));
}

TEST_F(SessionTest, Utf8SenderWithoutTokenGetsAnAsciiReply) {
  Session s = open();
  Decision d = send(s,
                    "<j\xC3\xB6rg@b\xC3\xBc"
                    "cher.test>",
                    {"<bob@beta.test>"}, {});
  EXPECT_EQ(d.step, Step::kReject);  // expectSafeReply has checked the text
  EXPECT_NE(d.reply.text.find("b??cher.test"), std::string::npos) << d.reply.text;
}

TEST_F(SessionTest, LongDomainsKeepRepliesShortAndTheirAdviceWhole) {
  const std::string label(63, 'a');
  const std::string sender = "<a@" + label + "." + label + "." + label + ".test>";
  struct Case {
    const char* rcpt;
    Headers headers;
    std::vector<VerifyOutcome> script;
  };
  const std::string tok = kToken;
  const Case cases[] = {
      {"<bob@beta.test>", {}, {}},
      {"<bob@beta.test>", {{"MTEP-Token", tok}, {"MTEP-Token", tok}}, {}},
      {"<bob@beta.test>", {{"MTEP-Token", "!"}}, {}},
      {"<bob@beta.test>",
       {{"MTEP-Token", tok}},
       {FakeVerifier::outcome(VerifyKind::kRefused, "D5.7.8 " + std::string(300, 'x'))}},
      {"<bob@beta.test>", {{"MTEP-Token", tok}}, {FakeVerifier::outcome(VerifyKind::kUnreachable)}},
      {"<bob@reject.test>", {{"MTEP-Token", tok}}, {FakeVerifier::outcome(VerifyKind::kUnsure)}},
  };
  for (const Case& c : cases) {
    for (const VerifyOutcome& o : c.script) verifier_.script.push_back(o);
    Session s = open();
    Decision d = send(s, sender, {c.rcpt}, c.headers);  // checks the length
    ASSERT_NE(d.step, Step::kContinue);
    const std::string& text = d.reply.text;
    const bool advice = text.find("enable MTEP") != std::string::npos ||
                        text.find("ask the postmaster of aaaa") != std::string::npos ||
                        text.find("try again later") != std::string::npos;
    EXPECT_TRUE(advice) << text;
    if (c.script.empty() || c.script[0].kind != VerifyKind::kRefused) {
      EXPECT_LT(text.size(), 196u) << "cut: " << text;
    }
  }
}

TEST_F(SessionTest, BareSenderAndRecipientAreAccepted) {
  Session s = open();
  Decision d = send(s, "alice@alpha.test", {"bob@beta.test"}, {{"MTEP-Token", kToken}});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  ASSERT_EQ(verifier_.queries.size(), 1u);
  EXPECT_EQ(verifier_.queries[0].sender, "alice@alpha.test");
}

TEST_F(SessionTest, UnparsableSenderIsRejectedWhereMtepIsRequired) {
  const char* senders[] = {
      "",    "<>x", "<alice>", "<%s%n@\r\nx>", "<a b@c>", "<\xFF@alpha.test>", "<a@alpha.test",
      "<<>>"};
  for (const char* sender : senders) {
    Session s = open();
    EXPECT_EQ(s.mailFrom(sender, "", "Q").step, Step::kContinue) << sender;
    EXPECT_EQ(s.rcpt("<bob@beta.test>").step, Step::kContinue) << sender;
    s.header("MTEP-Token", kToken);
    Decision d = s.endOfMessage(actions_, "Q");
    expectSafeReply(d);
    EXPECT_EQ(d.step, Step::kReject) << sender;
    EXPECT_EQ(d.reply.esc, "5.7.25") << sender;
    EXPECT_NE(d.reply.text.find("not an address MTEP can vouch for"), std::string::npos)
        << d.reply.text;
  }
  EXPECT_TRUE(verifier_.queries.empty());
}

TEST_F(SessionTest, UnparsableSenderPassesWhereNothingIsRequired) {
  Session s = open();
  Decision d = send(s, "<alice>", {"<bob@gamma.test>"}, {});
  EXPECT_EQ(d.step, Step::kContinue);
  // Under onion-only the patterns cannot be matched: require_mtep decides.
  d = send(s, "<alice>", {"<bob@onion-only.test>"}, {});
  EXPECT_EQ(d.step, Step::kReject);
}

// Issue 13: Postfix takes local parts over 64 octets (recipient_delimiter
// = +); the recipient's domain is found all the same and its policy applies.
TEST_F(SessionTest, RecipientOurParserRefusesGetsItsDomainsPolicy) {
  const std::string long_rcpt = "<bob+" + std::string(70, 'a') + "@beta.test>";
  for (const std::string& rcpt :
       {long_rcpt, std::string("<bob@beta.test.>"), std::string("<BOB@Beta.TEST.>"),
        "<@relay.test,@-bad-:bob+" + std::string(70, 'a') + "@beta.test>"}) {
    Session s = open();
    Decision d = send(s, "<alice@alpha.test>", {rcpt}, {});
    EXPECT_EQ(rcpt_.at(0).step, Step::kContinue) << rcpt;
    EXPECT_EQ(d.step, Step::kReject) << rcpt << ": " << describe(d);
    EXPECT_EQ(d.reply.esc, "5.7.25") << rcpt;
    EXPECT_NE(d.reply.text.find("beta.test"), std::string::npos) << d.reply.text;
    EXPECT_TRUE(verifier_.queries.empty());
  }
  // With a vouched-for token it passes like any other recipient of beta.test.
  Session s = open();
  Decision d = send(s, "<alice@alpha.test>", {long_rcpt}, {{"MTEP-Token", kToken}});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  EXPECT_EQ(verifier_.queries.size(), 1u);
}

// A parsed recipient and one the parser refuses, both at beta.test, share
// the message; one at a domain without the policy is split off as usual.
TEST_F(SessionTest, RefusedRecipientIsGroupedByItsDomainsPolicy) {
  Session s = open();
  s.mailFrom("<alice@alpha.test>", "", "Q");
  EXPECT_EQ(s.rcpt("<carol@beta.test>").step, Step::kContinue);
  EXPECT_EQ(s.rcpt("<bob+" + std::string(70, 'a') + "@beta.test>").step, Step::kContinue);
  Decision d = s.rcpt("<dave+" + std::string(70, 'a') + "@gamma.test>");
  EXPECT_EQ(d.step, Step::kTempfail);
  EXPECT_EQ(d.reply.code, "452");
  EXPECT_EQ(s.endOfMessage(actions_, "Q").step, Step::kReject);
}

// No domain at all: its policy cannot be told; where any policy could
// apply it is tempfailed, never passed unchecked.
TEST_F(SessionTest, RecipientWithoutDomainTempfailsWhereAnyPolicyCouldApply) {
  Session s = open();
  s.mailFrom("<alice@alpha.test>", "", "Q");
  for (const char* rcpt : {"<>", "\r\n%s", "<bob>", "<\"bob@beta.test\">", "<bob@beta.test",
                           "<bob@beta.test (x)>", "", "<beta.test!bob>"}) {
    Decision d = s.rcpt(rcpt);
    EXPECT_EQ(d.step, Step::kTempfail) << rcpt;
    EXPECT_EQ(d.reply.code, "451") << rcpt;
    EXPECT_EQ(d.reply.esc, "4.1.3") << rcpt;
    expectSafeReply(d);
  }
  // Nothing was fixed by the refused ones: a checked recipient still comes in.
  EXPECT_EQ(s.rcpt("<bob@beta.test>").step, Step::kContinue);
  EXPECT_EQ(s.endOfMessage(actions_, "Q").step, Step::kReject);
}

TEST_F(SessionTest, RecipientWithoutDomainContinuesWhereNoPolicyChecksAnything) {
  config_ = testing::loadConfig("[domain.\"quiet.test\"]\nissue_tokens = false\n");
  Session s = open();
  Decision d = send(s, "<alice@alpha.test>", {"<bob>", "<>", "<bob@gamma.test>"}, {});
  for (const Decision& r : rcpt_) EXPECT_EQ(r.step, Step::kContinue);
  EXPECT_EQ(d.step, Step::kContinue);
}

// The bare postmaster is the MTA's own: [domain_defaults].
TEST_F(SessionTest, PostmasterGetsTheDefaultPolicy) {
  Session plain = open();
  EXPECT_EQ(send(plain, "<alice@alpha.test>", {"<Postmaster>"}, {}).step, Step::kContinue);
  EXPECT_EQ(rcpt_.at(0).step, Step::kContinue);
  config_ = testing::loadConfig("[domain_defaults]\nrequire_mtep = true\n");
  Session s = open();
  Decision d = send(s, "<alice@alpha.test>", {"<postmaster>"}, {});
  EXPECT_EQ(rcpt_.at(0).step, Step::kContinue);
  EXPECT_EQ(d.step, Step::kReject) << describe(d);
  EXPECT_EQ(d.reply.esc, "5.7.25");
}

// Postfix's percent hack, "@" and "!" routing (looking inside quotes) may
// deliver to a domain named in the local part: when its policy differs,
// the recipient's policy cannot be told.
TEST_F(SessionTest, LocalPartNamingADomainUnderAnotherPolicyTempfails) {
  Session s = open();
  s.mailFrom("<alice@alpha.test>", "", "Q");
  for (const char* rcpt : {"<bob%beta.test@localhost>", "<\"bob@beta.test\"@localhost>",
                           "<beta.test!bob@localhost>", "<bob@beta.test@localhost>",
                           "<bob%gamma.test@beta.test>"}) {
    Decision d = s.rcpt(rcpt);
    EXPECT_EQ(d.step, Step::kTempfail) << rcpt;
    EXPECT_EQ(d.reply.esc, "4.1.3") << rcpt;
  }
  // Every domain it names under the same policy: that policy.
  Decision last = s.rcpt("<bob%gamma.test@zeta.test>");  // both under the defaults
  EXPECT_EQ(last.step, Step::kContinue) << describe(last);
  EXPECT_EQ(s.endOfMessage(actions_, "Q").step, Step::kContinue);
}

// A sender our parser refuses: MTEP cannot vouch for it, but its domain
// still decides whether require_mtep_from covers it.
TEST_F(SessionTest, SenderOurParserRefusesIsMatchedByItsDomain) {
  const std::string local(70, 'a');
  Session s = open();
  Decision d = send(s, "<" + local + "@alpha.test>", {"<bob@onion-only.test>"}, {});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);  // alpha.test is not *.onion
  d = send(s, "<" + local + "@hidden.onion>", {"<bob@onion-only.test>"}, {});
  EXPECT_EQ(d.step, Step::kReject) << describe(d);
  EXPECT_NE(d.reply.text.find("not an address MTEP can vouch for"), std::string::npos);
  d = send(s, "<" + local + "@alpha.test>", {"<bob@beta.test>"}, {{"MTEP-Token", kToken}});
  EXPECT_EQ(d.step, Step::kReject) << describe(d);
  EXPECT_TRUE(verifier_.queries.empty());
  // No domain at all: the patterns cannot be matched, require_mtep decides.
  d = send(s, "<alice>", {"<bob@onion-only.test>"}, {});
  EXPECT_EQ(d.step, Step::kReject);
}

TEST_F(SessionTest, HeaderNamesAreCaseInsensitive) {
  Session s = open();
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"},
                    {{"mtep-TOKEN", kToken}, {"AUTHENTICATION-RESULTS", "mx.beta.test; x=y"}});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  EXPECT_EQ(verifier_.queries.size(), 1u);
  ASSERT_EQ(actions_.ops.size(), 2u);
  EXPECT_EQ(actions_.ops[0], "delete Authentication-Results #1");
}

TEST_F(SessionTest, EmptyAuthservIdFallsBackToLocalhost) {
  SessionEnv env;
  env.config = config_;
  env.verifier = &verifier_;
  Session s(std::move(env));
  s.connect({"c", kExternal});
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"},
                    {{"Authentication-Results", " ; mtep=pass"},
                     {"Authentication-Results", " LocalHost; mtep=pass"},
                     {"MTEP-Token", kToken}});
  EXPECT_EQ(d.step, Step::kContinue);
  const std::vector<std::string> want = {
      "delete Authentication-Results #2",
      "insert Authentication-Results: localhost; mtep=pass smtp.mailfrom=alice@alpha.test"};
  EXPECT_EQ(actions_.ops, want);
}

TEST_F(SessionTest, MissingConfigTempfailsAtMail) {
  SessionEnv env;
  env.authserv_id = "mx.beta.test";
  Session s(std::move(env));
  s.connect({"c", kExternal});
  Decision d = s.mailFrom("<alice@alpha.test>", "", "Q");
  expectSafeReply(d);
  EXPECT_EQ(d.step, Step::kTempfail);
  EXPECT_EQ(d.reply.code, "451");
  // Repeated later (MAIL may have gone without a reply, SMFIP_NR_MAIL).
  EXPECT_EQ(s.rcpt("<bob@beta.test>").step, Step::kTempfail);
  EXPECT_EQ(s.endOfMessage(actions_, "Q").step, Step::kTempfail);
}

// ---- Log lines ----

class SessionLogTest : public SessionTest {
 protected:
  void SetUp() override {
    log::open("session_test", true);
    log::setMinLevel(log::Level::kInfo);
  }
  static std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
      out.push_back(text.substr(start, nl - start));
      start = nl + 1;
    }
    return out;
  }
};

TEST_F(SessionLogTest, EachDecisionIsLoggedOnceWithQueueIdSenderAndServer) {
  Session s = open();
  ::testing::internal::CaptureStderr();
  Decision d = send(s, "<alice@alpha.test>", {"<bob@beta.test>"}, {{"MTEP-Token", kToken}});
  const std::vector<std::string> got = lines(::testing::internal::GetCapturedStderr());
  EXPECT_EQ(d.step, Step::kContinue);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_NE(got[0].find("info: 4XyZ: mtep: action=pass reason=valid sender=<alice@alpha.test> "
                        "server=mx.alpha.test:6211"),
            std::string::npos)
      << got[0];
}

TEST_F(SessionLogTest, RejectsTempfailsAndUntouchedMessagesAreLoggedToo) {
  struct Case {
    const char* rcpt;
    Headers headers;
    const char* want;
  };
  const Case cases[] = {
      {"<bob@beta.test>",
       {},
       "4XyZ: mtep: action=reject reason=no-token sender=<alice@alpha.test>"},
      {"<bob@gamma.test>",
       {},
       "4XyZ: mtep: action=none reason=no-policy sender=<alice@alpha.test>"},
  };
  for (const Case& c : cases) {
    Session s = open();
    ::testing::internal::CaptureStderr();
    send(s, "<alice@alpha.test>", {c.rcpt}, c.headers);
    const std::vector<std::string> got = lines(::testing::internal::GetCapturedStderr());
    ASSERT_EQ(got.size(), 1u) << c.rcpt;
    EXPECT_NE(got[0].find(c.want), std::string::npos) << got[0];
  }
  verifier_.script.push_back(FakeVerifier::outcome(VerifyKind::kUnreachable, "timed out"));
  Session s = open();
  ::testing::internal::CaptureStderr();
  s.mailFrom("<alice@alpha.test>", "", "");
  Decision split = s.rcpt("<bob@beta.test>");
  split = s.rcpt("<carol@gamma.test>");
  s.header("MTEP-Token", kToken);
  s.endOfMessage(actions_, "");
  const std::vector<std::string> got = lines(::testing::internal::GetCapturedStderr());
  EXPECT_EQ(split.step, Step::kTempfail);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_NE(got[0].find("NOQUEUE: mtep: action=tempfail reason=policy-differs "
                        "sender=<alice@alpha.test> rcpt=<carol@gamma.test>"),
            std::string::npos)
      << got[0];
  EXPECT_NE(got[1].find("NOQUEUE: mtep: action=tempfail reason=unreachable "
                        "sender=<alice@alpha.test> server=mx.alpha.test:6211 detail=\"timed out\""),
            std::string::npos)
      << got[1];
}

TEST_F(SessionLogTest, OutboundAndNullSenderLines) {
  Session s = open(kInternal);
  ::testing::internal::CaptureStderr();
  send(s, "<alice@alpha.test>", {"<bob@beta.test>"}, {});
  send(s, "<>", {"<bob@beta.test>"}, {});
  const std::vector<std::string> got = lines(::testing::internal::GetCapturedStderr());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_NE(got[0].find("4XyZ: mtep: action=token-added reason=issued sender=<alice@alpha.test>"),
            std::string::npos)
      << got[0];
  EXPECT_NE(got[1].find("4XyZ: mtep: action=none reason=null-sender sender=<>"), std::string::npos)
      << got[1];
}

}  // namespace
}  // namespace mtep::milter

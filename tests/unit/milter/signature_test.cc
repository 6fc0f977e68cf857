// Session, sender signatures: messages signed with e2ee::signMessage fed
// to the session the way libmilter delivers them (header values without
// the space after the colon, folded with LF or CRLF, the body in pieces),
// a fake key fetcher standing in for the sender domain's key server.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "e2ee/e2ee.h"
#include "milter/session.h"
#include "unit/milter/fakes.h"

namespace mtep::milter {
namespace {

using testing::describe;
using testing::expectSafeReply;
using testing::FakeKeyFetcher;
using testing::FakeVerifier;
using testing::RecordingActions;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kSigExternal = "203.0.113.9";
constexpr const char* kSigInternal = "10.1.2.3";

constexpr std::string_view kSigConfig = R"(
[milter]
authserv_id = "mx.beta.test"
internal_networks = ["10.0.0.0/8"]
max_signed_message_size = 4096

[domain."check.test"]
check_signatures = true

[domain."check2.test"]
check_signatures = true

[domain."strict.test"]
check_signatures = true
reject_bad_signatures = true

[domain."bank.test"]
require_signature_from = ["alpha.test"]

[domain."any.test"]
require_signature_from = ["*"]

[domain."mtep.test"]
require_mtep = true
check_signatures = true
)";

e2ee::KeyPair keyFrom(uint8_t fill) {
  e2ee::Seed seed{};
  seed.fill(fill);
  auto pair = e2ee::keyPairFromSeed(seed);
  EXPECT_TRUE(pair.ok());
  return pair.ok() ? *pair : e2ee::KeyPair{};
}

// A message as the sender wrote it: headers (values with their leading
// space, folds as CRLF) and a CRLF body.
struct Message {
  Headers headers = {
      {"From", " Alice Example <alice@alpha.test>"},
      {"To", " bob@check.test"},
      {"Subject", " a subject long enough\r\n\tto be folded"},
      {"Date", " Mon, 23 Nov 2026 10:00:00 +0000"},
      {"Message-ID", " <1@alpha.test>"},
      {"MIME-Version", " 1.0"},
  };
  std::string body = "Hello Bob,\r\n\r\nthe  numbers\tare in.  \r\n-- \r\nAlice\r\n";

  std::string wire() const {
    std::string out;
    for (const auto& [name, value] : headers) out += name + ":" + value + "\r\n";
    return out + "\r\n" + body;
  }
  // Signs the message as it is now and adds the signature header (and,
  // when given, a courtesy X-Sender-Pubkey).
  void sign(const e2ee::KeyPair& key, const e2ee::PublicKey* courtesy = nullptr) {
    auto sig = e2ee::signMessage(wire(), key.seed);
    ASSERT_TRUE(sig.ok());
    headers.emplace_back("X-Sender-Signature", " ed25519 " + *sig);
    if (courtesy != nullptr) {
      headers.emplace_back("X-Sender-Pubkey", " ed25519 " + e2ee::formatOpensshBlob(*courtesy));
    }
  }
};

// How libmilter hands a header value over: the leading space gone, folds
// as LF (Postfix) or kept as CRLF.
enum class Fold { kLf, kCrlf };
std::string asLibmilter(std::string value, Fold fold) {
  if (!value.empty() && value.front() == ' ') value.erase(0, 1);
  if (fold == Fold::kLf) {
    std::string out;
    for (char c : value) {
      if (c != '\r') out += c;
    }
    return out;
  }
  return value;
}

class SignatureTest : public ::testing::Test {
 protected:
  Session open(const std::string& address = kSigExternal) {
    SessionEnv env;
    env.config = config_;
    env.authserv_id = "mx.beta.test";
    env.verifier = &verifier_;
    env.key_fetcher = &fetcher_;
    env.minter = &minter_;
    Session s(std::move(env));
    s.connect({"client.example", address});
    return s;
  }

  // One transaction; the body goes in pieces of `chunk` bytes. body_more_
  // keeps what body() said to each piece.
  Decision send(Session& s, const Message& m, const std::vector<std::string>& rcpts,
                std::string_view sender = "<alice@alpha.test>", size_t chunk = 7,
                Fold fold = Fold::kLf) {
    s.mailFrom(sender, "", "4XyZ");
    rcpt_.clear();
    for (const std::string& r : rcpts) rcpt_.push_back(s.rcpt(r));
    for (const auto& [name, value] : m.headers) s.header(name, asLibmilter(value, fold));
    body_more_.clear();
    for (size_t i = 0; i < m.body.size(); i += chunk) {
      body_more_.push_back(s.body(std::string_view(m.body).substr(i, chunk)));
      if (!body_more_.back()) break;  // the milter answers SMFIS_SKIP
    }
    Decision d = s.endOfMessage(actions_, "4XyZ");
    expectSafeReply(d);
    return d;
  }

  std::string arHeader(std::string_view results) const {
    return "insert Authentication-Results: mx.beta.test; " + std::string(results);
  }

  config::ConfigPtr config_ = testing::loadConfig(kSigConfig);
  FakeVerifier verifier_;
  testing::FakeMinter minter_;
  FakeKeyFetcher fetcher_;
  RecordingActions actions_;
  std::vector<Decision> rcpt_;
  std::vector<bool> body_more_;
  e2ee::KeyPair alice_ = keyFrom(7);
  e2ee::KeyPair mallory_ = keyFrom(9);
};

TEST_F(SignatureTest, SignedMessageInLibmilterPiecesPasses) {
  Message m;
  m.sign(alice_);
  for (Fold fold : {Fold::kLf, Fold::kCrlf}) {
    for (size_t chunk : {size_t{1}, size_t{2}, size_t{7}, size_t{65536}}) {
      actions_.ops.clear();
      fetcher_.found(alice_.pub);
      Session s = open();
      Decision d = send(s, m, {"<bob@check.test>"}, "<alice@alpha.test>", chunk, fold);
      EXPECT_EQ(d.step, Step::kContinue) << describe(d);
      const std::vector<std::string> want = {
          arHeader("x-sender-signature=pass header.from=alice@alpha.test")};
      EXPECT_EQ(actions_.ops, want) << "chunk " << chunk << " fold " << static_cast<int>(fold);
    }
  }
  ASSERT_FALSE(fetcher_.queries.empty());
  EXPECT_EQ(fetcher_.queries[0].address, "alice@alpha.test");
  EXPECT_EQ(fetcher_.queries[0].domain, "alpha.test");
}

TEST_F(SignatureTest, KeyIsFetchedForTheFromHeaderNotTheEnvelopeSender) {
  Message m;
  m.sign(alice_);
  fetcher_.found(alice_.pub);
  Session s = open();
  Decision d = send(s, m, {"<bob@check.test>"}, "<bounces+x@lists.gamma.test>");
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  ASSERT_EQ(fetcher_.queries.size(), 1u);
  EXPECT_EQ(fetcher_.queries[0].address, "alice@alpha.test");
  EXPECT_EQ(fetcher_.queries[0].domain, "alpha.test");
}

TEST_F(SignatureTest, FromAddressCaseAndDisplayNameDoNotMatter) {
  Message m;
  m.headers[0].second = " \"Example, Alice\" (work) <Alice@ALPHA.test>";
  m.sign(alice_);
  fetcher_.found(alice_.pub);
  Session s = open();
  Decision d = send(s, m, {"<bob@check.test>"});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  ASSERT_EQ(fetcher_.queries.size(), 1u);
  EXPECT_EQ(fetcher_.queries[0].address, "alice@alpha.test");
  const std::vector<std::string> want = {
      arHeader("x-sender-signature=pass header.from=alice@alpha.test")};
  EXPECT_EQ(actions_.ops, want);
}

TEST_F(SignatureTest, AlteredBodyFailsAndIsDeliveredWhereOnlyChecked) {
  Message m;
  m.sign(alice_);
  m.body.replace(m.body.find("numbers"), 7, "NUMBERS");
  fetcher_.found(alice_.pub);
  Session s = open();
  Decision d = send(s, m, {"<bob@check.test>"});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  const std::vector<std::string> want = {
      arHeader("x-sender-signature=fail header.from=alice@alpha.test")};
  EXPECT_EQ(actions_.ops, want);
}

TEST_F(SignatureTest, AlteredSubjectFailsAndRejectBadSignaturesRefuses) {
  Message m;
  m.sign(alice_);
  m.headers[2].second = " a different subject";
  fetcher_.found(alice_.pub);
  Session s = open();
  Decision d = send(s, m, {"<bob@strict.test>"});
  EXPECT_EQ(d.step, Step::kReject) << describe(d);
  EXPECT_EQ(d.reply.code, "550");
  EXPECT_EQ(d.reply.esc, "5.7.7");
  EXPECT_TRUE(actions_.ops.empty());
}

TEST_F(SignatureTest, WhitespaceChangesInsideLinesStillPass) {
  // Relaxed canonical form: a relay that re-spaces or re-folds passes.
  Message m;
  m.sign(alice_);
  m.body = "Hello Bob,\r\n\r\nthe numbers are in.\r\n-- \r\nAlice\r\n\r\n\r\n";
  m.headers[2].second = " a subject  long enough to\r\n be folded";
  fetcher_.found(alice_.pub);
  Session s = open();
  Decision d = send(s, m, {"<bob@strict.test>"});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  ASSERT_EQ(actions_.ops.size(), 1u);
  EXPECT_NE(actions_.ops[0].find("x-sender-signature=pass"), std::string::npos) << actions_.ops[0];
}

TEST_F(SignatureTest, XSenderPubkeyIsIgnoredEvenWhenItMatchesAForgery) {
  // Mallory signs a message "from" Alice with his own key and sends his key
  // along as the courtesy header: only the key server's key counts.
  Message m;
  m.sign(mallory_, &mallory_.pub);
  fetcher_.found(alice_.pub);
  Session s = open();
  Decision d = send(s, m, {"<bob@strict.test>"});
  EXPECT_EQ(d.step, Step::kReject) << describe(d);
  EXPECT_EQ(d.reply.esc, "5.7.7");
  ASSERT_EQ(fetcher_.queries.size(), 1u);

  // The same forgery where the policy only checks: recorded as fail.
  actions_.ops.clear();
  Session s2 = open();
  d = send(s2, m, {"<bob@check.test>"});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  const std::vector<std::string> want = {
      arHeader("x-sender-signature=fail header.from=alice@alpha.test")};
  EXPECT_EQ(actions_.ops, want);
}

TEST_F(SignatureTest, UnsignedMessageIsNoneAndNotFetched) {
  Message m;
  Session s = open();
  Decision d = send(s, m, {"<bob@strict.test>"});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  const std::vector<std::string> want = {
      arHeader("x-sender-signature=none header.from=alice@alpha.test")};
  EXPECT_EQ(actions_.ops, want);
  EXPECT_TRUE(fetcher_.queries.empty());
  ASSERT_FALSE(body_more_.empty());
  EXPECT_FALSE(body_more_[0]) << "no signature: the body is not needed";
}

TEST_F(SignatureTest, RequiredSenderWithoutSignatureIsRefused) {
  Message m;
  Session s = open();
  Decision d = send(s, m, {"<bob@bank.test>"});
  EXPECT_EQ(d.step, Step::kReject) << describe(d);
  EXPECT_EQ(d.reply.code, "550");
  EXPECT_EQ(d.reply.esc, "5.7.7");
  EXPECT_NE(d.reply.text.find("alpha.test"), std::string::npos) << d.reply.text;
}

TEST_F(SignatureTest, RequiredSenderWithGoodSignaturePasses) {
  Message m;
  m.sign(alice_);
  fetcher_.found(alice_.pub);
  Session s = open();
  Decision d = send(s, m, {"<bob@bank.test>"});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  const std::vector<std::string> want = {
      arHeader("x-sender-signature=pass header.from=alice@alpha.test")};
  EXPECT_EQ(actions_.ops, want);
}

TEST_F(SignatureTest, OtherSendersToARequiringDomainAreNotChecked) {
  Message m;
  m.headers[0].second = " carol@gamma.test";
  Session s = open();
  Decision d = send(s, m, {"<bob@bank.test>"}, "<carol@gamma.test>");
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  EXPECT_TRUE(actions_.ops.empty());
  EXPECT_TRUE(fetcher_.queries.empty());
}

TEST_F(SignatureTest, NoKeyPublishedIsNoneAndRefusedOnlyWhereRequired) {
  Message m;
  m.sign(alice_);
  fetcher_.none();
  Session s = open();
  Decision d = send(s, m, {"<bob@strict.test>"});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  const std::vector<std::string> want = {
      arHeader("x-sender-signature=none header.from=alice@alpha.test")};
  EXPECT_EQ(actions_.ops, want);

  Session s2 = open();
  d = send(s2, m, {"<bob@bank.test>"});
  EXPECT_EQ(d.step, Step::kReject) << describe(d);
  EXPECT_EQ(d.reply.esc, "5.7.7");
}

TEST_F(SignatureTest, KeyServerTroubleIsTemperror) {
  Message m;
  m.sign(alice_);
  fetcher_.temporary();
  Session s = open();
  Decision d = send(s, m, {"<bob@check.test>"});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  const std::vector<std::string> want = {
      arHeader("x-sender-signature=temperror header.from=alice@alpha.test")};
  EXPECT_EQ(actions_.ops, want);

  for (const char* rcpt : {"<bob@strict.test>", "<bob@bank.test>"}) {
    Session s2 = open();
    d = send(s2, m, {rcpt});
    EXPECT_EQ(d.step, Step::kTempfail) << rcpt << ": " << describe(d);
    EXPECT_EQ(d.reply.code, "451");
    EXPECT_EQ(d.reply.esc, "4.7.5");
  }
}

TEST_F(SignatureTest, NoFetcherIsTemperror) {
  Message m;
  m.sign(alice_);
  SessionEnv env;
  env.config = config_;
  env.authserv_id = "mx.beta.test";
  Session s(std::move(env));
  s.connect({"client.example", kSigExternal});
  Decision d = send(s, m, {"<bob@strict.test>"});
  EXPECT_EQ(d.step, Step::kTempfail) << describe(d);
  EXPECT_EQ(d.reply.esc, "4.7.5");
}

TEST_F(SignatureTest, MessageOverTheSizeCapIsNotCheckedAndNotStored) {
  Message m;
  m.body.clear();
  for (int i = 0; i < 200; ++i) m.body += "line " + std::to_string(i) + " of a long body\r\n";
  ASSERT_GT(m.body.size(), 4096u);
  m.sign(alice_);
  fetcher_.found(alice_.pub);
  Session s = open();
  Decision d = send(s, m, {"<bob@strict.test>"}, "<alice@alpha.test>", 1000);
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  const std::vector<std::string> want = {
      arHeader("x-sender-signature=none header.from=alice@alpha.test")};
  EXPECT_EQ(actions_.ops, want);
  EXPECT_TRUE(fetcher_.queries.empty());
  ASSERT_FALSE(body_more_.empty());
  EXPECT_FALSE(body_more_.back()) << "over the cap: the rest is skipped";
  EXPECT_LE(body_more_.size(), 5u);

  Session s2 = open();
  d = send(s2, m, {"<bob@bank.test>"}, "<alice@alpha.test>", 1000);
  EXPECT_EQ(d.step, Step::kReject) << "required: refused " << describe(d);
  EXPECT_EQ(d.reply.esc, "5.7.7");
}

TEST_F(SignatureTest, MessageJustUnderTheCapIsChecked) {
  Message m;
  m.body.clear();
  while (m.wire().size() + 200 < 4096) m.body += "filler line of the body\r\n";
  m.sign(alice_);
  ASSERT_LE(m.wire().size(), 4096u);
  fetcher_.found(alice_.pub);
  Session s = open();
  Decision d = send(s, m, {"<bob@strict.test>"});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  ASSERT_EQ(actions_.ops.size(), 1u);
  EXPECT_NE(actions_.ops[0].find("=pass"), std::string::npos) << actions_.ops[0];
}

TEST_F(SignatureTest, SeveralFromHeadersFail) {
  Message m;
  m.sign(alice_);
  m.headers.insert(m.headers.begin() + 1, {"From", " mallory@delta.test"});
  fetcher_.found(alice_.pub);
  Session s = open();
  Decision d = send(s, m, {"<bob@bank.test>"});
  EXPECT_EQ(d.step, Step::kReject) << describe(d);
  EXPECT_EQ(d.reply.esc, "5.7.7");
  EXPECT_TRUE(fetcher_.queries.empty());

  actions_.ops.clear();
  Session s2 = open();
  d = send(s2, m, {"<bob@check.test>"});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  const std::vector<std::string> want = {arHeader("x-sender-signature=fail")};
  EXPECT_EQ(actions_.ops, want);
}

TEST_F(SignatureTest, FromWithTwoMailboxesFails) {
  Message m;
  m.headers[0].second = " alice@alpha.test, carol@gamma.test";
  m.sign(alice_);
  fetcher_.found(alice_.pub);
  Session s = open();
  Decision d = send(s, m, {"<bob@strict.test>"});
  EXPECT_EQ(d.step, Step::kReject) << describe(d);
  EXPECT_TRUE(fetcher_.queries.empty());
}

// e2ee::fromMailbox refuses text after the <address> (the milter used to
// read alice@alpha.test here): a From: no mail client shows one way only.
TEST_F(SignatureTest, FromWithTextAfterTheAddressFails) {
  Message m;
  m.headers[0].second = " Alice <alice@alpha.test> mallory@delta.test";
  m.sign(alice_);
  fetcher_.found(alice_.pub);
  Session s = open();
  Decision d = send(s, m, {"<bob@strict.test>"});
  EXPECT_EQ(d.step, Step::kReject) << describe(d);
  EXPECT_TRUE(fetcher_.queries.empty());
}

// A From: our parser refuses (a local part over 64 octets, a list) could
// claim any domain: where require_signature_from names one, it is checked,
// fails and is refused; it used to pass unchecked.
TEST_F(SignatureTest, FromWhoseDomainCannotBeToldIsRefusedWhereSignaturesAreRequired) {
  for (const std::string& from : {" " + std::string(70, 'a') + "@alpha.test",
                                  " Alice <" + std::string(70, 'a') + "@alpha.test>",
                                  std::string(" carol@gamma.test, alice@alpha.test"),
                                  std::string(" Alice <alice@alpha.test")}) {
    Message m;
    m.headers[0].second = from;
    Session s = open();
    Decision d = send(s, m, {"<bob@bank.test>"}, "<carol@gamma.test>");
    EXPECT_EQ(d.step, Step::kReject) << from << ": " << describe(d);
    EXPECT_EQ(d.reply.esc, "5.7.7") << from;
    EXPECT_TRUE(fetcher_.queries.empty());
  }
  // Where nothing is required and nothing checked, it passes untouched.
  Message m;
  m.headers[0].second = " " + std::string(70, 'a') + "@alpha.test";
  actions_.ops.clear();
  Session s = open();
  Decision d = send(s, m, {"<bob@gamma.test>"}, "<carol@gamma.test>");
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  EXPECT_TRUE(actions_.ops.empty());
}

// More From: headers than are remembered: the ones past the cap could name
// any domain.
TEST_F(SignatureTest, FromHeadersPastTheCapCountAsUnknownDomains) {
  Message m;
  m.headers[0].second = " carol@gamma.test";
  for (size_t i = 0; i < kMaxFromHeaders; ++i) {
    m.headers.insert(m.headers.begin(), {"From", " carol@gamma.test"});
  }
  m.headers.insert(m.headers.begin() + static_cast<long>(kMaxFromHeaders) + 1,
                   {"From", " alice@alpha.test"});
  Session s = open();
  Decision d = send(s, m, {"<bob@bank.test>"}, "<carol@gamma.test>");
  EXPECT_EQ(d.step, Step::kReject) << describe(d);
  EXPECT_EQ(d.reply.esc, "5.7.7");
}

TEST_F(SignatureTest, NoFromHeaderIsNoneAndOnlyStarRequiresIt) {
  Message m;
  m.headers.erase(m.headers.begin());
  m.sign(alice_);
  Session s = open();
  Decision d = send(s, m, {"<bob@bank.test>"});
  EXPECT_EQ(d.step, Step::kContinue) << "bank.test requires alpha.test only: " << describe(d);
  EXPECT_TRUE(actions_.ops.empty());

  Session s2 = open();
  d = send(s2, m, {"<bob@any.test>"});
  EXPECT_EQ(d.step, Step::kReject) << describe(d);
  EXPECT_EQ(d.reply.esc, "5.7.7");

  actions_.ops.clear();
  Session s3 = open();
  d = send(s3, m, {"<bob@check.test>"});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  const std::vector<std::string> want = {arHeader("x-sender-signature=none")};
  EXPECT_EQ(actions_.ops, want);
  EXPECT_TRUE(fetcher_.queries.empty());
}

TEST_F(SignatureTest, MalformedOrRepeatedSignatureFailsWithoutAsking) {
  Message bad;
  bad.headers.emplace_back("X-Sender-Signature", " ed25519 not-a-signature");
  Message twice;
  twice.sign(alice_);
  twice.headers.push_back(twice.headers.back());
  for (const Message* m : {&bad, &twice}) {
    actions_.ops.clear();
    fetcher_.found(alice_.pub);
    Session s = open();
    Decision d = send(s, *m, {"<bob@check.test>"});
    EXPECT_EQ(d.step, Step::kContinue) << describe(d);
    const std::vector<std::string> want = {
        arHeader("x-sender-signature=fail header.from=alice@alpha.test")};
    EXPECT_EQ(actions_.ops, want);
  }
  EXPECT_TRUE(fetcher_.queries.empty());
}

TEST_F(SignatureTest, DomainsWithoutSignaturePoliciesStoreNothing) {
  Message m;
  m.sign(alice_);
  Session s = open();
  Decision d = send(s, m, {"<bob@plain.test>"});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  EXPECT_TRUE(actions_.ops.empty());
  EXPECT_TRUE(fetcher_.queries.empty());
  ASSERT_FALSE(body_more_.empty());
  EXPECT_FALSE(body_more_[0]);
}

TEST_F(SignatureTest, InternalMailIsNeverChecked) {
  Message m;
  m.sign(mallory_);
  fetcher_.found(alice_.pub);
  Session s = open(kSigInternal);
  Decision d = send(s, m, {"<bob@strict.test>"});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  EXPECT_TRUE(fetcher_.queries.empty());
  ASSERT_FALSE(body_more_.empty());
  EXPECT_FALSE(body_more_[0]);
}

TEST_F(SignatureTest, RecipientsThatWouldRefuseDifferentlyAreSplit) {
  Session s = open();
  s.mailFrom("<alice@alpha.test>", "", "4XyZ");
  EXPECT_EQ(s.rcpt("<bob@strict.test>").step, Step::kContinue);
  Decision d = s.rcpt("<carol@check.test>");
  EXPECT_EQ(d.step, Step::kTempfail) << describe(d);
  EXPECT_EQ(d.reply.code, "452");
  EXPECT_EQ(d.reply.esc, "4.5.3");
  expectSafeReply(d);
  d = s.rcpt("<dave@bank.test>");
  EXPECT_EQ(d.reply.code, "452") << describe(d);
  EXPECT_EQ(s.rcpt("<erin@strict.test>").step, Step::kContinue);
}

TEST_F(SignatureTest, CheckingAndNotCheckingRecipientsShareAMessage) {
  Message m;
  m.sign(alice_);
  fetcher_.found(alice_.pub);
  Session s = open();
  Decision d = send(s, m, {"<bob@plain.test>", "<carol@check.test>", "<dave@check2.test>"});
  for (const Decision& r : rcpt_) EXPECT_EQ(r.step, Step::kContinue) << describe(r);
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  const std::vector<std::string> want = {
      arHeader("x-sender-signature=pass header.from=alice@alpha.test")};
  EXPECT_EQ(actions_.ops, want);
  EXPECT_EQ(fetcher_.queries.size(), 1u);
}

TEST_F(SignatureTest, JoinsTheMtepResultInOneHeader) {
  Message m;
  m.headers.emplace_back("MTEP-Token",
                         " AQAAAAFn0xF2AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJA");
  m.sign(alice_);
  fetcher_.found(alice_.pub);
  Session s = open();
  Decision d = send(s, m, {"<bob@mtep.test>"});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  const std::vector<std::string> want = {
      arHeader("mtep=pass smtp.mailfrom=alice@alpha.test; x-sender-signature=pass "
               "header.from=alice@alpha.test")};
  EXPECT_EQ(actions_.ops, want);
}

TEST_F(SignatureTest, SpoofedAuthResultsAreRemovedBeforeOursGoesIn) {
  Message m;
  m.headers.emplace_back("Authentication-Results",
                         " mx.beta.test; x-sender-signature=pass header.from=alice@alpha.test");
  m.sign(mallory_);
  fetcher_.found(alice_.pub);
  Session s = open();
  Decision d = send(s, m, {"<bob@check.test>"});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
  const std::vector<std::string> want = {
      "delete Authentication-Results #1",
      arHeader("x-sender-signature=fail header.from=alice@alpha.test")};
  EXPECT_EQ(actions_.ops, want);
}

TEST_F(SignatureTest, AbortForgetsTheStoredBody) {
  Message good;
  good.sign(alice_);
  fetcher_.found(alice_.pub);
  Session s = open();
  s.mailFrom("<alice@alpha.test>", "", "1");
  s.rcpt("<bob@strict.test>");
  for (const auto& [name, value] : good.headers) s.header(name, asLibmilter(value, Fold::kLf));
  EXPECT_TRUE(s.body("garbage that must not stay\r\n"));
  s.abort();
  Decision d = send(s, good, {"<bob@strict.test>"});
  EXPECT_EQ(d.step, Step::kContinue) << describe(d);
}

TEST(IsSignedHeader, NamesTheFiveCanonicalHeadersInAnyCase) {
  for (const char* name : {"From", "to", "DATE", "Subject", "message-id"}) {
    EXPECT_TRUE(isSignedHeader(name)) << name;
  }
  for (const char* name : {"Cc", "Reply-To", "X-Sender-Signature", "Message-IDs", ""}) {
    EXPECT_FALSE(isSignedHeader(name)) << name;
  }
}

}  // namespace
}  // namespace mtep::milter

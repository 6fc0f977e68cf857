// mtepctl's message edits (e2ee_message.h) and the option checks of the
// user-key commands (e2ee_options.h): pure logic, no I/O.
#include "e2ee_message.h"

#include <gtest/gtest.h>

#include "e2ee/e2ee.h"
#include "e2ee_options.h"

namespace mtep::ctl {
namespace {

constexpr std::string_view kCrlf =
    "From: Alice <alice@alpha.test>\r\n"
    "X-Sender-Signature: ed25519 old\r\n"
    "\tfolded\r\n"
    "Subject: hi\r\n"
    "x-sender-pubkey: ed25519 stale\r\n"
    "\r\n"
    "Body line\r\n";

TEST(MessageSplit, FindsHeaderBodyAndCrlfEnding) {
  const MessageParts p = splitMessage(kCrlf);
  EXPECT_TRUE(p.has_separator);
  EXPECT_EQ(p.eol, "\r\n");
  EXPECT_EQ(p.body, "Body line\r\n");
  EXPECT_EQ(p.header.substr(0, 6), "From: ");
}

TEST(MessageSplit, LfMessageWithoutBodyIsAllHeader) {
  const MessageParts p = splitMessage("From: a@b.test\nSubject: x\n");
  EXPECT_FALSE(p.has_separator);
  EXPECT_EQ(p.eol, "\n");
  EXPECT_EQ(p.body, "");
  EXPECT_EQ(p.header, "From: a@b.test\nSubject: x\n");
}

TEST(WithHeaders, ReplacesOldFieldsWithFoldingAndPutsNewOnesFirst) {
  const std::string out = withHeaders(
      kCrlf, {{"X-Sender-Signature", "ed25519 new"}, {"X-Sender-Pubkey", "ed25519 KEY"}});
  EXPECT_EQ(out,
            "X-Sender-Signature: ed25519 new\r\n"
            "X-Sender-Pubkey: ed25519 KEY\r\n"
            "From: Alice <alice@alpha.test>\r\n"
            "Subject: hi\r\n"
            "\r\n"
            "Body line\r\n");
}

TEST(WithHeaders, KeepsLfEndingsAndBodyBytes) {
  const std::string in = "From: a@b.test\n\nx  \n\n";
  EXPECT_EQ(withHeaders(in, {{"X-Sender-Encrypted", "yes"}}),
            "X-Sender-Encrypted: yes\nFrom: a@b.test\n\nx  \n\n");
}

TEST(WithHeaders, HeaderWithoutFinalNewlineGetsOne) {
  EXPECT_EQ(withHeaders("From: a@b.test", {{"X-A", "1"}}), "X-A: 1\r\nFrom: a@b.test\r\n");
}

TEST(WithHeaders, SignatureStillVerifiesAfterFieldsAdded) {
  e2ee::Seed seed{};
  seed[0] = 7;
  auto pair = e2ee::keyPairFromSeed(seed);
  ASSERT_TRUE(pair);
  auto sig = e2ee::signMessage(kCrlf, pair->seed);
  ASSERT_TRUE(sig);
  const std::string out = withHeaders(kCrlf, {{"X-Sender-Signature", "ed25519 " + *sig}});
  auto ok = e2ee::verifyMessage(out, *firstHeader(out, "X-Sender-Signature"), pair->pub);
  ASSERT_TRUE(ok);
  EXPECT_TRUE(*ok);
}

TEST(WithoutHeader, RemovesEveryOccurrenceAnyCase) {
  EXPECT_EQ(withoutHeader("A: 1\nX-Sender-Encrypted: yes\nB: 2\nx-sender-encrypted: no\n\nbody",
                          "X-Sender-Encrypted"),
            "A: 1\nB: 2\n\nbody");
}

TEST(FirstHeader, UnfoldsAndTrims) {
  EXPECT_EQ(firstHeader(kCrlf, "x-sender-signature"), "ed25519 old\tfolded");
  EXPECT_EQ(firstHeader(kCrlf, "To"), std::nullopt);
  // A field in the body is not a header.
  EXPECT_EQ(firstHeader("A: 1\n\nTo: x\n", "To"), std::nullopt);
}

TEST(FromAddress, ReadsTheForms) {
  struct Case {
    std::string_view from;
    std::string_view want;
  };
  const Case cases[] = {
      {"alice@alpha.test", "alice@alpha.test"},
      {"Alice <alice@alpha.test>", "alice@alpha.test"},
      {"\"Smith, Alice\" <alice@alpha.test>", "alice@alpha.test"},
      {"alice@alpha.test (Alice)", "alice@alpha.test"},
      {"(c) Alice <alice@alpha.test> (work)", "alice@alpha.test"},
  };
  for (const Case& c : cases) {
    auto got = fromAddress("From: " + std::string(c.from) + "\r\n\r\n");
    ASSERT_TRUE(got) << c.from << ": " << got.error().message();
    EXPECT_EQ(*got, c.want) << c.from;
  }
}

TEST(FromAddress, RefusesSeveralMailboxesGroupsAndGarbage) {
  for (std::string_view from : {"a@b.test, c@d.test", "Team: a@b.test;", "<a@b.test", "nobody",
                                "A <a@b.test> trailing", ""}) {
    auto got = fromAddress("From: " + std::string(from) + "\n\n");
    ASSERT_FALSE(got) << from;
    EXPECT_EQ(got.error().kind(), ErrorKind::kInvalid) << from;
  }
  auto none = fromAddress("To: a@b.test\n\n");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind(), ErrorKind::kNotFound);
}

TEST(WithBody, SwapsBodyAndAddsSeparatorWhenMissing) {
  EXPECT_EQ(withBody(kCrlf, "NEW"), std::string(kCrlf.substr(0, kCrlf.size() - 11)) + "NEW");
  EXPECT_EQ(withBody("A: 1\n", "NEW"), "A: 1\n\nNEW");
  EXPECT_EQ(withBody("A: 1", "NEW"), "A: 1\r\n\r\nNEW");
}

TEST(WithLineEnding, ConvertsBothWays) {
  EXPECT_EQ(withLineEnding("a\r\nb\nc", "\n"), "a\nb\nc");
  EXPECT_EQ(withLineEnding("a\nb\r\n", "\r\n"), "a\r\nb\r\n");
}

// --- option checks ---------------------------------------------------------

TEST(Options, ServerDefaultsToPort25AndRefusesGarbage) {
  auto a = parseServer("mx.alpha.test");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->port, 25);
  auto b = parseServer("[::1]:2525");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 2525);
  EXPECT_FALSE(parseServer("mx:0"));
  EXPECT_FALSE(parseServer("mx:99999"));
}

TEST(Options, PasswordFdNeverStdoutStderrOrSharedStdin) {
  EXPECT_TRUE(checkPasswordFd(-1, "-"));
  EXPECT_TRUE(checkPasswordFd(3, "-"));
  EXPECT_TRUE(checkPasswordFd(0, "msg.eml"));
  EXPECT_FALSE(checkPasswordFd(0, "-"));
  EXPECT_FALSE(checkPasswordFd(1, "msg.eml"));
  EXPECT_FALSE(checkPasswordFd(2, "msg.eml"));
  EXPECT_FALSE(checkPasswordFd(-5, "msg.eml"));
}

TEST(Options, KeyDeriveNeedsServerOrSaltNotBoth) {
  KeyDeriveOptions o;
  o.user = "alice@alpha.test";
  EXPECT_FALSE(checkKeyDerive(o));
  o.salt = "MDEyMzQ1Njc4OWFiY2RlZg==";
  EXPECT_TRUE(checkKeyDerive(o));
  o.server.server = "mx.alpha.test";
  EXPECT_FALSE(checkKeyDerive(o));
  o.salt.clear();
  EXPECT_TRUE(checkKeyDerive(o));
  o.force = true;  // without --out
  EXPECT_FALSE(checkKeyDerive(o));
}

TEST(Options, TlsFingerprintNeedsServer) {
  KeyDeriveOptions o;
  o.user = "alice";
  o.salt = "MDEyMzQ1Njc4OWFiY2RlZg==";
  o.server.tls_fingerprint = "abcdefghijklmnop";
  EXPECT_FALSE(checkKeyDerive(o));
}

TEST(Options, SignNeedsKeyFileOrServerWithUser) {
  SignOptions o;
  o.file = "-";
  EXPECT_FALSE(checkSign(o));
  o.key_file = "k";
  EXPECT_TRUE(checkSign(o));
  o.user = "alice";
  EXPECT_FALSE(checkSign(o));  // both
  o.key_file.clear();
  EXPECT_FALSE(checkSign(o));  // --user without --server
  o.server.server = "mx.alpha.test:2525";
  EXPECT_TRUE(checkSign(o));
  o.password_fd = 0;  // stdin is the message
  EXPECT_FALSE(checkSign(o));
  o.file.clear();
  o.password_fd = -1;
  EXPECT_FALSE(checkSign(o));  // no FILE
}

TEST(Options, VerifyEncryptDecryptCombinations) {
  VerifyOptions v;
  v.file = "m";
  EXPECT_TRUE(checkVerify(v));  // discovery
  v.key = "K";
  v.server.server = "mx";
  EXPECT_FALSE(checkVerify(v));
  EncryptOptions e;
  e.file = "m";
  EXPECT_FALSE(checkEncrypt(e));
  e.to = "bob@beta.test";
  EXPECT_TRUE(checkEncrypt(e));
  e.key = "K";
  EXPECT_FALSE(checkEncrypt(e));
  e.to.clear();
  e.server.server = "mx";
  EXPECT_FALSE(checkEncrypt(e));
  DecryptOptions d;
  d.file = "m";
  EXPECT_FALSE(checkDecrypt(d));
  d.key_file = "k";
  EXPECT_TRUE(checkDecrypt(d));
}

}  // namespace
}  // namespace mtep::ctl

// Tokens: mint/verify round trips, every outcome, tampering, decode.
// TokenTest's mintOk() makes version-1 tokens (the form before tokens were
// bound to a recipient domain, still verified until they expire); the
// TokenV2 tests cover the form minted today.
#include "token/token.h"

#include <gtest/gtest.h>

#include <set>

#include "util/base64.h"

namespace mtep::token {
namespace {

constexpr char kAlice[] = "alice@example.org";
constexpr char kBob[] = "bob@example.org";

Key makeKey(uint32_t id, uint8_t fill) {
  Key k;
  k.id = id;
  k.created = 1'600'000'000;
  k.secret.fill(fill);
  return k;
}

std::vector<uint8_t> raw(const std::string& token) {
  auto b = base64Decode(token, true);
  EXPECT_TRUE(b.has_value());
  return b.value_or(std::vector<uint8_t>{});
}

std::string text(const std::vector<uint8_t>& b) {
  return base64Encode(b.data(), b.size(), /*url_safe=*/true, /*pad=*/false);
}

class TokenTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  KeyRing ring_ = KeyRing::fromKeys({makeKey(7, 0x42)});

  std::string mintOk(std::string_view sender, int64_t ttl = 3600) {
    auto t = mintV1(ring_, sender, clock_.now(), ttl);
    EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message());
    return t.ok() ? *t : std::string();
  }

  std::string mintV2(std::string_view sender, std::string_view domain, int64_t ttl = 3600) {
    auto t = mint(ring_, sender, domain, clock_.now(), ttl);
    EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message());
    return t.ok() ? *t : std::string();
  }
};

TEST_F(TokenTest, MintedTokenIsUrlSafeTextOfFixedLength) {
  std::string t = mintOk(kAlice);
  EXPECT_EQ(t.size(), kTokenV1TextLength);
  for (char c : t) {
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << t;
  }
}

TEST_F(TokenTest, RoundTripWithSenderIsValid) {
  std::string t = mintOk(kAlice);
  VerifyResult v = verify(ring_, t, kAlice, true, clock_.now());
  EXPECT_EQ(v.outcome, Outcome::kValid);
  EXPECT_EQ(v.info.key_id, 7u);
  EXPECT_EQ(v.info.expires, clock_.now() + 3600);
}

TEST_F(TokenTest, RoundTripWithoutSenderChecksOnlyTagAny) {
  std::string t = mintOk(kAlice);
  EXPECT_EQ(verify(ring_, t, "", false, clock_.now()).outcome, Outcome::kValid);
  // The sender argument is ignored when has_sender is false.
  EXPECT_EQ(verify(ring_, t, kBob, false, clock_.now()).outcome, Outcome::kValid);
}

TEST_F(TokenTest, TwoMintsDifferInNonce) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(mintOk(kAlice));
  EXPECT_EQ(seen.size(), 100u);
}

TEST_F(TokenTest, OtherSenderIsSenderMismatch) {
  std::string t = mintOk(kAlice);
  EXPECT_EQ(verify(ring_, t, kBob, true, clock_.now()).outcome, Outcome::kSenderMismatch);
  // Binding is to the exact canonical bytes; callers lower-case first.
  EXPECT_EQ(verify(ring_, t, "Alice@example.org", true, clock_.now()).outcome,
            Outcome::kSenderMismatch);
  EXPECT_EQ(verify(ring_, t, "", true, clock_.now()).outcome, Outcome::kSenderMismatch);
}

TEST_F(TokenTest, ExpiresExactlyAtExpiryTime) {
  std::string t = mintOk(kAlice, 100);
  clock_.advance(99);
  EXPECT_EQ(verify(ring_, t, kAlice, true, clock_.now()).outcome, Outcome::kValid);
  clock_.advance(1);
  EXPECT_EQ(verify(ring_, t, kAlice, true, clock_.now()).outcome, Outcome::kExpired);
  EXPECT_EQ(verify(ring_, t, "", false, clock_.now()).outcome, Outcome::kExpired);
}

TEST_F(TokenTest, ExpiredTokenOfOtherSenderReportsMismatchFirst) {
  std::string t = mintOk(kAlice, 10);
  clock_.advance(1000);
  EXPECT_EQ(verify(ring_, t, kBob, true, clock_.now()).outcome, Outcome::kSenderMismatch);
}

TEST_F(TokenTest, UnknownKeyIdIsUnknownKey) {
  std::string t = mintOk(kAlice);
  KeyRing other = KeyRing::fromKeys({makeKey(8, 0x42)});
  VerifyResult v = verify(other, t, kAlice, true, clock_.now());
  EXPECT_EQ(v.outcome, Outcome::kUnknownKey);
  EXPECT_EQ(v.info.key_id, 7u);
}

TEST_F(TokenTest, SameIdWithOtherSecretIsBadMac) {
  std::string t = mintOk(kAlice);
  KeyRing other = KeyRing::fromKeys({makeKey(7, 0x43)});
  EXPECT_EQ(verify(other, t, kAlice, true, clock_.now()).outcome, Outcome::kBadMac);
  EXPECT_EQ(verify(other, t, "", false, clock_.now()).outcome, Outcome::kBadMac);
}

TEST_F(TokenTest, MalformedTextIsMalformed) {
  std::string t = mintOk(kAlice);
  const std::vector<std::string> cases = {
      "",
      "x",
      t.substr(0, t.size() - 1),
      t + "A",
      t.substr(0, 60) + "==",
      std::string(kTokenV1TextLength, '*'),
      std::string(kTokenTextLength, '*'),
      t.substr(0, 61) + "+",
      t.substr(0, 30) + "/" + t.substr(31),
      std::string(kTokenV1TextLength, '\0'),
      std::string(kTokenTextLength, 'A'),
  };
  for (const std::string& c : cases) {
    EXPECT_EQ(verify(ring_, c, kAlice, true, clock_.now()).outcome, Outcome::kMalformed) << c;
    EXPECT_FALSE(decode(c).ok()) << c;
  }
}

TEST_F(TokenTest, NonCanonicalLastCharacterIsMalformed) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string t = mintOk(kAlice);
  // The 62nd character carries 2 bits of data and 4 bits that must be zero.
  size_t v = alphabet.find(t.back());
  ASSERT_EQ(v % 16, 0u) << t;
  for (size_t low = 1; low < 16; ++low) {
    std::string bad = t;
    bad.back() = alphabet[v + low];
    EXPECT_EQ(verify(ring_, bad, kAlice, true, clock_.now()).outcome, Outcome::kMalformed) << bad;
  }
}

TEST_F(TokenTest, OtherVersionIsMalformed) {
  std::vector<uint8_t> b = raw(mintOk(kAlice));
  for (int version : {0, 2, 255}) {
    b[0] = static_cast<uint8_t>(version);
    EXPECT_EQ(verify(ring_, text(b), kAlice, true, clock_.now()).outcome, Outcome::kMalformed);
    auto d = decode(text(b));
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().kind(), ErrorKind::kInvalid);
  }
}

// Flipping any bit of any byte is caught: version -> malformed, key id ->
// unknown key (the ring holds one key), everything else -> bad MAC, with
// and without a sender.
TEST_F(TokenTest, TamperingAnyByteNeverVerifies) {
  const std::vector<uint8_t> good = raw(mintOk(kAlice));
  ASSERT_EQ(good.size(), 46u);
  for (size_t i = 0; i < good.size(); ++i) {
    for (int mask : {0x01, 0x80, 0xff}) {
      std::vector<uint8_t> b = good;
      b[i] = static_cast<uint8_t>(b[i] ^ mask);
      Outcome want = i == 0 ? Outcome::kMalformed : i < 5 ? Outcome::kUnknownKey : Outcome::kBadMac;
      EXPECT_EQ(verify(ring_, text(b), kAlice, true, clock_.now()).outcome, want)
          << "byte " << i << " mask " << mask;
      EXPECT_EQ(verify(ring_, text(b), "", false, clock_.now()).outcome, want)
          << "senderless, byte " << i << " mask " << mask;
    }
  }
}

TEST_F(TokenTest, TamperingAnyCharacterNeverVerifies) {
  const std::string good = mintOk(kAlice);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (size_t i = 0; i < good.size(); ++i) {
    for (char c : {alphabet[(alphabet.find(good[i]) + 1) % 64], '=', '.'}) {
      std::string t = good;
      t[i] = c;
      Outcome got = verify(ring_, t, kAlice, true, clock_.now()).outcome;
      EXPECT_TRUE(got == Outcome::kMalformed || got == Outcome::kBadMac ||
                  got == Outcome::kUnknownKey)
          << "char " << i << " -> " << c << ": " << outcomeName(got);
    }
  }
}

TEST_F(TokenTest, MintRefusesBadArguments) {
  struct Case {
    std::string sender;
    int64_t now;
    int64_t ttl;
  };
  const std::vector<Case> cases = {
      {"", clock_.now(), 3600},   {kAlice, clock_.now(), 0},
      {kAlice, clock_.now(), -1}, {kAlice, clock_.now(), int64_t{1} << 41},
      {kAlice, -5, 3600},
  };
  for (const Case& c : cases) {
    auto t = mintV1(ring_, c.sender, c.now, c.ttl);
    ASSERT_FALSE(t.ok()) << c.sender << " " << c.now << " " << c.ttl;
    EXPECT_EQ(t.error().kind(), ErrorKind::kInvalid);
  }
}

TEST_F(TokenTest, MintUsesCurrentKeyAndOlderKeysStillVerify) {
  std::string old_token = mintOk(kAlice);
  ring_ = KeyRing::fromKeys({makeKey(7, 0x42), makeKey(9, 0x99), makeKey(8, 0x11)});
  EXPECT_EQ(ring_.current().id, 9u);
  std::string new_token = mintOk(kAlice);
  EXPECT_EQ(decode(new_token)->key_id, 9u);
  EXPECT_EQ(verify(ring_, old_token, kAlice, true, clock_.now()).outcome, Outcome::kValid);
  EXPECT_EQ(verify(ring_, new_token, kAlice, true, clock_.now()).outcome, Outcome::kValid);
}

TEST_F(TokenTest, FromKeysSortsAndLastDuplicateWins) {
  KeyRing r = KeyRing::fromKeys({makeKey(3, 1), makeKey(1, 2), makeKey(3, 5)});
  ASSERT_EQ(r.keys().size(), 2u);
  EXPECT_EQ(r.keys()[0].id, 1u);
  EXPECT_EQ(r.keys()[1].id, 3u);
  EXPECT_EQ(r.find(3)->secret[0], 5);
  EXPECT_EQ(r.find(2), nullptr);
}

TEST_F(TokenTest, DecodeReportsHeaderAndRevocationId) {
  std::vector<uint8_t> b(46, 0);
  b[0] = 1;
  b[1] = 0x01;
  b[2] = 0x02;
  b[3] = 0x03;
  b[4] = 0x04;
  b[5] = 0x00;
  b[6] = 0x65;
  b[7] = 0x53;
  b[8] = 0xf1;
  b[9] = 0x00;  // 0x6553f100 = 1700000000
  for (size_t i = 0; i < 12; ++i) b[10 + i] = static_cast<uint8_t>(0xa0 + i);
  auto info = decode(text(b));
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->version, 1);
  EXPECT_EQ(info->key_id, 0x01020304u);
  EXPECT_EQ(info->expires, 1'700'000'000);
  EXPECT_EQ(info->revocationId(), "01020304-a0a1a2a3a4a5a6a7a8a9aaab");
}

TEST_F(TokenTest, DecodeOfMintedTokenMatchesVerify) {
  std::string t = mintOk(kAlice, 500);
  auto info = decode(t);
  ASSERT_TRUE(info.ok());
  VerifyResult v = verify(ring_, t, kAlice, true, clock_.now());
  EXPECT_EQ(info->revocationId(), v.info.revocationId());
  EXPECT_EQ(info->expires, clock_.now() + 500);
}

TEST_F(TokenTest, VerifyNeverReportsRevoked) {
  std::string t = mintOk(kAlice);
  EXPECT_NE(verify(ring_, t, kAlice, true, clock_.now()).outcome, Outcome::kRevoked);
}

TEST(OutcomeName, NamesEveryOutcome) {
  EXPECT_STREQ(outcomeName(Outcome::kValid), "valid");
  EXPECT_STREQ(outcomeName(Outcome::kMalformed), "malformed");
  EXPECT_STREQ(outcomeName(Outcome::kUnknownKey), "unknown-key");
  EXPECT_STREQ(outcomeName(Outcome::kBadMac), "bad-mac");
  EXPECT_STREQ(outcomeName(Outcome::kExpired), "expired");
  EXPECT_STREQ(outcomeName(Outcome::kRevoked), "revoked");
  EXPECT_STREQ(outcomeName(Outcome::kSenderMismatch), "sender-mismatch");
  EXPECT_STREQ(outcomeName(Outcome::kRecipientMismatch), "recipient-mismatch");
}

constexpr char kBeta[] = "beta.test";
constexpr char kGamma[] = "gamma.test";

TEST_F(TokenTest, V2TokenIsUrlSafeTextOf72Characters) {
  std::string t = mintV2(kAlice, kBeta);
  EXPECT_EQ(t.size(), kTokenTextLength);
  EXPECT_EQ(t.size(), 72u);
  EXPECT_LE(t.size(), kMaxTokenText);
  for (char c : t) {
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << t;
  }
  auto info = decode(t);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->version, 2);
  EXPECT_TRUE(info->boundToRecipient());
  EXPECT_FALSE(decode(mintOk(kAlice))->boundToRecipient());
}

TEST_F(TokenTest, V2RoundTripWithSenderAndDomainChecksBoth) {
  std::string t = mintV2(kAlice, kBeta);
  VerifyResult v = verify(ring_, t, Binding::of(kAlice, kBeta), clock_.now());
  EXPECT_EQ(v.outcome, Outcome::kValid);
  EXPECT_TRUE(v.sender_checked);
  EXPECT_TRUE(v.recipient_checked);
  EXPECT_EQ(v.info.expires, clock_.now() + 3600);
}

TEST_F(TokenTest, V2TokenForAnotherDomainIsRecipientMismatch) {
  std::string t = mintV2(kAlice, kBeta);
  for (std::string_view other : {kGamma, "beta.test.example", "mx.beta.test", "beta.tes", ""}) {
    VerifyResult v = verify(ring_, t, Binding::of(kAlice, other), clock_.now());
    EXPECT_EQ(v.outcome, Outcome::kRecipientMismatch) << other;
    EXPECT_FALSE(v.recipient_checked);
  }
  // The sender is checked first.
  EXPECT_EQ(verify(ring_, t, Binding::of(kBob, kGamma), clock_.now()).outcome,
            Outcome::kSenderMismatch);
  // Mismatch is reported even after expiry: the binding is checked first.
  clock_.advance(7200);
  EXPECT_EQ(verify(ring_, t, Binding::of(kAlice, kGamma), clock_.now()).outcome,
            Outcome::kRecipientMismatch);
}

TEST_F(TokenTest, V2DomainIsComparedInCanonicalForm) {
  std::string t = mintV2(kAlice, "Beta.TEST.");
  for (std::string_view d : {"beta.test", "BETA.test", "beta.test."}) {
    EXPECT_EQ(verify(ring_, t, Binding::of(kAlice, d), clock_.now()).outcome, Outcome::kValid)
        << d;
  }
  EXPECT_EQ(canonicalDomain("Beta.TEST."), "beta.test");
  EXPECT_EQ(canonicalDomain("[IPv6:2001:DB8::1]"), "[ipv6:2001:db8::1]");
  EXPECT_EQ(canonicalDomain("b\xc3\xa9ta.test"), "b\xc3\xa9ta.test");  // UTF-8 kept
}

TEST_F(TokenTest, V2WithoutRecipientChecksTheSenderAndSaysTheDomainWasNot) {
  std::string t = mintV2(kAlice, kBeta);
  VerifyResult v = verify(ring_, t, kAlice, true, clock_.now());
  EXPECT_EQ(v.outcome, Outcome::kValid);
  EXPECT_TRUE(v.sender_checked);
  EXPECT_FALSE(v.recipient_checked);
  EXPECT_EQ(verify(ring_, t, kBob, true, clock_.now()).outcome, Outcome::kSenderMismatch);
  v = verify(ring_, t, "", false, clock_.now());
  EXPECT_EQ(v.outcome, Outcome::kValid);
  EXPECT_FALSE(v.sender_checked);
  EXPECT_FALSE(v.recipient_checked);
  // A recipient without a sender cannot be checked (the binding covers both).
  v = verify(ring_, t, Binding{"", kBeta, false, true}, clock_.now());
  EXPECT_EQ(v.outcome, Outcome::kValid);
  EXPECT_FALSE(v.recipient_checked);
}

TEST_F(TokenTest, V1TokenIgnoresTheRecipientAndStillVerifiesUntilExpiry) {
  std::string t = mintOk(kAlice, 100);
  VerifyResult v = verify(ring_, t, Binding::of(kAlice, kGamma), clock_.now());
  EXPECT_EQ(v.outcome, Outcome::kValid);
  EXPECT_TRUE(v.sender_checked);
  EXPECT_FALSE(v.recipient_checked);
  clock_.advance(100);
  EXPECT_EQ(verify(ring_, t, Binding::of(kAlice, kGamma), clock_.now()).outcome,
            Outcome::kExpired);
}

TEST_F(TokenTest, V2TamperingAnyByteNeverVerifies) {
  const std::vector<uint8_t> good = raw(mintV2(kAlice, kBeta));
  ASSERT_EQ(good.size(), 54u);
  for (size_t i = 0; i < good.size(); ++i) {
    for (int mask : {0x01, 0x80, 0xff}) {
      std::vector<uint8_t> b = good;
      b[i] = static_cast<uint8_t>(b[i] ^ mask);
      Outcome want = i == 0 ? Outcome::kMalformed : i < 5 ? Outcome::kUnknownKey : Outcome::kBadMac;
      EXPECT_EQ(verify(ring_, text(b), Binding::of(kAlice, kBeta), clock_.now()).outcome, want)
          << "byte " << i << " mask " << mask;
      EXPECT_EQ(verify(ring_, text(b), "", false, clock_.now()).outcome, want)
          << "senderless, byte " << i << " mask " << mask;
    }
  }
}

TEST_F(TokenTest, VersionMustFitTheLength) {
  // A version-2 body with version byte 1, and the other way round.
  std::vector<uint8_t> v2 = raw(mintV2(kAlice, kBeta));
  v2[0] = 1;
  EXPECT_EQ(verify(ring_, text(v2), kAlice, true, clock_.now()).outcome, Outcome::kMalformed);
  std::vector<uint8_t> v1 = raw(mintOk(kAlice));
  v1[0] = 2;
  EXPECT_EQ(verify(ring_, text(v1), kAlice, true, clock_.now()).outcome, Outcome::kMalformed);
  for (int version : {0, 3, 255}) {
    std::vector<uint8_t> b = raw(mintV2(kAlice, kBeta));
    b[0] = static_cast<uint8_t>(version);
    EXPECT_FALSE(decode(text(b)).ok()) << version;
  }
}

TEST_F(TokenTest, V2MintRefusesAnEmptyOrOverlongDomain) {
  for (const std::string& d : {std::string(), std::string("."), std::string(256, 'a')}) {
    auto t = mint(ring_, kAlice, d, clock_.now(), 3600);
    ASSERT_FALSE(t.ok()) << d;
    EXPECT_EQ(t.error().kind(), ErrorKind::kInvalid);
  }
  auto empty_sender = mint(ring_, "", kBeta, clock_.now(), 3600);
  ASSERT_FALSE(empty_sender.ok());
  EXPECT_TRUE(mint(ring_, kAlice, std::string(255, 'a'), clock_.now(), 3600).ok());
}

// Tokens computed outside this code (Python's hmac module) from the
// layout in token.h and doc/mtep.md: key id 1, 32 bytes of 0x5a, expiry
// 2000000000, nonce 00 01 .. 0b, alice@example.org, beta.test. They are
// also the fuzzer's seeds (tests/fuzz/corpus/token).
TEST(TokenKnownAnswer, DocumentedLayoutVerifies) {
  Key k;
  k.id = 1;
  k.secret.fill(0x5a);
  const KeyRing ring = KeyRing::fromKeys({k});
  const std::string v1 = "AQAAAAEAdzWUAAABAgMEBQYHCAkKCxRqm2IDcTD3ylgYC-AW9agcA-jH8Pb1uA";
  const std::string v2 =
      "AgAAAAEAdzWUAAABAgMEBQYHCAkKC1GH9ue-yvcvqEcDTbLhp5hYXgQEhaeAGOKnUe8YymxS";
  const int64_t now = 1'700'000'000;
  EXPECT_EQ(verify(ring, v1, kAlice, true, now).outcome, Outcome::kValid);
  VerifyResult r = verify(ring, v2, Binding::of(kAlice, "beta.test"), now);
  EXPECT_EQ(r.outcome, Outcome::kValid);
  EXPECT_TRUE(r.recipient_checked);
  EXPECT_EQ(r.info.expires, 2'000'000'000);
  EXPECT_EQ(verify(ring, v2, Binding::of(kAlice, "gamma.test"), now).outcome,
            Outcome::kRecipientMismatch);
}

TEST_F(TokenTest, V2TokensOfOneSenderForTwoDomainsAreIndependent) {
  std::string to_beta = mintV2(kAlice, kBeta);
  std::string to_gamma = mintV2(kAlice, kGamma);
  EXPECT_EQ(verify(ring_, to_beta, Binding::of(kAlice, kBeta), clock_.now()).outcome,
            Outcome::kValid);
  EXPECT_EQ(verify(ring_, to_gamma, Binding::of(kAlice, kGamma), clock_.now()).outcome,
            Outcome::kValid);
  EXPECT_EQ(verify(ring_, to_beta, Binding::of(kAlice, kGamma), clock_.now()).outcome,
            Outcome::kRecipientMismatch);
  EXPECT_EQ(verify(ring_, to_gamma, Binding::of(kAlice, kBeta), clock_.now()).outcome,
            Outcome::kRecipientMismatch);
}

}  // namespace
}  // namespace mtep::token

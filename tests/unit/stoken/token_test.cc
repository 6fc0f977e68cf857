// Submission tokens: format, round trip, every Outcome, the pair binding,
// key rotation, limits on the text.
#include "stoken/token.h"

#include <gtest/gtest.h>

#include <string>

#include "util/base64.h"

namespace mtep::stoken {
namespace {

token::Key stokenKeyOf(uint32_t id, uint8_t fill) {
  token::Key k;
  k.id = id;
  k.created = 1'600'000'000;
  k.secret.fill(fill);
  return k;
}

constexpr int64_t kNow = 1'700'000'000;
constexpr char kTokAlice[] = "alice@alpha.test";
constexpr char kTokBob[] = "bob@beta.test";

class TokenTest : public ::testing::Test {
 protected:
  token::KeyRing ring_ = token::KeyRing::fromKeys({stokenKeyOf(1, 0x11), stokenKeyOf(2, 0x22)});
  Lifetimes life_{7 * 86400, 0};

  std::string mintOk(Kind kind, std::string_view remote = kTokAlice,
                     std::string_view local = kTokBob, int64_t now = kNow) {
    auto t = mint(kind, ring_, remote, local, now);
    EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message());
    return t.ok() ? *t : std::string();
  }
};

TEST_F(TokenTest, MintsFiftyTwoUrlSafeCharacters) {
  const std::string t = mintOk(Kind::kTemporary);
  EXPECT_EQ(t.size(), kTokenTextLength);
  EXPECT_TRUE(isTokenText(t));
  EXPECT_EQ(t.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);
}

TEST_F(TokenTest, DecodeGivesTheFieldsMinted) {
  const std::string t = mintOk(Kind::kPermanent);
  auto f = decode(t);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->version, 1);
  EXPECT_EQ(f->kind, Kind::kPermanent);
  EXPECT_EQ(f->key_id, 2u);  // the ring's current key
  EXPECT_EQ(f->issued, kNow);
  EXPECT_EQ(f->remote_tag, remoteTag(kTokAlice));
}

TEST_F(TokenTest, RoundTripIsValidForItsPair) {
  for (Kind kind : {Kind::kTemporary, Kind::kPermanent}) {
    const std::string t = mintOk(kind);
    const Verified v = verify(t, kTokAlice, kTokBob, ring_, kNow + 10, life_);
    EXPECT_EQ(v.outcome, Outcome::kValid) << kindName(kind);
    EXPECT_EQ(v.kind, kind);
    EXPECT_EQ(v.issued, kNow);
  }
}

TEST_F(TokenTest, AddressesCompareWithoutCaseAndWithBrackets) {
  const std::string t = mintOk(Kind::kTemporary, "Alice@Alpha.TEST", "<BOB@beta.test>");
  EXPECT_EQ(verify(t, "alice@alpha.test", "bob@BETA.test", ring_, kNow, life_).outcome,
            Outcome::kValid);
}

TEST_F(TokenTest, AnotherLocalAddressIsABadMac) {
  const std::string t = mintOk(Kind::kTemporary);
  EXPECT_EQ(verify(t, kTokAlice, "carol@beta.test", ring_, kNow, life_).outcome, Outcome::kBadMac);
}

TEST_F(TokenTest, AnotherRemoteAddressIsWrongRemote) {
  // A co-recipient (carol) who saw bob's header for alice tries it as herself.
  const std::string t = mintOk(Kind::kTemporary);
  EXPECT_EQ(verify(t, "carol@alpha.test", kTokBob, ring_, kNow, life_).outcome,
            Outcome::kWrongRemote);
}

TEST_F(TokenTest, SwappedPairIsRefused) {
  const std::string t = mintOk(Kind::kTemporary);
  EXPECT_NE(verify(t, kTokBob, kTokAlice, ring_, kNow, life_).outcome, Outcome::kValid);
}

TEST_F(TokenTest, UnparsableAddressesAreRefused) {
  const std::string t = mintOk(Kind::kTemporary);
  EXPECT_EQ(verify(t, "not an address", kTokBob, ring_, kNow, life_).outcome,
            Outcome::kWrongRemote);
  EXPECT_EQ(verify(t, kTokAlice, "", ring_, kNow, life_).outcome, Outcome::kBadMac);
  EXPECT_FALSE(mint(Kind::kTemporary, ring_, "<>", kTokBob, kNow).ok());
  EXPECT_FALSE(
      mint(Kind::kTemporary, ring_, kTokAlice, std::string(400, 'a') + "@x.test", kNow).ok());
}

TEST_F(TokenTest, TemporaryExpiresAfterItsLifetime) {
  const std::string t = mintOk(Kind::kTemporary);
  EXPECT_EQ(verify(t, kTokAlice, kTokBob, ring_, kNow + life_.temporary - 1, life_).outcome,
            Outcome::kValid);
  EXPECT_EQ(verify(t, kTokAlice, kTokBob, ring_, kNow + life_.temporary, life_).outcome,
            Outcome::kExpired);
}

TEST_F(TokenTest, PermanentLifetimeZeroIsNotChecked) {
  const std::string t = mintOk(Kind::kPermanent);
  EXPECT_EQ(verify(t, kTokAlice, kTokBob, ring_, kNow + 400 * 86400, life_).outcome,
            Outcome::kValid);
  EXPECT_EQ(
      verify(t, kTokAlice, kTokBob, ring_, kNow + 400 * 86400, {7 * 86400, 365 * 86400}).outcome,
      Outcome::kExpired);
}

TEST_F(TokenTest, IssuedInTheFutureBeyondSkewIsExpired) {
  const std::string t = mintOk(Kind::kTemporary, kTokAlice, kTokBob, kNow + kClockSkew + 1);
  EXPECT_EQ(verify(t, kTokAlice, kTokBob, ring_, kNow, life_).outcome, Outcome::kExpired);
  const std::string near = mintOk(Kind::kTemporary, kTokAlice, kTokBob, kNow + kClockSkew);
  EXPECT_EQ(verify(near, kTokAlice, kTokBob, ring_, kNow, life_).outcome, Outcome::kValid);
}

TEST_F(TokenTest, EveryAlteredByteIsRefused) {
  const std::string t = mintOk(Kind::kTemporary);
  auto raw = base64Decode(t, true);
  ASSERT_TRUE(raw.has_value());
  for (size_t i = 0; i < raw->size(); ++i) {
    std::vector<uint8_t> b = *raw;
    b[i] ^= 0x01;
    const std::string altered = base64Encode(b.data(), b.size(), true, false);
    const Outcome o = verify(altered, kTokAlice, kTokBob, ring_, kNow, life_).outcome;
    EXPECT_NE(o, Outcome::kValid) << "byte " << i;
  }
}

TEST_F(TokenTest, KindFlippedIsABadMac) {
  const std::string t = mintOk(Kind::kTemporary);
  auto raw = base64Decode(t, true);
  ASSERT_TRUE(raw.has_value());
  (*raw)[1] = 'P';
  const std::string p = base64Encode(raw->data(), raw->size(), true, false);
  EXPECT_EQ(verify(p, kTokAlice, kTokBob, ring_, kNow, life_).outcome, Outcome::kBadMac);
}

TEST_F(TokenTest, MalformedTexts) {
  const std::string t = mintOk(Kind::kTemporary);
  for (const std::string& bad :
       {std::string(), t.substr(1), t + "A", std::string(52, '='), t.substr(0, 51) + "+",
        t.substr(0, 51) + " ", std::string(10 * 1024 * 1024, 'A')}) {
    EXPECT_EQ(verify(bad, kTokAlice, kTokBob, ring_, kNow, life_).outcome, Outcome::kMalformed)
        << bad.size();
    EXPECT_FALSE(isTokenText(bad));
  }
}

TEST_F(TokenTest, UnknownVersionAndKindAreMalformed) {
  const std::string t = mintOk(Kind::kTemporary);
  auto raw = base64Decode(t, true);
  ASSERT_TRUE(raw.has_value());
  auto v = *raw;
  v[0] = 2;
  EXPECT_FALSE(decode(base64Encode(v.data(), v.size(), true, false)).ok());
  auto k = *raw;
  k[1] = 'X';
  EXPECT_EQ(
      verify(base64Encode(k.data(), k.size(), true, false), kTokAlice, kTokBob, ring_, kNow, life_)
          .outcome,
      Outcome::kMalformed);
}

TEST_F(TokenTest, KeyRotationKeepsOlderTokensAndRetiredKeysAreUnknown) {
  auto old = mintWithKey(Kind::kTemporary, stokenKeyOf(1, 0x11), kTokAlice, kTokBob, kNow);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(verify(*old, kTokAlice, kTokBob, ring_, kNow, life_).outcome, Outcome::kValid);
  const token::KeyRing rotated =
      token::KeyRing::fromKeys({stokenKeyOf(2, 0x22), stokenKeyOf(3, 0x33)});
  EXPECT_EQ(verify(*old, kTokAlice, kTokBob, rotated, kNow, life_).outcome, Outcome::kUnknownKey);
  // Same id, another secret: a forgery attempt with a guessed key.
  auto forged = mintWithKey(Kind::kTemporary, stokenKeyOf(2, 0x99), kTokAlice, kTokBob, kNow);
  ASSERT_TRUE(forged.ok());
  EXPECT_EQ(verify(*forged, kTokAlice, kTokBob, ring_, kNow, life_).outcome, Outcome::kBadMac);
}

TEST_F(TokenTest, SameTokenComparesWholeTexts) {
  const std::string a = mintOk(Kind::kTemporary);
  std::string b = a;
  EXPECT_TRUE(sameToken(a, b));
  b.back() = b.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(sameToken(a, b));
  EXPECT_FALSE(sameToken(a, a.substr(0, 51)));
}

TEST_F(TokenTest, LogIdIsShortStableAndNotTheToken) {
  const std::string a = mintOk(Kind::kTemporary);
  const std::string b = mintOk(Kind::kTemporary, "carol@alpha.test");
  EXPECT_EQ(tokenLogId(a).size(), 12u);
  EXPECT_EQ(tokenLogId(a), tokenLogId(a));
  EXPECT_NE(tokenLogId(a), tokenLogId(b));
  EXPECT_EQ(a.find(tokenLogId(a)), std::string::npos);
}

TEST_F(TokenTest, OutcomeNames) {
  EXPECT_STREQ(outcomeName(Outcome::kValid), "valid");
  EXPECT_STREQ(outcomeName(Outcome::kWrongRemote), "wrong-remote");
  EXPECT_STREQ(kindName(Kind::kPermanent), "permanent");
}

}  // namespace
}  // namespace mtep::stoken

// Sealed boxes to an ed25519 key: round trip, armor, wrong key, tampering, limits.
#include "e2ee/seal.h"

#include <gtest/gtest.h>

#include <string>

namespace mtep::e2ee {
namespace {

KeyPair keyFor(uint8_t fill) {
  Seed s;
  s.fill(fill);
  auto kp = keyPairFromSeed(s);
  EXPECT_TRUE(kp.ok());
  return kp.ok() ? *kp : KeyPair{};
}

TEST(Seal, RoundTripAndArmorShape) {
  const KeyPair bob = keyFor(0x42);
  std::string plain = "Subject: secret\r\n\r\nmeet at noon\r\n";
  plain += std::string(200, 'z');
  plain += std::string(1, '\0');
  auto armored = sealToKey(plain, bob.pub);
  ASSERT_TRUE(armored.ok()) << armored.error().message();
  EXPECT_EQ(armored->rfind(std::string(kArmorBegin) + "\r\n", 0), 0u);
  EXPECT_NE(armored->find(std::string(kArmorEnd) + "\r\n"), std::string::npos);
  // Every base64 line is at most 64 characters, all but the last exactly 64.
  size_t pos = armored->find("\r\n") + 2;
  size_t short_lines = 0;
  while (armored->compare(pos, kArmorEnd.size(), kArmorEnd) != 0) {
    const size_t nl = armored->find("\r\n", pos);
    ASSERT_NE(nl, std::string::npos);
    EXPECT_LE(nl - pos, 64u);
    if (nl - pos < 64) ++short_lines;
    pos = nl + 2;
  }
  EXPECT_LE(short_lines, 1u);
  auto opened = openSealed(*armored, bob.seed);
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  EXPECT_EQ(*opened, plain);
  // Two seals of the same text differ (ephemeral key).
  auto again = sealToKey(plain, bob.pub);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(*again, *armored);
}

TEST(Seal, EmptyPlaintextAndLfArmorAndSurroundingText) {
  const KeyPair bob = keyFor(0x11);
  auto armored = sealToKey("", bob.pub);
  ASSERT_TRUE(armored.ok());
  std::string lf = "Some text a MUA added\n" + *armored + "-- \nsig\n";
  for (size_t p; (p = lf.find("\r\n")) != std::string::npos;) lf.erase(p, 1);
  auto opened = openSealed(lf, bob.seed);
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  EXPECT_EQ(*opened, "");
}

TEST(Seal, WrongKeyAndTamperingFail) {
  const KeyPair bob = keyFor(0x42);
  const KeyPair eve = keyFor(0x43);
  auto armored = sealToKey("hello bob", bob.pub);
  ASSERT_TRUE(armored.ok());
  auto wrong = openSealed(*armored, eve.seed);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().kind(), ErrorKind::kInvalid);
  EXPECT_NE(wrong.error().message().find("does not open"), std::string::npos);
  std::string tampered = *armored;
  const size_t at = tampered.find("\r\n") + 2 + 10;
  tampered[at] = tampered[at] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(openSealed(tampered, bob.seed).ok());
}

TEST(Seal, ArmorRefusals) {
  const KeyPair bob = keyFor(0x42);
  const std::string begin = std::string(kArmorBegin) + "\n";
  const std::string end = std::string(kArmorEnd) + "\n";
  const struct {
    std::string text;
    const char* says;
  } cases[] = {
      {"no armor at all", "no BEGIN"},
      {begin + "AAAA\n", "no END"},
      {begin + "!!!!\n" + end, "not base64"},
      {begin + "AAAA\n" + end, "shorter than a sealed box"},
      {begin + std::string(65, 'A') + "\n" + end, "longer than 64"},
  };
  for (const auto& c : cases) {
    auto r = openSealed(c.text, bob.seed);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_NE(r.error().message().find(c.says), std::string::npos) << r.error().message();
  }
}

TEST(Seal, LimitsCheckedFirst) {
  const KeyPair bob = keyFor(0x42);
  SealLimits limits;
  limits.max_plaintext = 8;
  limits.max_armored = 16;
  auto big = sealToKey("123456789", bob.pub, limits);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().kind(), ErrorKind::kLimit);
  auto big_armor = openSealed(std::string(17, 'A'), bob.seed, limits);
  ASSERT_FALSE(big_armor.ok());
  EXPECT_EQ(big_armor.error().kind(), ErrorKind::kLimit);
}

TEST(Seal, RefusesInvalidRecipientKey) {
  PublicKey bad{};
  bad.fill(0xff);  // not a point on the curve
  auto r = sealToKey("x", bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kInvalid);
}

}  // namespace
}  // namespace mtep::e2ee

// Key derivation, AUTH HASHEDPASS hashes and verifiers, public key formats.
#include <gtest/gtest.h>

#include <string>

#include "e2ee/e2ee.h"
#include "util/base64.h"

namespace mtep::e2ee {
namespace {

// Small parameters so the tests run fast; the fixed ones are in doc/e2ee-vectors.md.
KdfParams small() {
  KdfParams p;
  p.memory_kib = 64;
  p.time_cost = 1;
  p.lanes = 1;
  return p;
}

const std::string kSalt = "0123456789abcdef";  // 16 bytes

TEST(DeriveKey, DeterministicAndDependsOnPasswordSaltAndParams) {
  auto a = deriveKey("correct horse", kSalt, small());
  auto b = deriveKey("correct horse", kSalt, small());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->seed, b->seed);
  EXPECT_EQ(a->pub, b->pub);
  auto other_pw = deriveKey("correct horsf", kSalt, small());
  auto other_salt = deriveKey("correct horse", "0123456789abcdeF", small());
  KdfParams p2 = small();
  p2.time_cost = 2;
  auto other_params = deriveKey("correct horse", kSalt, p2);
  ASSERT_TRUE(other_pw.ok() && other_salt.ok() && other_params.ok());
  EXPECT_NE(a->pub, other_pw->pub);
  EXPECT_NE(a->pub, other_salt->pub);
  EXPECT_NE(a->pub, other_params->pub);
  // The public key is the RFC 8032 one for the derived seed.
  auto kp = keyPairFromSeed(a->seed);
  ASSERT_TRUE(kp.ok());
  EXPECT_EQ(kp->pub, a->pub);
}

TEST(DeriveKey, RefusesShortOrLongSaltAndBadParams) {
  auto s = deriveKey("pw", "short", small());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind(), ErrorKind::kInvalid);
  EXPECT_FALSE(deriveKey("pw", std::string(65, 's'), small()).ok());
  KdfParams bad = small();
  bad.time_cost = 0;
  EXPECT_FALSE(deriveKey("pw", kSalt, bad).ok());
  auto long_pw = deriveKey(std::string(kMaxPassword + 1, 'p'), kSalt, small());
  ASSERT_FALSE(long_pw.ok());
  EXPECT_EQ(long_pw.error().kind(), ErrorKind::kLimit);
}

TEST(Salt, RandomSaltsAreNewAndRoundTripAsBase64) {
  auto a = randomSalt();
  auto b = randomSalt();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), kNewSaltBytes);
  EXPECT_NE(*a, *b);
  auto back = parseSalt(formatSalt(*a));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*back, *a);
  auto spaced = parseSalt("  " + formatSalt(*a) + "\r\n");
  ASSERT_TRUE(spaced.ok());
  EXPECT_EQ(*spaced, *a);
}

TEST(Salt, RefusesShortLongAndMalformed) {
  EXPECT_FALSE(parseSalt(formatSalt(std::string(15, 's'))).ok());
  EXPECT_TRUE(parseSalt(formatSalt(std::string(64, 's'))).ok());
  auto too_long = parseSalt(formatSalt(std::string(65, 's')));
  ASSERT_FALSE(too_long.ok());
  EXPECT_NE(too_long.error().message().find("16..64"), std::string::npos);
  auto huge = parseSalt(std::string(100, 'A'));
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.error().kind(), ErrorKind::kLimit);
  auto bad = parseSalt("not base64!");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind(), ErrorKind::kInvalid);
}

TEST(HashedPass, UsernameCaseInsensitiveAndDistinctFromKeySeed) {
  auto a = hashedPass("Alice@Alpha.test", "pw", small());
  auto b = hashedPass("alice@alpha.test", "pw", small());
  auto c = hashedPass("bob@alpha.test", "pw", small());
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  EXPECT_FALSE(hashedPass("", "pw", small()).ok());
}

TEST(HashedPass, AuthPayloadRoundTripAndAlternativeHashForms) {
  auto h = hashedPass("alice@alpha.test", "pw", small());
  ASSERT_TRUE(h.ok());
  const std::string payload = formatHashedPassAuth("alice@alpha.test", *h);
  auto raw = base64Decode(payload, false);
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->size(), 1 + 16 + 1 + 64u);
  auto parsed = parseHashedPassAuth(payload);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->username, "alice@alpha.test");
  EXPECT_EQ(parsed->hash, *h);
  // Raw 32 bytes (may hold NULs) and base64 of them are read too.
  Hash zeros{};
  zeros[5] = 7;
  std::string rawp = std::string("\0u\0", 3) + std::string(zeros.begin(), zeros.end());
  auto p2 = parseHashedPassAuth(
      base64Encode(reinterpret_cast<const uint8_t*>(rawp.data()), rawp.size(), false, true));
  ASSERT_TRUE(p2.ok()) << p2.error().message();
  EXPECT_EQ(p2->hash, zeros);
  std::string b64p = std::string("\0u\0", 3) + base64Encode(zeros.data(), 32, false, true);
  auto p3 = parseHashedPassAuth(
      base64Encode(reinterpret_cast<const uint8_t*>(b64p.data()), b64p.size(), false, true));
  ASSERT_TRUE(p3.ok()) << p3.error().message();
  EXPECT_EQ(p3->hash, zeros);
}

TEST(HashedPass, AuthPayloadRefusals) {
  auto enc = [](std::string s) {
    return base64Encode(reinterpret_cast<const uint8_t*>(s.data()), s.size(), false, true);
  };
  const struct {
    std::string payload;
    const char* says;
  } cases[] = {
      {"!!!", "not base64"},
      {enc("user"), "no NUL before"},
      {enc(std::string("\0user", 5)), "no NUL after"},
      {enc(std::string("\0\0", 2) + std::string(64, 'a')), "username must be 1..256"},
      {enc(std::string("\0", 1) + std::string(kMaxUsername + 1, 'u') + std::string("\0", 1) +
           std::string(32, 'h')),
       "username must be 1..256"},
      {enc(std::string("\0u\0", 3) + std::string(63, 'a')), "must be 32 bytes"},
      {enc(std::string("\0u\0", 3) + std::string(64, 'z')), "must be 32 bytes"},
  };
  for (const auto& c : cases) {
    auto r = parseHashedPassAuth(c.payload);
    ASSERT_FALSE(r.ok()) << c.payload;
    EXPECT_NE(r.error().message().find(c.says), std::string::npos) << r.error().message();
  }
  // The longest valid payload (a 256-byte username, hex hash) is read.
  Hash h{};
  auto longest = parseHashedPassAuth(formatHashedPassAuth(std::string(kMaxUsername, 'u'), h));
  EXPECT_TRUE(longest.ok()) << longest.error().message();
  auto big = parseHashedPassAuth(std::string(4000, 'A'));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().kind(), ErrorKind::kLimit);
}

TEST(Verifier, ChecksTheRightHashOnlyAndIsSaltedAndNotTheHash) {
  auto h = hashedPass("alice@alpha.test", "pw", small());
  auto wrong = hashedPass("alice@alpha.test", "pW", small());
  ASSERT_TRUE(h.ok() && wrong.ok());
  auto v1 = makeVerifier(*h);
  auto v2 = makeVerifier(*h);
  ASSERT_TRUE(v1.ok() && v2.ok());
  EXPECT_NE(*v1, *v2);  // per-user random salt
  EXPECT_TRUE(checkVerifier(*v1, *h));
  EXPECT_TRUE(checkVerifier(*v2, *h));
  EXPECT_FALSE(checkVerifier(*v1, *wrong));
  // The stored value does not contain the hash itself.
  EXPECT_EQ(v1->find(hexEncode(h->data(), 32)), std::string::npos);
  // Malformed stored values never check.
  EXPECT_FALSE(checkVerifier("", *h));
  EXPECT_FALSE(checkVerifier(hexEncode(h->data(), 32), *h));
  std::string tampered = *v1;
  tampered.back() = tampered.back() == '0' ? '1' : '0';
  EXPECT_FALSE(checkVerifier(tampered, *h));
  std::string bad_version = *v1;
  bad_version[1] = '2';
  EXPECT_FALSE(checkVerifier(bad_version, *h));
}

// RFC 8032 TEST 1's public key, in each form.
const char kPubHex[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

PublicKey testKey() {
  auto v = hexDecode(kPubHex);
  PublicKey k{};
  std::copy(v->begin(), v->end(), k.begin());
  return k;
}

TEST(KeyFormats, WrittenAsTheDraftWritesThem) {
  const PublicKey k = testKey();
  const std::string blob = formatOpensshBlob(k);
  EXPECT_EQ(blob.substr(0, 24), "AAAAC3NzaC1lZDI1NTE5AAAA");
  EXPECT_EQ(blob.size(), 68u);
  EXPECT_EQ(formatOpensshText(k), "ssh-ed25519 " + blob);
  const std::string reply = formatPubkeyReply(k);
  EXPECT_EQ(reply.substr(0, 16), "QUFBQUMzTnphQzFs");  // the draft's example prefix
  auto inner = base64Decode(reply, false);
  ASSERT_TRUE(inner);
  EXPECT_EQ(std::string(inner->begin(), inner->end()), blob);
  EXPECT_EQ(formatRaw(k).size(), 44u);
}

TEST(KeyFormats, EveryFormReadsBack) {
  const PublicKey k = testKey();
  const std::string text = formatOpensshText(k);
  const std::string b64text =
      base64Encode(reinterpret_cast<const uint8_t*>(text.data()), text.size(), false, true);
  const std::string forms[] = {
      formatRaw(k),
      formatOpensshBlob(k),
      text,
      text + " alice@alpha.test",
      formatPubkeyReply(k),
      b64text,
      "ed25519 " + formatPubkeyReply(k),
      "ed25519 " + formatOpensshBlob(k),
      "  " + formatRaw(k) + "\r\n",
      base64Encode(k.data(), k.size(), false, false),
  };
  for (const auto& f : forms) {
    auto r = parsePublicKey(f);
    ASSERT_TRUE(r.ok()) << f << ": " << r.error().message();
    EXPECT_EQ(*r, k) << f;
  }
}

TEST(KeyFormats, RefusalsSayWhatIsWrong) {
  const PublicKey k = testKey();
  auto enc = [](std::string s) {
    return base64Encode(reinterpret_cast<const uint8_t*>(s.data()), s.size(), false, true);
  };
  std::string rsa_blob = std::string("\0\0\0\x07ssh-rsa", 11) + std::string(20, 'x');
  std::string short_blob =
      std::string("\0\0\0\x0bssh-ed25519\0\0\0\x1f", 19) + std::string(31, 'k');
  const struct {
    std::string text;
    ErrorKind kind;
    const char* says;
  } cases[] = {
      {"", ErrorKind::kInvalid, "empty"},
      {"   ", ErrorKind::kInvalid, "empty"},
      {"not*base64", ErrorKind::kInvalid, "not base64"},
      {"ssh-ed25519 ***", ErrorKind::kInvalid, "blob is not base64"},
      {"ssh-ed25519 " + formatRaw(k), ErrorKind::kInvalid, "not an ed25519 key blob"},
      {"ssh-rsa " + formatOpensshBlob(k), ErrorKind::kInvalid, "expected base64"},
      {base64Encode(k.data(), 31, false, true), ErrorKind::kInvalid, "31 bytes"},
      {enc(rsa_blob), ErrorKind::kInvalid, "neither a raw key"},
      {enc(short_blob), ErrorKind::kInvalid, "OpenSSH blob"},
      {enc(enc(formatRaw(k))), ErrorKind::kInvalid, "double-encoded"},  // two levels: refused
      {enc("hello world"), ErrorKind::kInvalid, "double-encoded"},
      {std::string(kMaxKeyText + 1, 'A'), ErrorKind::kLimit, "longer than"},
  };
  for (const auto& c : cases) {
    auto r = parsePublicKey(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.error().kind(), c.kind) << c.text << ": " << r.error().message();
    EXPECT_NE(r.error().message().find(c.says), std::string::npos)
        << c.text << ": " << r.error().message();
  }
}

}  // namespace
}  // namespace mtep::e2ee

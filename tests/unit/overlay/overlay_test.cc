// Overlay names: base32, onion v3 validation against real addresses,
// SMTorP fingerprint labels, i2p names, and the explanation lines.
// Expected onion addresses were computed independently with Python's
// hashlib.sha3_256 and base64.b32encode.
#include "overlay/overlay.h"

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <string_view>
#include <vector>

namespace mtep::overlay {
namespace {

// Public v3 onion services (checked with Python before use).
constexpr std::string_view kTorProject =
    "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion";
constexpr std::string_view kTorProjectKey =
    "d1b38b83a83b3ed918c5bb69dd444ad56bc8d5835a914de73447474e5f02591b";
constexpr std::string_view kDuckDuckGo =
    "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion";
constexpr std::string_view kBbc = "bbcnewsd73hkzno2ini43t4gblxvycyac5aw4gnv7t2rccijh7745uqd.onion";
// Key bytes 0, 1, ..., 31 with a correct checksum but version byte 2.
constexpr std::string_view kVersion2 =
    "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dyprozyc.onion";
// A full fingerprint: base32 of SHA-256("spki").
constexpr std::string_view kFingerprint = "n7xmzdawyvkr3h7lh227o7rnu5z362f5t344kkjhz2zmq3swrevq";

std::string sequenceKey() {
  std::string k;
  for (int i = 0; i < 32; ++i) k.push_back(static_cast<char>(i));
  return k;
}

// The message of a parse that must fail with kInvalid.
std::string parseError(std::string_view domain) {
  auto d = parseDomain(domain);
  if (d.ok()) return "(parsed: " + d->host + ")";
  EXPECT_EQ(d.error().kind(), ErrorKind::kInvalid) << domain;
  return d.error().message();
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(Base32, EncodesTheRfc4648VectorsInLowerCaseWithoutPadding) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"", ""},           {"f", "my"},          {"fo", "mzxq"},         {"foo", "mzxw6"},
      {"foob", "mzxw6yq"}, {"fooba", "mzxw6ytb"}, {"foobar", "mzxw6ytboi"},
  };
  for (const auto& [plain, want] : cases) {
    EXPECT_EQ(base32Encode(plain), want) << "input '" << plain << "'";
    auto back = base32Decode(want);
    ASSERT_TRUE(back.ok()) << want << ": " << back.error().message();
    EXPECT_EQ(*back, plain) << want;
  }
}

TEST(Base32, DecodeAcceptsUpperCase) {
  auto v = base32Decode("MZXW6YTBOI");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, "foobar");
}

TEST(Base32, DecodeNamesTheFirstBadCharacter) {
  auto v = base32Decode("mzx1");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().kind(), ErrorKind::kInvalid);
  EXPECT_TRUE(contains(v.error().message(), "1 is not a base32 digit")) << v.error().message();
  auto pad = base32Decode("my======");
  ASSERT_FALSE(pad.ok());
  EXPECT_TRUE(contains(pad.error().message(), "= is not a base32 digit")) << pad.error().message();
}

TEST(Base32, DecodeRefusesNonZeroSpareBitsAndImpossibleLengths) {
  EXPECT_FALSE(base32Decode("mz").ok());   // "my" is canonical for "f"
  EXPECT_FALSE(base32Decode("m").ok());    // 5 bits: no whole byte
  EXPECT_FALSE(base32Decode("mzx").ok());  // 15 bits
  EXPECT_FALSE(base32Decode("mzxw6y").ok());
}

TEST(Base32, RoundTripsEveryByteValue) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t n = 0; n <= all.size(); n += 7) {
    const std::string part = all.substr(0, n);
    auto back = base32Decode(base32Encode(part));
    ASSERT_TRUE(back.ok()) << n;
    EXPECT_EQ(*back, part) << n;
  }
}

TEST(OnionAddress, AcceptsRealPublicV3Addresses) {
  for (std::string_view name : {kTorProject, kDuckDuckGo, kBbc}) {
    auto d = parseDomain(name);
    ASSERT_TRUE(d.ok()) << name << ": " << d.error().message();
    EXPECT_EQ(d->kind, Kind::kOnion) << name;
    EXPECT_EQ(d->host, name);
    EXPECT_EQ(d->fingerprint, "");
  }
}

TEST(OnionAddress, ReportsTheServiceKeyInHex) {
  auto d = parseDomain(kTorProject);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->pubkey_hex, kTorProjectKey);
}

TEST(OnionAddress, BuildsAddressesFromKeysAsComputedIndependently) {
  auto zero = onionFromPublicKey(std::string(32, '\0'));
  ASSERT_TRUE(zero.ok()) << zero.error().message();
  EXPECT_EQ(*zero, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaam2dqd.onion");
  auto seq = onionFromPublicKey(sequenceKey());
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dyp3kead.onion");
  auto ones = onionFromPublicKey(std::string(32, '\xff'));
  ASSERT_TRUE(ones.ok());
  EXPECT_EQ(*ones, "777777777777777777777777777777777777777777777777777vpaqd.onion");
  // And the Tor Project's own address from its key.
  std::string key;
  for (size_t i = 0; i < kTorProjectKey.size(); i += 2) {
    key.push_back(static_cast<char>(std::stoi(std::string(kTorProjectKey.substr(i, 2)), nullptr, 16)));
  }
  EXPECT_EQ(*onionFromPublicKey(key), kTorProject);
}

TEST(OnionAddress, BuiltAddressesParseBack) {
  auto seq = onionFromPublicKey(sequenceKey());
  ASSERT_TRUE(seq.ok());
  auto d = parseDomain(*seq);
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->pubkey_hex, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
}

TEST(OnionAddress, FromPublicKeyRefusesAKeyThatIsNot32Bytes) {
  auto r = onionFromPublicKey(std::string(31, 'k'));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kInvalid);
  EXPECT_FALSE(onionFromPublicKey(std::string(33, 'k')).ok());
  EXPECT_FALSE(onionFromPublicKey("").ok());
}

TEST(OnionAddress, RefusesABadChecksum) {
  // First character changed: the key changes, version byte still 3.
  std::string bad(kTorProject);
  bad[0] = '3';
  const std::string msg = parseError(bad);
  EXPECT_TRUE(contains(msg, "checksum does not match")) << msg;
  // One checksum character changed (characters 51..55 hold checksum and version).
  std::string bad2(kDuckDuckGo);
  bad2[52] = bad2[52] == 'a' ? 'b' : 'a';
  EXPECT_TRUE(contains(parseError(bad2), "checksum does not match")) << parseError(bad2);
}

TEST(OnionAddress, RefusesVersion2WithACorrectChecksum) {
  const std::string msg = parseError(kVersion2);
  EXPECT_TRUE(contains(msg, "version 2, not 3")) << msg;
}

TEST(OnionAddress, RefusesWrongLengths) {
  std::string shorter(kTorProject);
  shorter.erase(0, 1);
  std::string msg = parseError(shorter);
  EXPECT_TRUE(contains(msg, "has 55 characters")) << msg;
  std::string longer = "a" + std::string(kTorProject);
  msg = parseError(longer);
  EXPECT_TRUE(contains(msg, "has 57 characters")) << msg;
}

TEST(OnionAddress, RefusesV2NamesSayingTheyAreGone) {
  const std::string msg = parseError("expyuzz4wqqyqhjn.onion");
  EXPECT_TRUE(contains(msg, "v2 onion services are gone since 2021")) << msg;
  EXPECT_TRUE(contains(msg, "expyuzz4wqqyqhjn.onion")) << msg;
}

TEST(OnionAddress, RefusesNonBase32CharactersNamingThem) {
  std::string bad(kTorProject);
  bad[3] = '1';
  std::string msg = parseError(bad);
  EXPECT_TRUE(contains(msg, "1 is not a base32 digit")) << msg;
  bad[3] = '-';
  msg = parseError(bad);
  EXPECT_TRUE(contains(msg, "- is not a base32 digit")) << msg;
  bad[3] = '\x01';
  msg = parseError(bad);
  EXPECT_TRUE(contains(msg, "\\x01 is not a base32 digit")) << msg;
}

TEST(OnionAddress, RefusesAnEmptyOnionLabel) {
  EXPECT_TRUE(contains(parseError(".onion"), "empty label")) << parseError(".onion");
  EXPECT_TRUE(contains(parseError("onion"), "no onion address")) << parseError("onion");
  const std::string fp_only = std::string(kFingerprint) + "..onion";
  EXPECT_FALSE(parseDomain(fp_only).ok());
}

TEST(OnionAddress, LowersUpperCaseInputAndDropsATrailingDot) {
  std::string upper;
  for (char c : kTorProject) upper.push_back(static_cast<char>(std::toupper(c)));
  auto d = parseDomain(upper + ".");
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->host, kTorProject);
  std::string fp_upper;
  for (char c : kFingerprint.substr(0, 20)) fp_upper.push_back(static_cast<char>(std::toupper(c)));
  auto f = parseDomain(fp_upper + "." + std::string(kTorProject));
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ(f->fingerprint, kFingerprint.substr(0, 20));
}

TEST(FingerprintLabel, AcceptsLengths16To52) {
  for (size_t n : {16u, 17u, 32u, 51u, 52u}) {
    const std::string fp(kFingerprint.substr(0, n));
    auto d = parseDomain(fp + "." + std::string(kTorProject));
    ASSERT_TRUE(d.ok()) << n << ": " << d.error().message();
    EXPECT_EQ(d->kind, Kind::kOnion);
    EXPECT_EQ(d->host, kTorProject) << n;
    EXPECT_EQ(d->fingerprint, fp) << n;
  }
}

TEST(FingerprintLabel, RefusesTooShortAndTooLong) {
  std::string msg = parseError(std::string(kFingerprint.substr(0, 15)) + "." +
                               std::string(kTorProject));
  EXPECT_TRUE(contains(msg, "has 15 characters; it must have 16 to 52")) << msg;
  msg = parseError(std::string(kFingerprint) + "a." + std::string(kTorProject));
  EXPECT_TRUE(contains(msg, "has 53 characters")) << msg;
}

TEST(FingerprintLabel, RefusesANonBase32LabelNamingIt) {
  const std::string msg = parseError("xyz1abcdefghijklmnop." + std::string(kTorProject));
  EXPECT_TRUE(contains(msg, "fingerprint label 'xyz1abcdefghijklmnop' is not base32 "
                            "(1 is not a base32 digit)"))
      << msg;
  // Short and bad: the bad character is named first.
  const std::string short_msg = parseError("xyz1." + std::string(kTorProject));
  EXPECT_TRUE(contains(short_msg, "'xyz1' is not base32 (1 is not a base32 digit)")) << short_msg;
}

TEST(FingerprintLabel, RefusesTwoLabelsBeforeTheOnionNamingThem) {
  const std::string two = "mail." + std::string(kFingerprint.substr(0, 16)) + ".";
  const std::string msg = parseError(two + std::string(kTorProject));
  EXPECT_TRUE(contains(msg, "'mail." + std::string(kFingerprint.substr(0, 16)) + "'")) << msg;
  EXPECT_TRUE(contains(msg, "only one label")) << msg;
}

TEST(FingerprintLabel, MatchesAsAPrefixOfTheFullFingerprint) {
  EXPECT_TRUE(fingerprintMatches(kFingerprint.substr(0, 16), kFingerprint));
  EXPECT_TRUE(fingerprintMatches(kFingerprint, kFingerprint));
  std::string upper;
  for (char c : kFingerprint.substr(0, 20)) upper.push_back(static_cast<char>(std::toupper(c)));
  EXPECT_TRUE(fingerprintMatches(upper, kFingerprint));
  std::string other(kFingerprint.substr(0, 16));
  other[15] = other[15] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(fingerprintMatches(other, kFingerprint));
}

TEST(FingerprintLabel, MatchRefusesLabelsOutside16To52AndBadFingerprints) {
  EXPECT_FALSE(fingerprintMatches(kFingerprint.substr(0, 15), kFingerprint));
  EXPECT_FALSE(fingerprintMatches("", kFingerprint));
  EXPECT_FALSE(fingerprintMatches(kFingerprint.substr(0, 16), kFingerprint.substr(0, 51)));
  EXPECT_FALSE(fingerprintMatches(kFingerprint.substr(0, 16), ""));
  // Not base32 in either: no match even when the bytes are equal.
  const std::string junk(52, '1');
  EXPECT_FALSE(fingerprintMatches(junk.substr(0, 16), junk));
}

TEST(I2pName, AcceptsADestinationHash) {
  const std::string name = "saomn4il4ebhopv4zjxhabualfcnh4q2bsswaf46va2fntvpl2bq.b32.i2p";
  auto d = parseDomain(name);
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->kind, Kind::kI2p);
  EXPECT_EQ(d->host, name);
  auto upper = parseDomain("7TBAY5P4KZEEKXVYVBF6V7EAUAZEMSNNL2AOYQHG5JZPR5EKE7TQ.B32.I2P.");
  ASSERT_TRUE(upper.ok()) << upper.error().message();
  EXPECT_EQ(upper->host, "7tbay5p4kzeekxvyvbf6v7eauazemsnnl2aoyqhg5jzpr5eke7tq.b32.i2p");
}

TEST(I2pName, AcceptsALongerEncryptedLeaseSetName) {
  // 56 base32 characters: 35 whole bytes.
  auto d = parseDomain(std::string(kTorProject.substr(0, 56)) + ".b32.i2p");
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->kind, Kind::kI2p);
}

TEST(I2pName, RefusesBadB32Names) {
  std::string msg = parseError("saomn4il4ebhopv4zjxhabualfcnh4q2bsswaf46va2fntvpl2b.b32.i2p");
  EXPECT_TRUE(contains(msg, "has 51 characters")) << msg;
  msg = parseError("saomn4il4ebhopv4zjxhabualfcnh4q2bsswaf46va2fntvpl2b1.b32.i2p");
  EXPECT_TRUE(contains(msg, "1 is not a base32 digit")) << msg;
  // Last character with non-zero spare bits: not a 32-byte hash.
  msg = parseError("saomn4il4ebhopv4zjxhabualfcnh4q2bsswaf46va2fntvpl2br.b32.i2p");
  EXPECT_TRUE(contains(msg, "spare bits")) << msg;
  EXPECT_FALSE(parseDomain("b32.i2p").ok());
  EXPECT_FALSE(parseDomain("x.saomn4il4ebhopv4zjxhabualfcnh4q2bsswaf46va2fntvpl2bq.b32.i2p").ok());
}

TEST(I2pName, AcceptsPlainAddressBookNames) {
  for (std::string_view name : {"stats.i2p", "mail.i2p", "a-b.c.i2p", "Zzz.I2P"}) {
    auto d = parseDomain(name);
    ASSERT_TRUE(d.ok()) << name << ": " << d.error().message();
    EXPECT_EQ(d->kind, Kind::kI2p) << name;
  }
  EXPECT_EQ(parseDomain("Zzz.I2P")->host, "zzz.i2p");
}

TEST(I2pName, RefusesPlainNamesBreakingTheLdhRule) {
  EXPECT_TRUE(contains(parseError("bad_name.i2p"), "_ is not a letter")) << parseError("bad_name.i2p");
  EXPECT_TRUE(contains(parseError("-x.i2p"), "hyphen"));
  EXPECT_TRUE(contains(parseError("a..i2p"), "empty label"));
  EXPECT_TRUE(contains(parseError(".i2p"), "empty label") ||
              contains(parseError(".i2p"), "no name"));
  EXPECT_TRUE(contains(parseError(std::string(64, 'a') + ".i2p"), "longer than 63"));
  EXPECT_FALSE(parseDomain("i2p").ok());
}

TEST(ParseDomain, OtherNamesAreKindNoneNotErrors) {
  for (std::string_view name : {"example.org", "EXAMPLE.org.", "onion.example", "i2p.example",
                                "xonion", "[192.0.2.1]"}) {
    auto d = parseDomain(name);
    ASSERT_TRUE(d.ok()) << name << ": " << d.error().message();
    EXPECT_EQ(d->kind, Kind::kNone) << name;
  }
  EXPECT_EQ(parseDomain("EXAMPLE.org.")->host, "example.org");
}

// One trailing dot is the root; a second ends an empty label. parseDomain
// once dropped every trailing dot while the resolver dropped one, so the
// two disagreed on "x.onion.." (issue 13). Now it is refused, as is any
// other empty label.
TEST(ParseDomain, RefusesANameWithAnEmptyLabel) {
  const std::string onion(kTorProject);
  for (const std::string& name :
       {std::string("u8shzyc.."), std::string("example.org..."), std::string("stats.i2p.."),
        std::string("."), std::string(""), onion + "..", onion + "...", "a.." + onion,
        std::string("a..b.org"), std::string(".example.org"), std::string("..onion"),
        std::string(kFingerprint.substr(0, 16)) + ".." + onion}) {
    auto d = parseDomain(name);
    ASSERT_FALSE(d.ok()) << name << " gave host " << d->host;
    EXPECT_EQ(d.error().kind(), ErrorKind::kInvalid) << name;
    EXPECT_TRUE(contains(d.error().message(), "empty")) << name << ": " << d.error().message();
  }
}

TEST(ParseDomain, ReparsingTheHostGivesTheSameResult) {
  // Found by fuzz_overlay_domain: "u8shzyc.." once gave host "u8shzyc.".
  for (std::string_view name : {"u8shzyc.", "example.org.", "stats.i2p.", "EXAMPLE.ORG"}) {
    auto d = parseDomain(name);
    ASSERT_TRUE(d.ok()) << name;
    auto again = parseDomain(d->host);
    ASSERT_TRUE(again.ok()) << name;
    EXPECT_EQ(again->host, d->host) << name;
    EXPECT_EQ(again->kind, d->kind) << name;
  }
}

TEST(ParseDomain, KindNames) {
  EXPECT_STREQ(kindName(Kind::kNone), "none");
  EXPECT_STREQ(kindName(Kind::kOnion), "onion");
  EXPECT_STREQ(kindName(Kind::kI2p), "i2p");
}

TEST(ParseDomain, ErrorMessagesArePrintableAscii) {
  std::string bad = "\x01\xff\n'." + std::string(kTorProject);
  const std::string msg = parseError(bad);
  for (char c : msg) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "byte " << static_cast<int>(c) << " in " << msg;
  }
}

std::string joined(const Explanation& e) {
  std::string s;
  for (const auto& l : e.lines) s += l + "\n";
  return s;
}

TEST(Explain, DescribesAnSmtorpMailboxWithFingerprint) {
  const std::string addr =
      "user@" + std::string(kFingerprint.substr(0, 16)) + "." + std::string(kTorProject);
  const Explanation e = explain(addr);
  EXPECT_TRUE(e.valid);
  const std::string all = joined(e);
  EXPECT_EQ(e.lines.at(0), "address: " + addr);
  EXPECT_TRUE(contains(all, "kind: onion (Tor v3 onion service)\n")) << all;
  EXPECT_TRUE(contains(all, "onion address: " + std::string(kTorProject) + "\n")) << all;
  EXPECT_TRUE(contains(all, "service key (ed25519): " + std::string(kTorProjectKey))) << all;
  EXPECT_TRUE(contains(all, "fingerprint label: " + std::string(kFingerprint.substr(0, 16)) +
                                " (16 characters, 80 bits)"))
      << all;
  EXPECT_TRUE(contains(all, "127.0.0.1:9050")) << all;
}

TEST(Explain, FullFingerprintIs256Bits) {
  const Explanation e = explain(std::string(kFingerprint) + "." + std::string(kTorProject));
  EXPECT_TRUE(e.valid);
  EXPECT_TRUE(contains(joined(e), "(52 characters, 256 bits)")) << joined(e);
}

TEST(Explain, OnionWithoutFingerprintMentionsTrustOnFirstUse) {
  const Explanation e = explain(std::string(kBbc));
  EXPECT_TRUE(e.valid);
  EXPECT_TRUE(contains(joined(e), "fingerprint label: none")) << joined(e);
  EXPECT_TRUE(contains(joined(e), "trust_on_first_use")) << joined(e);
}

TEST(Explain, InvalidAddressSaysWhatIsWrong) {
  std::string bad(kTorProject);
  bad[0] = '3';
  const Explanation e = explain("a@" + bad);
  EXPECT_FALSE(e.valid);
  ASSERT_EQ(e.lines.size(), 2u) << joined(e);
  EXPECT_TRUE(e.lines[1].starts_with("invalid: ")) << e.lines[1];
  EXPECT_TRUE(contains(e.lines[1], "checksum does not match")) << e.lines[1];
}

TEST(Explain, EmptyLocalPartOrDomainIsInvalid) {
  EXPECT_FALSE(explain("@" + std::string(kTorProject)).valid);
  EXPECT_FALSE(explain("user@").valid);
  EXPECT_FALSE(explain("").valid);
}

TEST(Explain, I2pAndPlainDomains) {
  const Explanation i2p = explain("u@saomn4il4ebhopv4zjxhabualfcnh4q2bsswaf46va2fntvpl2bq.b32.i2p");
  EXPECT_TRUE(i2p.valid);
  EXPECT_TRUE(contains(joined(i2p), "kind: i2p (destination hash, .b32.i2p)")) << joined(i2p);
  EXPECT_TRUE(contains(joined(i2p), "127.0.0.1:4447")) << joined(i2p);
  const Explanation book = explain("u@stats.i2p");
  EXPECT_TRUE(contains(joined(book), "address book")) << joined(book);
  const Explanation plain = explain("u@example.org");
  EXPECT_TRUE(plain.valid);
  EXPECT_TRUE(contains(joined(plain), "kind: none")) << joined(plain);
}

TEST(Explain, LinesArePrintableAscii) {
  const Explanation e = explain("\x1b[31m@\x7f" + std::string(kTorProject));
  for (const auto& line : e.lines) {
    for (char c : line) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << line;
  }
}

}  // namespace
}  // namespace mtep::overlay

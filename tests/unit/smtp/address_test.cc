// Tests for smtp address parsing (RFC 5321 4.1.2, RFC 6531): table-driven
// valid and invalid cases, exact length boundaries, canonical forms.

#include "smtp/address.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mtep::smtp {
namespace {

using namespace std::string_literals;

struct ValidCase {
  std::string in;
  std::string local_part;
  std::string domain;
  bool quoted;
  bool literal;
  bool utf8;
};

const std::vector<ValidCase>& validMailboxes() {
  static const std::vector<ValidCase> cases = {
      {"user@example.org", "user", "example.org", false, false, false},
      {"first.last@sub.Example.ORG", "first.last", "sub.Example.ORG", false, false, false},
      {"a!#$%&'*+-/=?^_`{|}~@example.org", "a!#$%&'*+-/=?^_`{|}~", "example.org", false, false,
       false},
      {"user@localhost", "user", "localhost", false, false, false},
      {"user@a-b--c.example", "user", "a-b--c.example", false, false, false},
      {"user@1.2.3.4", "user", "1.2.3.4", false, false, false},
      {"user@xn--bcher-kva.example", "user", "xn--bcher-kva.example", false, false, false},
      {"\"john doe\"@example.org", "john doe", "example.org", true, false, false},
      {"\"a\\\"b\"@example.org", "a\"b", "example.org", true, false, false},
      {"\"a\\\\b\"@example.org", "a\\b", "example.org", true, false, false},
      {"\"a\\b\"@example.org", "ab", "example.org", true, false, false},
      {"\"\"@example.org", "", "example.org", true, false, false},
      {"\"a@b\"@example.org", "a@b", "example.org", true, false, false},
      {"\".a..b.\"@example.org", ".a..b.", "example.org", true, false, false},
      {"user@[192.0.2.1]", "user", "[192.0.2.1]", false, true, false},
      {"user@[0.0.0.0]", "user", "[0.0.0.0]", false, true, false},
      {"user@[255.255.255.255]", "user", "[255.255.255.255]", false, true, false},
      {"user@[IPv6:2001:db8::1]", "user", "[IPv6:2001:db8::1]", false, true, false},
      {"user@[ipv6:::1]", "user", "[ipv6:::1]", false, true, false},
      {"user@[IPv6:::ffff:192.0.2.1]", "user", "[IPv6:::ffff:192.0.2.1]", false, true, false},
      {"user@[x-tag:abc=def]", "user", "[x-tag:abc=def]", false, true, false},
      {"user@[9tag:a>b]", "user", "[9tag:a>b]", false, true, false},
      {"josé@exämple.org", "josé", "exämple.org", false, false, true},
      {"用户@例子.广告", "用户", "例子.广告", false, false, true},
      {"\xF0\x9F\x98\x80@x.org", "\xF0\x9F\x98\x80", "x.org", false, false, true},
      {"\"jo sé\"@x.org", "jo sé", "x.org", true, false, true},
      {"\xEF\xBF\xBD@x.org", "\xEF\xBF\xBD", "x.org", false, false, true},
      {"\xF4\x8F\xBF\xBD@x.org", "\xF4\x8F\xBF\xBD", "x.org", false, false, true},
      {"\xC2\xA0x@x.org", "\xC2\xA0x", "x.org", false, false, true},
  };
  return cases;
}

TEST(ParseMailbox, AcceptsValidAddresses) {
  for (const auto& c : validMailboxes()) {
    auto r = parseMailbox(c.in);
    ASSERT_TRUE(r.ok()) << "in=" << c.in << " error=" << r.error().message();
    EXPECT_EQ(r->local_part, c.local_part) << "in=" << c.in;
    EXPECT_EQ(r->domain, c.domain) << "in=" << c.in;
    EXPECT_EQ(r->quoted, c.quoted) << "in=" << c.in;
    EXPECT_EQ(r->literal, c.literal) << "in=" << c.in;
    EXPECT_EQ(r->utf8, c.utf8) << "in=" << c.in;
    EXPECT_FALSE(r->isNull()) << "in=" << c.in;
  }
}

TEST(ParseMailbox, CanonicalFormReparsesToTheSameAddress) {
  for (const auto& c : validMailboxes()) {
    auto r = parseMailbox(c.in);
    ASSERT_TRUE(r.ok()) << c.in;
    std::string text = r->toString();
    EXPECT_LE(text.size(), c.in.size()) << "in=" << c.in << " got=" << text;
    auto again = parseMailbox(text);
    ASSERT_TRUE(again.ok()) << "in=" << c.in << " canonical=" << text
                            << " error=" << again.error().message();
    EXPECT_EQ(again->local_part, r->local_part) << text;
    EXPECT_EQ(again->domain, r->domain) << text;
    EXPECT_EQ(again->toString(), text);
  }
}

struct InvalidCase {
  std::string in;
  std::string want;  // substring of the error message
};

TEST(ParseMailbox, RejectsInvalidAddressesWithClearMessages) {
  const std::vector<InvalidCase> cases = {
      {"", "empty address"},
      {"userexample.org", "missing '@'"},
      {"@example.org", "empty local part"},
      {".user@x.org", "starts with '.'"},
      {"user.@x.org", "ends with '.'"},
      {"us..er@x.org", "consecutive dots"},
      {"us er@x.org", "invalid character 0x20 in local part"},
      {"us(er@x.org", "invalid character '(' in local part"},
      {"us\ter@x.org", "invalid character 0x09 in local part"},
      {"user@", "empty domain"},
      {"user@-x.org", "starts with '-'"},
      {"user@x-.org", "ends with '-'"},
      {"user@x..org", "empty label"},
      {"user@x.org.", "empty label"},
      {"user@.x.org", "empty label"},
      {"user@x_y.org", "invalid character '_' in domain"},
      {"a@b@c", "invalid character '@' in domain"},
      {"user@x.org ", "invalid character 0x20 in domain"},
      {"user@x.org>", "invalid character '>' in domain"},
      {"\"abc@x.org", "unterminated quoted"},
      {"\"abc\\", "unterminated quoted"},
      {"\"ab\"c@x.org", "expected '@'"},
      {"\"ab\"", "missing '@'"},
      {"\"a\tb\"@x.org", "invalid character 0x09 in quoted local part"},
      {"\"a\x7f\"@x.org", "invalid character 0x7F in quoted local part"},
      {"\"a\\\tb\"@x.org", "invalid quoted-pair"},
      {"\"a\\\xC3\xA9\"@x.org", "invalid quoted-pair"},
      {"user@[192.0.2.256]", "above 255"},
      {"user@[192.0.2]", "four octets"},
      {"user@[192.0.2.1.5]", "trailing"},
      {"user@[01.2.3.4]", "leading zero"},
      {"user@[1234.2.3.4]", "more than 3 digits"},
      {"user@[1.2.3.]", "empty or non-numeric"},
      {"user@[1.-2.3.4]", "empty or non-numeric"},
      {"user@[IPv6:2001:db8:::1]", "invalid IPv6"},
      {"user@[IPv6:]", "invalid IPv6"},
      {"user@[IPv6:1.2.3.4]", "invalid IPv6"},
      {"user@[IPv6:fe80::1%eth0]", "invalid character '%' in IPv6"},
      {"user@[IPv6:2001:db8::g]", "invalid character 'g' in IPv6"},
      {"user@[IPv6:::ff\0\xB9"
       "2.1]"s,
       "invalid character 0x00 in IPv6"},
      {"user@[IPv6:::1\0]"s, "invalid character 0x00 in IPv6"},
      {"user@[1.2.3.4\0]"s, "trailing"},
      {"us\0er@x.org"s, "invalid character 0x00 in local part"},
      {"user@x\0.org"s, "invalid character 0x00 in domain"},
      {"user@[192.0.2.1", "missing closing ']'"},
      {"user@[", "missing closing ']'"},
      {"user@[]", "empty address literal"},
      {"user@[tag:]", "no content"},
      {"user@[:x]", "tag is empty"},
      {"user@[ta_g:x]", "invalid character '_' in address literal tag"},
      {"user@[tag-:x]", "tag ends with '-'"},
      {"user@[tag:a[b]", "invalid character '[' in address literal"},
      {"user@[tag:a b]", "invalid character 0x20 in address literal"},
      {"user@[tag:a\\b]", "invalid character '\\' in address literal"},
      {"user@[tag:\xC3\xA9]", "invalid character 0xC3 in address literal"},
      {"user@[1.2.3.4]x", "missing closing ']'"},
      {"\xC0\xAF@x.org", "invalid UTF-8 in local part"},              // overlong '/'
      {"\xE0\x80\xAF@x.org", "invalid UTF-8 in local part"},          // overlong 3-byte
      {"\xF0\x80\x80\xAF@x.org", "invalid UTF-8 in local part"},      // overlong 4-byte
      {"\xED\xA0\x80@x.org", "invalid UTF-8 in local part"},          // surrogate U+D800
      {"\xF4\x90\x80\x80@x.org", "invalid UTF-8 in local part"},      // U+110000
      {"\xC2\x85@x.org", "invalid UTF-8 in local part"},              // C1 control NEL
      {"\xC2\x80@x.org", "invalid UTF-8 in local part"},              // C1 control
      {"\x80@x.org", "invalid UTF-8 in local part"},                  // stray continuation
      {"\xE2\x82@x.org", "invalid UTF-8 in local part"},              // truncated
      {"\xF8\x88\x80\x80\x80@x.org", "invalid UTF-8 in local part"},  // 5-byte form
      {"\xFF@x.org", "invalid UTF-8 in local part"},
      {"a@\xC3.org", "invalid UTF-8 in domain"},
      {"a@x.\xED\xBF\xBF", "invalid UTF-8 in domain"},
      {"\"\xC0\x80\"@x.org", "invalid UTF-8 in local part"},
  };
  for (const auto& c : cases) {
    auto r = parseMailbox(c.in);
    ASSERT_FALSE(r.ok()) << "in=" << c.in << " want error containing \"" << c.want
                         << "\" got success " << r->toString();
    EXPECT_EQ(r.error().kind(), ErrorKind::kInvalid) << "in=" << c.in;
    EXPECT_NE(r.error().message().find(c.want), std::string::npos)
        << "in=" << c.in << " want \"" << c.want << "\" got \"" << r.error().message() << "\"";
  }
}

TEST(ParseMailbox, RefusesUtf8WithoutSmtputf8) {
  const AddressOptions ascii{.smtputf8 = false};
  for (const char* in : {"josé@x.org", "jose@exämple.org", "\"jo sé\"@x.org"}) {
    auto r = parseMailbox(in, ascii);
    ASSERT_FALSE(r.ok()) << in;
    EXPECT_NE(r.error().message().find("without SMTPUTF8"), std::string::npos)
        << in << ": " << r.error().message();
  }
  EXPECT_TRUE(parseMailbox("jose@example.org", ascii).ok());
}

TEST(ParseMailbox, InvalidUtf8IsRefusedEvenWithoutSmtputf8) {
  auto r = parseMailbox("\xC0\xAF@x.org", {.smtputf8 = false});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("invalid UTF-8"), std::string::npos) << r.error().message();
}

std::string labels(size_t total) {
  // Labels of up to 63 'a's separated by dots, exactly `total` octets long.
  std::string out;
  while (out.size() < total) {
    if (!out.empty()) out.push_back('.');
    size_t room = total - out.size();
    size_t n = room > 63 ? 63 : room;
    if (room - n == 1) --n;  // never leave room for just a dot
    out.append(n, 'a');
  }
  return out;
}

TEST(AddressLimits, LocalPartOf64IsAcceptedAnd65Refused) {
  auto ok = parseMailbox(std::string(64, 'a') + "@x.org");
  EXPECT_TRUE(ok.ok()) << ok.error().message();
  auto bad = parseMailbox(std::string(65, 'a') + "@x.org");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "local part longer than 64 octets");
}

TEST(AddressLimits, QuotedLocalPartCountsQuotes) {
  auto ok = parseMailbox("\"" + std::string(62, ' ') + "\"@x.org");
  EXPECT_TRUE(ok.ok()) << ok.error().message();
  auto bad = parseMailbox("\"" + std::string(63, ' ') + "\"@x.org");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "local part longer than 64 octets");
}

TEST(AddressLimits, Utf8LocalPartCountsOctets) {
  std::string e32;
  for (int i = 0; i < 32; ++i) e32 += "é";
  EXPECT_TRUE(parseMailbox(e32 + "@x.org").ok());
  EXPECT_FALSE(parseMailbox(e32 + "a@x.org").ok());
}

TEST(AddressLimits, LabelOf63IsAcceptedAnd64Refused) {
  EXPECT_TRUE(checkDomain(std::string(63, 'a') + ".org").ok());
  auto bad = checkDomain(std::string(64, 'a') + ".org");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "domain label longer than 63 octets");
  EXPECT_TRUE(parseMailbox("u@x." + std::string(63, 'b')).ok());
  EXPECT_FALSE(parseMailbox("u@x." + std::string(64, 'b')).ok());
}

TEST(AddressLimits, DomainOf255IsAcceptedAnd256Refused) {
  std::string d255 = labels(255);
  std::string d256 = labels(256);
  ASSERT_EQ(d255.size(), 255u);
  ASSERT_EQ(d256.size(), 256u);
  EXPECT_TRUE(checkDomain(d255).ok()) << checkDomain(d255).error().message();
  auto bad = checkDomain(d256);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "domain longer than 255 octets");
  EXPECT_TRUE(parseMailbox("u@" + d255).ok());
  auto bad_box = parseMailbox("u@" + d256);
  ASSERT_FALSE(bad_box.ok());
  EXPECT_EQ(bad_box.error().message(), "domain longer than 255 octets");
}

TEST(AddressLimits, PathOf256IsAcceptedAnd257Refused) {
  // "<" + 64 + "@" + domain + ">" = 256 when the domain is 189 octets.
  std::string local(64, 'a');
  std::string ok_path = "<" + local + "@" + labels(189) + ">";
  ASSERT_EQ(ok_path.size(), 256u);
  auto ok = parsePath(ok_path);
  EXPECT_TRUE(ok.ok()) << ok.error().message();
  std::string bad_path = "<" + local + "@" + labels(190) + ">";
  auto bad = parsePath(bad_path);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "path longer than 256 octets");
  // A bare mailbox counts as if bracketed.
  EXPECT_TRUE(parsePath(ok_path.substr(1, 254)).ok());
  auto bare = parsePath(bad_path.substr(1, 255));
  ASSERT_FALSE(bare.ok());
  EXPECT_EQ(bare.error().message(), "path longer than 256 octets");
  // The source route counts too.
  auto routed = parsePath("<@r.example:" + ok_path.substr(1));
  ASSERT_FALSE(routed.ok());
  EXPECT_EQ(routed.error().message(), "path longer than 256 octets");
}

TEST(ParsePath, AcceptsBracketedBareAndRoutedPaths) {
  const std::vector<std::string> ins = {
      "<user@x.org>",
      "user@x.org",
      "<@a.example:user@x.org>",
      "<@a.example,@b.example:user@x.org>",
      "<@a-1.example,@b.example,@c:user@x.org>",
  };
  for (const auto& in : ins) {
    auto r = parsePath(in);
    ASSERT_TRUE(r.ok()) << "in=" << in << " error=" << r.error().message();
    EXPECT_EQ(r->toString(), "user@x.org") << "in=" << in;
  }
}

TEST(ParsePath, NullPathOnlyWhenAllowed) {
  auto r = parsePath("<>", {.allow_null = true});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(r->isNull());
  EXPECT_EQ(r->toString(), "");
  auto refused = parsePath("<>");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("null path"), std::string::npos);
  EXPECT_FALSE(parsePath("", {.allow_null = true}).ok());
  EXPECT_FALSE(parseMailbox("<>", {.allow_null = true}).ok());
}

TEST(ParsePath, RejectsMalformedPaths) {
  const std::vector<InvalidCase> cases = {
      {"<user@x.org", "missing closing '>'"},
      {"<", "missing closing '>'"},
      {"<user@x.org>>", "invalid character '>' in domain"},
      {"<<user@x.org>>", "invalid character '<' in local part"},
      {"< user@x.org>", "invalid character 0x20 in local part"},
      {"<@a.example,b.example:user@x.org>", "must start with '@'"},
      {"<@a.example user@x.org>", "not terminated by ':'"},
      {"<@-a.example:user@x.org>", "source route: domain label starts with '-'"},
      {"<@[192.0.2.1]:user@x.org>", "source route"},
      {"<@:user@x.org>", "source route: empty domain"},
      {"<@a.example:>", "empty address"},
      {"@a.example:user@x.org", "empty local part"},
  };
  for (const auto& c : cases) {
    auto r = parsePath(c.in);
    ASSERT_FALSE(r.ok()) << "in=" << c.in << " got success " << r->toString();
    EXPECT_NE(r.error().message().find(c.want), std::string::npos)
        << "in=" << c.in << " want \"" << c.want << "\" got \"" << r.error().message() << "\"";
  }
}

TEST(Mailbox, ToStringRequotesOnlyWhenNeeded) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\"john\"@Example.ORG", "john@Example.ORG"},
      {"\"John Doe\"@X.org", "\"John Doe\"@X.org"},
      {"\"a\\\"b\"@x", "\"a\\\"b\"@x"},
      {"\"a\\\\b\"@x", "\"a\\\\b\"@x"},
      {"\"a\\b\"@x", "ab@x"},
      {"\"a..b\"@x", "\"a..b\"@x"},
      {"\"a.b\"@x", "a.b@x"},
      {"\"\"@x", "\"\"@x"},
      {"\"a@b\"@x", "\"a@b\"@x"},
      {"\"jo sé\"@x", "\"jo sé\"@x"},
      {"\"josé\"@x", "josé@x"},
  };
  for (const auto& [in, want] : cases) {
    auto r = parseMailbox(in);
    ASSERT_TRUE(r.ok()) << "in=" << in << " error=" << r.error().message();
    EXPECT_EQ(r->toString(), want) << "in=" << in;
  }
}

TEST(Mailbox, CanonicalLowerFoldsAsciiOnly) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"User@Example.ORG", "user@example.org"},
      {"\"John Doe\"@X.Org", "\"john doe\"@x.org"},
      {"\"JOHN\"@X.ORG", "john@x.org"},
      {"JOSÉ@EXÄMPLE.org", "josÉ@exÄmple.org"},
      {"u@[IPv6:2001:DB8::1]", "u@[ipv6:2001:db8::1]"},
  };
  for (const auto& [in, want] : cases) {
    auto r = parseMailbox(in);
    ASSERT_TRUE(r.ok()) << "in=" << in << " error=" << r.error().message();
    EXPECT_EQ(r->canonicalLower(), want) << "in=" << in;
  }
  auto r = parseMailbox("Bob@Mail.Example.ORG");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->domainLower(), "mail.example.org");
  EXPECT_EQ(r->domain, "Mail.Example.ORG");
}

// Encodes a code point as UTF-8 without any validity checks.
std::string encodeUtf8(uint32_t cp) {
  std::string s;
  auto put = [&](uint32_t v) { s.push_back(static_cast<char>(static_cast<unsigned char>(v))); };
  if (cp < 0x80) {
    put(cp);
  } else if (cp < 0x800) {
    put(0xC0 | (cp >> 6));
    put(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    put(0xE0 | (cp >> 12));
    put(0x80 | ((cp >> 6) & 0x3F));
    put(0x80 | (cp & 0x3F));
  } else {
    put(0xF0 | (cp >> 18));
    put(0x80 | ((cp >> 12) & 0x3F));
    put(0x80 | ((cp >> 6) & 0x3F));
    put(0x80 | (cp & 0x3F));
  }
  return s;
}

TEST(StrictUtf8, AcceptsEveryScalarValueExceptC1Controls) {
  for (uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    bool c1 = cp >= 0x80 && cp <= 0x9F;
    bool want = !surrogate && !c1;
    ASSERT_EQ(isStrictUtf8(encodeUtf8(cp)), want) << "U+" << std::hex << cp;
  }
  EXPECT_FALSE(isStrictUtf8(encodeUtf8(0x110000)));
  EXPECT_FALSE(isStrictUtf8(encodeUtf8(0x1FFFFF)));
}

TEST(StrictUtf8, RefusesOverlongForms) {
  // Every code point below each form's minimum, encoded in that longer form.
  for (uint32_t cp = 0; cp < 0x80; ++cp) {
    std::string two = {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
    EXPECT_FALSE(isStrictUtf8(two)) << "2-byte overlong U+" << std::hex << cp;
  }
  for (uint32_t cp = 0; cp < 0x800; cp += 7) {
    std::string three = {static_cast<char>(0xE0), static_cast<char>(0x80 | (cp >> 6)),
                         static_cast<char>(0x80 | (cp & 0x3F))};
    EXPECT_FALSE(isStrictUtf8(three)) << "3-byte overlong U+" << std::hex << cp;
  }
  for (uint32_t cp = 0; cp < 0x10000; cp += 97) {
    std::string four = {static_cast<char>(0xF0), static_cast<char>(0x80 | (cp >> 12)),
                        static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
                        static_cast<char>(0x80 | (cp & 0x3F))};
    EXPECT_FALSE(isStrictUtf8(four)) << "4-byte overlong U+" << std::hex << cp;
  }
}

TEST(StrictUtf8, RefusesTruncatedAndStrayBytes) {
  EXPECT_TRUE(isStrictUtf8(""));
  EXPECT_TRUE(isStrictUtf8("plain ascii\t\n"));
  EXPECT_FALSE(isStrictUtf8("\xC3"));
  EXPECT_FALSE(isStrictUtf8("\xE2\x82"));
  EXPECT_FALSE(isStrictUtf8("\xF0\x9F\x98"));
  EXPECT_FALSE(isStrictUtf8("\xBF"));
  EXPECT_FALSE(
      isStrictUtf8("a\xC3"
                   "a"));
  EXPECT_FALSE(isStrictUtf8("\xFE"));
}

// ---- envelopeAddress: the domain, and so the policy, of an envelope address --

struct EnvelopeCase {
  std::string in;
  bool allow_null;
  EnvelopeAddress::Kind kind;
  std::string domain;   // the policy key
  std::string address;  // the lower-cased address
};

std::string kindName(EnvelopeAddress::Kind k) {
  switch (k) {
    case EnvelopeAddress::Kind::kMailbox: return "mailbox";
    case EnvelopeAddress::Kind::kLoose: return "loose";
    case EnvelopeAddress::Kind::kPostmaster: return "postmaster";
    case EnvelopeAddress::Kind::kNull: return "null";
    case EnvelopeAddress::Kind::kNoDomain: return "no-domain";
  }
  return "?";
}

TEST(EnvelopeAddress, FindsTheDomainOfEveryAddressAnMtaMightTake) {
  using K = EnvelopeAddress::Kind;
  const std::string a70(70, 'a');
  const std::string label63(63, 'l');
  std::string long_domain;  // 320 octets: over 255, labels of 63
  for (int i = 0; i < 5; ++i) long_domain += label63 + ".";
  long_domain += "beta.test";
  const std::vector<EnvelopeCase> cases = {
      // Parsed by parsePath: the mailbox's own domain.
      {"<bob@beta.test>", false, K::kMailbox, "beta.test", "bob@beta.test"},
      {"bob@beta.test", false, K::kMailbox, "beta.test", "bob@beta.test"},
      {"  <Bob@BETA.Test>\t", false, K::kMailbox, "beta.test", "bob@beta.test"},
      {"<@a.example,@b.example:bob@beta.test>", false, K::kMailbox, "beta.test", "bob@beta.test"},
      {"<\"a@alpha.test\"@beta.test>", false, K::kMailbox, "beta.test",
       "\"a@alpha.test\"@beta.test"},
      {"<bob@[192.0.2.1]>", false, K::kMailbox, "[192.0.2.1]", "bob@[192.0.2.1]"},
      {"<zoë@bücher.test>", false, K::kMailbox, "bücher.test", "zoë@bücher.test"},
      {"<bob@xn--bcher-kva.test>", false, K::kMailbox, "xn--bcher-kva.test",
       "bob@xn--bcher-kva.test"},
      {"<>", true, K::kNull, "", ""},
      // Refused by parsePath, domain found: the issue's case and its kin.
      {"<bob+" + a70 + "@beta.test>", false, K::kLoose, "beta.test",
       "bob+" + a70 + "@beta.test"},
      {"<BOB+" + a70 + "@Beta.TEST>", false, K::kLoose, "beta.test",
       "bob+" + a70 + "@beta.test"},
      {"<bob@beta.test.>", false, K::kLoose, "beta.test", "bob@beta.test"},
      {"<bob@beta.test..>", false, K::kLoose, "beta.test", "bob@beta.test"},
      {"<bob@" + long_domain + ">", false, K::kLoose, long_domain, "bob@" + long_domain},
      {"<@a.example,@b.example:bob+" + a70 + "@beta.test>", false, K::kLoose, "beta.test",
       "bob+" + a70 + "@beta.test"},
      {"<@-bad-:bob@beta.test>", false, K::kLoose, "beta.test", "bob@beta.test"},
      {"<\"bob@alpha.test\"" + a70 + "@beta.test>", false, K::kLoose, "beta.test",
       "\"bob@alpha.test\"" + a70 + "@beta.test"},
      {"<a@alpha.test@beta.test>", false, K::kLoose, "beta.test", "a@alpha.test@beta.test"},
      {"<bob..x@beta.test>", false, K::kLoose, "beta.test", "bob..x@beta.test"},
      {"<bob@-beta.test>", false, K::kLoose, "-beta.test", "bob@-beta.test"},
      {"<bob@BÜCHER.test>", false, K::kMailbox, "bÜcher.test", "bob@bÜcher.test"},
      {"<" + a70 + "@bücher.test>", false, K::kLoose, "bücher.test", a70 + "@bücher.test"},
      {"<" + a70 + "@[IPv6:2001:DB8::1]>", false, K::kLoose, "[ipv6:2001:db8::1]",
       a70 + "@[ipv6:2001:db8::1]"},
      {"<@beta.test>", false, K::kNoDomain, "", ""},
      {"<x\\@beta.test>", false, K::kNoDomain, "", ""},
      // The MTA's own postmaster.
      {"<postmaster>", false, K::kPostmaster, "", "postmaster"},
      {"<PostMaster>", false, K::kPostmaster, "", "postmaster"},
      // No domain to be found: the caller must not guess.
      {"<bob>", false, K::kNoDomain, "", ""},
      {"<>", false, K::kNoDomain, "", ""},
      {"< >", true, K::kNoDomain, "", ""},
      {"", false, K::kNoDomain, "", ""},
      {"", true, K::kNoDomain, "", ""},
      {"<bob@beta.test", false, K::kNoDomain, "", ""},
      {"<bob@>", false, K::kNoDomain, "", ""},
      {"<bob@.>", false, K::kNoDomain, "", ""},
      {"<\"bob@beta.test>", false, K::kNoDomain, "", ""},
      {"<\"bob@beta.test\">", false, K::kNoDomain, "", ""},
      {"<bob@beta.test (comment)>", false, K::kNoDomain, "", ""},
      {"<bob@beta test>", false, K::kNoDomain, "", ""},
      {"<bob@beta.test>>", false, K::kNoDomain, "", ""},
      {"<bob@[192.0.2.1>", false, K::kNoDomain, "", ""},
      {"<@a.example,@b.example bob@beta.test>", false, K::kNoDomain, "", ""},
      {"<bob@beta\x01.test>", false, K::kNoDomain, "", ""},
      {"<bob@beta\xC3.test>", false, K::kNoDomain, "", ""},
      {"<beta.test!bob>", false, K::kNoDomain, "", ""},
  };
  for (const EnvelopeCase& c : cases) {
    AddressOptions opts;
    opts.allow_null = c.allow_null;
    const EnvelopeAddress got = envelopeAddress(c.in, opts);
    EXPECT_EQ(kindName(got.kind), kindName(c.kind)) << "in=" << c.in;
    EXPECT_EQ(got.domain, c.domain) << "in=" << c.in;
    EXPECT_EQ(got.address, c.address) << "in=" << c.in;
    EXPECT_EQ(got.found(), !c.domain.empty() || c.kind == EnvelopeAddress::Kind::kPostmaster)
        << "in=" << c.in;
    if (got.kind != EnvelopeAddress::Kind::kMailbox && got.kind != EnvelopeAddress::Kind::kNull) {
      EXPECT_FALSE(got.error.empty()) << "in=" << c.in;
    }
  }
}

TEST(DomainKey, OneKeyForEveryFormOfADomain) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"Beta.TEST", "beta.test"},
      {"beta.test.", "beta.test"},
      {"beta.test..", "beta.test"},
      {".Example.ORG", ".example.org"},
      {"bücher.test", "xn--bcher-kva.test"},
      {"BÜCHER.test", "xn--bcher-kva.test"},
      {"xn--BCHER-kva.test", "xn--bcher-kva.test"},
      {".bücher.test", ".xn--bcher-kva.test"},
      {"例子.广告", "xn--fsqu00a.xn--4rr70v"},
      {"[IPv6:2001:DB8::1]", "[ipv6:2001:db8::1]"},
      {"", ""},
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(domainKey(in), want) << "in=" << in;
  // Mapped by UTS #46: fullwidth letters and the ideographic full stop.
  EXPECT_EQ(domainKey("\xEF\xBD\x82\xEF\xBD\x85\xEF\xBD\x94\xEF\xBD\x81.test\xE3\x80\x82"),
            "beta.test");
  // Mapped to nothing (a soft hyphen): kept as written, never "." or "".
  EXPECT_EQ(domainKey(".\xC2\xAD"), ".\xC2\xAD");
  // Not convertible (a lone combining mark first): kept, lower-cased ASCII only.
  EXPECT_EQ(domainKey("\xCC\x81X.test"), "\xCC\x81x.test");
}

TEST(EnvelopeAddress, MailboxKindKeepsTheParsedMailbox) {
  const EnvelopeAddress got = envelopeAddress("<Bob@Beta.Test>");
  ASSERT_EQ(kindName(got.kind), "mailbox");
  EXPECT_EQ(got.mailbox.local_part, "Bob");
  EXPECT_EQ(got.mailbox.domain, "Beta.Test");
  EXPECT_TRUE(got.error.empty());
}

TEST(EnvelopeAddress, ParsePathRefusalIsKeptAsTheReason) {
  const EnvelopeAddress got = envelopeAddress("<" + std::string(70, 'a') + "@beta.test>");
  ASSERT_EQ(kindName(got.kind), "loose");
  EXPECT_NE(got.error.find("local part longer than 64 octets"), std::string::npos) << got.error;
}

}  // namespace
}  // namespace mtep::smtp

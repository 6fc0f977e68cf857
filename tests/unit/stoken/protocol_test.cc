// STOKEN protocol texts: AUTH payloads (real NUL and the draft's literal
// "\0"), RCPT parameters, GENSTOKEN/REVSTOKEN arguments, the replies and
// the Submission-Token header; each with the inputs an attacker would try.
#include "stoken/protocol.h"

#include <gtest/gtest.h>

#include <string>

#include "util/base64.h"

namespace mtep::stoken {
namespace {

std::string b64(std::string_view raw) {
  return base64Encode(reinterpret_cast<const uint8_t*>(raw.data()), raw.size(), false, true);
}

TEST(AuthPayload, RoundTripWithRealNul) {
  const std::string text = formatAuthPayload("bob@beta.test", "tok-123");
  auto p = parseAuthPayload(text);
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_EQ(p->recipient, "bob@beta.test");
  EXPECT_EQ(p->token, "tok-123");
}

TEST(AuthPayload, TheDraftsExampleWithLiteralBackslashZero) {
  // draft section 7.3.1: "dXNlckBmb28uY29tXDBzNnhXMTVoOURo" = "user@foo.com\0s6xW15h9Dh"
  auto p = parseAuthPayload("dXNlckBmb28uY29tXDBzNnhXMTVoOURo");
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_EQ(p->recipient, "user@foo.com");
  EXPECT_EQ(p->token, "s6xW15h9Dh");
  auto q = parseAuthPayload("dXNlckBmb28uY29tXDB6NEpIbVVOSks0");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->token, "z4JHmUNJK4");
}

TEST(AuthPayload, LiteralSplitsAtTheLastBackslashZero) {
  auto p = parseAuthPayload(b64("\"a\\0b\"@x.test\\0tok"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->recipient, "\"a\\0b\"@x.test");
  EXPECT_EQ(p->token, "tok");
}

TEST(AuthPayload, RefusesBadInput) {
  for (const std::string& bad :
       {std::string("abcdefg"),                // the draft's error example
        std::string("!!!!"), std::string(""),  // not base64, empty
        b64("no separator"), b64(std::string("a@b\0", 4)), b64(std::string("\0tok", 4)),
        b64(std::string("a@b\0t\0k", 8)),     // two NULs
        b64(std::string("a@b\0to ken", 10)),  // space in the token
        b64(std::string("a@b\0tok\r\n", 9)),  // CRLF smuggled in
        b64(std::string("a\rb@c\0tok", 9)),   // control byte in the recipient
        b64(std::string(400, 'a') + std::string("\0tok", 4)),
        b64(std::string("a@b\0", 4) + std::string(300, 't'))}) {
    auto r = parseAuthPayload(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
}

TEST(AuthPayload, TenMegabytesIsALimitNotADecode) {
  auto r = parseAuthPayload(std::string(10 * 1024 * 1024, 'A'));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kLimit);
}

TEST(RcptParams, TokensAnyCaseAndOthersKept) {
  auto p = parseRcptParams("stoken=abc MyStoken=def NOTIFY=NEVER BODY=8BITMIME");
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_EQ(p->stoken, "abc");
  EXPECT_EQ(p->mystoken, "def");
  ASSERT_EQ(p->others.size(), 2u);
  EXPECT_EQ(p->others[0], "NOTIFY=NEVER");
  EXPECT_EQ(p->others[1], "BODY=8BITMIME");
}

TEST(RcptParams, NoneGivenIsEmpty) {
  auto p = parseRcptParams("");
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->stoken.has_value());
  EXPECT_FALSE(p->mystoken.has_value());
  EXPECT_TRUE(p->others.empty());
}

TEST(RcptParams, RefusesDuplicatesAndBadValues) {
  for (const char* bad : {"STOKEN=a STOKEN=b", "STOKEN=a stoken=a", "MYSTOKEN=a MYSTOKEN=b",
                          "STOKEN", "STOKEN=", "STOKEN=a=b", "=x", "S\x01=x", "STOKEN=\x7f"}) {
    EXPECT_FALSE(parseRcptParams(bad).ok()) << bad;
  }
  EXPECT_FALSE(parseRcptParams("STOKEN=" + std::string(300, 'a')).ok());
}

TEST(ManageArgs, GenstokenForms) {
  ManageParse m = parseManageArgs("GENSTOKEN", "PERM <Alice@Alpha.test> bob@beta.test");
  ASSERT_EQ(m.error, ManageError::kNone);
  EXPECT_EQ(m.args.kind, Kind::kPermanent);
  EXPECT_EQ(m.args.remote, "alice@alpha.test");
  EXPECT_EQ(m.args.local, "bob@beta.test");
  m = parseManageArgs("genstoken", "temp alice@alpha.test");
  ASSERT_EQ(m.error, ManageError::kNone);
  EXPECT_EQ(m.args.kind, Kind::kTemporary);
  EXPECT_EQ(m.args.local, "");
}

TEST(ManageArgs, Errors) {
  EXPECT_EQ(parseManageArgs("GENSTOKEN", "").error, ManageError::kSyntax);
  EXPECT_EQ(parseManageArgs("GENSTOKEN", "FOREVER a@b.test").error, ManageError::kSyntax);
  EXPECT_EQ(parseManageArgs("GENSTOKEN", "PERM").error, ManageError::kSyntax);
  EXPECT_EQ(parseManageArgs("GENSTOKEN", "PERM a@b.test c@d.test e@f.test").error,
            ManageError::kSyntax);
  EXPECT_EQ(parseManageArgs("GENSTOKEN", "PERM not-an-address").error, ManageError::kBadRemote);
  EXPECT_EQ(parseManageArgs("GENSTOKEN", "TEMP a@b.test <>").error, ManageError::kBadLocal);
  EXPECT_EQ(parseManageArgs("REVSTOKEN", "a@b.test").error, ManageError::kNone);
  EXPECT_EQ(parseManageArgs("REVSTOKEN", "@@").error, ManageError::kBadRemote);
  EXPECT_EQ(parseManageArgs("REVSTOKEN", "a@b.test x").error, ManageError::kBadLocal);
  EXPECT_EQ(parseManageArgs("REVSTOKEN", "").error, ManageError::kSyntax);
  EXPECT_EQ(parseManageArgs("MAIL", "a@b.test").error, ManageError::kSyntax);
}

TEST(Replies, GeneratedRoundTrip) {
  const std::string line = formatGenerated("17yUEeUu8M", "Temporary token generated.");
  EXPECT_EQ(line, "250 2.1.11 17yUEeUu8M Temporary token generated.");
  auto t = parseGenerated(line.substr(4));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, "17yUEeUu8M");
  EXPECT_FALSE(parseGenerated("2.1.12 17yUEeUu8M x").ok());
  EXPECT_FALSE(parseGenerated("2.1.11").ok());
}

TEST(Replies, DeliveredRoundTrips) {
  const std::string a = formatDelivered("bob@beta.test", "imXtPChKDO", "Saved");
  EXPECT_EQ(a, "250 2.1.12 <bob@beta.test> imXtPChKDO Saved");
  auto ra = parseDeliveryReply(a.substr(4));
  ASSERT_TRUE(ra.ok()) << ra.error().message();
  EXPECT_EQ(ra->address, "bob@beta.test");
  EXPECT_FALSE(ra->permanent.has_value());
  EXPECT_EQ(ra->delivery_id, "imXtPChKDO");
  EXPECT_EQ(ra->text, "Saved");

  const std::string b =
      formatDeliveredWithToken("bob@beta.test", "etLBdTj1iG", "NRaaVe83QN", "Saved");
  EXPECT_EQ(b, "250 2.1.13 <bob@beta.test> etLBdTj1iG NRaaVe83QN Saved");
  auto rb = parseDeliveryReply(b.substr(4));
  ASSERT_TRUE(rb.ok());
  EXPECT_EQ(rb->permanent, "etLBdTj1iG");
  EXPECT_EQ(rb->delivery_id, "NRaaVe83QN");
}

TEST(Replies, QuotedAddressWithBracketInside) {
  const std::string line = formatDelivered("\"a> b\"@beta.test", "id1", "");
  auto r = parseDeliveryReply(line.substr(4));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->address, "\"a> b\"@beta.test");
  EXPECT_EQ(r->delivery_id, "id1");
  EXPECT_EQ(r->text, "");
}

TEST(Replies, RefusesOtherShapes) {
  for (const char* bad : {"2.0.0 <a@b> id Saved", "2.1.12 a@b id", "2.1.12 <a@b>", "2.1.12 <a@b",
                          "2.1.13 <a@b> tok", "2.1.12 <a@b>id x", ""}) {
    EXPECT_FALSE(parseDeliveryReply(bad).ok()) << bad;
  }
}

TEST(SubmissionTokenHeader, OneTokenWhitespaceAndFolding) {
  EXPECT_EQ(*parseSubmissionTokenHeader(" abc"), "abc");
  EXPECT_EQ(*parseSubmissionTokenHeader("\r\n\tabc  \r\n"), "abc");
  EXPECT_EQ(*parseSubmissionTokenHeader("\t<abc>"), "abc");
  EXPECT_FALSE(parseSubmissionTokenHeader("").ok());
  EXPECT_FALSE(parseSubmissionTokenHeader("   ").ok());
  EXPECT_FALSE(parseSubmissionTokenHeader("abc def").ok());
  EXPECT_FALSE(parseSubmissionTokenHeader("abc\r\nX-Evil: 1").ok());
  EXPECT_FALSE(parseSubmissionTokenHeader("a=b").ok());
  EXPECT_FALSE(parseSubmissionTokenHeader("<a<b>").ok());
  auto big = parseSubmissionTokenHeader(std::string(10 * 1024 * 1024, 'a'));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().kind(), ErrorKind::kLimit);
}

}  // namespace
}  // namespace mtep::stoken

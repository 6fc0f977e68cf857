// lib/mmtp/mail.h: mail from the MTA as MMTP content (subject, text
// body, tags) and the packet built from it, checked against what a server
// checks (readPacket, checkStamp) and against the gateway's own RFC 5322
// form of a packet (toMessage), read back.
#include "mmtp/mail.h"

#include <gtest/gtest.h>

#include <string>

#include "mmtp/gateway.h"
#include "mmtp/packet.h"
#include "pow/pow.h"

namespace mtep::mmtp {
namespace {

std::string crlf(std::string_view lf) {
  std::string out;
  for (char c : lf) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

MailContent readOk(std::string_view lf_text) {
  auto c = readMail(crlf(lf_text));
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message());
  return c.ok() ? *c : MailContent{};
}

// The refusal's message (and its kind in *kind).
std::string refusal(std::string_view lf_text, ErrorKind* kind = nullptr,
                    const MailLimits& limits = {}) {
  auto c = readMail(crlf(lf_text), limits);
  if (c.ok()) return "(accepted)";
  if (kind != nullptr) *kind = c.error().kind();
  return c.error().message();
}

TEST(ReadMail, PlainTextSubjectAndBodyWithLfLineEnds) {
  const MailContent c = readOk(
      "From: alice@alpha.test\nTo: bob@beta.test\nSubject: Hello Bob\n\nLine one\nLine two\n");
  EXPECT_EQ(c.subject, "Hello Bob");
  EXPECT_EQ(c.body, "Line one\nLine two\n");
  EXPECT_EQ(c.tags, Json::object());
  EXPECT_EQ(c.tags_ignored, "");
}

TEST(ReadMail, BareLfInputReadsTheSameAsCrlf) {
  const std::string lf = "Subject: =?UTF-8?Q?caf=C3=A9?=\nContent-Type: text/plain\n\nhi\nthere\n";
  auto a = readMail(lf);
  auto b = readMail(crlf(lf));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->subject, b->subject);
  EXPECT_EQ(a->body, b->body);
  EXPECT_EQ(a->subject, "caf\xc3\xa9");
}

TEST(ReadMail, NoSubjectIsEmptyAndNoBodyIsEmpty) {
  const MailContent c = readOk("From: a@b.test\n");
  EXPECT_EQ(c.subject, "");
  EXPECT_EQ(c.body, "");
}

TEST(ReadMail, FoldedSubjectIsUnfolded) {
  const MailContent c = readOk("Subject: a long\n subject\n\tfolded\n\nx");
  EXPECT_EQ(c.subject, "a long subject\tfolded");
}

TEST(ReadMail, FirstSubjectWins) {
  EXPECT_EQ(readOk("Subject: one\nSubject: two\n\nx").subject, "one");
}

TEST(ReadMail, EncodedWordsDecoded) {
  struct Case {
    std::string header, want;
  } cases[] = {
      {"=?UTF-8?B?w6l0w6k=?=", "\xc3\xa9t\xc3\xa9"},
      {"=?utf-8?q?hello_world?=", "hello world"},
      {"=?ISO-8859-1?Q?Caf=E9?=", "Caf\xc3\xa9"},
      {"=?iso-8859-1?b?Q2Fm6Q==?=", "Caf\xc3\xa9"},
      {"=?windows-1252?Q?=80_and_=93quotes=94?=",
       "\xe2\x82\xac and \xe2\x80\x9cquotes\xe2\x80\x9d"},
      {"=?us-ascii?Q?plain?=", "plain"},
      // White space between adjacent encoded-words is dropped; between a
      // word and text it stays.
      {"=?UTF-8?Q?a?= =?UTF-8?Q?b?=", "ab"},
      {"=?UTF-8?Q?a?=\n =?UTF-8?Q?b?= c", "ab c"},
      {"x =?UTF-8?Q?a?= y", "x a y"},
      // A UTF-8 character split across two words.
      {"=?UTF-8?B?ww==?= =?UTF-8?B?qQ==?=", "\xc3\xa9"},
      {"=?UTF-8?Q?=C3?= =?UTF-8?Q?=A9?=", "\xc3\xa9"},
      // An RFC 2231 language.
      {"=?UTF-8*en?Q?hi?=", "hi"},
      // Not encoded-words: kept as text.
      {"=?UTF-8?X?abc?=", "=?UTF-8?X?abc?="},
      {"=?UTF-8?B?!!!?=", "=?UTF-8?B?!!!?="},
      {"=?UTF-8?Q?a b?=", "=?UTF-8?Q?a b?="},
      {"50% =? off", "50% =? off"},
      // Raw UTF-8 (RFC 6532).
      {"gr\xc3\xbc\xc3\x9f"
       "e",
       "gr\xc3\xbc\xc3\x9f"
       "e"},
      // Another charset whose bytes are UTF-8: kept.
      {"=?koi8-r?Q?abc?=", "abc"},
  };
  for (const Case& c : cases) {
    auto got = decodeHeaderText(c.header);
    ASSERT_TRUE(got.ok()) << c.header << ": " << got.error().message();
    EXPECT_EQ(*got, c.want) << c.header;
  }
}

TEST(ReadMail, HeaderTextThatIsNotUtf8IsRefused) {
  for (std::string_view h :
       {std::string_view("=?koi8-r?B?8fTv?="),  // KOI8-R bytes
        std::string_view("caf\xe9"),            // raw latin1
        std::string_view("=?UTF-8?Q?=FF?="), std::string_view("=?UTF-8?Q?a=00b?=")}) {
    auto got = decodeHeaderText(h);
    EXPECT_FALSE(got.ok()) << h;
  }
  auto k = decodeHeaderText("=?koi8-r?B?8fTv?=");
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.error().message().find("koi8-r"), std::string::npos) << k.error().message();
  ErrorKind kind{};
  EXPECT_NE(refusal("Subject: caf\xe9\n\nx", &kind).find("Subject"), std::string::npos);
  EXPECT_EQ(kind, ErrorKind::kInvalid);
}

TEST(ReadMail, TransferEncodingsDecoded) {
  EXPECT_EQ(readOk("Content-Transfer-Encoding: quoted-printable\n\n"
                   "caf=C3=A9 soft=\nbreak =3D ok=\n")
                .body,
            "caf\xc3\xa9 softbreak = ok");
  EXPECT_EQ(readOk("Content-Transfer-Encoding: quoted-printable\n\nstray = and =ZZ\n").body,
            "stray = and =ZZ\n");
  EXPECT_EQ(readOk("Content-Type: text/plain; charset=utf-8\n"
                   "Content-Transfer-Encoding: base64\n\nY2Fmw6kgbGluZQ0K\nc2Vjb25k\n")
                .body,
            "caf\xc3\xa9 line\nsecond");
  EXPECT_EQ(readOk("Content-Transfer-Encoding: BASE64 (comment)\n\naGk\n").body,
            "hi");  // no padding
  EXPECT_EQ(readOk("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
                   "gr\xc3\xbc\xc3\x9f"
                   "e\n")
                .body,
            "gr\xc3\xbc\xc3\x9f"
            "e\n");
}

TEST(ReadMail, BadTransferEncodingsRefused) {
  EXPECT_NE(refusal("Content-Transfer-Encoding: base64\n\n!!notbase64!!\n").find("base64"),
            std::string::npos);
  EXPECT_NE(refusal("Content-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n").find("x-uuencode"),
            std::string::npos);
}

TEST(ReadMail, CharsetsOfTheBody) {
  EXPECT_EQ(readOk("Content-Type: text/plain; charset=\"ISO-8859-1\"\n\ncaf\xe9\n").body,
            "caf\xc3\xa9\n");
  EXPECT_EQ(readOk("Content-Type: text/plain; charset=windows-1252\n\n\x80\n").body,
            "\xe2\x82\xac\n");
  // An unknown charset whose bytes are UTF-8 (and ASCII) goes through.
  EXPECT_EQ(readOk("Content-Type: text/plain; charset=iso-2022-jp\n\nplain\n").body, "plain\n");
  EXPECT_NE(refusal("Content-Type: text/plain; charset=koi8-r\n\n\xf1\xf4\xef\n").find("koi8-r"),
            std::string::npos);
  EXPECT_NE(refusal("Content-Type: text/plain; charset=utf-8\n\n\xff\xfe\n").find("UTF-8"),
            std::string::npos);
  // Base64 hides neither invalid UTF-8 nor NUL.
  EXPECT_NE(refusal("Content-Transfer-Encoding: base64\n\n//4=\n").find("UTF-8"),
            std::string::npos);
  EXPECT_NE(refusal("Content-Transfer-Encoding: base64\n\nYQBi\n").find("NUL"), std::string::npos);
}

const char* kAlternative =
    "Subject: alt\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/alternative; boundary=\"b1\"\n"
    "\n"
    "This is the preamble.\n"
    "--b1\n"
    "Content-Type: text/html; charset=utf-8\n"
    "\n"
    "<p>html</p>\n"
    "--b1\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "plain caf=C3=A9\n"
    "second line\n"
    "--b1--\n"
    "epilogue\n";

TEST(ReadMail, MultipartAlternativeTakesThePlainPart) {
  const MailContent c = readOk(kAlternative);
  EXPECT_EQ(c.subject, "alt");
  // The line end before the delimiter belongs to the delimiter.
  EXPECT_EQ(c.body, "plain caf\xc3\xa9\nsecond line");
}

TEST(ReadMail, NestedMultipartOneLevel) {
  const MailContent c = readOk(
      "Content-Type: multipart/mixed; boundary=outer\n\n"
      "--outer\n"
      "Content-Type: multipart/alternative; boundary=inner\n\n"
      "--inner\n"
      "Content-Type: text/plain\n\n"
      "inner text\n"
      "--inner\n"
      "Content-Type: text/html\n\n"
      "<b>x</b>\n"
      "--inner--\n"
      "--outer\n"
      "Content-Type: application/pdf\n"
      "Content-Transfer-Encoding: base64\n\n"
      "JVBERg==\n"
      "--outer--\n");
  EXPECT_EQ(c.body, "inner text");
}

TEST(ReadMail, DeeperNestingIsNotSearched) {
  const char* msg =
      "Content-Type: multipart/mixed; boundary=a\n\n"
      "--a\n"
      "Content-Type: multipart/mixed; boundary=b\n\n"
      "--b\n"
      "Content-Type: multipart/alternative; boundary=c\n\n"
      "--c\n"
      "Content-Type: text/plain\n\n"
      "too deep\n"
      "--c--\n"
      "--b--\n"
      "--a--\n";
  EXPECT_NE(refusal(msg).find("levels of multipart"), std::string::npos) << refusal(msg);
  MailLimits deeper;
  deeper.max_depth = 3;
  auto c = readMail(crlf(msg), deeper);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->body, "too deep");
}

TEST(ReadMail, AttachedTextIsNotTheBody) {
  const MailContent c = readOk(
      "Content-Type: multipart/mixed; boundary=x\n\n"
      "--x\n"
      "Content-Type: text/plain; name=notes.txt\n"
      "Content-Disposition: attachment; filename=notes.txt\n\n"
      "attached\n"
      "--x\n"
      "Content-Type: text/plain\n"
      "Content-Disposition: inline\n\n"
      "the body\n"
      "--x--\n");
  EXPECT_EQ(c.body, "the body");
  EXPECT_NE(refusal("Content-Type: multipart/mixed; boundary=x\n\n--x\n"
                    "Content-Type: text/plain\nContent-Disposition: attachment\n\nonly\n--x--\n")
                .find("no text/plain part"),
            std::string::npos);
}

TEST(ReadMail, PartWithoutHeadersIsPlainText) {
  EXPECT_EQ(readOk("Content-Type: multipart/mixed; boundary=x\n\n--x\n\nno headers\n--x--\n").body,
            "no headers");
}

TEST(ReadMail, BoundaryPrefixIsNotADelimiter) {
  const MailContent c = readOk(
      "Content-Type: multipart/mixed; boundary=abc\n\n"
      "--abc\n"
      "Content-Type: text/plain\n\n"
      "line\n"
      "--abcd is text, not a delimiter\n"
      "--abc  \n"  // transport padding after a delimiter is allowed
      "Content-Type: text/plain\n\n"
      "second\n"
      "--abc--\n");
  EXPECT_EQ(c.body, "line\n--abcd is text, not a delimiter");
}

TEST(ReadMail, MissingCloseDelimiterRunsToTheEnd) {
  EXPECT_EQ(readOk("Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\n"
                   "unclosed\n")
                .body,
            "unclosed\n");
}

TEST(ReadMail, RefusalsSayWhy) {
  EXPECT_NE(refusal("Content-Type: text/html\n\n<p>x</p>\n").find("HTML only"), std::string::npos);
  EXPECT_NE(refusal("Content-Type: multipart/alternative; boundary=b\n\n--b\n"
                    "Content-Type: text/html\n\n<p>x</p>\n--b--\n")
                .find("HTML only"),
            std::string::npos);
  EXPECT_NE(refusal("Content-Type: image/png\n\nPNG\n").find("no text/plain part"),
            std::string::npos);
  EXPECT_NE(refusal("Content-Type: multipart/mixed\n\n--x\n\nbody\n").find("boundary"),
            std::string::npos);
  EXPECT_NE(refusal("Content-Type: multipart/mixed; boundary=x\n\nno delimiter at all\n")
                .find("no text/plain part"),
            std::string::npos);
  EXPECT_NE(refusal("Content-Type: ;;;\n\nx\n").find("Content-Type"), std::string::npos);
  // A backslash as the last byte of a comment or a quoted string (found
  // by the fuzzer: it read past the field).
  EXPECT_NE(refusal("Content-Type: (comment\\").find("Content-Type"), std::string::npos);
  EXPECT_EQ(readOk("Content-Type: text/plain; x=\"a\\\n\nbody").body, "body");
  EXPECT_NE(refusal(std::string("Content-Type: text/plain\n\na\0b\n", 30)).find("NUL"),
            std::string::npos);
}

TEST(ReadMail, NonHeaderLineStartsTheBody) {
  // As Postfix's cleanup: a line that is no field ends the header section.
  const MailContent c = readOk("Subject: s\nthis is no header\nSubject: later\n");
  EXPECT_EQ(c.subject, "s");
  EXPECT_EQ(c.body, "this is no header\nSubject: later\n");
}

TEST(ReadMail, LimitsAreRefusalsNotTruncation) {
  MailLimits small;
  small.max_header_fields = 3;
  small.max_header_bytes = 100;
  small.max_parts = 2;
  small.max_subject_bytes = 10;
  ErrorKind kind{};
  EXPECT_NE(refusal("A: 1\nB: 2\nC: 3\nD: 4\n\nx", &kind, small).find("header fields"),
            std::string::npos);
  EXPECT_EQ(kind, ErrorKind::kLimit);
  kind = {};
  EXPECT_NE(refusal("A: " + std::string(200, 'x') + "\n\nx", &kind, small).find("header section"),
            std::string::npos);
  EXPECT_EQ(kind, ErrorKind::kLimit);
  kind = {};
  EXPECT_NE(
      refusal("A: 1\n " + std::string(200, 'x') + "\n\nx", &kind, small).find("header section"),
      std::string::npos);  // the limit counts continuation lines
  EXPECT_EQ(kind, ErrorKind::kLimit);
  kind = {};
  EXPECT_NE(refusal("Subject: 0123456789ab\n\nx", &kind, small).find("Subject"), std::string::npos);
  EXPECT_EQ(kind, ErrorKind::kLimit);
  kind = {};
  EXPECT_NE(refusal("Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: image/png\n\n"
                    "p\n--x\nContent-Type: image/png\n\np\n--x\n\ntext\n--x--\n",
                    &kind, small)
                .find("MIME parts"),
            std::string::npos);
  EXPECT_EQ(kind, ErrorKind::kLimit);
  // Within the limits: the same message shapes are fine.
  EXPECT_TRUE(readMail("A: 1\r\nSubject: 0123456789\r\n\r\nx", small).ok());
  // A part's header section has the limit too.
  kind = {};
  EXPECT_NE(refusal("Content-Type: multipart/mixed; boundary=x\n\n--x\nX: " +
                        std::string(200, 'y') + "\n\ntext\n--x--\n",
                    &kind, small)
                .find("header section"),
            std::string::npos);
}

TEST(ReadMail, TagsFromXMmtpTags) {
  const MailContent c =
      readOk("X-MMTP-Tags: {\"priority\":[\"high\"],\"custom\":[\"x\"]}\nSubject: t\n\nb");
  EXPECT_EQ(jsStringify(c.tags), R"({"priority":["high"],"custom":["x"]})");
  EXPECT_EQ(c.tags_ignored, "");
  // Encoded as the gateway writes long values.
  const MailContent e = readOk("X-MMTP-Tags: =?UTF-8?B?eyJzdGF0dXMiOlsidXJnZW50Il19?=\n\nb");
  EXPECT_EQ(jsStringify(e.tags), R"({"status":["urgent"]})");
  struct Case {
    const char* header;
    const char* why;
  } bad[] = {{"not json", "not a JSON object"},
             {"[\"high\"]", "not a JSON object"},
             {"{\"priority\":[\"highest\"]}", "tag not in category"},
             {"{\"colour\":[\"red\"]}", "unknown tag category"}};
  for (const Case& b : bad) {
    const MailContent i = readOk(std::string("X-MMTP-Tags: ") + b.header + "\n\nbody");
    EXPECT_EQ(i.tags, Json::object()) << b.header;
    EXPECT_NE(i.tags_ignored.find(b.why), std::string::npos) << b.header << ": " << i.tags_ignored;
    EXPECT_EQ(i.body, "body");  // the mail still goes
  }
}

// The gateway's RFC 5322 form of a packet, read back: the same content.
TEST(ReadMail, ReadsWhatTheGatewayWritesForTheMta) {
  Json content;
  content["subject"] =
      "Gr\xc3\xbc\xc3\x9f"
      "e \"aus\" Z\xc3\xbcrich";
  content["body"] = "line one\nline two \xe2\x82\xac\n";
  Json packet;
  packet["meta"]["type"] = "SEND";
  packet["meta"]["timestamp"] = 1800000000000;
  packet["meta"]["hashcashToken"]["token"] = "1:0:x";
  packet["meta"]["tags"]["category"] = Json::array({"work", "finance"});
  packet["sender"] = "(alice)%(alpha.test)";
  packet["recipient"] = "(bob)%(beta.test)";
  packet["content"] = content;
  packet["verification"]["messageHash"] = messageHash(content);
  PacketRead p = readPacket(packet, "0123456789abcdef0123456789abcdef");
  ASSERT_TRUE(p.ok) << p.refusal.reason;
  const std::string message = toMessage(p.packet, "mx.beta.test");
  auto c = readMail(message);
  ASSERT_TRUE(c.ok()) << c.error().message() << "\n" << message;
  EXPECT_EQ(c->subject, content["subject"].get<std::string>());
  EXPECT_EQ(c->body, content["body"].get<std::string>());
  EXPECT_EQ(jsStringify(c->tags), R"({"category":["work","finance"]})");
}

TEST(BuildPacket, TheReferenceClientsShapeAndOrder) {
  MailContent c;
  c.subject = "Hi";
  c.body = "Hello";
  const std::string token =
      "1:1:1800000000000:(alice)%(alpha.test):(bob)%(beta.test):1800000000000::27:";
  const Json p = buildPacket("(alice)%(alpha.test)", "(bob)%(beta.test)", c, 1800000000000, token,
                             "00112233445566778899aabbccddeeff");
  EXPECT_EQ(
      jsStringify(p),
      R"j({"meta":{"type":"SEND","messageId":"00112233445566778899aabbccddeeff",)j"
      R"j("timestamp":1800000000000,"hashcashToken":{"token":")j" +
          token +
          R"j(","counter":27},"encrypted":false,"signed":false,"tags":{}},)j"
          R"j("sender":"(alice)%(alpha.test)","recipient":"(bob)%(beta.test)",)j"
          R"j("content":{"subject":"Hi","body":"Hello"},"verification":)j"
          R"j({"messageHash":"51d4eaa38f7bdb2e1beb88a5eaf9fb63d2fdb146f415b270d3eddbc89df42199"}})j");
}

TEST(BuildPacket, CounterIsTheTokensLastField) {
  MailContent c;
  auto counter = [&c](std::string_view token) {
    return buildPacket("(a)%(b)", "(c)%(d)", c, 1, token, "id")["meta"]["hashcashToken"]["counter"];
  };
  EXPECT_EQ(counter("1:5:1:(a)%(b):(c)%(d):1::123456:"), 123456);
  EXPECT_EQ(counter("1:5:1:(a)%(b):(c)%(d):1::0:"), 0);
  EXPECT_EQ(counter(""), 0);
  EXPECT_EQ(counter("garbage"), 0);
  EXPECT_EQ(counter("1:5:1:x::12a:"), 0);
  EXPECT_EQ(counter("1:5:1:x::99999999999999999999:"), 0);
}

// A packet from mail, with a minted stamp: a server reads it and its
// stamp checks, as the reference server and ours do.
TEST(BuildPacket, PassesTheServersChecks) {
  const MailContent c = readOk(std::string("Subject: =?UTF-8?Q?S=C3=BCbject?=\n") +
                               "X-MMTP-Tags: {\"priority\":[\"low\"]}\n\nbody \"quoted\"\n\ttab\n");
  const int64_t ts = 1800000000000;
  const std::string sender = "(alice)%(alpha.test)";
  const std::string recipient = "(bob)%(beta.test)";
  auto token = pow::mintMmtp(stampResource(sender, recipient, ts), 2, ts);
  ASSERT_TRUE(token.ok()) << token.error().message();
  const Json packet = buildPacket(sender, recipient, c, ts, *token, newMessageId());
  // Over the wire and back.
  const Json wire = parseJson(jsStringify(packet));
  PacketRead read = readPacket(wire, newMessageId());
  ASSERT_TRUE(read.ok) << read.refusal.message << ": " << read.refusal.reason;
  EXPECT_EQ(read.packet.subject,
            "S\xc3\xbc"
            "bject");
  EXPECT_EQ(read.packet.body, "body \"quoted\"\n\ttab\n");
  StampRead stamp = checkStamp(read.packet, 2, ts + 1000, 3600 * 1000);
  EXPECT_TRUE(stamp.ok) << stamp.refusal.reason;
  // The stamp names this pair only.
  const Json other = buildPacket(sender, "(carol)%(beta.test)", c, ts, *token, newMessageId());
  PacketRead o = readPacket(other, newMessageId());
  ASSERT_TRUE(o.ok);
  EXPECT_FALSE(checkStamp(o.packet, 2, ts, 3600 * 1000).ok);
}

}  // namespace
}  // namespace mtep::mmtp

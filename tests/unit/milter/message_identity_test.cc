// MessageIdentity: what a retry of a message shares with the first attempt
// (everything but trace headers, folding white space and CRs) and what
// makes another message different (any other header or body byte, the
// envelope sender).
#include "milter/message_identity.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace mtep::milter {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

std::string identity(const std::string& sender, const Headers& headers,
                     const std::vector<std::string>& body) {
  MessageIdentity id;
  id.start(sender);
  for (const auto& [n, v] : headers) id.header(n, v);
  for (const std::string& piece : body) id.body(piece);
  return id.finish();
}

const Headers kHeaders = {{"From", " Zoe <zoe@elsewhere.test>"},
                          {"Subject", " hello"},
                          {"Message-ID", " <1@elsewhere.test>"},
                          {"X-Hashcash", " 1:20:261101:carol@stamps.test::c2FsdA:42"}};

TEST(MessageIdentity, IsSixtyFourHexDigitsAndStable) {
  const std::string a = identity("zoe@elsewhere.test", kHeaders, {"Hi\r\n"});
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos) << a;
  EXPECT_EQ(a, identity("zoe@elsewhere.test", kHeaders, {"Hi\r\n"}));
}

TEST(MessageIdentity, TraceHeadersFoldingCrAndBodySplitsDoNotCount) {
  const std::string a = identity("zoe@elsewhere.test", kHeaders, {"Hi Carol\r\nBye\r\n"});
  Headers retried = {{"Received", " from a by mx.beta.test id Q2"},
                     {"Return-Path", " <zoe@elsewhere.test>"},
                     {"from", " Zoe\r\n\t<zoe@elsewhere.test>"},
                     {"Authentication-Results", " mx.beta.test; spf=pass"},
                     {"SUBJECT", "hello"},
                     {"X-MTEP-Policy", " stamp=pass"},
                     {"Message-ID", " <1@elsewhere.test>"},
                     {"X-Hashcash", " 1:20:261101:carol@stamps.test::c2FsdA:42"}};
  EXPECT_EQ(a, identity("zoe@elsewhere.test", retried, {"Hi Ca", "rol\nBye\r", "\n"}));
}

TEST(MessageIdentity, AnyOtherChangeMakesAnotherMessage) {
  const std::string a = identity("zoe@elsewhere.test", kHeaders, {"Hi\r\n"});
  EXPECT_NE(a, identity("zoe@elsewhere.test", kHeaders, {"Ho\r\n"}));
  EXPECT_NE(a, identity("zoe@elsewhere.test", kHeaders, {"Hi\r\n\r\n"}));
  EXPECT_NE(a, identity("yan@elsewhere.test", kHeaders, {"Hi\r\n"}));
  Headers other = kHeaders;
  other[1].second = " hello!";
  EXPECT_NE(a, identity("zoe@elsewhere.test", other, {"Hi\r\n"}));
  other = kHeaders;
  other.push_back({"Content-Type", " text/html"});
  EXPECT_NE(a, identity("zoe@elsewhere.test", other, {"Hi\r\n"}));
  // A header value moved into the body is not the same message.
  Headers fewer(kHeaders.begin(), kHeaders.end() - 1);
  EXPECT_NE(identity("zoe@elsewhere.test", kHeaders, {}),
            identity("zoe@elsewhere.test", fewer, {"x-hashcash1:20:261101:carol@stamps.test::c2FsdA:42"}));
}

TEST(MessageIdentity, NotStartedIsEmpty) {
  MessageIdentity id;
  id.header("Subject", "x");
  id.body("x");
  EXPECT_EQ(id.finish(), "");
  EXPECT_FALSE(isTraceHeader("Subject"));
  EXPECT_TRUE(isTraceHeader("received"));
  EXPECT_TRUE(isTraceHeader("ARC-Seal"));
}

}  // namespace
}  // namespace mtep::milter

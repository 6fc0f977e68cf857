// Tests for smtp::EnhancedStatus parsing/formatting and smtp::Reply.

#include "smtp/status.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mtep::smtp {
namespace {

struct StatusCase {
  std::string in;
  EnhancedStatus want;
  size_t want_consumed;
};

TEST(EnhancedStatus, ParsesValidCodes) {
  const std::vector<StatusCase> cases = {
      {"2.0.0", {2, 0, 0}, 5},         {"5.7.8", {5, 7, 8}, 5},
      {"4.4.2", {4, 4, 2}, 5},         {"5.7.25", {5, 7, 25}, 6},
      {"5.999.999", {5, 999, 999}, 9}, {"5.10.100", {5, 10, 100}, 8},
      {"5.7.8 text", {5, 7, 8}, 5},    {"2.3.0 CYA Thanks", {2, 3, 0}, 5},
      {"4.7.25 ", {4, 7, 25}, 6},
  };
  for (const auto& c : cases) {
    size_t consumed = 12345;
    auto r = parseEnhancedStatus(c.in, &consumed);
    ASSERT_TRUE(r.ok()) << "in=\"" << c.in << "\" error=" << r.error().message();
    EXPECT_EQ(r->toString(), c.want.toString()) << "in=\"" << c.in << "\"";
    EXPECT_EQ(*r, c.want) << "in=\"" << c.in << "\"";
    EXPECT_EQ(consumed, c.want_consumed) << "in=\"" << c.in << "\"";
  }
}

TEST(EnhancedStatus, RejectsMalformedCodes) {
  const std::vector<std::string> cases = {
      "",         "3.0.0",    "1.0.0",   "6.0.0",  "0.0.0",   "5",         "5.",
      "5.7",      "5.7.",     "5..8",    "5.7.8x", "5.07.8",  "5.7.08",    "5.00.0",
      "5.1000.0", "5.7.1000", "55.7.8",  " 5.7.8", "5.7.8\t", "5,7,8",     "x.7.8",
      "5.a.8",    ".7.8",     "5.7.8.1", "5.7.-8", "5.+7.8",  "5.7.8\r\n",
  };
  for (const auto& in : cases) {
    size_t consumed = 777;
    auto r = parseEnhancedStatus(in, &consumed);
    EXPECT_FALSE(r.ok()) << "in=\"" << in << "\" unexpectedly parsed as " << r->toString();
    if (!r.ok()) {
      EXPECT_EQ(r.error().kind(), ErrorKind::kInvalid) << "in=\"" << in << "\"";
      EXPECT_FALSE(r.error().message().empty());
    }
    EXPECT_EQ(consumed, 777u) << "consumed changed on error for \"" << in << "\"";
  }
}

TEST(EnhancedStatus, LeadingZeroMessageSaysSo) {
  auto r = parseEnhancedStatus("5.07.1", nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("leading zero"), std::string::npos) << r.error().message();
}

TEST(EnhancedStatus, MissingClassTakesImpliedClass) {
  size_t consumed = 0;
  auto r = parseEnhancedStatus(".7.8 nope", &consumed, true, 5);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, (EnhancedStatus{5, 7, 8}));
  EXPECT_EQ(consumed, 4u);

  auto z = parseEnhancedStatus(".4.2", &consumed, true, 4);
  ASSERT_TRUE(z.ok()) << z.error().message();
  EXPECT_EQ(*z, (EnhancedStatus{4, 4, 2}));
}

TEST(EnhancedStatus, ExplicitClassWinsOverImpliedClass) {
  auto r = parseEnhancedStatus("4.7.8", nullptr, true, 5);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->cls, 4);
}

TEST(EnhancedStatus, MissingClassRefusedUnlessAllowed) {
  auto r = parseEnhancedStatus(".7.8", nullptr, false, 5);
  EXPECT_FALSE(r.ok());
}

TEST(EnhancedStatus, BadImpliedClassIsInternalError) {
  auto r = parseEnhancedStatus(".7.8", nullptr, true, 3);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kInternal);
}

TEST(EnhancedStatus, MissingClassStillChecksTheRest) {
  for (const char* in : {".", ".7", ".7.", ".07.8", ".7.8x", "..8"}) {
    auto r = parseEnhancedStatus(in, nullptr, true, 5);
    EXPECT_FALSE(r.ok()) << "in=\"" << in << "\"";
  }
}

TEST(EnhancedStatus, FormatThenParseRoundTripsEveryValue) {
  for (uint8_t cls : {uint8_t{2}, uint8_t{4}, uint8_t{5}}) {
    for (unsigned v = 0; v <= 999; ++v) {
      EnhancedStatus st{cls, static_cast<uint16_t>(v), static_cast<uint16_t>(999 - v)};
      std::string text = st.toString();
      size_t consumed = 0;
      auto r = parseEnhancedStatus(text, &consumed);
      ASSERT_TRUE(r.ok()) << text << ": " << r.error().message();
      EXPECT_EQ(*r, st) << text;
      EXPECT_EQ(consumed, text.size()) << text;
    }
  }
}

TEST(EnhancedStatus, NamedCodesFormatAsExpected) {
  EXPECT_EQ(esc::kQuitOk.toString(), "2.3.0");
  EXPECT_EQ(esc::kAuthCredentials.toString(), "5.7.8");
  EXPECT_EQ(esc::kReverseDnsFail.toString(), "5.7.25");
  EXPECT_EQ(esc::kTempReverseDns.toString(), "4.7.25");
}

TEST(Reply, FormatsCodeEnhancedAndText) {
  Reply r{550, EnhancedStatus{5, 7, 25}, "MTEP validation failed"};
  EXPECT_EQ(r.toString(), "550 5.7.25 MTEP validation failed");
}

TEST(Reply, OmitsAbsentParts) {
  EXPECT_EQ((Reply{250, std::nullopt, "OK"}).toString(), "250 OK");
  EXPECT_EQ((Reply{451, EnhancedStatus{4, 3, 0}, ""}).toString(), "451 4.3.0");
  EXPECT_EQ((Reply{221, std::nullopt, ""}).toString(), "221");
}

TEST(Reply, KeepsTextOnOneLine) {
  std::string text = "line one\r\n250 injected";
  text.push_back('\0');
  Reply r{550, EnhancedStatus{5, 7, 1}, text};
  std::string out = r.toString();
  EXPECT_EQ(out.find_first_of(std::string("\r\n\0", 3)), std::string::npos) << out;
  EXPECT_EQ(out, "550 5.7.1 line one  250 injected ");
}

}  // namespace
}  // namespace mtep::smtp

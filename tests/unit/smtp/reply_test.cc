// Tests for smtp::ReplyParser: every case is run whole, one byte at a time
// and split at random points (the same answer each way).

#include "smtp/reply.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace mtep::smtp {
namespace {

struct FeedRun {
  std::vector<ParsedReply> replies;
  bool failed = false;
  std::string error;
  size_t consumed = 0;  // bytes used in total
};

FeedRun feedPieces(const std::vector<std::string>& pieces, ReplyLimits limits) {
  ReplyParser p(limits);
  FeedRun run;
  for (const std::string& piece : pieces) {
    std::string_view rest = piece;
    while (!rest.empty()) {
      size_t used = 0;
      const ReplyState st = p.feed(rest, &used);
      run.consumed += used;
      if (st == ReplyState::kError) {
        run.failed = true;
        run.error = p.error();
        return run;
      }
      rest.remove_prefix(used);
      if (st == ReplyState::kMessage) run.replies.push_back(p.reply());
    }
  }
  return run;
}

// The three ways of feeding `in`; each must agree with the whole run.
std::vector<FeedRun> allWays(const std::string& in, ReplyLimits limits = {}) {
  std::vector<FeedRun> runs;
  runs.push_back(feedPieces({in}, limits));
  std::vector<std::string> bytes;
  for (const char c : in) bytes.emplace_back(1, c);
  runs.push_back(feedPieces(bytes, limits));
  std::mt19937 rng(static_cast<unsigned>(in.size()) * 7919u + 1);
  for (int round = 0; round < 5; ++round) {
    std::vector<std::string> pieces;
    size_t pos = 0;
    while (pos < in.size()) {
      const size_t n = 1 + rng() % (in.size() - pos);
      pieces.push_back(in.substr(pos, n));
      pos += n;
    }
    runs.push_back(feedPieces(pieces, limits));
  }
  return runs;
}

const char* const kWays[] = {"whole", "bytewise", "random split"};
const char* wayName(size_t i) { return kWays[i < 2 ? i : 2]; }

bool sameReply(const ParsedReply& a, const ParsedReply& b) {
  return a.code == b.code && a.enhanced == b.enhanced && a.lines == b.lines;
}

// Parses `in` every way and returns the whole run after checking they agree.
FeedRun parseAll(const std::string& in, ReplyLimits limits = {}) {
  const std::vector<FeedRun> runs = allWays(in, limits);
  for (size_t i = 1; i < runs.size(); ++i) {
    EXPECT_EQ(runs[i].failed, runs[0].failed) << wayName(i) << " in=" << in;
    EXPECT_EQ(runs[i].replies.size(), runs[0].replies.size()) << wayName(i) << " in=" << in;
    for (size_t k = 0; k < std::min(runs[i].replies.size(), runs[0].replies.size()); ++k) {
      EXPECT_TRUE(sameReply(runs[i].replies[k], runs[0].replies[k])) << wayName(i) << " in=" << in;
    }
  }
  return runs[0];
}

TEST(ReplyParser, ParsesSingleLineGreeting) {
  const FeedRun r = parseAll("220 mx.example.org ESMTP ready\r\n");
  ASSERT_FALSE(r.failed) << r.error;
  ASSERT_EQ(r.replies.size(), 1u);
  EXPECT_EQ(r.replies[0].code, 220);
  EXPECT_FALSE(r.replies[0].enhanced.has_value());
  EXPECT_EQ(r.replies[0].lines, std::vector<std::string>{"mx.example.org ESMTP ready"});
}

TEST(ReplyParser, ParsesMultiLineEhloAndFindsKeywords) {
  const std::string in =
      "250-mx.example.org greets you\r\n250-PIPELINING\r\n250-size 10240000\r\n"
      "250-STARTTLS\r\n250-X-STARTMTEP\r\n250 8BITMIME\r\n";
  const FeedRun r = parseAll(in);
  ASSERT_FALSE(r.failed) << r.error;
  ASSERT_EQ(r.replies.size(), 1u);
  const ParsedReply& p = r.replies[0];
  EXPECT_EQ(p.code, 250);
  EXPECT_EQ(p.lines.size(), 6u);
  EXPECT_TRUE(p.hasKeyword("STARTTLS"));
  EXPECT_TRUE(p.hasKeyword("x-startmtep"));
  EXPECT_TRUE(p.hasKeyword("8BITMIME"));
  EXPECT_FALSE(p.hasKeyword("MX.EXAMPLE.ORG"));  // the first line is the greeting, not a keyword
  EXPECT_FALSE(p.hasKeyword("X-MTEP"));
  ASSERT_TRUE(p.keywordParams("SIZE").has_value());
  EXPECT_EQ(*p.keywordParams("SIZE"), "10240000");
  EXPECT_EQ(*p.keywordParams("STARTTLS"), "");
  EXPECT_FALSE(p.keywordParams("AUTH").has_value());
  EXPECT_EQ(r.consumed, in.size());
}

TEST(ReplyParser, EnhancedStatusIsTakenFromTheFirstLineOnly) {
  const FeedRun r = parseAll("550-5.1.1 No such user\r\n550-5.1.1 here\r\n550 5.1.1 bye\r\n");
  ASSERT_FALSE(r.failed) << r.error;
  ASSERT_EQ(r.replies.size(), 1u);
  const ParsedReply& p = r.replies[0];
  ASSERT_TRUE(p.enhanced.has_value());
  EXPECT_EQ(*p.enhanced, (EnhancedStatus{5, 1, 1}));
  EXPECT_EQ(p.lines, (std::vector<std::string>{"No such user", "5.1.1 here", "5.1.1 bye"}));
  EXPECT_EQ(p.toReply().toString(), "550 5.1.1 No such user");
}

TEST(ReplyParser, EnhancedStatusWithAnotherClassStaysText) {
  const FeedRun r = parseAll("250 5.1.1 odd but text\r\n");
  ASSERT_EQ(r.replies.size(), 1u);
  EXPECT_FALSE(r.replies[0].enhanced.has_value());
  EXPECT_EQ(r.replies[0].lines[0], "5.1.1 odd but text");
}

TEST(ReplyParser, EnhancedStatusAloneLeavesEmptyText) {
  const FeedRun r = parseAll("221 2.0.0\r\n");
  ASSERT_EQ(r.replies.size(), 1u);
  ASSERT_TRUE(r.replies[0].enhanced.has_value());
  EXPECT_EQ(r.replies[0].lines[0], "");
  EXPECT_EQ(r.replies[0].toReply().toString(), "221 2.0.0");
}

TEST(ReplyParser, AcceptsBareCodeBareLfAndEmptyText) {
  for (const std::string in : {"250\r\n", "250\n", "250 \r\n", "354 \n"}) {
    const FeedRun r = parseAll(in);
    ASSERT_FALSE(r.failed) << "in=" << in << " error=" << r.error;
    ASSERT_EQ(r.replies.size(), 1u) << in;
    EXPECT_EQ(r.replies[0].lines, std::vector<std::string>{""}) << in;
  }
}

TEST(ReplyParser, ParsesConsecutiveRepliesOneAtATime) {
  const std::string in = "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n";
  const FeedRun r = parseAll(in);
  ASSERT_FALSE(r.failed) << r.error;
  ASSERT_EQ(r.replies.size(), 3u);
  EXPECT_EQ(r.replies[0].code, 250);
  EXPECT_EQ(*r.replies[1].enhanced, (EnhancedStatus{2, 1, 5}));
  EXPECT_EQ(r.replies[2].code, 354);
  EXPECT_EQ(r.replies[2].lines[0], "go ahead");
}

TEST(ReplyParser, StopsRightAfterTheReply) {
  // What follows the reply (here an MTEP netstring) stays with the caller.
  ReplyParser p;
  const std::string in = "220 2.0.0 Ready to start MTEP\r\n12:2:K2.0.0,,";
  size_t used = 0;
  ASSERT_EQ(p.feed(in, &used), ReplyState::kMessage);
  EXPECT_EQ(in.substr(used), "12:2:K2.0.0,,");
}

TEST(ReplyParser, IncompleteReplyNeedsMore) {
  for (const std::string in : {"250-first\r\n250", "250 no end", "", "2"}) {
    const FeedRun r = parseAll(in);
    EXPECT_FALSE(r.failed) << in;
    EXPECT_TRUE(r.replies.empty()) << in;
    EXPECT_EQ(r.consumed, in.size()) << in;
  }
}

struct BadCase {
  std::string in;
  std::string want_error;  // a substring of the message
};

TEST(ReplyParser, RejectsBrokenGrammar) {
  const std::vector<BadCase> cases = {
      {"hello\r\n", "three-digit code"},
      {"25\r\n", "three-digit code"},
      {"2x0 ok\r\n", "three-digit code"},
      {"199 info\r\n", "not 200..599"},
      {"100 continue\r\n", "not 200..599"},
      {"600 nope\r\n", "not 200..599"},
      {"099 nope\r\n", "not 200..599"},
      {"250-a\r\n251 b\r\n", "changes from 250 to 251"},
      {"250_x\r\n", "space or '-'"},
      {"250x\r\n", "space or '-'"},
      {"250 a\rb\r\n", "bare CR"},
      {std::string("250 a\0b\r\n", 9), "NUL"},
  };
  for (const BadCase& c : cases) {
    const FeedRun r = parseAll(c.in);
    EXPECT_TRUE(r.failed) << "in=" << c.in;
    EXPECT_NE(r.error.find(c.want_error), std::string::npos)
        << "in=" << c.in << " got=" << r.error << " want=" << c.want_error;
  }
}

TEST(ReplyParser, LineLimitCountsCrLf) {
  // "250 " + 4 + CRLF = 10 bytes.
  const ReplyLimits ten{.max_line = 10, .max_lines = 5};
  EXPECT_FALSE(parseAll("250 abcd\r\n", ten).failed);
  const FeedRun over = parseAll("250 abcde\r\n", ten);
  EXPECT_TRUE(over.failed);
  EXPECT_NE(over.error.find("longer than 10"), std::string::npos) << over.error;
  // Without an end of line, the parser fails as soon as the line is too long.
  const FeedRun endless = parseAll(std::string(100, 'x'), ten);
  EXPECT_TRUE(endless.failed);
}

TEST(ReplyParser, LinesPerReplyLimit) {
  const ReplyLimits three{.max_line = 100, .max_lines = 3};
  EXPECT_FALSE(parseAll("250-a\r\n250-b\r\n250 c\r\n", three).failed);
  const FeedRun over = parseAll("250-a\r\n250-b\r\n250-c\r\n250 d\r\n", three);
  EXPECT_TRUE(over.failed);
  EXPECT_NE(over.error.find("more than 3 lines"), std::string::npos) << over.error;
}

TEST(ReplyParser, ErrorSticksUntilReset) {
  ReplyParser p;
  size_t used = 0;
  ASSERT_EQ(p.feed("xyz\r\n", &used), ReplyState::kError);
  EXPECT_EQ(p.feed("250 ok\r\n", &used), ReplyState::kError);
  EXPECT_EQ(used, 0u);
  p.reset();
  EXPECT_EQ(p.feed("250 ok\r\n", &used), ReplyState::kMessage);
  EXPECT_EQ(used, 8u);
  EXPECT_TRUE(p.error().empty());
}

TEST(ReplyParser, ToReplyUsesTheFirstLine) {
  const FeedRun r = parseAll("250-first\r\n250 second\r\n");
  ASSERT_EQ(r.replies.size(), 1u);
  EXPECT_EQ(r.replies[0].toReply().toString(), "250 first");
}

}  // namespace
}  // namespace mtep::smtp

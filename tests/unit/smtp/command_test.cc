// NAME
//   command_test.cc - LineReader, parseCommand, splitPathArg, DataReader
// DESCRIPTION
//   Every reader case runs whole, one byte at a time and split at random
//   points (unit/netstring/slicing.h); the results must not depend on the
//   slicing.

#include "smtp/command.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "unit/netstring/slicing.h"

namespace mtep::smtp {
namespace {

using mtep::testing::allSlicings;

// What a LineReader reports for a whole input: "L:<line>" or "TOOLONG".
std::vector<std::string> readLines(const std::vector<std::string_view>& pieces,
                                   size_t max_line, std::string* rest) {
  LineReader r({.max_line = max_line});
  std::vector<std::string> out;
  for (std::string_view piece : pieces) {
    while (!piece.empty()) {
      size_t used = 0;
      LineState st = r.feed(piece, &used);
      EXPECT_LE(used, piece.size());
      piece.remove_prefix(used);
      if (st == LineState::kLine) out.push_back("L:" + r.line());
      if (st == LineState::kTooLong) out.push_back("TOOLONG");
      if (st == LineState::kNeedMore) {
        EXPECT_TRUE(piece.empty());
      }
    }
  }
  if (rest != nullptr) *rest = r.line();
  return out;
}

struct LineCase {
  std::string in;
  size_t max_line;
  std::vector<std::string> want;
};

TEST(LineReader, SplitsLinesTheSameWayInEverySlicing) {
  const std::vector<LineCase> cases = {
      {"EHLO a\r\nNOOP\r\n", 2048, {"L:EHLO a", "L:NOOP"}},
      {"EHLO a\nNOOP\n", 2048, {"L:EHLO a", "L:NOOP"}},  // bare LF accepted
      {"\r\n", 2048, {"L:"}},
      {"A\rB\r\n", 2048, {"L:A\rB"}},  // bare CR kept for parseCommand to refuse
      {"NOOP\r\nQUIT", 2048, {"L:NOOP"}},  // no LF yet: nothing
      // Exactly max_line with CRLF is fine; one more byte is too long.
      {"1234567\r\n", 9, {"L:1234567"}},
      {"12345678\r\n", 9, {"TOOLONG"}},
      {"12345678\r\nNOOP\r\n", 9, {"TOOLONG", "L:NOOP"}},
      {std::string(5000, 'x') + "\r\nQUIT\r\n", 512, {"TOOLONG", "L:QUIT"}},
      {std::string(5000, 'x') + "\n" + std::string(600, 'y') + "\nA\n", 512,
       {"TOOLONG", "TOOLONG", "L:A"}},
  };
  for (const auto& c : cases) {
    for (const auto& s : allSlicings(c.in)) {
      EXPECT_EQ(readLines(s.pieces, c.max_line, nullptr), c.want)
          << "input " << ::testing::PrintToString(c.in) << " slicing " << s.name;
    }
  }
}

TEST(LineReader, DoesNotBufferAnOverLongLine) {
  LineReader r({.max_line = 512});
  size_t used = 0;
  std::string big(100000, 'x');
  EXPECT_EQ(r.feed(big, &used), LineState::kNeedMore);
  EXPECT_EQ(used, big.size());
  EXPECT_TRUE(r.line().empty());
  EXPECT_EQ(r.feed("\r\n", &used), LineState::kTooLong);
  EXPECT_EQ(used, 2u);
}

TEST(LineReader, ReportsOneResultPerCallAndConsumesThroughTheLf) {
  LineReader r;
  size_t used = 0;
  EXPECT_EQ(r.feed("A\r\nB\r\n", &used), LineState::kLine);
  EXPECT_EQ(used, 3u);
  EXPECT_EQ(r.line(), "A");
  EXPECT_EQ(r.feed("B\r\n", &used), LineState::kLine);
  EXPECT_EQ(r.line(), "B");
  EXPECT_EQ(r.feed("", &used), LineState::kNeedMore);
  EXPECT_EQ(used, 0u);
}

TEST(LineReader, ResetForgetsAPartialLine) {
  LineReader r;
  size_t used = 0;
  EXPECT_EQ(r.feed("GARB", &used), LineState::kNeedMore);
  r.reset();
  EXPECT_EQ(r.feed("NOOP\r\n", &used), LineState::kLine);
  EXPECT_EQ(r.line(), "NOOP");
}

TEST(ParseCommand, UpperCasesTheVerbAndTrimsTrailingSpaces) {
  auto c = parseCommand("ehlo client.example  ");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->verb, "EHLO");
  EXPECT_EQ(c->args, "client.example");
  c = parseCommand("NOOP");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->verb, "NOOP");
  EXPECT_EQ(c->args, "");
  c = parseCommand("Quit   ");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->verb, "QUIT");
  EXPECT_EQ(c->args, "");
  c = parseCommand("MAIL FROM:<a@b>  SIZE=10 ");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->args, "FROM:<a@b>  SIZE=10");
  c = parseCommand("HELO \xc3\xa9t\xc3\xa9.example");  // UTF-8 in args
  ASSERT_TRUE(c);
  EXPECT_EQ(c->args, "\xc3\xa9t\xc3\xa9.example");
  c = parseCommand("STARTMTEPSTARTTL");  // 16 letters
  ASSERT_TRUE(c);
}

TEST(ParseCommand, RefusesBadVerbsAndControlCharacters) {
  const std::vector<std::string> bad = {
      "",
      " NOOP",
      "NO0P",
      "EHLO\tx",
      "ABCDEFGHIJKLMNOPQ",  // 17 letters
      std::string("NO\0OP", 5),
      "NOOP\r",
      "EHLO a\rb",
      std::string("EHLO a\0b", 8),
      "\xc3\xa9HLO x",
      "-",
  };
  for (const auto& line : bad) {
    auto c = parseCommand(line);
    EXPECT_FALSE(c) << ::testing::PrintToString(line);
    if (!c) {
      EXPECT_EQ(c.error().kind(), ErrorKind::kInvalid);
    }
  }
}

TEST(SplitPathArg, SplitsPathAndParameters) {
  struct Case {
    std::string args, prefix, path, params;
  };
  const std::vector<Case> cases = {
      {"FROM:<a@b.example>", "FROM:", "a@b.example", ""},
      {"from:<a@b.example> SIZE=100 BODY=8BITMIME", "FROM:", "a@b.example",
       "SIZE=100 BODY=8BITMIME"},
      {"FROM: <a@b.example>", "FROM:", "a@b.example", ""},
      {"FROM:<>", "FROM:", "", ""},
      {"TO:<\"x>y\"@b.example> NOTIFY=NEVER", "TO:", "\"x>y\"@b.example", "NOTIFY=NEVER"},
      {"To:<postmaster>", "TO:", "postmaster", ""},
  };
  for (const auto& c : cases) {
    auto r = splitPathArg(c.args, c.prefix);
    ASSERT_TRUE(r) << c.args << ": " << r.error().message();
    EXPECT_EQ(r->path, c.path) << c.args;
    EXPECT_EQ(r->params, c.params) << c.args;
  }
}

TEST(SplitPathArg, RefusesMalformedPaths) {
  const std::vector<std::string> bad = {
      "FROM:a@b.example", "FROM:<a@b.example", "FROM <a@b>", "TO:<a@b>", "FROM:<a@b>x",
      "FROM:<a<b>",       "FROM:",             "",           "FROM:<\"a>",
  };
  for (const auto& args : bad) {
    EXPECT_FALSE(splitPathArg(args, "FROM:")) << args;
  }
}

// What a DataReader reports: "M:<message>", "TOOBIG" or "LONGLINE", and the
// bytes consumed by the end of each result.
std::vector<std::string> readData(const std::vector<std::string_view>& pieces, DataLimits limits,
                                  std::vector<size_t>* ends) {
  DataReader r(limits);
  std::vector<std::string> out;
  size_t total = 0;
  for (std::string_view piece : pieces) {
    while (!piece.empty()) {
      size_t used = 0;
      DataState st = r.feed(piece, &used);
      EXPECT_LE(used, piece.size());
      piece.remove_prefix(used);
      total += used;
      if (st == DataState::kNeedMore) {
        EXPECT_TRUE(piece.empty());
        continue;
      }
      if (st == DataState::kMessage) out.push_back("M:" + r.message());
      if (st == DataState::kTooBig) out.push_back("TOOBIG");
      if (st == DataState::kLineTooLong) out.push_back("LONGLINE");
      if (ends != nullptr) ends->push_back(total);
    }
  }
  return out;
}

struct DataCase {
  std::string in;
  DataLimits limits;
  std::vector<std::string> want;
  std::vector<size_t> ends;  // consumed at each result
};

TEST(DataReader, ReadsMessagesTheSameWayInEverySlicing) {
  const std::vector<DataCase> cases = {
      {"Subject: x\r\n\r\nbody\r\n.\r\n", {}, {"M:Subject: x\r\n\r\nbody\r\n"}, {23}},
      {".\r\n", {}, {"M:"}, {3}},
      // Dot-stuffing removed; a lone ".." is a line ".".
      {"..\r\n..x\r\n.\r\n", {}, {"M:.\r\n.x\r\n"}, {12}},
      // Bare LF stored as CRLF; a bare CR inside stays.
      {"a\nb\rc\n.\n", {}, {"M:a\r\nb\rc\r\n"}, {8}},
      // Two messages back to back, the second's bytes not taken by the first.
      {"a\r\n.\r\nb\r\n.\r\n", {}, {"M:a\r\n", "M:b\r\n"}, {6, 12}},
      // ". " is not the end.
      {". \r\n.\r\n", {}, {"M: \r\n"}, {7}},
      // Exactly max_size fits; more is kTooBig after the end.
      {"abc\r\n.\r\n", {.max_size = 5}, {"M:abc\r\n"}, {8}},
      {"abcd\r\n.\r\n", {.max_size = 5}, {"TOOBIG"}, {9}},
      {"abcd\r\nmore\r\n.\r\nx\r\n.\r\n", {.max_size = 5}, {"TOOBIG", "M:x\r\n"}, {15, 21}},
      // A line of max_line bytes with its CRLF is fine; one more is not.
      {"abcd\r\n.\r\n", {.max_line = 6}, {"M:abcd\r\n"}, {9}},
      {"abcde\r\n.\r\n", {.max_line = 6}, {"LONGLINE"}, {10}},
  };
  for (const auto& c : cases) {
    for (const auto& s : allSlicings(c.in)) {
      std::vector<size_t> ends;
      EXPECT_EQ(readData(s.pieces, c.limits, &ends), c.want)
          << ::testing::PrintToString(c.in) << " slicing " << s.name;
      EXPECT_EQ(ends, c.ends) << ::testing::PrintToString(c.in) << " slicing " << s.name;
    }
  }
}

TEST(DataReader, KeepsNoMoreThanMaxSizeOfAHugeMessage) {
  DataReader r({.max_size = 1000, .max_line = 100});
  size_t used = 0;
  std::string line(98, 'x');
  line += "\r\n";
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(r.feed(line, &used), DataState::kNeedMore);
    ASSERT_LE(r.message().size(), 1000u);
  }
  EXPECT_EQ(r.feed(".\r\n", &used), DataState::kTooBig);
}

TEST(DataReader, TakeMessageAndResetStartAfresh) {
  DataReader r;
  size_t used = 0;
  ASSERT_EQ(r.feed("hi\r\n.\r\n", &used), DataState::kMessage);
  EXPECT_EQ(r.takeMessage(), "hi\r\n");
  ASSERT_EQ(r.feed("partial", &used), DataState::kNeedMore);
  r.reset();
  ASSERT_EQ(r.feed("new\r\n.\r\n", &used), DataState::kMessage);
  EXPECT_EQ(r.message(), "new\r\n");
}

}  // namespace
}  // namespace mtep::smtp

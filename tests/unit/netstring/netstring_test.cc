#include "netstring/netstring.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "unit/netstring/slicing.h"

namespace mtep::netstring {
namespace {

using mtep::testing::allSlicings;
using mtep::testing::Slicing;

struct Outcome {
  std::vector<std::string> messages;
  DecodeError error = DecodeError::kNone;
  bool mid = false;  // midMessage() at the end
};

Outcome decodeSliced(const Slicing& s, const Limits& limits) {
  Decoder d(limits);
  Outcome o;
  for (std::string_view piece : s.pieces) {
    while (!piece.empty()) {
      size_t used = 0;
      const DecodeState st = d.feed(piece, &used);
      EXPECT_LE(used, piece.size());
      if (st == DecodeState::kError) {
        o.error = d.error();
        return o;
      }
      piece.remove_prefix(used);
      if (st == DecodeState::kMessage) {
        o.messages.push_back(d.payload());
      } else {
        EXPECT_TRUE(piece.empty()) << "kNeedMore must consume everything";
      }
    }
  }
  o.mid = d.midMessage();
  return o;
}

struct Case {
  const char* name;
  std::string input;
  Limits limits;
  std::vector<std::string> want;  // messages before the end or the error
  DecodeError want_error;
  bool want_mid;
};

const Limits kPlain{.max_length = 4096, .skip_crlf = false};
const Limits kCrLf{.max_length = 4096, .skip_crlf = true};
const Limits kSmall{.max_length = 10, .skip_crlf = false};
const Limits kHuge{.max_length = static_cast<size_t>(-1), .skip_crlf = false};

std::vector<Case> cases() {
  using E = DecodeError;
  return {
      {"simple", "5:hello,", kPlain, {"hello"}, E::kNone, false},
      {"empty payload", "0:,", kPlain, {""}, E::kNone, false},
      {"two in a row", "3:abc,3:def,", kPlain, {"abc", "def"}, E::kNone, false},
      {"payload with framing bytes", "5:1:?,\n,", kPlain, {"1:?,\n"}, E::kNone, false},
      {"binary payload",
       std::string("3:\0\xff,,", 6),
       kPlain,
       {std::string("\0\xff,", 3)},
       E::kNone,
       false},
      {"crlf skipped between", "\r\n1:a,\r\n\n\r1:b,\r\n", kCrLf, {"a", "b"}, E::kNone, false},
      {"crlf refused without skip", "1:a,\r\n1:b,", kPlain, {"a"}, E::kBadLengthDigit, false},
      {"crlf inside length refused", "1\r\n:a,", kCrLf, {}, E::kBadLengthDigit, false},
      {"leading zero", "01:a,", kPlain, {}, E::kLeadingZero, false},
      {"double zero", "00:,", kPlain, {}, E::kLeadingZero, false},
      {"empty length", ":,", kPlain, {}, E::kEmptyLength, false},
      {"letter in length", "1a:a,", kPlain, {}, E::kBadLengthDigit, false},
      {"minus sign", "-1:a,", kPlain, {}, E::kBadLengthDigit, false},
      {"space before length", " 1:a,", kCrLf, {}, E::kBadLengthDigit, false},
      {"missing comma", "1:ab", kPlain, {}, E::kMissingComma, false},
      {"wrong terminator", "1:a;", kPlain, {}, E::kMissingComma, false},
      {"exactly max length", "10:0123456789,", kSmall, {"0123456789"}, E::kNone, false},
      {"over max length", "11:01234567890,", kSmall, {}, E::kTooLong, false},
      {"eleven digits refused even with a huge limit",
       "12345678901:",
       kHuge,
       {},
       E::kTooLong,
       false},
      {"ten digits accepted with a huge limit", "9999999999:ab", kHuge, {}, E::kNone, true},
      {"incomplete length", "12", kPlain, {}, E::kNone, true},
      {"incomplete payload", "3:ab", kPlain, {}, E::kNone, true},
      {"missing final comma only", "3:abc", kPlain, {}, E::kNone, true},
      {"only crlf", "\r\n\r\n", kCrLf, {}, E::kNone, false},
      {"message then error", "1:a,x", kPlain, {"a"}, E::kBadLengthDigit, false},
  };
}

TEST(NetstringDecoder, TableWholeBytewiseAndRandomSplits) {
  for (const Case& c : cases()) {
    for (const Slicing& s : allSlicings(c.input)) {
      SCOPED_TRACE(std::string(c.name) + " / " + s.name);
      const Outcome got = decodeSliced(s, c.limits);
      EXPECT_EQ(got.messages, c.want);
      EXPECT_EQ(got.error, c.want_error)
          << "got " << decodeErrorText(got.error) << ", want " << decodeErrorText(c.want_error);
      if (c.want_error == DecodeError::kNone) {
        EXPECT_EQ(got.mid, c.want_mid);
      }
    }
  }
}

TEST(NetstringDecoder, RejectsOversizedLengthBeforeTheColonArrives) {
  Decoder d({.max_length = 4096, .skip_crlf = false});
  size_t used = 0;
  EXPECT_EQ(d.feed("409", &used), DecodeState::kNeedMore);
  EXPECT_EQ(d.feed("7", &used), DecodeState::kError);
  EXPECT_EQ(d.error(), DecodeError::kTooLong);
  Decoder d2({.max_length = 4096, .skip_crlf = false});
  EXPECT_EQ(d2.feed("4096:", &used), DecodeState::kNeedMore);
  EXPECT_EQ(used, 5u);
}

TEST(NetstringDecoder, ConsumesExactlyOneNetstringPerMessage) {
  Decoder d;
  size_t used = 0;
  const std::string in = "3:abc,2:de,";
  ASSERT_EQ(d.feed(in, &used), DecodeState::kMessage);
  EXPECT_EQ(used, 6u);
  EXPECT_EQ(d.payload(), "abc");
  ASSERT_EQ(d.feed(std::string_view(in).substr(used), &used), DecodeState::kMessage);
  EXPECT_EQ(used, 5u);
  EXPECT_EQ(d.payload(), "de");
}

TEST(NetstringDecoder, ErrorConsumesUpToTheOffendingByteThenNothing) {
  Decoder d;
  size_t used = 99;
  EXPECT_EQ(d.feed("12x45", &used), DecodeState::kError);
  EXPECT_EQ(used, 3u);
  EXPECT_EQ(d.feed("1:a,", &used), DecodeState::kError);
  EXPECT_EQ(used, 0u);
  EXPECT_EQ(d.error(), DecodeError::kBadLengthDigit);
}

TEST(NetstringDecoder, ResetLeavesErrorState) {
  Decoder d;
  size_t used = 0;
  ASSERT_EQ(d.feed("01:", &used), DecodeState::kError);
  d.reset();
  EXPECT_EQ(d.error(), DecodeError::kNone);
  ASSERT_EQ(d.feed("1:z,", &used), DecodeState::kMessage);
  EXPECT_EQ(d.payload(), "z");
}

TEST(NetstringDecoder, MidMessageIgnoresSkippedCrLf) {
  Decoder d({.max_length = 100, .skip_crlf = true});
  size_t used = 0;
  EXPECT_FALSE(d.midMessage());
  ASSERT_EQ(d.feed("\r\n", &used), DecodeState::kNeedMore);
  EXPECT_FALSE(d.midMessage());
  ASSERT_EQ(d.feed("2", &used), DecodeState::kNeedMore);
  EXPECT_TRUE(d.midMessage());
  ASSERT_EQ(d.feed(":ab", &used), DecodeState::kNeedMore);
  EXPECT_TRUE(d.midMessage());
  ASSERT_EQ(d.feed(",", &used), DecodeState::kMessage);
  EXPECT_FALSE(d.midMessage());
}

TEST(NetstringDecoder, ErrorTextsAreDistinct) {
  std::set<std::string> seen;
  for (auto e : {DecodeError::kNone, DecodeError::kBadLengthDigit, DecodeError::kLeadingZero,
                 DecodeError::kEmptyLength, DecodeError::kTooLong, DecodeError::kMissingComma,
                 DecodeError::kTrailingGarbage, DecodeError::kTooManyElements}) {
    EXPECT_TRUE(seen.insert(decodeErrorText(e)).second) << decodeErrorText(e);
  }
}

TEST(NetstringEncode, FramesPayloads) {
  EXPECT_EQ(encode("hello"), "5:hello,");
  EXPECT_EQ(encode(""), "0:,");
  EXPECT_EQ(encode(std::string(12, 'x')), "12:" + std::string(12, 'x') + ",");
  std::string out = "keep";
  encode("ab", &out);
  EXPECT_EQ(out, "keep2:ab,");
}

TEST(NetstringEncode, RandomPayloadsRoundTripThroughTheDecoder) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<size_t> len(0, 300);
  std::vector<std::string> want;
  std::string stream;
  for (int i = 0; i < 50; ++i) {
    std::string p;
    const size_t n = len(rng);
    for (size_t j = 0; j < n; ++j) p.push_back(static_cast<char>(byte(rng)));
    if (i % 3 == 0) stream += "\r\n";
    encode(p, &stream);
    want.push_back(p);
  }
  for (const Slicing& s : allSlicings(stream, 99, 4)) {
    SCOPED_TRACE(s.name);
    const Outcome got = decodeSliced(s, {.max_length = 300, .skip_crlf = true});
    EXPECT_EQ(got.error, DecodeError::kNone) << decodeErrorText(got.error);
    EXPECT_EQ(got.messages, want);
  }
}

TEST(NetstringSplitAll, SplitsTheSeedRequestPayload) {
  std::vector<std::string_view> el;
  DecodeError e = DecodeError::kMissingComma;
  ASSERT_TRUE(splitAll("1:?,\r\n12:unvanquished,", kCrLf, 16, &el, &e));
  EXPECT_EQ(e, DecodeError::kNone);
  EXPECT_EQ(el, (std::vector<std::string_view>{"?", "unvanquished"}));
}

TEST(NetstringSplitAll, ElementsViewIntoTheInput) {
  const std::string in = "2:ab,\n3:cde,\r\n";
  std::vector<std::string_view> el;
  ASSERT_TRUE(splitAll(in, kCrLf, 16, &el));
  ASSERT_EQ(el.size(), 2u);
  EXPECT_EQ(el[0].data(), in.data() + 2);
  EXPECT_EQ(el[1].data(), in.data() + 8);
  EXPECT_EQ(el[1], "cde");
}

TEST(NetstringSplitAll, EmptyAndCrLfOnlyInputsHaveNoElements) {
  std::vector<std::string_view> el{"stale"};
  EXPECT_TRUE(splitAll("", kPlain, 16, &el));
  EXPECT_TRUE(el.empty());
  EXPECT_TRUE(splitAll("\r\n", kCrLf, 16, &el));
  EXPECT_TRUE(el.empty());
}

TEST(NetstringSplitAll, ReportsWhyItFailed) {
  struct Bad {
    std::string in;
    Limits limits;
    size_t max_elements;
    DecodeError want;
  };
  const std::vector<Bad> bad = {
      {"1:a,1:b", kPlain, 16, DecodeError::kTrailingGarbage},
      {"1:a,1", kPlain, 16, DecodeError::kTrailingGarbage},
      {"1:a,x", kPlain, 16, DecodeError::kBadLengthDigit},
      {"1:a,\r\n", kPlain, 16, DecodeError::kBadLengthDigit},
      {"01:a,", kCrLf, 16, DecodeError::kLeadingZero},
      {"1:ab,", kCrLf, 16, DecodeError::kMissingComma},
      {"11:01234567890,", kSmall, 16, DecodeError::kTooLong},
      {"1:a,1:b,1:c,", kPlain, 2, DecodeError::kTooManyElements},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.in);
    std::vector<std::string_view> el;
    DecodeError got = DecodeError::kNone;
    EXPECT_FALSE(splitAll(b.in, b.limits, b.max_elements, &el, &got));
    EXPECT_EQ(got, b.want) << "got " << decodeErrorText(got);
  }
}

TEST(NetstringSplitAll, AcceptsExactlyMaxElements) {
  std::vector<std::string_view> el;
  EXPECT_TRUE(splitAll("1:a,1:b,", kPlain, 2, &el));
  EXPECT_EQ(el.size(), 2u);
}

}  // namespace
}  // namespace mtep::netstring

#include "mtep/protocol.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "unit/mtep/seed.h"
#include "unit/netstring/slicing.h"

namespace mtep::proto {
namespace {

using mtep::testing::allSlicings;
using mtep::testing::Slicing;
using netstring::DecodeState;

// Decodes request netstrings from a slicing, then parses each payload.
std::vector<Result<Request>> decodeRequests(const Slicing& s, const Limits& limits,
                                            bool* framing_error) {
  netstring::Decoder d({.max_length = limits.max_request_size, .skip_crlf = true});
  std::vector<Result<Request>> out;
  *framing_error = false;
  for (std::string_view piece : s.pieces) {
    while (!piece.empty()) {
      size_t used = 0;
      const DecodeState st = d.feed(piece, &used);
      if (st == DecodeState::kError) {
        *framing_error = true;
        return out;
      }
      piece.remove_prefix(used);
      if (st == DecodeState::kMessage) out.push_back(parseRequestPayload(d.payload(), limits));
    }
  }
  return out;
}

TEST(MtepRequest, SeedQueryIsOneRequestWithTwoElements) {
  for (const Slicing& s : allSlicings(seed::kQuery)) {
    SCOPED_TRACE(s.name);
    bool framing_error = true;
    const auto got = decodeRequests(s, {}, &framing_error);
    EXPECT_FALSE(framing_error);
    ASSERT_EQ(got.size(), 1u);
    ASSERT_TRUE(got[0].ok()) << got[0].error().message();
    EXPECT_EQ(got[0]->elements, (std::vector<std::string>{"?", "unvanquished"}));
    EXPECT_EQ(got[0]->command(), "?");
  }
}

TEST(MtepRequest, SeedQuitIsOneRequest) {
  const std::string both = seed::kQuery + seed::kQuit;
  for (const Slicing& s : allSlicings(both)) {
    SCOPED_TRACE(s.name);
    bool framing_error = true;
    const auto got = decodeRequests(s, {}, &framing_error);
    EXPECT_FALSE(framing_error);
    ASSERT_EQ(got.size(), 2u);
    ASSERT_TRUE(got[1].ok());
    EXPECT_EQ(got[1]->elements, std::vector<std::string>{"Q"});
  }
}

TEST(MtepRequest, SeedQueryWithoutItsCrLfIsStillIncomplete) {
  // The seed's plain-text copy lost the CRLF; its 22 only adds up with it.
  netstring::Decoder d({.max_length = 4096, .skip_crlf = true});
  size_t used = 0;
  EXPECT_EQ(d.feed("22:1:?,12:unvanquished,,", &used), DecodeState::kNeedMore);
}

TEST(MtepRequest, ParsesPayloads) {
  struct Case {
    std::string payload;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {"1:Q,", {"Q"}},
      {"1:?,12:unvanquished,", {"?", "unvanquished"}},
      {"1:?,\r\n12:unvanquished,\r\n", {"?", "unvanquished"}},
      {"\n1:?,\n3:tok,\r\r11:a@b.example,9:c@d.onion,", {"?", "tok", "a@b.example", "c@d.onion"}},
      {"0:,", {""}},
  };
  for (const Case& c : cases) {
    auto got = parseRequestPayload(c.payload, {});
    ASSERT_TRUE(got.ok()) << c.payload << ": " << got.error().message();
    EXPECT_EQ(got->elements, c.want) << c.payload;
  }
}

TEST(MtepRequest, ErrorKindsSayWhatToDo) {
  struct Case {
    std::string payload;
    ErrorKind want;
  };
  const std::vector<Case> cases = {
      {"", ErrorKind::kInvalid},
      {"\r\n", ErrorKind::kInvalid},
      {"1:Q", ErrorKind::kProtocol},
      {"1:Q,x", ErrorKind::kProtocol},
      {"01:Q,", ErrorKind::kProtocol},
      {"Q", ErrorKind::kProtocol},
      {"1:?,1:a,1:b,1:c,", ErrorKind::kLimit},
  };
  const Limits limits{.max_request_size = 4096, .max_elements = 3};
  for (const Case& c : cases) {
    auto got = parseRequestPayload(c.payload, limits);
    ASSERT_FALSE(got.ok()) << c.payload;
    EXPECT_EQ(got.error().kind(), c.want)
        << c.payload << ": got " << errorKindName(got.error().kind());
  }
}

TEST(MtepEncode, QueryAndQuitMatchTheSeedFraming) {
  EXPECT_EQ(encodeQuit(), seed::kQuit);
  EXPECT_EQ(encodeQuery("unvanquished"), "20:1:?,12:unvanquished,,");
}

TEST(MtepEncode, QueryRoundTripsWithOptionalElements) {
  struct Case {
    std::string token, sender, recipient;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {"t", "", "", {"?", "t"}},
      {"t", "a@b.example", "", {"?", "t", "a@b.example"}},
      {"t", "a@b.example", "c@d.example", {"?", "t", "a@b.example", "c@d.example"}},
      {"t", "", "c@d.example", {"?", "t", "", "c@d.example"}},
  };
  for (const Case& c : cases) {
    const std::string wire = encodeQuery(c.token, c.sender, c.recipient);
    netstring::Decoder d({.max_length = 4096, .skip_crlf = true});
    size_t used = 0;
    ASSERT_EQ(d.feed(wire, &used), DecodeState::kMessage) << wire;
    EXPECT_EQ(used, wire.size());
    auto got = parseRequestPayload(d.payload(), {});
    ASSERT_TRUE(got.ok()) << wire;
    EXPECT_EQ(got->elements, c.want) << wire;
  }
}

TEST(MtepEncode, ResponsesFrameTheirPayload) {
  const Response deny{Verdict::kNo, smtp::EnhancedStatus{5, 7, 8}, seed::kDenyText};
  EXPECT_EQ(encodeResponse(deny), seed::kDenyResponse);
  EXPECT_EQ((Response{Verdict::kYes, std::nullopt, ""}).payload(), "K");
  EXPECT_EQ((Response{Verdict::kYes, std::nullopt, "hi"}).payload(), "K hi");
  EXPECT_EQ((Response{Verdict::kTemporary, smtp::EnhancedStatus{4, 3, 0}, ""}).payload(), "Z4.3.0");
}

TEST(MtepEncode, ControlCharactersInTextBecomeSpaces) {
  const Response r{Verdict::kInfo, smtp::EnhancedStatus{5, 5, 1},
                   "a\r\nb\x01"
                   "c\x7f"};
  EXPECT_EQ(r.payload(), "I5.5.1 a  b c ");
}

TEST(MtepResponse, ParsesVerdictCodeAndText) {
  struct Case {
    std::string payload;
    Verdict verdict;
    std::optional<smtp::EnhancedStatus> code;
    std::string text;
  };
  using ES = smtp::EnhancedStatus;
  const std::vector<Case> cases = {
      {"K2.3.0 CYA Thanks for playing!", Verdict::kYes, ES{2, 3, 0}, "CYA Thanks for playing!"},
      {"D.7.8 nope", Verdict::kNo, ES{5, 7, 8}, "nope"},
      {"D5.7.8", Verdict::kNo, ES{5, 7, 8}, ""},
      {"K.3.0", Verdict::kYes, ES{2, 3, 0}, ""},
      {"Z.4.0 later", Verdict::kTemporary, ES{4, 4, 0}, "later"},
      {"I.5.1", Verdict::kInfo, ES{5, 5, 1}, ""},
      {"K", Verdict::kYes, std::nullopt, ""},
      {"K just text", Verdict::kYes, std::nullopt, "just text"},
      {"K2.7.0 ", Verdict::kYes, ES{2, 7, 0}, ""},
      {"D5.7.25 two  spaces", Verdict::kNo, ES{5, 7, 25}, "two  spaces"},
      {"Z4.3.0 line\r\nbreak", Verdict::kTemporary, ES{4, 3, 0}, "line  break"},
      {"K2.0.0 Merci, à bientôt !", Verdict::kYes, ES{2, 0, 0}, "Merci, à bientôt !"},
  };
  for (const Case& c : cases) {
    auto got = parseResponsePayload(c.payload);
    ASSERT_TRUE(got.ok()) << c.payload << ": " << got.error().message();
    EXPECT_EQ(got->verdict, c.verdict) << c.payload;
    EXPECT_EQ(got->code, c.code) << c.payload;
    EXPECT_EQ(got->text, c.text) << c.payload;
  }
}

TEST(MtepResponse, RejectsMalformedPayloads) {
  for (const std::string bad : {"", "X2.0.0", "k2.0.0", " K2.0.0", "D5.7.8x", "D5.7", "D9.7.8",
                                "D5.07.8", "D..7.8", "Dx", "D5.7.8\ttab"}) {
    auto got = parseResponsePayload(bad);
    ASSERT_FALSE(got.ok()) << "accepted " << bad;
    EXPECT_EQ(got.error().kind(), ErrorKind::kProtocol) << bad;
  }
}

TEST(MtepResponseDecoder, DecodesTheSeedResponsesInAnySlicing) {
  const std::string stream = seed::kDenyResponse + "\r\n" + seed::kQuitResponse;
  for (const Slicing& s : allSlicings(stream)) {
    SCOPED_TRACE(s.name);
    ResponseDecoder d;
    std::vector<Response> got;
    for (std::string_view piece : s.pieces) {
      while (!piece.empty()) {
        size_t used = 0;
        const DecodeState st = d.feed(piece, &used);
        ASSERT_NE(st, DecodeState::kError) << d.error();
        piece.remove_prefix(used);
        if (st == DecodeState::kMessage) got.push_back(d.response());
      }
    }
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].verdict, Verdict::kNo);
    EXPECT_EQ(got[0].code, (smtp::EnhancedStatus{5, 7, 8}));
    EXPECT_EQ(got[0].text, seed::kDenyText);
    EXPECT_EQ(got[1].verdict, Verdict::kYes);
    EXPECT_EQ(got[1].code, (smtp::EnhancedStatus{2, 3, 0}));
    EXPECT_EQ(got[1].text, "CYA Thanks for playing!");
  }
}

TEST(MtepResponseDecoder, ReportsFramingAndContentErrorsAndStaysFailed) {
  for (const std::string bad : {"01:K,", "4:K2.0,", "1:X,", "1:K;", "5:K2.0.0,"}) {
    for (const Slicing& s : allSlicings(bad)) {
      SCOPED_TRACE(bad + " / " + s.name);
      ResponseDecoder d;
      bool failed = false;
      for (std::string_view piece : s.pieces) {
        size_t used = 0;
        while (!failed && !piece.empty()) {
          const DecodeState st = d.feed(piece, &used);
          failed = st == DecodeState::kError;
          piece.remove_prefix(used);
        }
      }
      EXPECT_TRUE(failed);
      EXPECT_FALSE(d.error().empty());
      size_t used = 1;
      EXPECT_EQ(d.feed("1:K,", &used), DecodeState::kError);
      EXPECT_EQ(used, 0u);
    }
  }
}

TEST(MtepResponseDecoder, RefusesResponsesOverItsLimit) {
  ResponseDecoder d(8);
  size_t used = 0;
  EXPECT_EQ(d.feed("9:", &used), DecodeState::kError);
}

TEST(MtepVerdict, ImpliedClasses) {
  EXPECT_EQ(impliedClass(Verdict::kYes), 2);
  EXPECT_EQ(impliedClass(Verdict::kTemporary), 4);
  EXPECT_EQ(impliedClass(Verdict::kNo), 5);
  EXPECT_EQ(impliedClass(Verdict::kInfo), 5);
}

}  // namespace
}  // namespace mtep::proto

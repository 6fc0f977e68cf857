// Tests for mmtp/json.h: the framer run whole, byte by byte and at random
// splits (garbage, limits, memory), parseJson, and jsStringify/messageHash
// against what node's JSON.stringify(JSON.parse(text)) wrote (pasted
// below: the tests do not run node).

#include "mmtp/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "unit/netstring/slicing.h"

namespace mtep::mmtp {
namespace {

using mtep::testing::allSlicings;
using mtep::testing::Slicing;

// Events as text: "V:<value>", "garbage", "too large", "too deep".
struct Framed {
  std::vector<std::string> events;
  size_t max_pending = 0;  // the most pending() was, after a feed or a next()
  size_t biggest_feed = 0;
};

Framed frame(const std::vector<std::string_view>& pieces, FrameLimits limits = {},
             bool merge_garbage = true) {
  JsonFramer framer(limits);
  Framed run;
  for (std::string_view piece : pieces) {
    framer.feed(piece);
    run.biggest_feed = std::max(run.biggest_feed, piece.size());
    run.max_pending = std::max(run.max_pending, framer.pending());
    while (true) {
      std::string value = "untouched";
      const FrameStatus s = framer.next(&value);
      run.max_pending = std::max(run.max_pending, framer.pending());
      if (s == FrameStatus::kNeedMore) {
        EXPECT_EQ(value, "untouched");
        break;
      }
      std::string event;
      switch (s) {
        case FrameStatus::kValue:
          event = "V:" + value;
          break;
        case FrameStatus::kGarbage:
          event = "garbage";
          break;
        case FrameStatus::kTooLarge:
          event = "too large";
          break;
        case FrameStatus::kTooDeep:
          event = "too deep";
          break;
        case FrameStatus::kNeedMore:
          break;
      }
      if (s != FrameStatus::kValue) {
        EXPECT_EQ(value, "untouched") << event;
      }
      // A run of garbage cut by the slicing is reported per piece: merged
      // here so that every slicing gives the same events.
      if (merge_garbage && event == "garbage" && !run.events.empty() &&
          run.events.back() == "garbage") {
        continue;
      }
      run.events.push_back(event);
    }
  }
  return run;
}

Framed frameWhole(std::string_view in, FrameLimits limits = {}) {
  return frame({in}, limits, /*merge_garbage=*/false);
}

// Every slicing gives `want` (consecutive garbage merged).
void expectEverySlicing(std::string_view in, const std::vector<std::string>& want,
                        FrameLimits limits = {}) {
  for (const Slicing& s : allSlicings(in)) {
    const Framed run = frame(s.pieces, limits);
    EXPECT_EQ(run.events, want) << s.name;
    EXPECT_LE(run.max_pending, limits.max_value_bytes + run.biggest_feed) << s.name;
  }
}

TEST(JsonFramer, TwoValuesInOneFeed) {
  const std::string in = R"j({"action":"CHECK","data":{"email":"(a)%(b.c)"}}[1,2])j";
  const Framed run = frameWhole(in);
  EXPECT_EQ(run.events, (std::vector<std::string>{
                            R"j(V:{"action":"CHECK","data":{"email":"(a)%(b.c)"}})j", "V:[1,2]"}));
  expectEverySlicing(in, run.events);
}

TEST(JsonFramer, UnscannedBytesCanBeTakenBackAndFedAgain) {
  JsonFramer f;
  f.feed(R"({"a":1}  {"b":2}{"c")");
  std::string v;
  ASSERT_EQ(f.next(&v), FrameStatus::kValue);
  EXPECT_EQ(v, R"({"a":1})");
  EXPECT_EQ(f.unscanned(), 13u);  // not looked at yet
  f.unfeed(13);
  EXPECT_EQ(f.pending(), 0u);
  EXPECT_EQ(f.next(&v), FrameStatus::kNeedMore);
  f.feed(R"({"b":2}{"c")");
  ASSERT_EQ(f.next(&v), FrameStatus::kValue);
  EXPECT_EQ(v, R"({"b":2})");
  EXPECT_EQ(f.next(&v), FrameStatus::kNeedMore);
  EXPECT_EQ(f.unscanned(), 0u);  // a value under way: its bytes are taken
  f.unfeed(5);
  f.feed(":3}");
  ASSERT_EQ(f.next(&v), FrameStatus::kValue);
  EXPECT_EQ(v, R"({"c":3})");
}

TEST(JsonFramer, OneValueInTenFeeds) {
  const std::string in =
      R"({"action":"SEND","data":{"packet":{"content":{"subject":"Hi","body":"Hello"}}}})";
  JsonFramer framer;
  std::string value;
  const size_t step = in.size() / 10 + 1;
  size_t fed = 0;
  for (int i = 0; i < 10; ++i) {
    const std::string_view piece = std::string_view(in).substr(fed, step);
    fed += piece.size();
    framer.feed(piece);
    if (fed < in.size()) {
      EXPECT_EQ(framer.next(&value), FrameStatus::kNeedMore) << "feed " << i;
      EXPECT_EQ(framer.pending(), fed) << "feed " << i;
    }
  }
  ASSERT_EQ(fed, in.size());
  ASSERT_EQ(framer.next(&value), FrameStatus::kValue);
  EXPECT_EQ(value, in);
  EXPECT_EQ(framer.next(&value), FrameStatus::kNeedMore);
  EXPECT_EQ(framer.pending(), 0u);
}

TEST(JsonFramer, EveryByteSplit) {
  const std::string in = R"({"a":[1,{"b":"c"}],"d":"\"}"} {"e":{}})";
  const Framed run = frame(allSlicings(in)[1].pieces);  // bytewise
  EXPECT_EQ(run.events,
            (std::vector<std::string>{R"(V:{"a":[1,{"b":"c"}],"d":"\"}"})", R"(V:{"e":{}})"}));
}

TEST(JsonFramer, WhiteSpaceAndNewlinesBetweenValues) {
  const std::string in = " \t{\"a\":1}\n[1, 2]\r\n\r\n {} \n\t [ ]  \n";
  const std::vector<std::string> want{"V:{\"a\":1}", "V:[1, 2]", "V:{}", "V:[ ]"};
  EXPECT_EQ(frameWhole(in).events, want);
  expectEverySlicing(in, want);
  EXPECT_TRUE(frameWhole(" \n\r\t \n").events.empty());
}

TEST(JsonFramer, StringsWithBracesAndEscapedQuotes) {
  // A brace, bracket or quote inside a string ends nothing; escaped
  // quotes and backslashes are tracked across any split.
  const std::string in = R"j({"s":"}{][\"\\","t":"\\","u":"\\\"}"}[")]}"]{"v":"\u007b\"{"})j";
  const std::vector<std::string> want{R"j(V:{"s":"}{][\"\\","t":"\\","u":"\\\"}"})j",
                                      R"j(V:[")]}"])j", R"j(V:{"v":"\u007b\"{"})j"};
  EXPECT_EQ(frameWhole(in).events, want);
  expectEverySlicing(in, want);
}

TEST(JsonFramer, GarbageRuns) {
  struct Case {
    const char* in;
    std::vector<std::string> want;  // fed whole
  };
  const std::vector<Case> cases = {
      {"hello\n", {"garbage"}},
      {"hello\n{\"a\":1}", {"garbage", "V:{\"a\":1}"}},
      {"hello world\nbye\n", {"garbage", "garbage"}},
      {"42\n", {"garbage"}},
      {"42 {\"a\":1}", {"garbage", "V:{\"a\":1}"}},
      {"-1.5e3\n[2]", {"garbage", "V:[2]"}},
      {"\"just a string\"\n[3]", {"garbage", "V:[3]"}},
      {"true null\n", {"garbage"}},
      {"}{\"a\":1}", {"garbage", "V:{\"a\":1}"}},
      {"42[1]", {"garbage", "V:[1]"}},
      {"hello [\"x\"]\n", {"garbage", "V:[\"x\"]"}},
      {"]]]\n}\n[]", {"garbage", "garbage", "V:[]"}},
      {"{\"a\":1}x", {"V:{\"a\":1}", "garbage"}},
      {"\x01\x02\xff\n", {"garbage"}},
      {"hello", {"garbage"}},  // no newline: answered at the end of what came
  };
  for (const Case& c : cases) {
    EXPECT_EQ(frameWhole(c.in).events, c.want) << c.in;
    // Sliced: the same values; garbage runs may be reported per piece.
    std::vector<std::string> merged;
    for (const std::string& e : c.want) {
      if (e == "garbage" && !merged.empty() && merged.back() == "garbage") continue;
      merged.push_back(e);
    }
    expectEverySlicing(c.in, merged);
  }
}

TEST(JsonFramer, GarbageIsAnsweredWithoutWaitingForANewline) {
  JsonFramer framer;
  std::string value;
  framer.feed("  hel");
  EXPECT_EQ(framer.next(&value), FrameStatus::kGarbage);
  EXPECT_EQ(framer.next(&value), FrameStatus::kNeedMore);
  EXPECT_EQ(framer.pending(), 0u);
  framer.feed("lo\n{}");
  EXPECT_EQ(framer.next(&value), FrameStatus::kGarbage);
  ASSERT_EQ(framer.next(&value), FrameStatus::kValue);
  EXPECT_EQ(value, "{}");
}

TEST(JsonFramer, MismatchedBracketsAreFramedForTheParserToRefuse) {
  // The framer counts nesting only; the parser validates.
  const Framed run = frameWhole("[}{\"a\":]");
  ASSERT_EQ(run.events, (std::vector<std::string>{"V:[}", "V:{\"a\":]"}));
  EXPECT_TRUE(parseJson("[}").is_discarded());
  EXPECT_TRUE(parseJson("{\"a\":]").is_discarded());
}

TEST(JsonFramer, ValueAtTheSizeLimitIsKeptOneByteMoreIsNot) {
  const FrameLimits limits{.max_value_bytes = 16, .max_depth = 32};
  const std::string at = R"({"a":"12345678"})";  // 16 bytes
  ASSERT_EQ(at.size(), 16u);
  const std::string over = R"({"a":"123456789"})";  // 17 bytes
  const std::string in = at + over + at;
  const std::vector<std::string> want{"V:" + at, "too large", "V:" + at};
  EXPECT_EQ(frameWhole(in, limits).events, want);
  expectEverySlicing(in, want, limits);
}

TEST(JsonFramer, OversizeValueIsSkippedAndTheNextFramed) {
  const FrameLimits limits{.max_value_bytes = 64, .max_depth = 32};
  // Braces and quotes inside the skipped value are still tracked.
  std::string big = R"({"body":")" + std::string(200, 'x') + R"(}]{[\"\\",)";
  big += R"("more":[{"a":"}"},[[]]]})";
  const std::string in = big + "\n" + R"({"ok":1})";
  const std::vector<std::string> want{"too large", R"(V:{"ok":1})"};
  EXPECT_EQ(frameWhole(in, limits).events, want);
  expectEverySlicing(in, want, limits);
}

TEST(JsonFramer, DepthAtTheLimitIsKeptOneMoreIsNot) {
  const FrameLimits limits{.max_value_bytes = 1 << 20, .max_depth = 32};
  const std::string at = std::string(32, '[') + std::string(32, ']');
  const std::string over =
      std::string(16, '[') + std::string(17, '{') + std::string(17, '}') + std::string(16, ']');
  const std::string in = at + over + at;
  const std::vector<std::string> want{"V:" + at, "too deep", "V:" + at};
  EXPECT_EQ(frameWhole(in, limits).events, want);
  expectEverySlicing(in, want, limits);
}

TEST(JsonFramer, Depth10000IsSkippedAndTheNextFramed) {
  const std::string deep = std::string(10000, '[') + std::string(10000, ']');
  const std::string in = deep + R"({"action":"CHECK"})";
  const std::vector<std::string> want{"too deep", R"(V:{"action":"CHECK"})"};
  const Framed run = frameWhole(in);
  EXPECT_EQ(run.events, want);
  for (const Slicing& s : allSlicings(in, 7, 4)) {
    EXPECT_EQ(frame(s.pieces).events, want) << s.name;
  }
  // Nothing of the deep value is kept while it is skipped.
  JsonFramer framer;
  std::string value;
  framer.feed(std::string(10000, '['));
  EXPECT_EQ(framer.next(&value), FrameStatus::kNeedMore);
  EXPECT_LE(framer.pending(), 32u);
}

TEST(JsonFramer, OverBothLimitsTheFirstCrossedIsReported) {
  const FrameLimits limits{.max_value_bytes = 100, .max_depth = 4};
  // Too deep at byte 5, too large at byte 101.
  const std::string deep_first =
      std::string(5, '[') + "\"" + std::string(200, 'x') + "\"" + std::string(5, ']');
  // Too large at byte 101, too deep after it.
  const std::string large_first =
      "[\"" + std::string(200, 'x') + "\"," + std::string(5, '[') + std::string(6, ']');
  const std::string in = deep_first + large_first + "[]";
  const std::vector<std::string> want{"too deep", "too large", "V:[]"};
  EXPECT_EQ(frameWhole(in, limits).events, want);
  expectEverySlicing(in, want, limits);
}

TEST(JsonFramer, MemoryStaysBoundedForAHugeValue) {
  // 10 MB value fed 4 KB at a time, limit 64 KB: pending() never goes past
  // the limit plus one feed, and the value after it is framed.
  const FrameLimits limits{.max_value_bytes = 64 * 1024, .max_depth = 32};
  JsonFramer framer(limits);
  std::string value;
  const std::string chunk(4096, 'a');
  framer.feed("{\"body\":\"");
  EXPECT_EQ(framer.next(&value), FrameStatus::kNeedMore);
  size_t most = 0;
  for (int i = 0; i < 2560; ++i) {
    framer.feed(chunk);
    most = std::max(most, framer.pending());
    ASSERT_EQ(framer.next(&value), FrameStatus::kNeedMore);
    most = std::max(most, framer.pending());
  }
  EXPECT_LE(most, limits.max_value_bytes + chunk.size());
  EXPECT_LE(framer.pending(), limits.max_value_bytes);
  framer.feed("\"}\n{\"next\":true}");
  EXPECT_EQ(framer.next(&value), FrameStatus::kTooLarge);
  ASSERT_EQ(framer.next(&value), FrameStatus::kValue);
  EXPECT_EQ(value, "{\"next\":true}");
  EXPECT_EQ(framer.pending(), 0u);
}

TEST(JsonFramer, MemoryStaysBoundedForAnEndlessGarbageStream) {
  JsonFramer framer({.max_value_bytes = 1024, .max_depth = 32});
  std::string value;
  const std::string chunk(4096, 'z');
  for (int i = 0; i < 1000; ++i) {
    framer.feed(chunk);
    EXPECT_LE(framer.pending(), chunk.size());
    ASSERT_EQ(framer.next(&value), FrameStatus::kGarbage);
    ASSERT_EQ(framer.next(&value), FrameStatus::kNeedMore);
    ASSERT_EQ(framer.pending(), 0u);
  }
}

TEST(JsonFramer, ValuesLeftInTheBufferAreKeptAcrossFeeds) {
  // The caller takes one value at a time and feeds in between: order and
  // contents survive the compaction of the buffer.
  JsonFramer framer;
  std::string value;
  std::vector<std::string> got;
  for (int i = 0; i < 200; ++i) {
    framer.feed("[" + std::to_string(i) + "]");
    if (i % 3 == 0 && framer.next(&value) == FrameStatus::kValue) got.push_back(value);
  }
  while (framer.next(&value) == FrameStatus::kValue) got.push_back(value);
  ASSERT_EQ(got.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(got[i], "[" + std::to_string(i) + "]");
}

TEST(ParseJson, ValidValues) {
  const Json v = parseJson(R"({"a":[1,2.5,"x",null,true],"b":{}})");
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(v.size(), 2u);
  EXPECT_TRUE(parseJson("[]").is_array());
}

TEST(ParseJson, InvalidTextIsDiscardedNotThrown) {
  for (const char* bad :
       {"{", "[1,]", "{\"a\":1,}", "[1] x", "{'a':1}", "[01]", "[1e400]", "[\"\xff\"]",
        "[\"\xc3\"]", "[\"\\ud800\"]", "[\"a\nb\"]", "", "[NaN]", "{\"a\" 1}", "[/* */1]"}) {
    EXPECT_TRUE(parseJson(bad).is_discarded()) << bad;
  }
}

TEST(ParseJson, DuplicateKeysLastWinsAtTheFirstPlace) {
  const Json v = parseJson(R"({"a":1,"b":2,"a":3})");
  ASSERT_TRUE(v.is_object());
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v.begin().key(), "a");
  EXPECT_EQ(v.begin().value(), 3);
}

TEST(ParseJson, DeepValueDoesNotUseTheCallStack) {
  // 200,000 levels: a recursive parser, destructor or stringify would
  // overflow the stack.
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  const Json v = parseJson(deep);
  ASSERT_TRUE(v.is_array());
  EXPECT_EQ(jsStringify(v), deep);
}

struct Vector {
  const char* name;
  std::string input;  // what JSON.parse read
  std::string want;   // what JSON.stringify wrote (node 18)
  std::string hash;   // its SHA-256
};

const std::vector<Vector> kVectors = {
    {"brief vector", "{\"subject\":\"Hi\",\"body\":\"Hello\"}",
     "{\"subject\":\"Hi\",\"body\":\"Hello\"}",
     "51d4eaa38f7bdb2e1beb88a5eaf9fb63d2fdb146f415b270d3eddbc89df42199"},
    {"control characters",
     "{\"a\":\"\\u0000\\u0001\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u001a\\u001f \\\"\\\\\\/\"}",
     "{\"a\":\"\\u0000\\u0001\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u001a\\u001f \\\"\\\\/\"}",
     "b99f14300a58e41b1b38f5ef47ee49cf7fdcc0b1937dd7a9a8cebaeda896ec9e"},
    {"escapes in input decoded",
     "[\"\\u0041\\u00e9\\u20ac\",\"\\ud83d\\ude00\",\"\\u007f\",\"\\u2028\\u2029\",\"\\u0020\"]",
     "[\"A\303\251\342\202\254\",\"\360\237\230\200\",\"\177\",\"\342\200\250\342\200\251\",\" \"]",
     "00c2c0fa2ba13b63c6f90568fea609ba43cec59b4492b8cbe9baada2fc269e4b"},
    {"raw UTF-8 passes through",
     "[\"\177\",\"\342\200\250\342\200\251\",\"\303\251\",\"\342\202\254\",\"\360\237\230\200\","
     "\"\302\200\"]",
     "[\"\177\",\"\342\200\250\342\200\251\",\"\303\251\",\"\342\202\254\",\"\360\237\230\200\","
     "\"\302\200\"]",
     "93fe39dc08331185051842e9a825ff26201c52897d4831397592ce7a2ad877c2"},
    {"brief numbers",
     "[1.0,1e21,1e-7,123456789012345678901,-0,0.1,5e-324,1.7976931348623157e308,100,1.5e300]",
     "[1,1e+21,1e-7,123456789012345680000,0,0.1,5e-324,1.7976931348623157e+308,100,1.5e+300]",
     "5366537eee1faa2bbe950c8838c5cd8837862e305e1c2bfaf5e63d8a92a2da04"},
    {"more numbers",
     "[-0.0,0,1e20,1e-6,1.5e-7,123e-20,0.000001,1234.5678,2e-7,1E+2,1e+21,0.1e1,4.35,-1.5e-10,3."
     "0e0,-1,-100,0.5,123.456e5,1e-300,2.2250738585072014e-308,4.9e-324,0.30000000000000004,1.1,"
     "99999999999999999999,999999999999999999999,1e22,12345678901234567,-1e-7,-1e21]",
     "[0,0,100000000000000000000,0.000001,1.5e-7,1.23e-18,0.000001,1234.5678,2e-7,100,1e+21,1,4.35,"
     "-1.5e-10,3,-1,-100,0.5,12345600,1e-300,2.2250738585072014e-308,5e-324,0.30000000000000004,1."
     "1,100000000000000000000,1e+21,1e+22,12345678901234568,-1e-7,-1e+21]",
     "c11ef728625aa42280dfc71832d16655e6a528fc06b9307eb584a0ff29c6f2cd"},
    {"integers beyond 2^53",
     "[9007199254740991,9007199254740992,9007199254740993,-9007199254740993,18446744073709551615,"
     "18446744073709551616,9223372036854775807,-9223372036854775808,-9223372036854775809,"
     "123456789012345678901234567890]",
     "[9007199254740991,9007199254740992,9007199254740992,-9007199254740992,18446744073709552000,"
     "18446744073709552000,9223372036854776000,-9223372036854776000,-9223372036854776000,1."
     "2345678901234568e+29]",
     "d6e92ad0257570f3bf4ee7fb2839f03534192e85bea6d507c271f43b6a89af6b"},
    {"index keys first", "{\"b\":1,\"10\":1,\"2\":1,\"a\":1,\"4294967295\":1,\"01\":1}",
     "{\"2\":1,\"10\":1,\"b\":1,\"a\":1,\"4294967295\":1,\"01\":1}",
     "7ee21050a77a2200cdb57b7c3f250122f8831db57e5cacff6891735d53793b44"},
    {"index key edges",
     "{\"4294967294\":1,\"4294967295\":1,\"0\":1,\"-1\":1,\"1.5\":1,\"00\":1,\"1e3\":1,\" "
     "1\":1,\"1\":2,\"+1\":1,\"99999999999\":1}",
     "{\"0\":1,\"1\":2,\"4294967294\":1,\"4294967295\":1,\"-1\":1,\"1.5\":1,\"00\":1,\"1e3\":1,\" "
     "1\":1,\"+1\":1,\"99999999999\":1}",
     "82f17c3ed21ac0f8028ce83ccab391d3a07d992f4b98cc8752f7c7b164fcc1a2"},
    {"nested index keys", "{\"z\":{\"1\":[{\"3\":1,\"x\":2,\"0\":3}],\"0\":{}},\"7\":null}",
     "{\"7\":null,\"z\":{\"0\":{},\"1\":[{\"0\":3,\"3\":1,\"x\":2}]}}",
     "43599e65cdfe20582bc25537650946a1a373e0a5a8cfd45be047f134c11a9f6e"},
    {"duplicate keys", "{\"a\":1,\"b\":2,\"a\":3}", "{\"a\":3,\"b\":2}",
     "493df656a590967c84d643bdd55ee956fb53262c51b154115083c9bcc4c992e3"},
    {"duplicate index keys", "{\"b\":1,\"5\":1,\"a\":2,\"5\":[2],\"b\":{\"c\":3}}",
     "{\"5\":[2],\"b\":{\"c\":3},\"a\":2}",
     "68a976fd65be06a4ce5d97a3c09a3b32457f216363fd46f9c2a3d70e73bec07b"},
    {"nested", "{\"x\":[1,{\"y\":[],\"z\":{}},[[]]],\"e\":{},\"f\":[]}",
     "{\"x\":[1,{\"y\":[],\"z\":{}},[[]]],\"e\":{},\"f\":[]}",
     "06941908a0f800923a07e45f1865fd703c8d1a695346c16f06104d91c0a31e51"},
    {"empty array", "[]", "[]", "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"},
    {"empty object", "{}", "{}",
     "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
    {"literals", "[null,true,false,\"\",{\"\":\"\"}]", "[null,true,false,\"\",{\"\":\"\"}]",
     "9989cbd212914dbb1d1aa66abd089db83aaf7a99bbff06311930151b4a0feeea"},
    {"white space dropped", "{\"a\" : [ 1 , 2 ] ,\n \"b\" :\t{ } ,\015\n \"c\": \"x y\" }",
     "{\"a\":[1,2],\"b\":{},\"c\":\"x y\"}",
     "365d8e77e309c68a8b68041a4efc85321489cd618b42dc59fe4bd22ed1f9eba2"},
    {"packet-like",
     "{\"sender\":\"(alice)%(example.com)\",\"recipient\":\"(bob)%(example.com)\",\"content\":{"
     "\"subject\":\"Hi "
     "\\\"you\\\"\",\"body\":\"line1\\nline2\\ttab\"},\"meta\":{\"timestamp\":1796397065662,"
     "\"tags\":[\"a\",\"b\"]}}",
     "{\"sender\":\"(alice)%(example.com)\",\"recipient\":\"(bob)%(example.com)\",\"content\":{"
     "\"subject\":\"Hi "
     "\\\"you\\\"\",\"body\":\"line1\\nline2\\ttab\"},\"meta\":{\"timestamp\":1796397065662,"
     "\"tags\":[\"a\",\"b\"]}}",
     "0afd7cd8204ecaeea870c7334d03925a535b9e6265beeb5787724846c9978524"},
};

TEST(JsStringify, MatchesNode) {
  for (const Vector& v : kVectors) {
    const Json parsed = parseJson(v.input);
    ASSERT_FALSE(parsed.is_discarded()) << v.name;
    EXPECT_EQ(jsStringify(parsed), v.want) << v.name;
    EXPECT_EQ(messageHash(parsed), v.hash) << v.name;
    // What it writes reads back as the same value, written the same way.
    const Json again = parseJson(v.want);
    ASSERT_FALSE(again.is_discarded()) << v.name;
    EXPECT_EQ(jsStringify(again), v.want) << v.name;
  }
}

TEST(JsStringify, BriefVectorThroughTheFramer) {
  JsonFramer framer;
  framer.feed("{\"subject\":\"Hi\",");
  std::string text;
  ASSERT_EQ(framer.next(&text), FrameStatus::kNeedMore);
  framer.feed(" \"body\": \"Hello\"}\n");
  ASSERT_EQ(framer.next(&text), FrameStatus::kValue);
  EXPECT_EQ(messageHash(parseJson(text)),
            "51d4eaa38f7bdb2e1beb88a5eaf9fb63d2fdb146f415b270d3eddbc89df42199");
}

TEST(JsStringify, HashChangesWithTheContent) {
  // What an attacker would try: the same text but reordered, re-escaped or
  // renumbered hashes differently only where JavaScript's would.
  const std::string base = messageHash(parseJson(R"({"subject":"Hi","body":"Hello"})"));
  EXPECT_NE(messageHash(parseJson(R"({"body":"Hello","subject":"Hi"})")), base);
  EXPECT_NE(messageHash(parseJson(R"({"subject":"Hi","body":"Hello "})")), base);
  EXPECT_EQ(messageHash(parseJson(R"({"subject":"\u0048i","body":"Hello"})")), base);
  EXPECT_EQ(messageHash(parseJson(R"({ "subject" : "Hi" , "body" : "Hello" })")), base);
}

TEST(JsStringify, ValuesNoParseMakes) {
  // Built in code, not parsed: JSON.stringify writes null for NaN and the
  // infinities; control characters are escaped however they got in.
  Json v = Json::array();
  v.push_back(std::numeric_limits<double>::quiet_NaN());
  v.push_back(std::numeric_limits<double>::infinity());
  v.push_back(-std::numeric_limits<double>::infinity());
  v.push_back(-0.0);
  v.push_back(std::string("a\0b\x1f\x7f", 5));
  v.push_back(uint64_t{18446744073709551615u});
  v.push_back(int64_t{-9007199254740993});
  EXPECT_EQ(jsStringify(v),
            "[null,null,null,0,\"a\\u0000b\\u001f\x7f\",18446744073709552000,-9007199254740992]");
  EXPECT_EQ(jsStringify(Json()), "null");
  EXPECT_EQ(jsStringify(Json("x")), "\"x\"");
  EXPECT_EQ(jsStringify(Json(7)), "7");
}

}  // namespace
}  // namespace mtep::mmtp

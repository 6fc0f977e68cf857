// The policy protocol's request reader: every case whole, one byte at a
// time and split at random points; every error; the reply format.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "policy/policy.h"

namespace mtep::policy {
namespace {

using Attrs = std::vector<std::pair<std::string, std::string>>;

struct ReadRun {
  std::vector<Request> requests;
  bool error = false;
  std::string reason;
  size_t consumed = 0;  // bytes consumed in total
};

// Feeds `input` in chunks of the given sizes (the last chunk takes the rest).
ReadRun feedChunks(const std::string& input, const std::vector<size_t>& cuts, size_t max_size) {
  RequestReader reader(max_size);
  ReadRun run;
  std::string pending;
  size_t offset = 0;
  size_t cut = 0;
  while (offset < input.size() || !pending.empty()) {
    if (offset < input.size()) {
      const size_t n = cut < cuts.size() ? std::min(cuts[cut++], input.size() - offset)
                                         : input.size() - offset;
      pending += input.substr(offset, n);
      offset += n;
    }
    for (;;) {
      size_t used = 0;
      const auto state = reader.feed(pending, &used);
      EXPECT_LE(used, pending.size());
      run.consumed += used;
      pending.erase(0, used);
      if (state == RequestReader::State::kRequest) {
        run.requests.push_back(reader.take());
        continue;
      }
      if (state == RequestReader::State::kError) {
        run.error = true;
        run.reason = reader.error();
        return run;
      }
      EXPECT_TRUE(pending.empty()) << "kNeedMore must consume everything";
      break;
    }
    if (offset >= input.size()) break;
  }
  return run;
}

std::vector<ReadRun> allWays(const std::string& input, size_t max_size) {
  std::vector<ReadRun> runs;
  runs.push_back(feedChunks(input, {}, max_size));
  runs.push_back(feedChunks(input, std::vector<size_t>(input.size(), 1), max_size));
  std::mt19937 rng(12345);
  for (int i = 0; i < 20; ++i) {
    std::vector<size_t> cuts;
    for (size_t total = 0; total < input.size();) {
      const size_t n = 1 + rng() % 17;
      cuts.push_back(n);
      total += n;
    }
    runs.push_back(feedChunks(input, cuts, max_size));
  }
  return runs;
}

const char* const kPostfixRcpt =
    "request=smtpd_access_policy\n"
    "protocol_state=RCPT\n"
    "protocol_name=ESMTP\n"
    "client_address=192.0.2.1\n"
    "client_name=client.example\n"
    "helo_name=client.example\n"
    "sender=alice@alpha.test\n"
    "recipient=bob@beta.test\n"
    "recipient_count=0\n"
    "queue_id=\n"
    "instance=123.456.7\n"
    "size=12345\n"
    "\n";

TEST(RequestReader, ReadsAPostfixRequestEveryWay) {
  for (const ReadRun& run : allWays(kPostfixRcpt, 65536)) {
    ASSERT_FALSE(run.error) << run.reason;
    ASSERT_EQ(run.requests.size(), 1u);
    const Request& r = run.requests[0];
    EXPECT_EQ(r.attributes.size(), 12u);
    EXPECT_EQ(r.get("request"), "smtpd_access_policy");
    EXPECT_EQ(r.get("recipient"), "bob@beta.test");
    EXPECT_EQ(r.get("queue_id"), "");
    EXPECT_TRUE(r.has("queue_id"));
    EXPECT_FALSE(r.has("ccert_subject"));
    EXPECT_EQ(r.get("instance"), "123.456.7");
    EXPECT_EQ(run.consumed, std::string(kPostfixRcpt).size());
  }
}

TEST(RequestReader, ReadsSeveralRequestsOnOneConnection) {
  const std::string input = std::string(kPostfixRcpt) + "request=smtpd_access_policy\nsender=\n\n" +
                            kPostfixRcpt;
  for (const ReadRun& run : allWays(input, 65536)) {
    ASSERT_FALSE(run.error) << run.reason;
    ASSERT_EQ(run.requests.size(), 3u);
    EXPECT_EQ(run.requests[1].attributes.size(), 2u);
    EXPECT_EQ(run.requests[1].get("sender"), "");
    EXPECT_EQ(run.requests[2].get("recipient"), "bob@beta.test");
  }
}

TEST(RequestReader, StopsAfterOneRequestAndLeavesTheRest) {
  RequestReader reader(1000);
  const std::string input = "a=1\n\nb=2\n\n";
  size_t used = 0;
  ASSERT_EQ(reader.feed(input, &used), RequestReader::State::kRequest);
  EXPECT_EQ(used, 5u);
  // Not taken yet: nothing more is consumed.
  size_t again = 99;
  EXPECT_EQ(reader.feed(std::string_view(input).substr(used), &again),
            RequestReader::State::kRequest);
  EXPECT_EQ(again, 0u);
  EXPECT_EQ(reader.take().get("a"), "1");
  ASSERT_EQ(reader.feed(std::string_view(input).substr(used), &again),
            RequestReader::State::kRequest);
  EXPECT_EQ(again, 5u);
  Request second = reader.take();
  EXPECT_EQ(second.get("b"), "2");
  EXPECT_FALSE(second.has("a"));
}

TEST(RequestReader, ToleratesCrBeforeLfAndKeepsOtherCrs) {
  const std::string input = "a=x\r\nb=y\rz\r\n\r\n";
  for (const ReadRun& run : allWays(input, 1000)) {
    ASSERT_FALSE(run.error) << run.reason;
    ASSERT_EQ(run.requests.size(), 1u);
    EXPECT_EQ(run.requests[0].get("a"), "x");
    EXPECT_EQ(run.requests[0].get("b"), "y\rz");
  }
}

TEST(RequestReader, RepeatedAttributesKeepEveryValueAndGetReturnsTheLast) {
  const std::string input = "mtep_stamps=one\nmtep_stamps=two\nx==a=b\nempty=\n\n";
  for (const ReadRun& run : allWays(input, 1000)) {
    ASSERT_EQ(run.requests.size(), 1u);
    const Request& r = run.requests[0];
    EXPECT_EQ(r.get("mtep_stamps"), "two");
    ASSERT_EQ(r.all("mtep_stamps").size(), 2u);
    EXPECT_EQ(r.all("mtep_stamps")[0], "one");
    EXPECT_EQ(r.get("x"), "=a=b");
    EXPECT_TRUE(r.has("empty"));
    EXPECT_TRUE(r.all("missing").empty());
  }
}

TEST(RequestReader, AnEmptyLineAloneIsARequestWithoutAttributes) {
  for (const ReadRun& run : allWays("\n", 100)) {
    ASSERT_EQ(run.requests.size(), 1u);
    EXPECT_TRUE(run.requests[0].attributes.empty());
  }
}

TEST(RequestReader, AcceptsARequestOfExactlyTheLimit) {
  const std::string input = "a=12345\n\n";  // 9 bytes
  for (const ReadRun& run : allWays(input, 9)) {
    EXPECT_FALSE(run.error) << run.reason;
    EXPECT_EQ(run.requests.size(), 1u);
  }
  for (const ReadRun& run : allWays(input, 8)) {
    EXPECT_TRUE(run.error);
    EXPECT_EQ(run.reason, "request larger than 8 bytes");
  }
}

TEST(RequestReader, LimitCountsEachRequestOnItsOwn) {
  const std::string one = "a=12345\n\n";
  for (const ReadRun& run : allWays(one + one + one, 9)) {
    EXPECT_FALSE(run.error) << run.reason;
    EXPECT_EQ(run.requests.size(), 3u);
  }
}

TEST(RequestReader, RefusesAnOversizedLineAsSoonAsItIsTooLong) {
  RequestReader reader(100);
  size_t used = 0;
  const std::string big(10 * 1024 * 1024, 'x');  // no newline at all
  EXPECT_EQ(reader.feed(big, &used), RequestReader::State::kError);
  EXPECT_EQ(reader.error(), "request larger than 100 bytes");
  EXPECT_EQ(used, 0u);
  // Sticky.
  EXPECT_EQ(reader.feed("a=b\n\n", &used), RequestReader::State::kError);
  EXPECT_EQ(used, 0u);
}

TEST(RequestReader, TrickledOversizedInputFailsAtTheFirstByteOverTheLimit) {
  RequestReader reader(50);
  size_t used = 0;
  ASSERT_EQ(reader.feed("name=", &used), RequestReader::State::kNeedMore);
  RequestReader::State state = RequestReader::State::kNeedMore;
  size_t fed = 5;
  while (state == RequestReader::State::kNeedMore && fed < 1000) {
    state = reader.feed("v", &used);
    ++fed;
  }
  EXPECT_EQ(state, RequestReader::State::kError);
  EXPECT_EQ(reader.error(), "request larger than 50 bytes");
  EXPECT_EQ(fed, 51u);
  EXPECT_EQ(used, 0u);
}

TEST(RequestReader, RefusesALineWithoutEquals) {
  for (const ReadRun& run : allWays("request=smtpd_access_policy\nnoequals\n\n", 1000)) {
    EXPECT_TRUE(run.error);
    EXPECT_EQ(run.reason, "line without '='");
    EXPECT_TRUE(run.requests.empty());
  }
}

TEST(RequestReader, RefusesBadNames) {
  const std::vector<std::string> bad = {
      "=value\n\n",                            // empty name
      "Request=x\n\n",                         // upper case
      "client-address=x\n\n",                  // hyphen
      "na me=x\n\n",                           // space
      std::string(65, 'a') + "=x\n\n",         // 65 characters
      "caf\xc3\xa9=x\n\n",                     // non-ASCII
  };
  for (const std::string& input : bad) {
    for (const ReadRun& run : allWays(input, 1000)) {
      EXPECT_TRUE(run.error) << input;
      EXPECT_EQ(run.reason, "bad attribute name") << input;
    }
  }
  for (const ReadRun& run : allWays(std::string(64, 'a') + "=x\nz_9=1\n\n", 1000)) {
    EXPECT_FALSE(run.error) << run.reason;
  }
}

TEST(RequestReader, RefusesNulInNamesAndValues) {
  for (const std::string& input :
       {std::string("a=b\0c\n\n", 7), std::string("a\0=b\n\n", 6), std::string("\0\n\n", 3)}) {
    for (const ReadRun& run : allWays(input, 1000)) {
      EXPECT_TRUE(run.error);
      EXPECT_EQ(run.reason, "NUL byte");
    }
  }
}

TEST(RequestReader, RefusesMoreThanAThousandAttributes) {
  std::string ok;
  for (int i = 0; i < 1000; ++i) ok += "a=" + std::to_string(i) + "\n";
  for (const ReadRun& run : allWays(ok + "\n", 1 << 20)) {
    ASSERT_FALSE(run.error) << run.reason;
    ASSERT_EQ(run.requests.size(), 1u);
    EXPECT_EQ(run.requests[0].attributes.size(), 1000u);
  }
  for (const ReadRun& run : allWays(ok + "b=1\n\n", 1 << 20)) {
    EXPECT_TRUE(run.error);
    EXPECT_EQ(run.reason, "more than 1000 attributes");
  }
}

TEST(RequestReader, NoErrorBeforeTheBadLineIsComplete) {
  RequestReader reader(1000);
  size_t used = 0;
  EXPECT_EQ(reader.feed("noequals", &used), RequestReader::State::kNeedMore);
  EXPECT_EQ(reader.error(), "");
  EXPECT_EQ(reader.feed("\n", &used), RequestReader::State::kError);
}

TEST(FormatReply, IsOneActionLineAndAnEmptyLine) {
  EXPECT_EQ(formatReply("DUNNO"), "action=DUNNO\n\n");
  EXPECT_EQ(formatReply("550 5.7.25 No"), "action=550 5.7.25 No\n\n");
  EXPECT_EQ(formatReply("PREPEND X: a\nb\rc"), "action=PREPEND X: a b c\n\n");
  EXPECT_EQ(formatReply(std::string_view("a\0b", 3)), "action=a b\n\n");
}

}  // namespace
}  // namespace mtep::policy

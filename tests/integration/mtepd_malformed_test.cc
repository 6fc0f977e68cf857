// NAME
//   mtepd_malformed_test.cc - hostile and broken peers against the real mtepd
// DESCRIPTION
//   Bad framing, oversize requests, truncation, unknown commands, binary
//   garbage, trickling peers and the connection and command caps. After
//   each, a NEW connection must still get correct answers.

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "mtepd_harness.h"

namespace mtep::itest {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// One framing error case: bytes, and the reply prefix expected before the close.
struct FramingCase {
  const char* name;
  std::string bytes;
  std::string reply_prefix;
};

class MtepdFramingTest : public ::testing::TestWithParam<FramingCase> {};

TEST_P(MtepdFramingTest, RepliesClosesAndKeepsServing) {
  const FramingCase& fc = GetParam();
  Mtepd d;
  ASSERT_TRUE(d.start());
  for (int mode = 0; mode < 3; ++mode) {
    std::mt19937 rng(99u + static_cast<unsigned>(mode));
    auto c = Client::connect(d.port());
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->sendSplit(fc.bytes, mode, rng) || true);  // the server may close first
    auto reply = c->readReply();
    EXPECT_TRUE(startsWith(reply, fc.reply_prefix))
        << fc.name << " mode " << mode << ": got " << reply.value_or("<nothing>") << " want "
        << fc.reply_prefix;
    EXPECT_TRUE(c->waitClosed(3000)) << fc.name << " mode " << mode << ": must close";
  }
  EXPECT_TRUE(stillServing(d));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MtepdFramingTest,
    ::testing::Values(FramingCase{"BadLengthDigit", "2x:1:?,,", "D5.5.2"},
                      FramingCase{"LeadingZero", "04:1:Q,,", "D5.5.2"},
                      FramingCase{"EmptyLength", ":1:Q,,", "D5.5.2"},
                      FramingCase{"LengthOverLimit", "99999:1:?,", "D5.3.4"},
                      FramingCase{"HugeLengthDigits", "99999999999999999999:", "D5.3.4"},
                      FramingCase{"MissingComma", "4:1:Q,X", "D5.5.2"},
                      FramingCase{"MissingInnerComma", "4:1:QX,", "D5.5.2"}),
    [](const ::testing::TestParamInfo<FramingCase>& i) { return std::string(i.param.name); });

TEST(MtepdMalformed, TruncatedRequestThenCloseIsDroppedQuietly) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("22:1:?,\r\n12:unvan"));
  c->shutdownWrite();
  std::string rest;
  EXPECT_TRUE(c->waitClosed(3000, &rest));
  EXPECT_EQ(rest.find("K"), std::string::npos) << "a partial request must not be answered K";
  EXPECT_TRUE(stillServing(d));
}

TEST(MtepdMalformed, UnknownCommandGetsInformationalAndConnectionStaysUsable) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  std::string tok = d.mint("alice@example.org");
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(ns(ns("X") + ns("whatever"))));
  auto info = c->readReply();
  EXPECT_TRUE(startsWith(info, "I5.5.1")) << info.value_or("<nothing>");
  ASSERT_TRUE(c->send(query(tok, "alice@example.org")));
  EXPECT_TRUE(startsWith(c->readReply(), "K2.7.0")) << "same connection, after the I";
}

TEST(MtepdMalformed, QueryWithoutTokenGetsInformational552) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  EXPECT_TRUE(startsWith(askOnce(d.port(), ns(ns("?"))), "I5.5.2"));
}

TEST(MtepdMalformed, BinaryGarbageNeverKillsTheDaemon) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  std::mt19937 rng(0x6a7b);
  for (int round = 0; round < 20; ++round) {
    std::string junk(std::uniform_int_distribution<size_t>(1, 9000)(rng), '\0');
    for (char& ch : junk) ch = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
    if (round % 4 == 0) junk.insert(0, "5:");  // garbage after a plausible length
    auto c = Client::connect(d.port());
    ASSERT_TRUE(c) << "round " << round;
    c->send(junk);  // may fail once the server closed
    std::string rest;
    EXPECT_TRUE(c->waitClosed(5000, &rest)) << "round " << round << ": garbage must end in a close";
    EXPECT_EQ(rest.find(":K"), std::string::npos) << "garbage must never get K";
  }
  EXPECT_TRUE(stillServing(d));
}

// A client asking every 300 ms keeps its connection busy; it is still
// closed at connection_lifetime, with a goodbye that says why.
TEST(MtepdMalformed, BusyClientIsClosedAtTheConnectionLifetimeSayingSo) {
  DaemonSettings s;
  s.extra = "connection_lifetime = \"2s\"\n";
  Mtepd d(s);
  ASSERT_TRUE(d.start());
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  const std::string ask = query(d.mintFor("alice@example.org", "beta.test"),
                                "alice@example.org", "bob@beta.test");
  std::string last;
  for (int i = 0; i < 100; ++i) {
    if (!c->send(ask)) break;
    last = c->readReply().value_or("(none)");
    if (last.rfind("K2.7.0", 0) != 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  EXPECT_EQ(last.rfind("I4.4.2 This connection has been open as long as I allow", 0), 0u) << last;
  EXPECT_TRUE(c->waitClosed(5000));
  EXPECT_TRUE(d.waitForLog("reason=lifetime")) << d.logText();
}

TEST(MtepdMalformed, TricklingPeerIsCutOffAtIdleTimeout) {
  DaemonSettings s;
  s.idle_timeout = 2;
  Mtepd d(s);
  ASSERT_TRUE(d.start());
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  // The request would take 26 s at a byte a second; the idle timeout is 2 s.
  std::string bytes = "22:1:?,\r\n12:unvanquished,,";
  bool closed = false;
  size_t sent = 0;
  std::string rest;
  for (char ch : bytes) {
    if (!c->send(std::string(1, ch))) break;
    ++sent;
    if (c->waitClosed(1000, &rest)) {
      closed = true;
      break;
    }
  }
  EXPECT_TRUE(closed) << "a peer sending one byte a second must be cut off";
  EXPECT_LT(sent, bytes.size()) << "cut off by the idle timer, not when the request completed";
  EXPECT_NE(rest.find("I4.4.2"), std::string::npos) << "timeout reply, got: " << rest;
  EXPECT_TRUE(stillServing(d));
}

TEST(MtepdMalformed, AnsweredRequestsRestartTheIdleTimer) {
  DaemonSettings s;
  s.idle_timeout = 2;
  Mtepd d(s);
  ASSERT_TRUE(d.start());
  std::string tok = d.mint("alice@example.org");
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  // 4 s in all, more than the idle timeout, but a whole request every second.
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(c->send(query(tok, "alice@example.org")));
    ASSERT_TRUE(startsWith(c->readReply(), "K")) << "request " << i;
    std::this_thread::sleep_for(milliseconds(1000));
  }
}

TEST(MtepdMalformed, ConnectionsOverTheCapGetBusyReply) {
  DaemonSettings s;
  s.max_connections = 3;
  Mtepd d(s);
  ASSERT_TRUE(d.start());
  std::string tok = d.mint("alice@example.org");
  std::vector<Client> held;
  for (int i = 0; i < 3; ++i) {
    auto c = Client::connect(d.port());
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->send(query(tok, "alice@example.org")));
    ASSERT_TRUE(startsWith(c->readReply(), "K")) << "connection " << i << " is within the cap";
    held.push_back(std::move(*c));
  }
  auto extra = Client::connect(d.port());
  ASSERT_TRUE(extra);
  auto busy = extra->readReply();
  EXPECT_TRUE(startsWith(busy, "I4.3.2")) << busy.value_or("<nothing>");
  EXPECT_TRUE(extra->waitClosed(3000));
  EXPECT_TRUE(d.waitForLog("max_connections")) << d.logText();

  held.pop_back();  // one slot frees up once the daemon notices the close
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_TRUE(stillServing(d));
}

TEST(MtepdMalformed, MaxCommandsAnswersTheLastThenCloses) {
  DaemonSettings s;
  s.max_commands = 3;
  Mtepd d(s);
  ASSERT_TRUE(d.start());
  std::string tok = d.mint("alice@example.org");
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  std::string bytes;
  for (int i = 0; i < 5; ++i) bytes += query(tok, "alice@example.org");
  c->send(bytes);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(startsWith(c->readReply(), "K")) << "request " << i << " is within the cap";
  }
  std::string rest;
  EXPECT_TRUE(c->waitClosed(3000, &rest));
  EXPECT_EQ(rest, "") << "nothing answered past max_commands";
  EXPECT_TRUE(stillServing(d));
}

// VmRSS of a process, in KiB.
long rssKib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

TEST(MtepdMalformed, PeerThatNeverReadsDoesNotGrowMemoryWithoutBound) {
  if (kAddressSanitizer) GTEST_SKIP() << "ASan's quarantine makes RSS meaningless";
  DaemonSettings s;
  s.max_commands = 1000000;
  s.log_level = "notice";  // no line per decision: answer as fast as the daemon can
  Mtepd d(s);
  ASSERT_TRUE(d.start());
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  int small = 4096;
  ::setsockopt(c->fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  // Unknown commands: 7 bytes in, a reply many times longer out, and cheap
  // to answer, so the daemon's output grows fast unless it stops reading.
  std::string burst;
  for (int i = 0; i < 4096; ++i) burst += ns(ns("X"));
  long before = rssKib(d.pid());
  auto t0 = steady_clock::now();
  size_t sent = 0;
  while (std::chrono::duration_cast<milliseconds>(steady_clock::now() - t0).count() < 3000) {
    ssize_t n = ::send(c->fd(), burst.data(), burst.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else {
      std::this_thread::sleep_for(milliseconds(5));
    }
  }
  long grown = rssKib(d.pid()) - before;
  EXPECT_LT(grown, 16 * 1024) << "KiB grown while a peer sent " << sent
                              << " bytes and read nothing: the daemon kept reading";
  c.reset();
  EXPECT_TRUE(stillServing(d));
}

}  // namespace
}  // namespace mtep::itest

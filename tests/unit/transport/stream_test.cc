#include "transport/stream.h"

#include <gtest/gtest.h>

#include <climits>
#include <string>

#include "transport/dialer.h"
#include "unit/transport/fake_servers.h"

namespace mtep::transport {
namespace {

using testing::CountingResolver;
using testing::LoopbackServer;

bool streamContains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::unique_ptr<Stream> connectTo(uint16_t port, int read_timeout_ms) {
  CountingResolver resolver;
  DialOptions o;
  o.timeouts.read_timeout_ms = read_timeout_ms;
  auto s = dial("127.0.0.1", port, o, resolver);
  EXPECT_TRUE(s.ok()) << s.error().message();
  return s ? std::move(s).value() : nullptr;
}

TEST(RemainingMs, RoundsUpAndClamps) {
  EXPECT_EQ(remainingMs(SteadyClock::now() - std::chrono::seconds(1)), 0);
  EXPECT_EQ(remainingMs(SteadyClock::time_point::max()), INT_MAX);
  const int left = remainingMs(SteadyClock::now() + std::chrono::milliseconds(1500));
  EXPECT_GE(left, 1);
  EXPECT_LE(left, 1500);
  EXPECT_EQ(remainingMs(SteadyClock::now() + std::chrono::microseconds(10)) <= 1, true);
}

TEST(SocketStream, ReadTimeoutSaysSoAndNamesTheLabel) {
  LoopbackServer peer([](int fd) { testing::waitForClose(fd); });
  auto s = connectTo(peer.port(), 100);
  ASSERT_TRUE(s);
  char buf[8];
  auto n = s->readSome(buf, sizeof buf);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().kind(), ErrorKind::kTemporary);
  EXPECT_TRUE(streamContains(n.error().message(), "timed out after 100 ms reading from 127.0.0.1:"))
      << n.error().message();
}

TEST(SocketStream, DeadlineSaysSo) {
  LoopbackServer peer([](int fd) { testing::waitForClose(fd); });
  auto s = connectTo(peer.port(), 60000);
  ASSERT_TRUE(s);
  s->setTimeouts(
      {.read_timeout_ms = 60000, .deadline = SteadyClock::now() + std::chrono::milliseconds(100)});
  char buf[8];
  auto n = s->readSome(buf, sizeof buf);
  ASSERT_FALSE(n.ok());
  EXPECT_TRUE(streamContains(n.error().message(), "deadline passed reading from"))
      << n.error().message();
}

TEST(SocketStream, CleanCloseReadsZero) {
  LoopbackServer peer([](int fd) { testing::sendAll(fd, "bye"); });
  auto s = connectTo(peer.port(), 2000);
  ASSERT_TRUE(s);
  std::string got;
  char buf[8];
  for (;;) {
    auto n = s->readSome(buf, sizeof buf);
    ASSERT_TRUE(n.ok()) << n.error().message();
    if (*n == 0) break;
    got.append(buf, *n);
  }
  EXPECT_EQ(got, "bye");
}

// With MSG_NOSIGNAL a write to a closed peer is an error, not SIGPIPE (which
// would kill this test binary).
TEST(SocketStream, WritingToAClosedPeerIsAnErrorNotSigpipe) {
  LoopbackServer peer([](int) {});
  auto s = connectTo(peer.port(), 2000);
  ASSERT_TRUE(s);
  char buf[8];
  auto n = s->readSome(buf, sizeof buf);  // wait until the peer has closed
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  const std::string chunk(64 * 1024, 'x');
  Status st = okStatus();
  for (int i = 0; i < 64 && st.ok(); ++i) st = s->writeAll(chunk);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::kTemporary);
  EXPECT_TRUE(streamContains(st.error().message(), "cannot send to 127.0.0.1:"))
      << st.error().message();
}

TEST(SocketStream, LargeWriteWaitsForBufferSpace) {
  const size_t total = 8 * 1024 * 1024;
  std::atomic<size_t> received{0};
  LoopbackServer peer([&](int fd) {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      received += static_cast<size_t>(n);
    }
  });
  {
    auto s = connectTo(peer.port(), 5000);
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->writeAll(std::string(total, 'y')).ok());
  }
  for (int i = 0; i < 500 && received < total; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(received, total);
}

TEST(SocketStream, ReportsItsTimeoutsLabelAndFd) {
  LoopbackServer peer([](int fd) { testing::waitForClose(fd); });
  auto s = connectTo(peer.port(), 1234);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->timeouts().read_timeout_ms, 1234);
  EXPECT_GE(s->fd(), 0);
  EXPECT_EQ(s->label(), "127.0.0.1:" + std::to_string(peer.port()));
  s->setTimeouts({.read_timeout_ms = 7, .deadline = SteadyClock::time_point::max()});
  EXPECT_EQ(s->timeouts().read_timeout_ms, 7);
}

}  // namespace
}  // namespace mtep::transport

// NAME
//   connection_test.cc - the asynchronous seam: kPending, resume, close
// DESCRIPTION
//   A line session over a socketpair: "wait" lines answer later (kPending),
//   any other line is echoed at once. Checked: the answer given to resume()
//   goes out and the bytes kept meanwhile are fed afterwards, in order;
//   resume after the connection closed does nothing; an EOF while pending
//   still gets the answer; shutdown waits for a pending answer; the idle
//   timer is off while pending and back on after; a busy pool closes new
//   peers without a word when the factory has no busy reply. Limits: a full
//   group leaves other groups accepting; the per-client cap refuses one
//   client's next connection with the client-limit reply while another
//   client gets in, and counts a closed connection's slot free again; the
//   lifetime closes a busy connection with the session's goodbye, and a
//   pending one only after its answer. Output: requests read while the
//   output is over the limit (or left by the session for its output) wait
//   until it is sent, and are all answered then, an EOF after them too.

#include "server/connection.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <memory>
#include <string>
#include <vector>

#include "server/connection_pool.h"
#include "unit/server/loop_helpers.h"

namespace mtep::server {
namespace {

using testing::Peer;
using testing::runFor;
using testing::runUntil;

// What every session of a factory saw, kept past the session's end (a
// connection that closes frees its session).
struct LineTally {
  size_t lines = 0;
  int eofs = 0;
};

// "wait\n" -> kPending; "LINE\n" -> "echo:LINE\n"; with a budget, "big\n" ->
// "echo:big" and 4 KiB, and once one call has written `budget` bytes the
// rest is left (kContinue with unconsumed), as the MMTP session does.
class LineSession final : public ProtocolSession {
 public:
  LineSession(int64_t idle, size_t budget, LineTally* tally)
      : idle_(idle), budget_(budget), tally_(tally) {}

  void attach(ConnectionHandle handle) override { handle_ = handle; }
  SessionStep onData(std::string_view in, std::string* out) override {
    SessionStep step;
    const size_t start = out->size();
    while (!in.empty()) {
      if (budget_ > 0 && out->size() - start >= budget_ && line_.empty()) {
        step.unconsumed = in.size();
        return step;
      }
      size_t nl = in.find('\n');
      if (nl == std::string_view::npos) {
        line_.append(in);
        return step;
      }
      line_.append(in.substr(0, nl));
      in.remove_prefix(nl + 1);
      lines.push_back(line_);
      ++tally_->lines;
      line_.clear();
      // lines.back(), not a moved-from copy: g++ 12 -O2 warns (falsely)
      // that such a copy may be uninitialized.
      if (lines.back() == "wait") {
        step.action = SessionAction::kPending;
        step.unconsumed = in.size();
        return step;
      }
      *out += "echo:" + lines.back();
      if (budget_ > 0 && lines.back() == "big") *out += std::string(4096, 'x');
      *out += "\n";
      step.answered = true;
    }
    return step;
  }
  SessionStep onEof(std::string* out) override {
    ++eofs;
    ++tally_->eofs;
    *out += "bye\n";
    return {};
  }
  SessionStep onTimeout(std::string* /*out*/) override {
    ++timeouts;
    return {SessionAction::kCloseAfterFlush};
  }
  SessionStep onLifetimeOver(std::string* out) override {
    *out += "lifetime over\n";
    return {SessionAction::kCloseAfterFlush};
  }
  int64_t idleTimeoutSeconds() const override { return idle_; }

  ConnectionHandle handle_;
  std::vector<std::string> lines;  // every complete line seen
  int eofs = 0;
  int timeouts = 0;

 private:
  int64_t idle_;
  size_t budget_;
  LineTally* tally_;
  std::string line_;
};

class LineFactory final : public SessionFactory {
 public:
  const char* protocolName() const override { return "line"; }
  std::unique_ptr<ProtocolSession> create(const PeerInfo&) override {
    auto s = std::make_unique<LineSession>(idle, budget, &tally);
    sessions.push_back(s.get());
    return s;
  }
  std::string_view busyReply() const override { return busy; }
  std::string_view clientLimitReply() const override { return client_limit; }
  int64_t idle = 30;
  size_t budget = 0;
  std::string busy;
  std::string client_limit = "too many from you\n";
  std::vector<LineSession*> sessions;  // not owned; valid while their connection lives
  LineTally tally;                     // all sessions, outlives them
};

class ConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto base = makeEventBase();
    ASSERT_TRUE(base);
    base_ = std::move(*base);
    pool_ = std::make_unique<ConnectionPool>(base_.get(), 10);
  }
  void TearDown() override { pool_.reset(); }

  // A new connection in the pool; returns our end.
  std::unique_ptr<Peer> connect(size_t group = 0, const std::string& client = "") {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
      ADD_FAILURE() << "socketpair";
      return nullptr;
    }
    // Our end blocks; the connection's end stays nonblocking.
    int flags = fcntl(fds[1], F_GETFL);
    fcntl(fds[1], F_SETFL, flags & ~O_NONBLOCK);
    pool_->onAccept(fds[0], PeerInfo{client.empty() ? "peer" : client + ":4000", "local"},
                    factory_, group);
    return std::make_unique<Peer>(fds[1]);
  }
  LineSession& last() { return *factory_.sessions.back(); }

  EventBasePtr base_;
  LineFactory factory_;
  std::unique_ptr<ConnectionPool> pool_;
};

TEST_F(ConnectionTest, AnswersAtOnceWithoutPending) {
  auto peer = connect();
  ASSERT_TRUE(peer);
  peer->send("a\nb\n");
  EXPECT_EQ(peer->read(base_.get(), 14), "echo:a\necho:b\n");
}

TEST_F(ConnectionTest, RequestsReadWhileTheOutputIsFullWaitUntilItIsSent) {
  // 500 small requests for 4 KiB answers in one write, and a peer that
  // does not read: answered only until the output is over the limit.
  factory_.budget = 16 * 1024;
  auto peer = connect();
  ASSERT_TRUE(peer);
  LineSession& s = last();
  std::string many;
  for (int i = 0; i < 500; ++i) many += "big\n";
  const size_t reply = std::string("echo:big\n").size() + 4096;
  peer->send(many);
  ASSERT_TRUE(runUntil(base_.get(), [&] { return !s.lines.empty(); }));
  runFor(base_.get(), 200);
  EXPECT_LT(s.lines.size(), 250u) << "answered into memory for a peer that does not read";
  // Read: every one is answered, in full, in order.
  const std::string got = peer->read(base_.get(), 500 * reply);
  EXPECT_EQ(got.size(), 500 * reply);
  EXPECT_EQ(s.lines.size(), 500u);
  peer->send("ping\n");
  EXPECT_EQ(peer->read(base_.get(), 10), "echo:ping\n");
}

TEST_F(ConnectionTest, EofAfterRequestsHeldForTheOutputStillGetsEveryAnswer) {
  factory_.budget = 16 * 1024;
  auto peer = connect();
  ASSERT_TRUE(peer);
  std::string many;
  for (int i = 0; i < 500; ++i) many += "big\n";
  const size_t reply = std::string("echo:big\n").size() + 4096;
  peer->send(many);
  peer->shutdownWrite();
  ASSERT_TRUE(runUntil(base_.get(), [&] { return factory_.tally.lines > 0; }));
  runFor(base_.get(), 100);
  bool closed = false;
  const std::string got = peer->read(base_.get(), 500 * reply + 4, &closed);
  EXPECT_EQ(got.size(), 500 * reply + 4);
  EXPECT_EQ(got.substr(got.size() - 4), "bye\n");
  // The connection closed after "bye": its session is gone, the tally is not.
  EXPECT_EQ(factory_.tally.lines, 500u);
  EXPECT_EQ(factory_.tally.eofs, 1);
}

TEST_F(ConnectionTest, PendingHoldsTheNextRequestUntilResumed) {
  auto peer = connect();
  ASSERT_TRUE(peer);
  LineSession& s = last();
  peer->send("wait\nping\n");
  ASSERT_TRUE(runUntil(base_.get(), [&] { return s.lines.size() == 1; }));
  runFor(base_.get(), 50);
  EXPECT_EQ(s.lines, std::vector<std::string>{"wait"}) << "bytes after the pending request were fed";
  peer->send("pong\n");
  runFor(base_.get(), 50);
  EXPECT_EQ(s.lines.size(), 1u) << "read on while pending";

  ASSERT_TRUE(s.handle_.alive());
  EXPECT_TRUE(s.handle_.resume({SessionAction::kContinue, true}, "later\n"));
  EXPECT_EQ(peer->read(base_.get(), 26), "later\necho:ping\necho:pong\n");
  EXPECT_EQ(s.lines, (std::vector<std::string>{"wait", "ping", "pong"}));
}

// Sends `chunk` without blocking until the socket takes no more (turning
// `base`, if any, between tries) or `cap` bytes went; the bytes sent.
size_t floodFd(int fd, const std::string& chunk, event_base* base, size_t cap) {
  size_t sent = 0;
  for (int refusals = 0; refusals < 5 && sent < cap;) {
    const ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      refusals = 0;
      continue;
    }
    ++refusals;
    if (base != nullptr) runFor(base, 20);
  }
  return sent;
}

// A peer floods while its request waits. Reading must stop at the read
// ahead, and stop quietly: with a read high watermark libevent 2.1 called
// the read callback again for as long as the buffer stayed full, so the
// loop never went idle (this test then never got past its first flood:
// ctest's timeout failed it) and a daemon spun a core per such peer.
TEST_F(ConnectionTest, AFloodWhilePendingIsReadOnlyUpToTheReadAheadAndNothingIsLost) {
  const std::string line = std::string(1023, 'a') + "\n";
  constexpr size_t kCap = 8u << 20;
  // What the socket itself holds with nobody reading.
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  const size_t kernel = floodFd(fds[1], line, nullptr, kCap);
  ::close(fds[0]);
  ::close(fds[1]);

  auto peer = connect();
  ASSERT_TRUE(peer);
  LineSession& s = last();
  peer->send("wait\n");
  ASSERT_TRUE(runUntil(base_.get(), [&] { return s.lines.size() == 1; }));
  const size_t sent = floodFd(peer->fd(), line, base_.get(), kCap);
  EXPECT_LT(sent, kCap) << "read without bound while pending";
  EXPECT_LE(sent, kernel + Connection::kPendingReadAhead + 16384)
      << "read past the read-ahead while pending";
  EXPECT_EQ(s.lines.size(), 1u) << "fed while pending";
  runFor(base_.get(), 5);
  EXPECT_EQ(event_base_get_num_events(base_.get(), EVENT_BASE_COUNT_ACTIVE), 0)
      << "the loop is kept busy while the request is pending";
  const size_t n = sent / line.size();  // whole lines; a send may take part of one

  EXPECT_TRUE(s.handle_.resume({SessionAction::kContinue, true}, "later\n"));
  const size_t want = 6 + n * (5 + line.size());
  EXPECT_EQ(peer->read(base_.get(), want).size(), want);
  ASSERT_TRUE(peer->send(line.substr(sent % line.size())));
  const size_t last_echo = 5 + line.size();
  EXPECT_EQ(peer->read(base_.get(), last_echo).size(), last_echo);
  EXPECT_EQ(s.lines.size(), 2 + n) << "lines lost";
}

TEST_F(ConnectionTest, PendingAgainAfterResumeKeepsTheRestForTheNextResume) {
  auto peer = connect();
  ASSERT_TRUE(peer);
  LineSession& s = last();
  peer->send("wait\nwait\nx\n");
  ASSERT_TRUE(runUntil(base_.get(), [&] { return s.lines.size() == 1; }));
  ASSERT_TRUE(s.handle_.resume({SessionAction::kContinue, true}, "one\n"));
  ASSERT_TRUE(runUntil(base_.get(), [&] { return s.lines.size() == 2; }));
  runFor(base_.get(), 30);
  EXPECT_EQ(s.lines.size(), 2u);
  ASSERT_TRUE(s.handle_.resume({SessionAction::kContinue, true}, "two\n"));
  EXPECT_EQ(peer->read(base_.get(), 15), "one\ntwo\necho:x\n");
}

TEST_F(ConnectionTest, ResumeAfterTheConnectionClosedDoesNothing) {
  auto peer = connect();
  ASSERT_TRUE(peer);
  ConnectionHandle handle = last().handle_;
  peer->send("wait\n");
  ASSERT_TRUE(runUntil(base_.get(), [&] { return last().lines.size() == 1; }));
  EXPECT_EQ(pool_->closeAll(), 1u);
  EXPECT_FALSE(handle.alive());
  EXPECT_EQ(handle.session(), nullptr);
  EXPECT_FALSE(handle.resume({SessionAction::kContinue, true}, "late\n"));
  bool closed = false;
  EXPECT_EQ(peer->read(base_.get(), 1, &closed), "");
  EXPECT_TRUE(closed);
}

TEST_F(ConnectionTest, ResumeThatClosesReportsTheConnectionGone) {
  auto peer = connect();
  ASSERT_TRUE(peer);
  ConnectionHandle handle = last().handle_;
  peer->send("wait\n");
  ASSERT_TRUE(runUntil(base_.get(), [&] { return last().lines.size() == 1; }));
  // Nothing to send: the close happens inside resume().
  EXPECT_FALSE(handle.resume({SessionAction::kCloseAfterFlush, false}, ""));
  EXPECT_FALSE(handle.alive());
  EXPECT_EQ(pool_->size(), 0u);
}

TEST_F(ConnectionTest, EofWhilePendingStillGetsTheAnswer) {
  auto peer = connect();
  ASSERT_TRUE(peer);
  LineSession& s = last();
  peer->send("wait\n");
  peer->shutdownWrite();
  ASSERT_TRUE(runUntil(base_.get(), [&] { return s.lines.size() == 1; }));
  runFor(base_.get(), 30);
  EXPECT_EQ(s.eofs, 0);
  ConnectionHandle handle = s.handle_;
  handle.resume({SessionAction::kContinue, true}, "answer\n");
  bool closed = false;
  EXPECT_EQ(peer->read(base_.get(), 100, &closed), "answer\nbye\n");
  EXPECT_TRUE(closed);
  EXPECT_FALSE(handle.alive());
}

TEST_F(ConnectionTest, ShutdownWaitsForThePendingAnswer) {
  auto idle_peer = connect();
  auto peer = connect();
  ASSERT_TRUE(idle_peer && peer);
  LineSession& s = last();
  peer->send("wait\n");
  ASSERT_TRUE(runUntil(base_.get(), [&] { return s.lines.size() == 1; }));
  bool drained = false;
  pool_->drain([&] { drained = true; });
  EXPECT_EQ(pool_->size(), 1u) << "the idle connection closes at once, the pending one stays";
  EXPECT_FALSE(drained);
  s.handle_.resume({SessionAction::kContinue, true}, "done\n");
  bool closed = false;
  EXPECT_EQ(peer->read(base_.get(), 100, &closed), "done\n");
  EXPECT_TRUE(closed);
  EXPECT_TRUE(drained);
}

TEST_F(ConnectionTest, IdleTimerIsOffWhilePendingAndBackAfter) {
  factory_.idle = 1;
  auto peer = connect();
  ASSERT_TRUE(peer);
  LineSession& s = last();
  ConnectionHandle handle = s.handle_;
  peer->send("wait\n");
  ASSERT_TRUE(runUntil(base_.get(), [&] { return s.lines.size() == 1; }));
  runFor(base_.get(), 1500);
  EXPECT_EQ(s.timeouts, 0) << "timed out while waiting for our own answer";
  ASSERT_TRUE(handle.alive());
  handle.resume({SessionAction::kContinue, true}, "ok\n");
  EXPECT_EQ(peer->read(base_.get(), 3), "ok\n");
  // Now idle again: the 1 s timeout applies.
  ASSERT_TRUE(runUntil(base_.get(), [&] { return !handle.alive(); }, 10000));
}

TEST_F(ConnectionTest, OverTheCapWithoutABusyReplyClosesWithoutAWord) {
  pool_->setMaxConnections(1);
  auto first = connect();
  auto second = connect();
  ASSERT_TRUE(first && second);
  bool closed = false;
  EXPECT_EQ(second->read(base_.get(), 1, &closed), "");
  EXPECT_TRUE(closed);
  EXPECT_EQ(pool_->size(), 1u);
  first->send("x\n");
  EXPECT_EQ(first->read(base_.get(), 7), "echo:x\n");
}

TEST_F(ConnectionTest, OverTheCapTheBusyReplyIsSentBeforeTheClose) {
  pool_->setMaxConnections(0);
  factory_.busy = "busy\n";
  auto peer = connect();
  ASSERT_TRUE(peer);
  bool closed = false;
  EXPECT_EQ(peer->read(base_.get(), 100, &closed), "busy\n");
  EXPECT_TRUE(closed);
}

TEST_F(ConnectionTest, FullGroupLeavesAnotherGroupAccepting) {
  pool_->setGroupLimits({GroupLimits{1, 0, 0}, GroupLimits{1, 0, 0}});
  factory_.busy = "busy\n";
  auto first = connect(0);
  auto refused = connect(0);
  auto other = connect(1);
  ASSERT_TRUE(first && refused && other);
  bool closed = false;
  EXPECT_EQ(refused->read(base_.get(), 100, &closed), "busy\n");
  EXPECT_TRUE(closed);
  other->send("x\n");
  EXPECT_EQ(other->read(base_.get(), 7), "echo:x\n");
  EXPECT_EQ(pool_->groupSize(0), 1u);
  EXPECT_EQ(pool_->groupSize(1), 1u);
}

TEST_F(ConnectionTest, PerClientCapRefusesThatClientOnlyAndFreesSlotsOnClose) {
  pool_->setGroupLimits({GroupLimits{0, 2, 0}});
  auto a1 = connect(0, "192.0.2.1");
  auto a2 = connect(0, "192.0.2.1");
  auto a3 = connect(0, "192.0.2.1");
  auto b1 = connect(0, "192.0.2.2");
  ASSERT_TRUE(a1 && a2 && a3 && b1);
  bool closed = false;
  EXPECT_EQ(a3->read(base_.get(), 100, &closed), "too many from you\n");
  EXPECT_TRUE(closed);
  b1->send("x\n");
  EXPECT_EQ(b1->read(base_.get(), 7), "echo:x\n");
  EXPECT_EQ(pool_->clientSize(0, "192.0.2.1"), 2u);
  // The same client in another group is not counted here.
  EXPECT_EQ(pool_->clientSize(1, "192.0.2.1"), 0u);
  a1->shutdownWrite();  // the connection sees EOF, says "bye" and goes
  ASSERT_TRUE(runUntil(base_.get(), [&] { return pool_->clientSize(0, "192.0.2.1") == 1; }));
  auto a4 = connect(0, "192.0.2.1");
  ASSERT_TRUE(a4);
  a4->send("y\n");
  EXPECT_EQ(a4->read(base_.get(), 7), "echo:y\n");
}

TEST_F(ConnectionTest, LifetimeClosesABusyConnectionWithTheGoodbye) {
  pool_->setGroupLimits({GroupLimits{0, 0, 1}});
  auto peer = connect();
  ASSERT_TRUE(peer);
  // Busy all the time: a line every 100 ms re-arms the idle timer.
  std::string got;
  bool closed = false;
  for (int i = 0; i < 100 && !closed; ++i) {
    peer->send("n\n");
    got += peer->read(base_.get(), 7, &closed);
    runFor(base_.get(), 100);
  }
  got += peer->read(base_.get(), 1000, &closed);
  EXPECT_TRUE(closed);
  EXPECT_NE(got.find("echo:n\n"), std::string::npos);
  EXPECT_TRUE(got.size() >= 14 && got.compare(got.size() - 14, 14, "lifetime over\n") == 0)
      << got;
  EXPECT_EQ(pool_->size(), 0u);
}

TEST_F(ConnectionTest, LifetimeNeverCutsAHalfReceivedRequest) {
  pool_->setGroupLimits({GroupLimits{0, 0, 1}});
  auto peer = connect();
  ASSERT_TRUE(peer);
  peer->send("part");
  runFor(base_.get(), 1500);  // past the lifetime, the request unfinished
  peer->send("ial\n");
  bool closed = false;
  EXPECT_EQ(peer->read(base_.get(), 100, &closed), "echo:partial\nlifetime over\n");
  EXPECT_TRUE(closed);
}

TEST(ClientOf, CountsIpv4ByAddressAndIpv6ByItsSlash64) {
  EXPECT_EQ(clientOf("192.0.2.1:4000"), "192.0.2.1");
  EXPECT_EQ(clientOf("[2001:db8:1:2:aaaa::1]:4000"), "2001:db8:1:2::/64");
  EXPECT_EQ(clientOf("[2001:db8:1:2:bbbb::9]:25"), "2001:db8:1:2::/64");
  EXPECT_EQ(clientOf("[::ffff:192.0.2.7]:25"), "192.0.2.7");
  EXPECT_EQ(clientOf("peer"), "");
  EXPECT_EQ(clientOf("[2001:db8::1"), "");
}

TEST_F(ConnectionTest, LifetimeWaitsForAPendingAnswerThenSaysGoodbye) {
  pool_->setGroupLimits({GroupLimits{0, 0, 1}});
  auto peer = connect();
  ASSERT_TRUE(peer);
  LineSession& s = last();
  ConnectionHandle handle = s.handle_;
  peer->send("wait\n");
  ASSERT_TRUE(runUntil(base_.get(), [&] { return s.lines.size() == 1; }));
  runFor(base_.get(), 1500);  // past the lifetime, still pending
  ASSERT_TRUE(handle.alive());
  EXPECT_TRUE(handle.resume({SessionAction::kContinue, true}, "answer\n") || !handle.alive());
  bool closed = false;
  EXPECT_EQ(peer->read(base_.get(), 100, &closed), "answer\nlifetime over\n");
  EXPECT_TRUE(closed);
}

}  // namespace
}  // namespace mtep::server

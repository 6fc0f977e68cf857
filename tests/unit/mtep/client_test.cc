// Tests for proto::MtepClient against tiny in-test servers on 127.0.0.1,
// port 0: canned answers, a silent server, a refused port, garbage, and an
// answer trickled across many writes. Timing bounds are generous on purpose.

#include "mtep/client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "netstring/netstring.h"
#include "unit/mtep/seed.h"

namespace mtep::proto {
namespace {

using namespace std::chrono_literals;

// A socket bound to 127.0.0.1 on a free port; listening when asked.
int boundSocket(uint16_t* port, bool listening) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = 0;
  socklen_t len = sizeof sa;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      (listening && ::listen(fd, 8) != 0) ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    ::close(fd);
    return -1;
  }
  *port = ntohs(sa.sin_port);
  return fd;
}

void sendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;  // the client went away: fine for these tests
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// Reads one request netstring (CR/LF skipped); nullopt on EOF or error.
std::optional<std::string> readRequest(int fd) {
  netstring::Decoder decoder({.max_length = 4096, .skip_crlf = true});
  char c = 0;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) return std::nullopt;
    if (::recv(fd, &c, 1, 0) != 1) return std::nullopt;
    size_t used = 0;
    auto state = decoder.feed(std::string_view(&c, 1), &used);
    if (state == netstring::DecodeState::kMessage) return decoder.payload();
    if (state == netstring::DecodeState::kError) return std::nullopt;
  }
}

// Waits until the client closes its end (or 10 s pass).
void drainUntilClosed(int fd) {
  char buf[256];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) return;
    if (::recv(fd, buf, sizeof buf, 0) <= 0) return;
  }
}

// Accepts `connections` connections one after another and runs `handler` on
// each in a background thread. join() before looking at what it recorded.
class TestServer {
 public:
  explicit TestServer(std::function<void(int)> handler, int connections = 1)
      : handler_(std::move(handler)) {
    listen_fd_ = boundSocket(&port_, true);
    if (listen_fd_ < 0) return;
    thread_ = std::thread([this, connections] {
      for (int i = 0; i < connections && !stop_; ++i) {
        int fd = acceptOne();
        if (fd < 0) return;
        handler_(fd);
        ::close(fd);
      }
    });
  }
  ~TestServer() {
    stop_ = true;
    join();
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  bool ok() const { return listen_fd_ >= 0; }
  uint16_t port() const { return port_; }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  int acceptOne() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      int rc = ::poll(&p, 1, 50);
      if (rc > 0) return ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (rc < 0) return -1;
    }
    return -1;
  }

  std::function<void(int)> handler_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// What a canned server saw.
struct Seen {
  std::vector<std::string> requests;  // request payloads in order
  bool closed_after = false;          // the client closed after the last one
};

// Answers each request with the next canned reply; with fewer replies than
// requests, it stops answering and waits for the client to close.
std::function<void(int)> canned(std::vector<std::string> replies, Seen* seen) {
  return [replies = std::move(replies), seen](int fd) {
    for (size_t i = 0;; ++i) {
      auto req = readRequest(fd);
      if (!req) {
        seen->closed_after = true;
        return;
      }
      seen->requests.push_back(*req);
      if (i >= replies.size()) {
        drainUntilClosed(fd);
        seen->closed_after = true;
        return;
      }
      sendAll(fd, replies[i]);
    }
  };
}

std::vector<std::string> elementsOf(const std::string& payload) {
  auto r = parseRequestPayload(payload, Limits{});
  if (!r.ok()) return {"<unparsable: " + r.error().message() + ">"};
  return r->elements;
}

ClientOptions fastOptions() {
  return {.connect_timeout_ms = 2000, .read_timeout_ms = 2000, .total_timeout_ms = 8000};
}

TEST(MtepClient, YesAnswerIsReturnedAndQuitIsSent) {
  Seen seen;
  TestServer server(canned({netstring::encode("K2.0.0 known token"), seed::kQuitResponse}, &seen));
  ASSERT_TRUE(server.ok());
  MtepClient client(fastOptions());
  auto r = client.query("127.0.0.1", server.port(), "tok123", "a@b.example", "c@d.example");
  server.join();
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->verdict, Verdict::kYes);
  ASSERT_TRUE(r->code.has_value());
  EXPECT_EQ(*r->code, (smtp::EnhancedStatus{2, 0, 0}));
  EXPECT_EQ(r->text, "known token");
  ASSERT_EQ(seen.requests.size(), 2u);
  EXPECT_EQ(elementsOf(seen.requests[0]),
            (std::vector<std::string>{"?", "tok123", "a@b.example", "c@d.example"}));
  EXPECT_EQ(elementsOf(seen.requests[1]), (std::vector<std::string>{"Q"}));
  EXPECT_TRUE(seen.closed_after);
}

TEST(MtepClient, DraftExchangeGivesNo) {
  Seen seen;
  TestServer server(canned({seed::kDenyResponse, seed::kQuitResponse}, &seen));
  ASSERT_TRUE(server.ok());
  auto r = MtepClient(fastOptions()).query("127.0.0.1", server.port(), "unvanquished");
  server.join();
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->verdict, Verdict::kNo);
  EXPECT_EQ(r->code, (smtp::EnhancedStatus{5, 7, 8}));
  EXPECT_EQ(r->text, seed::kDenyText);
  ASSERT_FALSE(seen.requests.empty());
  EXPECT_EQ(elementsOf(seen.requests[0]), (std::vector<std::string>{"?", "unvanquished"}));
}

TEST(MtepClient, NoWithClassOmittedImpliesClassFive) {
  Seen seen;
  TestServer server(canned({netstring::encode("D.7.8 not ours"), seed::kQuitResponse}, &seen));
  ASSERT_TRUE(server.ok());
  auto r = MtepClient(fastOptions()).query("127.0.0.1", server.port(), "t");
  server.join();
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->verdict, Verdict::kNo);
  EXPECT_EQ(r->code, (smtp::EnhancedStatus{5, 7, 8}));
  EXPECT_EQ(r->text, "not ours");
}

TEST(MtepClient, AnyReplyOrDryCloseAfterQuitCountsAsSuccess) {
  const std::vector<std::vector<std::string>> scripts = {
      {"1:K,"},                                    // dry close after Q
      {"1:K,", netstring::encode("D5.5.1 what")},  // D to Q
      {"1:K,", netstring::encode("I5.5.2")},       // I to Q
      {"1:K,", "garbage!"},                        // not even a netstring
  };
  for (const auto& script : scripts) {
    Seen seen;
    std::vector<std::string> replies = script;
    TestServer server([&seen, replies](int fd) {
      auto q = readRequest(fd);
      if (!q) return;
      seen.requests.push_back(*q);
      sendAll(fd, replies[0]);
      auto quit = readRequest(fd);
      if (quit) seen.requests.push_back(*quit);
      if (replies.size() > 1) sendAll(fd, replies[1]);
      // then close without a farewell or after it
    });
    ASSERT_TRUE(server.ok());
    auto r = MtepClient(fastOptions()).query("127.0.0.1", server.port(), "t");
    server.join();
    ASSERT_TRUE(r.ok()) << "script size " << script.size() << ": " << r.error().message();
    EXPECT_EQ(r->verdict, Verdict::kYes);
    EXPECT_EQ(seen.requests.size(), 2u);
  }
}

TEST(MtepClient, CloseRightAfterTheAnswerIsNotAnError) {
  TestServer server([](int fd) {
    if (readRequest(fd)) sendAll(fd, "6:Z4.3.0,");
    ::shutdown(fd, SHUT_RDWR);
  });
  ASSERT_TRUE(server.ok());
  auto r = MtepClient(fastOptions()).query("127.0.0.1", server.port(), "t");
  server.join();
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->verdict, Verdict::kTemporary);
  EXPECT_EQ(r->code, (smtp::EnhancedStatus{4, 3, 0}));
}

TEST(MtepClient, QuitIsNotSentWhenDisabled) {
  Seen seen;
  TestServer server(canned({"1:K,"}, &seen));
  ASSERT_TRUE(server.ok());
  ClientOptions opts = fastOptions();
  opts.send_quit = false;
  auto r = MtepClient(opts).query("127.0.0.1", server.port(), "t");
  ASSERT_TRUE(r.ok()) << r.error().message();
  server.join();
  EXPECT_EQ(seen.requests.size(), 1u);
  EXPECT_TRUE(seen.closed_after);
}

TEST(MtepClient, SilentServerHitsTheReadTimeout) {
  Seen seen;
  TestServer server(canned({}, &seen));
  ASSERT_TRUE(server.ok());
  ClientOptions opts = fastOptions();
  opts.read_timeout_ms = 200;
  auto r = MtepClient(opts).query("127.0.0.1", server.port(), "t");
  server.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTemporary);
  const std::string& msg = r.error().message();
  EXPECT_NE(msg.find("timed out"), std::string::npos) << msg;
  EXPECT_NE(msg.find("127.0.0.1:" + std::to_string(server.port())), std::string::npos) << msg;
  EXPECT_EQ(seen.requests.size(), 1u);
}

TEST(MtepClient, TricklingServerHitsTheTotalDeadline) {
  // A byte every 50 ms keeps each read under the read timeout; the length
  // promises far more than ever arrives.
  TestServer server([](int fd) {
    if (!readRequest(fd)) return;
    sendAll(fd, "999:");
    for (int i = 0; i < 200; ++i) {
      if (::send(fd, "x", 1, MSG_NOSIGNAL) != 1) return;
      std::this_thread::sleep_for(50ms);
    }
  });
  ASSERT_TRUE(server.ok());
  ClientOptions opts{.connect_timeout_ms = 2000, .read_timeout_ms = 1000, .total_timeout_ms = 400};
  auto r = MtepClient(opts).query("127.0.0.1", server.port(), "t");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTemporary);
  EXPECT_NE(r.error().message().find("total timeout"), std::string::npos)
      << "got: " << r.error().message();
}

TEST(MtepClient, RefusedPortIsTemporaryAndNamesHostPort) {
  uint16_t port = 0;
  int fd = boundSocket(&port, false);  // bound, not listening: connect is refused
  ASSERT_GE(fd, 0);
  auto r = MtepClient(fastOptions()).query("127.0.0.1", port, "t");
  ::close(fd);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTemporary);
  const std::string& msg = r.error().message();
  EXPECT_NE(msg.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << msg;
  EXPECT_NE(msg.find("refused"), std::string::npos) << msg;
}

// Starts a non-blocking connect to 127.0.0.1:port; the caller closes it.
int startConnect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  (void)::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  return fd;
}

TEST(MtepClient, ConnectTimeoutFiresWhenNothingAccepts) {
  // A listener with a full backlog drops new SYNs, so connect() hangs.
  uint16_t port = 0;
  int listener = boundSocket(&port, false);
  ASSERT_GE(listener, 0);
  ASSERT_EQ(::listen(listener, 0), 0);
  std::vector<int> fds;
  for (int i = 0; i < 4; ++i) fds.push_back(startConnect(port));
  int probe = startConnect(port);
  fds.push_back(probe);
  pollfd p{probe, POLLOUT, 0};
  const bool probe_connected = ::poll(&p, 1, 300) > 0;
  std::optional<Result<Response>> r;
  if (!probe_connected) {
    ClientOptions opts{
        .connect_timeout_ms = 200, .read_timeout_ms = 2000, .total_timeout_ms = 5000};
    r.emplace(MtepClient(opts).query("127.0.0.1", port, "t"));
  }
  for (int fd : fds) ::close(fd);
  ::close(listener);
  if (probe_connected) GTEST_SKIP() << "this kernel accepts past a full backlog";
  ASSERT_FALSE(r->ok());
  EXPECT_EQ(r->error().kind(), ErrorKind::kTemporary);
  const std::string& msg = r->error().message();
  EXPECT_NE(msg.find("timed out connecting to 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << msg;
}

// A resolver that knows no names.
class NoSuchNames final : public transport::NameResolver {
 public:
  Result<std::vector<sockaddr_storage>> resolve(const std::string& host, uint16_t) override {
    return Error(ErrorKind::kNotFound, "cannot resolve " + host + ": Name or service not known");
  }
};

TEST(MtepClient, UnresolvableHostIsTemporary) {
  NoSuchNames resolver;
  ClientOptions opts = fastOptions();
  opts.resolver = &resolver;
  auto r = MtepClient(opts).query("nowhere.test", 6211, "t");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTemporary);
  EXPECT_NE(r.error().message().find("cannot resolve nowhere.test"), std::string::npos)
      << r.error().message();
  auto empty = MtepClient(opts).query("", 6211, "t");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().kind(), ErrorKind::kTemporary);
}

TEST(MtepClient, GarbageRepliesAreProtocolErrors) {
  const std::vector<std::string> garbage = {
      "HTTP/1.1 400 Bad Request\r\n\r\n",  // not a netstring
      "5:Xjunk,",                          // unknown verdict
      "6:D5.7.8;",                         // missing comma
      "9:D5.07.8 x,",                      // bad status code
      "99999:",                            // longer than max_response_size
      "01:K,",                             // leading zero
  };
  for (const auto& reply : garbage) {
    Seen seen;
    TestServer server(canned({reply}, &seen));
    ASSERT_TRUE(server.ok());
    auto r = MtepClient(fastOptions()).query("127.0.0.1", server.port(), "t");
    server.join();
    ASSERT_FALSE(r.ok()) << "reply=" << reply << " was accepted";
    EXPECT_EQ(r.error().kind(), ErrorKind::kProtocol)
        << "reply=" << reply << ": " << r.error().message();
    EXPECT_NE(r.error().message().find(std::to_string(server.port())), std::string::npos)
        << r.error().message();
  }
}

TEST(MtepClient, CloseBeforeAnyAnswerIsTemporary) {
  TestServer server([](int fd) { (void)readRequest(fd); });
  ASSERT_TRUE(server.ok());
  auto r = MtepClient(fastOptions()).query("127.0.0.1", server.port(), "t");
  server.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTemporary);
  EXPECT_NE(r.error().message().find("closed"), std::string::npos) << r.error().message();
}

// Writes `reply` in pieces cut at the given sizes, pausing between writes.
std::function<void(int)> trickle(std::string reply, std::vector<size_t> cuts, Seen* seen) {
  return [reply = std::move(reply), cuts = std::move(cuts), seen](int fd) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto req = readRequest(fd);
    if (!req) return;
    seen->requests.push_back(*req);
    size_t pos = 0;
    for (size_t n : cuts) {
      sendAll(fd, std::string_view(reply).substr(pos, n));
      pos += n;
      std::this_thread::sleep_for(2ms);
    }
    sendAll(fd, std::string_view(reply).substr(pos));
    auto quit = readRequest(fd);
    if (quit) seen->requests.push_back(*quit);
  };
}

TEST(MtepClient, AnswerSplitAcrossManyWritesIsReassembled) {
  const std::string reply = "\r\n" + netstring::encode("Z4.7.25 try later, please");
  std::vector<std::vector<size_t>> splits;
  splits.push_back(std::vector<size_t>(reply.size(), 1));  // one byte per write
  std::mt19937 rng(20221007);
  for (int round = 0; round < 3; ++round) {
    std::vector<size_t> cuts;
    size_t left = reply.size();
    while (left > 0) {
      size_t n = std::uniform_int_distribution<size_t>(1, std::min<size_t>(left, 7))(rng);
      cuts.push_back(n);
      left -= n;
    }
    splits.push_back(cuts);
  }
  for (const auto& cuts : splits) {
    Seen seen;
    TestServer server(trickle(reply, cuts, &seen));
    ASSERT_TRUE(server.ok());
    auto r = MtepClient(fastOptions()).query("127.0.0.1", server.port(), "t");
    server.join();
    ASSERT_TRUE(r.ok()) << "pieces=" << cuts.size() << ": " << r.error().message();
    EXPECT_EQ(r->verdict, Verdict::kTemporary);
    EXPECT_EQ(r->code, (smtp::EnhancedStatus{4, 7, 25}));
    EXPECT_EQ(r->text, "try later, please");
    EXPECT_EQ(seen.requests.size(), 2u) << "the quit should still be sent";
  }
}

TEST(MtepClient, NonPositiveOptionsAreRefused) {
  ClientOptions opts = fastOptions();
  opts.read_timeout_ms = 0;
  auto r = MtepClient(opts).query("127.0.0.1", 1, "t");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kConfig);
}

}  // namespace
}  // namespace mtep::proto

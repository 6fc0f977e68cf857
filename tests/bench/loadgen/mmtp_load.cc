// NAME
//   mmtp-load - MMTP load generator (single thread, epoll, plain TCP)
// SUMMARY
//   mmtp-load --port 8025
//             --recipients '(u0)%(mail.test),(u1)%(mail.test)' --difficulty 1
//             --mode send --connections 64 --requests 200000
//   mmtp-load --port 8025 --mode idle --connections 10000 --duration 10
// DESCRIPTION
//   --mode send  N persistent connections, each with one SEND outstanding
//                at a time (the reference client's way: a request, then
//                its reply). Every SEND is a different packet with its own
//                stamp: all are built and stamped before the clock starts
//                (--requests of them, SHA-256 hashcash at --difficulty,
//                timestamps now), so the run measures the server's checks,
//                not our minting. The run ends when all are answered.
//   --mode receive  --rounds R times: fills --user's mailbox with --requests
//                SENDs on a plain connection (not timed), then RECEIVEs it
//                in one request over TLS (--tls-port) with the user's
//                login (--password: the HASHEDPASS payload is made once,
//                before timing) and times that request, from its write to
//                its whole reply. The reply must hold all the messages.
//   --mode idle  opens N connections, reads each greeting, holds them for
//                --duration seconds, then asks GET_TAG_CATEGORIES on each
//                to show they are still served. --ready-file PATH is
//                created once all are up (the script reads the server's
//                memory then).
//   Prints requests/s, latency percentiles in microseconds (from sending
//   a request to its whole reply line), and the count of OK and ERROR
//   replies; any ERROR (the first one's text is shown) or lost connection
//   makes the exit status 1. --format kv prints one key=value line.

#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "e2ee/e2ee.h"
#include "histogram.h"

namespace mtep::load {
namespace {

struct Options {
  std::string host = "127.0.0.1";
  std::string port = "8025";
  std::string mode = "send";
  int connections = 8;
  uint64_t requests = 100000;
  double duration = 10;
  int difficulty = 1;
  std::string sender;  // "" = (loadPID)%(bench.test): stamps differ from run to run
  std::vector<std::string> recipients = {"(u0)%(mail.test)"};
  size_t body_bytes = 512;
  bool kv = false;
  std::string ready_file;
  std::string user;      // receive mode: the mailbox's owner, a@b
  std::string password;  // receive mode
  std::string tls_port = "8026";
  int rounds = 20;
};

uint64_t nowNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

std::string sha256Hex(std::string_view s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

// The reference client's packet, as its JSON.stringify writes it.
std::string sendRequest(const Options& o, const std::string& recipient, uint64_t ts_ms,
                        const std::string& content_json, const std::string& hash,
                        uint64_t serial) {
  const std::string ts = std::to_string(ts_ms);
  const std::string prefix = "1:" + std::to_string(o.difficulty) + ":" + ts + ":" + o.sender +
                             ":" + recipient + ":" + ts + "::";
  const std::string zeros(static_cast<size_t>(o.difficulty), '0');
  std::string token;
  uint64_t counter = 0;
  for (;; ++counter) {
    token = prefix + std::to_string(counter) + ":";
    if (sha256Hex(token).compare(0, zeros.size(), zeros) == 0) break;
  }
  char id[40];
  std::snprintf(id, sizeof id, "%032llx", static_cast<unsigned long long>(serial));
  return std::string(R"({"action":"SEND","data":{"packet":{"meta":{"type":"SEND","messageId":")") +
         id + R"(","timestamp":)" + ts + R"(,"hashcashToken":{"token":")" + token +
         R"(","counter":)" + std::to_string(counter) +
         R"(},"encrypted":false,"signed":false,"tags":{}},"sender":")" + o.sender +
         R"(","recipient":")" + recipient + R"(","content":)" + content_json +
         R"(,"verification":{"messageHash":")" + hash + R"("}}}})";
}

struct Conn {
  int fd = -1;
  bool greeted = false;
  bool connected = false;
  bool final_asked = false;
  uint64_t started = 0;
  std::string out;
  size_t out_off = 0;
  std::string in;
};

struct Stats {
  uint64_t ok = 0;
  uint64_t errors = 0;
  uint64_t lost = 0;
  uint64_t alive = 0;
  std::string first_error;
  double elapsed = 0;
  LatencyHistogram latency;
};

class Runner {
 public:
  Runner(const Options& o, const addrinfo* ai) : o_(o), ai_(ai) {
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    conns_.resize(static_cast<size_t>(o.connections));
  }
  void prepare();
  Stats run();

 private:
  bool open(size_t slot);
  void next(size_t slot);
  void flush(size_t slot);
  void onReadable(size_t slot);
  void onLine(size_t slot, std::string_view line);
  void drop(size_t slot);

  const Options& o_;
  const addrinfo* ai_;
  int ep_ = -1;
  std::vector<Conn> conns_;
  std::vector<std::string> requests_;
  size_t next_request_ = 0;
  uint64_t answered_ = 0;
  size_t greeted_ = 0;
  Stats stats_;
};

void Runner::prepare() {
  if (o_.mode != "send") return;
  std::string body(o_.body_bytes, 'x');
  const std::string content = R"({"subject":"Bench","body":")" + body + R"("})";
  const std::string hash = sha256Hex(content);
  const uint64_t ts = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
  requests_.reserve(o_.requests);
  for (uint64_t i = 0; i < o_.requests; ++i) {
    // One millisecond apart: every packet (and stamp) is different.
    requests_.push_back(sendRequest(o_, o_.recipients[i % o_.recipients.size()], ts - i, content,
                                    hash, i) +
                        "\n");
  }
}

bool Runner::open(size_t slot) {
  Conn& c = conns_[slot];
  c = Conn{};
  c.fd = ::socket(ai_->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) return false;
  int one = 1;
  ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(c.fd, ai_->ai_addr, ai_->ai_addrlen) != 0 && errno != EINPROGRESS) {
    ::close(c.fd);
    c.fd = -1;
    return false;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = slot;
  ::epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
  return true;
}

void Runner::drop(size_t slot) {
  Conn& c = conns_[slot];
  if (c.fd < 0) return;
  ::epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
  ::close(c.fd);
  c.fd = -1;
  ++stats_.lost;
}

void Runner::flush(size_t slot) {
  Conn& c = conns_[slot];
  while (c.out_off < c.out.size()) {
    const ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT;
        ev.data.u64 = slot;
        ::epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
        return;
      }
      drop(slot);
      return;
    }
    c.out_off += static_cast<size_t>(n);
  }
  c.out.clear();
  c.out_off = 0;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = slot;
  ::epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
}

void Runner::next(size_t slot) {
  Conn& c = conns_[slot];
  if (o_.mode != "send" || next_request_ >= requests_.size()) return;
  c.out = requests_[next_request_++];
  c.out_off = 0;
  c.started = nowNs();
  flush(slot);
}

void Runner::onLine(size_t slot, std::string_view line) {
  Conn& c = conns_[slot];
  if (!c.greeted) {
    c.greeted = true;
    ++greeted_;
    next(slot);
    return;
  }
  const bool ok = line.find(R"("status":"OK")") != std::string_view::npos;
  if (ok) {
    ++stats_.ok;
  } else {
    ++stats_.errors;
    if (stats_.first_error.empty()) stats_.first_error = std::string(line.substr(0, 300));
  }
  if (c.final_asked) {
    if (ok) ++stats_.alive;
    return;
  }
  stats_.latency.record((nowNs() - c.started) / 1000);
  ++answered_;
  next(slot);
}

void Runner::onReadable(size_t slot) {
  Conn& c = conns_[slot];
  char buf[65536];
  while (c.fd >= 0) {
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n == 0) {
      drop(slot);
      return;
    }
    if (n < 0) {
      if (errno != EAGAIN) drop(slot);
      return;
    }
    c.in.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    size_t nl;
    while ((nl = c.in.find('\n', start)) != std::string::npos) {
      onLine(slot, std::string_view(c.in).substr(start, nl - start));
      start = nl + 1;
    }
    c.in.erase(0, start);
  }
}

Stats Runner::run() {
  for (size_t i = 0; i < conns_.size(); ++i) {
    if (!open(i)) ++stats_.lost;
  }
  std::vector<epoll_event> events(1024);
  const uint64_t t0 = nowNs();
  uint64_t started = 0;
  bool ready_written = false;
  while (true) {
    const int n = ::epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 100);
    for (int i = 0; i < n; ++i) {
      const size_t slot = events[static_cast<size_t>(i)].data.u64;
      if (events[static_cast<size_t>(i)].events & EPOLLOUT) flush(slot);
      if (events[static_cast<size_t>(i)].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) onReadable(slot);
    }
    if (o_.mode == "send") {
      if (answered_ + stats_.lost >= requests_.size() || stats_.lost >= conns_.size()) break;
      continue;
    }
    // idle
    if (greeted_ + stats_.lost >= conns_.size() && !ready_written) {
      ready_written = true;
      started = nowNs();
      if (!o_.ready_file.empty()) {
        if (FILE* f = std::fopen(o_.ready_file.c_str(), "w")) std::fclose(f);
      }
    }
    if (ready_written && nowNs() - started >= static_cast<uint64_t>(o_.duration * 1e9)) {
      for (size_t s = 0; s < conns_.size(); ++s) {
        if (conns_[s].fd < 0) continue;
        conns_[s].final_asked = true;
        conns_[s].out = "{\"action\":\"GET_TAG_CATEGORIES\",\"data\":{}}\n";
        conns_[s].out_off = 0;
        flush(s);
      }
      const uint64_t until = nowNs() + 10'000'000'000u;
      while (stats_.alive + stats_.errors + stats_.lost < conns_.size() && nowNs() < until) {
        const int m = ::epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 100);
        for (int i = 0; i < m; ++i) onReadable(events[static_cast<size_t>(i)].data.u64);
      }
      break;
    }
  }
  stats_.elapsed = static_cast<double>(nowNs() - t0) / 1e9;
  for (Conn& c : conns_) {
    if (c.fd >= 0) ::close(c.fd);
  }
  return stats_;
}

// A blocking connection (plain or TLS) that reads one "\n"-ended line.
class Blocking {
 public:
  ~Blocking() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
  }
  bool open(const addrinfo* ai, SSL_CTX* ctx) {
    fd_ = ::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0 || ::connect(fd_, ai->ai_addr, ai->ai_addrlen) != 0) return false;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (ctx != nullptr) {
      ssl_ = SSL_new(ctx);
      SSL_set_fd(ssl_, fd_);
      if (SSL_connect(ssl_) != 1) return false;
    }
    return !line().empty();  // the greeting
  }
  bool write(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      const int n = ssl_ != nullptr
                        ? SSL_write(ssl_, s.data() + off, static_cast<int>(s.size() - off))
                        : static_cast<int>(::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL));
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  std::string line() {
    while (true) {
      const size_t nl = in_.find('\n');
      if (nl != std::string::npos) {
        std::string l = in_.substr(0, nl);
        in_.erase(0, nl + 1);
        return l;
      }
      char buf[65536];
      const int n = ssl_ != nullptr ? SSL_read(ssl_, buf, sizeof buf)
                                    : static_cast<int>(::recv(fd_, buf, sizeof buf, 0));
      if (n <= 0) return "";
      in_.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  std::string in_;
};

// --mode receive (see the header).
int runReceive(const Options& o, const addrinfo* plain, const addrinfo* tls) {
  const size_t at = o.user.find('@');
  if (at == std::string::npos || o.password.empty()) {
    std::fprintf(stderr, "mmtp-load: --mode receive needs --user a@b and --password\n");
    return 2;
  }
  const std::string box = "(" + o.user.substr(0, at) + ")%(" + o.user.substr(at + 1) + ")";
  auto hash = mtep::e2ee::hashedPass(o.user, o.password);
  if (!hash.ok()) {
    std::fprintf(stderr, "mmtp-load: %s\n", hash.error().message().c_str());
    return 2;
  }
  const std::string receive = R"({"action":"RECEIVE","data":{"email":")" + box +
                              R"(","auth":")" + mtep::e2ee::formatHashedPassAuth(o.user, *hash) +
                              "\"}}\n";
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  LatencyHistogram latency;
  uint64_t messages = 0;
  std::string body(o.body_bytes, 'x');
  const std::string content = R"({"subject":"Bench","body":")" + body + R"("})";
  const std::string hash_hex = sha256Hex(content);
  uint64_t serial = 0;
  const uint64_t base_ts = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  for (int r = 0; r < o.rounds; ++r) {
    Blocking fill;
    if (!fill.open(plain, nullptr)) {
      std::fprintf(stderr, "mmtp-load: cannot connect to fill the mailbox\n");
      return 1;
    }
    for (uint64_t i = 0; i < o.requests; ++i, ++serial) {
      // One millisecond apart over all rounds: every stamp differs.
      const std::string req = sendRequest(o, box, base_ts - serial, content, hash_hex, serial) + "\n";
      std::string reply;
      if (!fill.write(req) || (reply = fill.line()).find(R"("status":"OK")") == std::string::npos) {
        std::fprintf(stderr, "mmtp-load: a SEND to fill the mailbox failed: %.300s\n", reply.c_str());
        return 1;
      }
    }
    Blocking c;
    if (!c.open(tls, ctx)) {
      std::fprintf(stderr, "mmtp-load: cannot connect with TLS\n");
      return 1;
    }
    const uint64_t t0 = nowNs();
    if (!c.write(receive)) return 1;
    const std::string reply = c.line();
    latency.record((nowNs() - t0) / 1000);
    const std::string want = "\"count\":" + std::to_string(o.requests);
    if (reply.find(R"("status":"OK")") == std::string::npos ||
        reply.find(want) == std::string::npos) {
      std::fprintf(stderr, "mmtp-load: RECEIVE did not return %llu messages: %.300s\n",
                   static_cast<unsigned long long>(o.requests), reply.c_str());
      return 1;
    }
    messages += o.requests;
  }
  SSL_CTX_free(ctx);
  if (o.kv) {
    std::printf("mode=receive rounds=%d mailbox=%llu p50=%llu p99=%llu max=%llu\n", o.rounds,
                static_cast<unsigned long long>(o.requests),
                static_cast<unsigned long long>(latency.percentile(0.5)),
                static_cast<unsigned long long>(latency.percentile(0.99)),
                static_cast<unsigned long long>(latency.max()));
  } else {
    std::printf("receive, mailbox of %llu, %d rounds: p50 %llu us  p99 %llu us  max %llu us\n",
                static_cast<unsigned long long>(o.requests), o.rounds,
                static_cast<unsigned long long>(latency.percentile(0.5)),
                static_cast<unsigned long long>(latency.percentile(0.99)),
                static_cast<unsigned long long>(latency.max()));
  }
  return 0;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    const size_t end = comma == std::string::npos ? s.size() : comma;
    if (end > start) out.push_back(s.substr(start, end - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

int usage() {
  std::fprintf(stderr,
               "usage: mmtp-load [--host H] [--port P] [--mode send|idle] [--connections N]\n"
               "                 [--requests N] [--duration S] [--difficulty D] [--sender A]\n"
               "                 [--recipients A,B,...] [--body-bytes N] [--format text|kv]\n"
               "                 [--ready-file PATH] [--user A@B --password P --tls-port P\n"
               "                 --rounds R]\n");
  return 2;
}

}  // namespace
}  // namespace mtep::load

int main(int argc, char** argv) {
  using namespace mtep::load;  // NOLINT: main only
  Options o;
  static const option kLong[] = {
      {"host", required_argument, nullptr, 'h'},        {"port", required_argument, nullptr, 'p'},
      {"mode", required_argument, nullptr, 'm'},        {"connections", required_argument, nullptr, 'c'},
      {"requests", required_argument, nullptr, 'n'},    {"duration", required_argument, nullptr, 'd'},
      {"difficulty", required_argument, nullptr, 'D'},  {"sender", required_argument, nullptr, 's'},
      {"recipients", required_argument, nullptr, 'r'},  {"body-bytes", required_argument, nullptr, 'b'},
      {"format", required_argument, nullptr, 'f'},      {"ready-file", required_argument, nullptr, 'R'},
      {"user", required_argument, nullptr, 'u'},        {"password", required_argument, nullptr, 'P'},
      {"tls-port", required_argument, nullptr, 'T'},    {"rounds", required_argument, nullptr, 'o'},
      {nullptr, 0, nullptr, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "", kLong, nullptr)) != -1) {
    const std::string v = optarg != nullptr ? optarg : "";
    switch (ch) {
      case 'h': o.host = v; break;
      case 'p': o.port = v; break;
      case 'm': o.mode = v; break;
      case 'c': o.connections = std::atoi(v.c_str()); break;
      case 'n': o.requests = std::strtoull(v.c_str(), nullptr, 10); break;
      case 'd': o.duration = std::atof(v.c_str()); break;
      case 'D': o.difficulty = std::atoi(v.c_str()); break;
      case 's': o.sender = v; break;
      case 'r': o.recipients = split(v); break;
      case 'b': o.body_bytes = std::strtoull(v.c_str(), nullptr, 10); break;
      case 'f': o.kv = v == "kv"; break;
      case 'R': o.ready_file = v; break;
      case 'u': o.user = v; break;
      case 'P': o.password = v; break;
      case 'T': o.tls_port = v; break;
      case 'o': o.rounds = std::atoi(v.c_str()); break;
      default: return usage();
    }
  }
  if ((o.mode != "send" && o.mode != "idle" && o.mode != "receive") || o.connections < 1 || o.recipients.empty() ||
      o.difficulty < 0 || o.difficulty > 6) {
    return usage();
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* ai = nullptr;
  if (getaddrinfo(o.host.c_str(), o.port.c_str(), &hints, &ai) != 0 || ai == nullptr) {
    std::fprintf(stderr, "mmtp-load: cannot resolve %s:%s\n", o.host.c_str(), o.port.c_str());
    return 2;
  }
  if (o.sender.empty()) o.sender = "(load" + std::to_string(::getpid()) + ")%(bench.test)";
  if (o.mode == "receive") {
    addrinfo* tls = nullptr;
    if (getaddrinfo(o.host.c_str(), o.tls_port.c_str(), &hints, &tls) != 0 || tls == nullptr) {
      std::fprintf(stderr, "mmtp-load: cannot resolve %s:%s\n", o.host.c_str(), o.tls_port.c_str());
      return 2;
    }
    const int rc = runReceive(o, ai, tls);
    freeaddrinfo(tls);
    freeaddrinfo(ai);
    return rc;
  }
  Runner r(o, ai);
  r.prepare();
  const Stats s = r.run();
  freeaddrinfo(ai);
  const uint64_t answered = s.ok + s.errors;
  const double rps = s.elapsed > 0 ? static_cast<double>(answered) / s.elapsed : 0;
  if (o.kv) {
    std::printf("mode=%s connections=%d seconds=%.2f requests=%llu rps=%.0f p50=%llu p99=%llu "
                "max=%llu ok=%llu errors=%llu lost=%llu alive=%llu\n",
                o.mode.c_str(), o.connections, s.elapsed, static_cast<unsigned long long>(answered),
                rps, static_cast<unsigned long long>(s.latency.percentile(0.50)),
                static_cast<unsigned long long>(s.latency.percentile(0.99)),
                static_cast<unsigned long long>(s.latency.max()),
                static_cast<unsigned long long>(s.ok), static_cast<unsigned long long>(s.errors),
                static_cast<unsigned long long>(s.lost), static_cast<unsigned long long>(s.alive));
  } else {
    std::printf("%s, %d connections: %llu replies in %.2f s = %.0f/s\n", o.mode.c_str(),
                o.connections, static_cast<unsigned long long>(answered), s.elapsed, rps);
    std::printf("latency (us): p50 %llu  p99 %llu  max %llu\n",
                static_cast<unsigned long long>(s.latency.percentile(0.50)),
                static_cast<unsigned long long>(s.latency.percentile(0.99)),
                static_cast<unsigned long long>(s.latency.max()));
    std::printf("OK %llu  ERROR %llu  lost connections %llu  alive at the end %llu\n",
                static_cast<unsigned long long>(s.ok), static_cast<unsigned long long>(s.errors),
                static_cast<unsigned long long>(s.lost), static_cast<unsigned long long>(s.alive));
  }
  if (s.errors > 0 || s.lost > 0) {
    std::fprintf(stderr, "mmtp-load: %llu ERROR replies, %llu connections lost; first: %s\n",
                 static_cast<unsigned long long>(s.errors), static_cast<unsigned long long>(s.lost),
                 s.first_error.c_str());
    return 1;
  }
  return 0;
}

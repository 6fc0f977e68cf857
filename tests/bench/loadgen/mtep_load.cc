// NAME
//   mtep-load - MTEP load generator (single thread, epoll)
// SUMMARY
//   mtep-load --port 6211 --token T --sender a@b.example
//             --mode persistent --connections 64 --duration 10
// DESCRIPTION
//   --mode persistent  N connections, each with one "?" outstanding at a time.
//   --mode connect     a new connection per query, N in flight: connect,
//                      send "?" and "Q" together, read both replies and the
//                      server's close (so TIME_WAIT stays on the server side
//                      and the client does not run out of ports).
//   --mode idle        open N connections and hold them for --duration; then
//                      ask one "?" on each to show they are still served.
//   --protocol policy  speak the Postfix policy protocol to mtep-policyd
//                      instead: each request is an RCPT-state
//                      smtpd_access_policy request (--sender, --recipient);
//                      the expected answer is DUNNO (counted where K is). In
//                      connect mode the client closes after each answer.
//   --unique           (policy) every request has its own client_address
//                      (10.0.0.0/8, counting up), sender (uN@load.test),
//                      recipient (uN at --recipient's domain) and instance
//                      (LOAD.N), so per-client and per-sender rate gates
//                      and per-message state each see a new key: the cost
//                      of the checks without their refusals.
//   --expect ACTION    (policy) the answer counted as expected: replies whose
//                      action starts with ACTION ("DUNNO" by default; "" for
//                      any action: for peers such as postgrey, whose answer
//                      changes from DEFER to PREPEND to DUNNO as it learns).
//   Prints requests/s, latency percentiles (microseconds, from a
//   log-linear histogram; in connect mode from connect() to the answer),
//   errors, and the count of each verdict. Any answer other than K is
//   reported loudly and makes the exit status 1. --format kv prints one
//   key=value line for scripts. --ready-file PATH is created once all idle
//   connections are up (so a script can measure the server meanwhile).

#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "histogram.h"

namespace mtep::load {
namespace {

enum class Mode { kPersistent, kConnect, kIdle };

struct Options {
  std::string host = "127.0.0.1";
  std::string port = "6211";
  int connections = 64;
  double duration = 10;
  Mode mode = Mode::kPersistent;
  std::string token = "unvanquished";
  std::string sender;
  bool kv = false;
  std::string ready_file;
  bool policy = false;           // --protocol policy
  std::string expect = "DUNNO";  // --expect: policy answers counted as expected
  std::string recipient = "bob@example.net";
  bool unique = false;  // --unique (policy)
};

struct Stats {
  uint64_t requests = 0;
  uint64_t connect_errors = 0;
  uint64_t unexpected_closes = 0;
  uint64_t protocol_errors = 0;
  uint64_t verdict[5] = {};  // K Z D I other
  uint64_t alive = 0;        // idle mode: answered at the end
  double elapsed = 0;        // seconds of load (idle mode: the hold time)
  LatencyHistogram latency;
  uint64_t errors() const { return connect_errors + unexpected_closes + protocol_errors; }
  uint64_t notK() const { return verdict[1] + verdict[2] + verdict[3] + verdict[4]; }
};

uint64_t nowNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

std::string ns(std::string_view s) { return std::to_string(s.size()) + ":" + std::string(s) + ","; }

// Parses one reply netstring at the front of `buf`: 1 = got one (payload set,
// *used bytes), 0 = need more, -1 = not a netstring.
int parseReply(std::string_view buf, std::string_view* payload, size_t* used) {
  size_t len = 0;
  size_t i = 0;
  for (; i < buf.size() && buf[i] != ':'; ++i) {
    if (buf[i] < '0' || buf[i] > '9' || i >= 7) return -1;
    len = len * 10 + static_cast<size_t>(buf[i] - '0');
  }
  if (i == buf.size()) return 0;
  if (i == 0) return -1;
  if (buf.size() < i + 1 + len + 1) return 0;
  if (buf[i + 1 + len] != ',') return -1;
  *payload = buf.substr(i + 1, len);
  *used = i + 1 + len + 1;
  return 1;
}

// One policy reply ("action=...\n\n") at the front of `buf`: 1 = got one
// (payload = the action line), 0 = need more, -1 = not a policy reply.
int parsePolicyReply(std::string_view buf, std::string_view* payload, size_t* used) {
  size_t end = buf.find("\n\n");
  if (end == std::string_view::npos) return buf.size() > 4096 ? -1 : 0;
  if (buf.substr(0, 7) != "action=") return -1;
  *payload = buf.substr(0, end);
  *used = end + 2;
  return 1;
}

struct Conn {
  int fd = -1;
  bool connected = false;
  bool counted = false;      // connect mode: the "?" answer was seen
  bool final_query = false;  // idle mode: the closing check is outstanding
  bool finished = false;     // connect mode, policy: answered, the client closes
  uint64_t started = 0;      // ns: request sent (persistent) or connect() (connect)
  std::string out;
  size_t out_off = 0;
  std::string in;
};

class Runner {
 public:
  Runner(const Options& o, const sockaddr_storage& addr, socklen_t addr_len)
      : o_(o), addr_(addr), addr_len_(addr_len) {
    // With a sender, the recipient too: tokens are bound to its domain.
    query_ = ns(ns("?") + ns(o.token) + (o.sender.empty() ? "" : ns(o.sender) + ns(o.recipient)));
    if (o.policy) {
      query_ =
          "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
          "client_address=192.0.2.1\nclient_name=load.example\nsender=" +
          (o.sender.empty() ? std::string("alice@example.org") : o.sender) +
          "\nrecipient=" + o.recipient + "\ninstance=LOAD.1\n\n";
    }
    quit_ = ns(ns("Q"));
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    conns_.resize(static_cast<size_t>(o.connections));
  }

  Stats run();

 private:
  bool open(size_t slot);
  void close(size_t slot);
  void watch(size_t slot, uint32_t events, int op);
  void send(size_t slot, const std::string& bytes);
  void flush(size_t slot);
  void onReadable(size_t slot);
  void onReply(size_t slot, std::string_view payload);
  void countVerdict(std::string_view payload);

  const Options& o_;
  sockaddr_storage addr_;
  socklen_t addr_len_;
  std::string query_;
  uint64_t sequence_ = 0;  // --unique: requests made so far
  // The next request: query_, or with --unique one of its own.
  const std::string& nextQuery() {
    if (!o_.unique || !o_.policy) return query_;
    const uint64_t n = ++sequence_;
    unique_query_ =
        "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
        "client_address=10." +
        std::to_string((n >> 16) & 0xff) + "." + std::to_string((n >> 8) & 0xff) + "." +
        std::to_string(n & 0xff) + "\nclient_name=load.example\nsender=u" + std::to_string(n) +
        "@load.test\nrecipient=u" + std::to_string(n) + recipient_at_ + "\ninstance=LOAD." +
        std::to_string(n) + "\n\n";
    return unique_query_;
  }
  std::string unique_query_;
  // "@domain" of --recipient (--unique gives every request its own local part).
  const std::string recipient_at_ = o_.recipient.find('@') == std::string::npos
                                        ? "@" + o_.recipient
                                        : o_.recipient.substr(o_.recipient.rfind('@'));
  std::string quit_;
  int ep_ = -1;
  std::vector<Conn> conns_;
  Stats stats_;
  bool stopping_ = false;
  size_t established_ = 0;
  size_t connecting_ = 0;  // connect() issued, outcome not known yet
};

bool Runner::open(size_t slot) {
  Conn& c = conns_[slot];
  c = Conn{};
  c.fd = ::socket(addr_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) {
    ++stats_.connect_errors;
    return false;
  }
  int one = 1;
  ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c.started = nowNs();
  int rc = ::connect(c.fd, reinterpret_cast<const sockaddr*>(&addr_), addr_len_);
  if (rc != 0 && errno != EINPROGRESS) {
    ++stats_.connect_errors;
    ::close(c.fd);
    c.fd = -1;
    return false;
  }
  watch(slot, EPOLLOUT | EPOLLIN, EPOLL_CTL_ADD);
  ++connecting_;
  return true;
}

void Runner::close(size_t slot) {
  Conn& c = conns_[slot];
  if (c.fd >= 0) ::close(c.fd);  // also leaves the epoll set
  if (c.connected) --established_;
  if (c.fd >= 0 && !c.connected) --connecting_;
  c.fd = -1;
  c.connected = false;
}

void Runner::watch(size_t slot, uint32_t events, int op) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = slot;
  ::epoll_ctl(ep_, op, conns_[slot].fd, &ev);
}

void Runner::send(size_t slot, const std::string& bytes) {
  Conn& c = conns_[slot];
  c.out.append(bytes);
  flush(slot);
}

void Runner::flush(size_t slot) {
  Conn& c = conns_[slot];
  while (c.out_off < c.out.size()) {
    ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (n < 0 && errno == EAGAIN) {
      watch(slot, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
      return;
    }
    if (n <= 0) return;  // the read side reports the failure
    c.out_off += static_cast<size_t>(n);
  }
  c.out.clear();
  c.out_off = 0;
}

void Runner::countVerdict(std::string_view payload) {
  int v = 4;
  if (o_.policy) {
    const bool expected =
        payload.starts_with("action=") && payload.substr(7).starts_with(o_.expect);
    ++stats_.verdict[expected ? 0 : 4];
    return;
  }
  if (!payload.empty()) {
    switch (payload[0]) {
      case 'K':
        v = 0;
        break;
      case 'Z':
        v = 1;
        break;
      case 'D':
        v = 2;
        break;
      case 'I':
        v = 3;
        break;
      default:
        break;
    }
  }
  ++stats_.verdict[v];
}

void Runner::onReply(size_t slot, std::string_view payload) {
  Conn& c = conns_[slot];
  uint64_t t = nowNs();
  switch (o_.mode) {
    case Mode::kPersistent:
      ++stats_.requests;
      countVerdict(payload);
      stats_.latency.record((t - c.started) / 1000);
      if (!stopping_) {
        c.started = t;
        send(slot, nextQuery());
      }
      break;
    case Mode::kConnect:
      if (!c.counted) {  // the "?" answer; the next one is the farewell
        c.counted = true;
        ++stats_.requests;
        countVerdict(payload);
        stats_.latency.record((t - c.started) / 1000);
        c.finished = o_.policy;  // no "Q": the client closes
      }
      break;
    case Mode::kIdle:
      if (c.final_query) {
        c.final_query = false;
        ++stats_.alive;
        ++stats_.requests;
        countVerdict(payload);
        stats_.latency.record((t - c.started) / 1000);
      }
      break;
  }
}

void Runner::onReadable(size_t slot) {
  Conn& c = conns_[slot];
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n > 0) {
      c.in.append(buf, static_cast<size_t>(n));
      if (static_cast<size_t>(n) < sizeof buf) break;
      continue;
    }
    if (n < 0 && errno == EAGAIN) break;
    // EOF or error. In connect mode the server's close after Q is expected.
    bool expected = o_.mode == Mode::kConnect && c.counted;
    if (!expected && !stopping_) ++stats_.unexpected_closes;
    close(slot);
    if (!stopping_ && o_.mode != Mode::kIdle) open(slot);
    return;
  }
  size_t pos = 0;
  for (;;) {
    std::string_view payload;
    size_t used = 0;
    std::string_view rest = std::string_view(c.in).substr(pos);
    int r = o_.policy ? parsePolicyReply(rest, &payload, &used) : parseReply(rest, &payload, &used);
    if (r == 0) break;
    if (r < 0) {
      ++stats_.protocol_errors;
      close(slot);
      if (!stopping_ && o_.mode != Mode::kIdle) open(slot);
      return;
    }
    onReply(slot, payload);
    pos += used;
  }
  c.in.erase(0, pos);
  if (c.finished) {
    close(slot);
    if (!stopping_) open(slot);
  }
}

Stats Runner::run() {
  epoll_event events[512];
  const uint64_t t0 = nowNs();
  uint64_t end = t0 + static_cast<uint64_t>(o_.duration * 1e9);
  size_t next_to_open = 0;
  const size_t kMaxConnecting = 256;  // do not flood the listen backlog in idle mode
  bool announced = false;
  uint64_t hold_end = 0;

  auto openMore = [&] {
    while (next_to_open < conns_.size() &&
           (o_.mode != Mode::kIdle || connecting_ < kMaxConnecting)) {
      open(next_to_open++);
    }
  };
  openMore();
  for (;;) {
    uint64_t t = nowNs();
    if (o_.mode == Mode::kIdle) {
      // Every connection attempt settled (up, refused or failed).
      if (!announced && next_to_open == conns_.size() && connecting_ == 0) {
        announced = true;
        hold_end = t + static_cast<uint64_t>(o_.duration * 1e9);
        std::fprintf(stderr, "mtep-load: holding %zu connections\n", established_);
        if (!o_.ready_file.empty()) {
          FILE* f = std::fopen(o_.ready_file.c_str(), "w");
          if (f != nullptr) std::fclose(f);
        }
      }
      if (announced && hold_end != 0 && t >= hold_end) {
        // Ask once on every connection still open, then finish.
        hold_end = 0;
        for (size_t i = 0; i < conns_.size(); ++i) {
          if (conns_[i].fd < 0) continue;
          conns_[i].final_query = true;
          conns_[i].started = nowNs();
          send(i, nextQuery());
        }
        end = nowNs() + 5'000'000'000u;
      }
      if (!announced && t > t0 + 120'000'000'000u) end = t;  // give up after 2 min
      if (hold_end == 0 && announced) {
        bool pending = false;
        for (const Conn& c : conns_) pending = pending || (c.fd >= 0 && c.final_query);
        if (!pending) break;
      }
    }
    if (t >= end && (o_.mode != Mode::kIdle || !announced || hold_end == 0)) break;
    int n = ::epoll_wait(ep_, events, 512, 100);
    for (int i = 0; i < n; ++i) {
      auto slot = static_cast<size_t>(events[i].data.u64);
      Conn& c = conns_[slot];
      if (c.fd < 0) continue;
      if (!c.connected && (events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          ++stats_.connect_errors;
          close(slot);
          if (o_.mode != Mode::kIdle) open(slot);
          continue;
        }
        c.connected = true;
        ++established_;
        --connecting_;
        watch(slot, EPOLLIN, EPOLL_CTL_MOD);
        if (o_.mode == Mode::kPersistent) {
          c.started = nowNs();
          send(slot, nextQuery());
        } else if (o_.mode == Mode::kConnect) {
          send(slot, o_.policy ? nextQuery() : query_ + quit_);
        }
        continue;
      }
      if ((events[i].events & EPOLLOUT) != 0 && c.out_off < c.out.size()) {
        flush(slot);
        if (c.out.empty()) watch(slot, EPOLLIN, EPOLL_CTL_MOD);
      }
      if ((events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) onReadable(slot);
    }
    if (o_.mode == Mode::kIdle && !announced) openMore();
  }
  double secs = static_cast<double>(nowNs() - t0) / 1e9;
  stopping_ = true;
  if (o_.mode == Mode::kIdle) secs = o_.duration;
  stats_.elapsed = secs;
  for (size_t i = 0; i < conns_.size(); ++i) close(i);
  return stats_;
}

void usage(FILE* out) {
  std::fprintf(out,
               "usage: mtep-load [--host ADDR] [--port N] [--connections N] [--duration S]\n"
               "                 [--mode persistent|connect|idle] [--token T] [--sender S]\n"
               "                 [--format text|kv] [--ready-file PATH]\n"
               "                 [--protocol mtep|policy] [--recipient R] [--expect ACTION]\n"
               "                 [--unique]\n");
}

bool parseOptions(int argc, char** argv, Options* o) {
  enum {
    kHost = 1,
    kPort,
    kConns,
    kDuration,
    kMode,
    kToken,
    kSender,
    kFormat,
    kReady,
    kProtocol,
    kRecipient,
    kExpect,
    kUnique
  };
  static const option kLong[] = {{"host", required_argument, nullptr, kHost},
                                 {"port", required_argument, nullptr, kPort},
                                 {"connections", required_argument, nullptr, kConns},
                                 {"duration", required_argument, nullptr, kDuration},
                                 {"mode", required_argument, nullptr, kMode},
                                 {"token", required_argument, nullptr, kToken},
                                 {"sender", required_argument, nullptr, kSender},
                                 {"format", required_argument, nullptr, kFormat},
                                 {"ready-file", required_argument, nullptr, kReady},
                                 {"protocol", required_argument, nullptr, kProtocol},
                                 {"recipient", required_argument, nullptr, kRecipient},
                                 {"expect", required_argument, nullptr, kExpect},
                                 {"unique", no_argument, nullptr, kUnique},
                                 {"help", no_argument, nullptr, 'h'},
                                 {nullptr, 0, nullptr, 0}};
  int ch;
  while ((ch = ::getopt_long(argc, argv, "h", kLong, nullptr)) != -1) {
    std::string v = optarg != nullptr ? optarg : "";
    switch (ch) {
      case kHost:
        o->host = v;
        break;
      case kPort:
        o->port = v;
        break;
      case kConns:
        o->connections = std::atoi(v.c_str());
        break;
      case kDuration:
        o->duration = std::atof(v.c_str());
        break;
      case kMode:
        if (v == "persistent")
          o->mode = Mode::kPersistent;
        else if (v == "connect")
          o->mode = Mode::kConnect;
        else if (v == "idle")
          o->mode = Mode::kIdle;
        else
          return false;
        break;
      case kToken:
        o->token = v;
        break;
      case kSender:
        o->sender = v;
        break;
      case kFormat:
        o->kv = v == "kv";
        break;
      case kReady:
        o->ready_file = v;
        break;
      case kProtocol:
        if (v != "mtep" && v != "policy") return false;
        o->policy = v == "policy";
        break;
      case kRecipient:
        o->recipient = v;
        break;
      case kExpect:
        o->expect = v;
        break;
      case kUnique:
        o->unique = true;
        break;
      default:
        return false;
    }
  }
  return o->connections > 0 && o->duration > 0 && optind == argc;
}

const char* modeName(Mode m) {
  switch (m) {
    case Mode::kPersistent:
      return "persistent";
    case Mode::kConnect:
      return "connect";
    case Mode::kIdle:
      return "idle";
  }
  return "?";
}

void report(const Options& o, const Stats& s) {
  double rps = s.elapsed > 0 ? static_cast<double>(s.requests) / s.elapsed : 0;
  if (o.mode == Mode::kIdle) rps = 0;
  if (o.kv) {
    std::printf(
        "mode=%s connections=%d seconds=%.2f requests=%llu rps=%.0f p50=%llu p99=%llu p999=%llu "
        "max=%llu errors=%llu K=%llu Z=%llu D=%llu I=%llu other=%llu alive=%llu\n",
        modeName(o.mode), o.connections, s.elapsed, static_cast<unsigned long long>(s.requests),
        rps, static_cast<unsigned long long>(s.latency.percentile(0.50)),
        static_cast<unsigned long long>(s.latency.percentile(0.99)),
        static_cast<unsigned long long>(s.latency.percentile(0.999)),
        static_cast<unsigned long long>(s.latency.max()),
        static_cast<unsigned long long>(s.errors()), static_cast<unsigned long long>(s.verdict[0]),
        static_cast<unsigned long long>(s.verdict[1]),
        static_cast<unsigned long long>(s.verdict[2]),
        static_cast<unsigned long long>(s.verdict[3]),
        static_cast<unsigned long long>(s.verdict[4]), static_cast<unsigned long long>(s.alive));
  } else {
    std::printf("mode %s, %d connections, %.2f s\n", modeName(o.mode), o.connections, s.elapsed);
    if (o.mode == Mode::kIdle) {
      std::printf("connections still answering after the hold: %llu of %d\n",
                  static_cast<unsigned long long>(s.alive), o.connections);
    } else {
      std::printf("requests: %llu (%.0f/s)\n", static_cast<unsigned long long>(s.requests), rps);
    }
    std::printf("latency (us): p50 %llu  p99 %llu  p99.9 %llu  max %llu\n",
                static_cast<unsigned long long>(s.latency.percentile(0.50)),
                static_cast<unsigned long long>(s.latency.percentile(0.99)),
                static_cast<unsigned long long>(s.latency.percentile(0.999)),
                static_cast<unsigned long long>(s.latency.max()));
    std::printf("errors: %llu (connect %llu, unexpected close %llu, protocol %llu)\n",
                static_cast<unsigned long long>(s.errors()),
                static_cast<unsigned long long>(s.connect_errors),
                static_cast<unsigned long long>(s.unexpected_closes),
                static_cast<unsigned long long>(s.protocol_errors));
    if (o.policy) {
      std::printf("answers: expected (%s) %llu  other %llu\n", o.expect.c_str(),
                  static_cast<unsigned long long>(s.verdict[0]),
                  static_cast<unsigned long long>(s.verdict[4]));
    } else {
      std::printf("verdicts: K %llu  Z %llu  D %llu  I %llu  other %llu\n",
                  static_cast<unsigned long long>(s.verdict[0]),
                  static_cast<unsigned long long>(s.verdict[1]),
                  static_cast<unsigned long long>(s.verdict[2]),
                  static_cast<unsigned long long>(s.verdict[3]),
                  static_cast<unsigned long long>(s.verdict[4]));
    }
  }
  if (s.notK() > 0 && o.policy) {
    std::fprintf(stderr, "\n*** mtep-load: %llu ANSWERS WERE NOT %s ***\n\n",
                 static_cast<unsigned long long>(s.notK()), o.expect.c_str());
  } else if (s.notK() > 0) {
    std::fprintf(stderr,
                 "\n*** mtep-load: %llu ANSWERS WERE NOT K: the figures above do not measure "
                 "successful verification (wrong token, sender or key?) ***\n\n",
                 static_cast<unsigned long long>(s.notK()));
  }
  if (s.requests == 0) std::fprintf(stderr, "*** mtep-load: NO ANSWERS AT ALL ***\n");
}

}  // namespace
}  // namespace mtep::load

int main(int argc, char** argv) {
  using namespace mtep::load;
  Options o;
  if (!parseOptions(argc, argv, &o)) {
    usage(stderr);
    return 2;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(o.host.c_str(), o.port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    std::fprintf(stderr, "mtep-load: %s:%s: %s\n", o.host.c_str(), o.port.c_str(),
                 ::gai_strerror(rc));
    return 2;
  }
  sockaddr_storage addr{};
  std::memcpy(&addr, res->ai_addr, res->ai_addrlen);
  auto addr_len = static_cast<socklen_t>(res->ai_addrlen);
  ::freeaddrinfo(res);

  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  auto want = static_cast<rlim_t>(o.connections) + 64;
  if (lim.rlim_cur < want) {
    lim.rlim_cur = want < lim.rlim_max ? want : lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < want) {
      std::fprintf(stderr, "mtep-load: descriptor limit %llu is too low for %d connections\n",
                   static_cast<unsigned long long>(lim.rlim_cur), o.connections);
    }
  }

  Runner runner(o, addr, addr_len);
  Stats s = runner.run();
  report(o, s);
  return s.errors() == 0 && s.notK() == 0 && s.requests > 0 ? 0 : 1;
}

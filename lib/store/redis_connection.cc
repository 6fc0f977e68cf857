#include "store/redis_connection.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "transport/dialer.h"
#include "transport/tls.h"
#include "util/unique_fd.h"

namespace mtep::store {
namespace {

using transport::SteadyClock;

Error temporary(const std::string& where, const std::string& what) {
  return Error(ErrorKind::kTemporary, "redis " + where + ": " + what);
}

// hiredis's reply tree into ours (and frees it).
RedisReply convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.type = RedisReply::Type::kNil;
      break;
  }
  return out;
}

// A connected unix socket, non-blocking, within timeout_ms.
Result<UniqueFd> connectUnix(const std::string& path, int timeout_ms) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (path.size() >= sizeof sun.sun_path) {
    return Error(ErrorKind::kConfig, "redis socket path too long: " + path);
  }
  std::memcpy(sun.sun_path, path.data(), path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return temporary(path, std::string("socket: ") + std::strerror(errno));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
    if (errno != EINPROGRESS && errno != EAGAIN) {
      return temporary(path, std::string("connect: ") + std::strerror(errno));
    }
    pollfd p{fd.get(), POLLOUT, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return temporary(path, "connect: timed out");
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return temporary(path, std::string("connect: ") + std::strerror(err));
  }
  return fd;
}

// An error reply at start-up: a wrong password, an unknown user or a
// database out of range will not heal by waiting (kConfig); anything else
// (LOADING, a master that became a replica) may.
Error startupError(const std::string& where, const std::string& step, const RedisReply& r) {
  const bool config = r.str.starts_with("WRONGPASS") || r.str.starts_with("NOAUTH") ||
                      r.str.starts_with("NOPERM") || r.str.find("invalid password") != std::string::npos ||
                      r.str.find("DB index") != std::string::npos ||
                      r.str.find("without any password configured") != std::string::npos;
  return Error(config ? ErrorKind::kConfig : ErrorKind::kTemporary,
               "redis " + where + ": " + step + " refused: " + r.str);
}

}  // namespace

std::string endpointText(const RedisEndpoint& e) { return transport::hostPort(e.host, e.port); }

RedisConnection::RedisConnection(std::unique_ptr<transport::Stream> stream, std::string label,
                                 int timeout_ms)
    : stream_(std::move(stream)), label_(std::move(label)), timeout_ms_(timeout_ms) {
  redisReader* reader = redisReaderCreate();
  if (reader != nullptr) reader->maxbuf = 0;  // keep its buffer; we bound replies ourselves
  reader_ = reader;
}

RedisConnection::~RedisConnection() {
  if (reader_ != nullptr) redisReaderFree(static_cast<redisReader*>(reader_));
}

Result<std::unique_ptr<RedisConnection>> RedisConnection::dialOne(const RedisOptions& o,
                                                                  const RedisEndpoint& where,
                                                                  bool unix_socket) {
  transport::Timeouts t;
  t.read_timeout_ms = o.timeout_ms;
  t.deadline = SteadyClock::now() + std::chrono::milliseconds(o.timeout_ms);
  std::unique_ptr<transport::Stream> stream;
  std::string label;
  if (unix_socket) {
    auto fd = connectUnix(o.socket, o.timeout_ms);
    if (!fd) return std::move(fd).error();
    label = o.socket;
    stream = transport::makeSocketStream(std::move(*fd), label, t);
  } else {
    transport::DialOptions d;
    d.connect_timeout_ms = o.timeout_ms;
    d.timeouts = t;
    label = endpointText(where);
    auto s = transport::dial(where.host, where.port, d, transport::systemResolver());
    if (!s) return temporary(label, s.error().message());
    stream = std::move(*s);
  }
  if (o.tls) {
    transport::TlsClientOptions tls;
    tls.server_name = unix_socket ? std::string("localhost") : where.host;
    tls.trust.verify_certificate = true;
    tls.trust.ca_file = o.tls_ca_file;
    auto session = transport::startTls(std::move(stream), tls);
    if (!session) {
      // A CA file that cannot be read is kConfig, and so is a certificate
      // that does not chain to it or name this host: waiting will not cure
      // a wrong redis_tls_ca_file, so start-up refuses with the reason.
      // (A store that is running redials with kTemporary: RedisStore.)
      const std::string& why = session.error().message();
      const bool untrusted = why.find("not trusted for") != std::string::npos;
      return Error(untrusted ? ErrorKind::kConfig : session.error().kind(),
                   "redis " + label + ": TLS: " + why +
                       (untrusted ? " (check [store] redis_tls_ca_file)" : ""));
    }
    stream = std::move(session->stream);
  }
  // Raw pointer: the constructor is private.
  return std::unique_ptr<RedisConnection>(new RedisConnection(std::move(stream), label, o.timeout_ms));
}

Result<std::unique_ptr<RedisConnection>> RedisConnection::open(const RedisOptions& o) {
  std::unique_ptr<RedisConnection> c;
  if (!o.sentinels.empty()) {
    if (o.master_name.empty()) {
      return Error(ErrorKind::kConfig, "[store] redis_sentinels needs redis_master_name");
    }
    std::string why;
    for (const RedisEndpoint& s : o.sentinels) {
      auto sc = dialOne(o, s, false);
      if (!sc) {
        if (sc.error().kind() == ErrorKind::kConfig) return std::move(sc).error();
        why += (why.empty() ? "" : "; ") + sc.error().message();
        continue;
      }
      auto addr = (*sc)->command({"SENTINEL", "get-master-addr-by-name", o.master_name});
      if (!addr || addr->type != RedisReply::Type::kArray || addr->elements.size() != 2) {
        why += (why.empty() ? "" : "; ") + ("sentinel " + endpointText(s) + ": no master \"" +
                                             o.master_name + "\"");
        continue;
      }
      RedisEndpoint master{addr->elements[0].str, 0};
      const long port = std::strtol(addr->elements[1].str.c_str(), nullptr, 10);
      if (port <= 0 || port > 65535) continue;
      master.port = static_cast<uint16_t>(port);
      auto mc = dialOne(o, master, false);
      if (!mc) {
        if (mc.error().kind() == ErrorKind::kConfig) return std::move(mc).error();
        why += (why.empty() ? "" : "; ") + mc.error().message();
        continue;
      }
      c = std::move(*mc);
      c->label_ = o.master_name + " at " + c->label_;
      break;
    }
    if (!c) return Error(ErrorKind::kTemporary, "redis: no sentinel named a reachable master: " + why);
  } else {
    auto one = dialOne(o, o.server, !o.socket.empty());
    if (!one) return std::move(one).error();
    c = std::move(*one);
  }
  if (!o.password.empty()) {
    std::vector<std::string_view> auth{"AUTH"};
    if (!o.user.empty()) auth.push_back(o.user);
    auth.push_back(o.password);
    auto r = c->command(auth);
    if (!r) return std::move(r).error();
    if (r->isError()) return startupError(c->label_, "AUTH", *r);
  }
  if (o.database != 0) {
    const std::string db = std::to_string(o.database);
    auto r = c->command({"SELECT", db});
    if (!r) return std::move(r).error();
    if (r->isError()) return startupError(c->label_, "SELECT " + db, *r);
  }
  // A server that wants a password we did not give, or a replica (after a
  // failover the sentinels have not finished): found here, not at the
  // first write.
  auto role = c->command({"ROLE"});
  if (!role) return std::move(role).error();
  if (role->isError()) return startupError(c->label_, "ROLE", *role);
  if (role->type != RedisReply::Type::kArray || role->elements.empty() ||
      role->elements[0].str != "master") {
    return temporary(c->label_, "not a master (ROLE " +
                                    (role->elements.empty() ? std::string("?") : role->elements[0].str) +
                                    ")");
  }
  return c;
}

Status RedisConnection::send(const std::vector<std::vector<std::string_view>>& cmds) {
  if (broken_) return temporary(label_, "connection broken");
  if (reader_ == nullptr) return Error(ErrorKind::kInternal, "redis: no reply reader");
  std::string out;
  for (const auto& args : cmds) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (std::string_view a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    char* formatted = nullptr;
    const int n = redisFormatCommandArgv(&formatted, static_cast<int>(argv.size()), argv.data(),
                                         lens.data());
    if (n < 0 || formatted == nullptr) return Error(ErrorKind::kInternal, "redis: cannot format a command");
    out.append(formatted, static_cast<size_t>(n));
    redisFreeCommand(formatted);
  }
  transport::Timeouts t;
  t.read_timeout_ms = timeout_ms_;
  t.deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms_);
  stream_->setTimeouts(t);
  if (Status s = stream_->writeAll(out); !s) {
    broken_ = true;
    return temporary(label_, s.error().message());
  }
  return okStatus();
}

Result<RedisReply> RedisConnection::readReply() {
  auto* reader = static_cast<redisReader*>(reader_);
  size_t taken = 0;
  for (;;) {
    void* raw = nullptr;
    if (redisReaderGetReply(reader, &raw) != REDIS_OK) {
      broken_ = true;
      return temporary(label_, std::string("protocol error: ") + reader->errstr);
    }
    if (raw != nullptr) {
      auto* reply = static_cast<redisReply*>(raw);
      RedisReply out = convert(reply);
      freeReplyObject(reply);
      return out;
    }
    char buf[16384];
    auto n = stream_->readSome(buf, sizeof buf);
    if (!n) {
      broken_ = true;
      return temporary(label_, n.error().message());
    }
    if (*n == 0) {
      broken_ = true;
      return temporary(label_, "connection closed by the server");
    }
    taken += *n;
    if (taken > kMaxReplyBytes) {
      broken_ = true;
      return temporary(label_, "reply too large");
    }
    if (redisReaderFeed(reader, buf, *n) != REDIS_OK) {
      broken_ = true;
      return temporary(label_, "protocol error");
    }
  }
}

Result<RedisReply> RedisConnection::command(const std::vector<std::string_view>& args) {
  if (Status s = send({args}); !s) return std::move(s).error();
  return readReply();
}

Result<std::vector<RedisReply>> RedisConnection::pipeline(
    const std::vector<std::vector<std::string_view>>& cmds) {
  if (Status s = send(cmds); !s) return std::move(s).error();
  std::vector<RedisReply> replies;
  replies.reserve(cmds.size());
  for (size_t i = 0; i < cmds.size(); ++i) {
    auto r = readReply();
    if (!r) return std::move(r).error();
    replies.push_back(std::move(*r));
  }
  return replies;
}

}  // namespace mtep::store

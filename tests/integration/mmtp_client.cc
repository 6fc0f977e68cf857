// NAME
//   mmtp_client.cc - see mmtp_client.h

#include "mmtp_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace mtep::itest {

namespace {

constexpr int kReadTimeoutSeconds = 15;

std::string hex(const unsigned char* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += kDigits[p[i] >> 4];
    out += kDigits[p[i] & 15];
  }
  return out;
}

}  // namespace

std::string sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) return "";
  return hex(md, len);
}

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string stringify(const Json& v) { return v.dump(); }

Json parse(std::string_view text) { return Json::parse(text, nullptr, false); }

HashCash generateHashCash(std::string_view sender, std::string_view recipient, int64_t timestamp,
                          int difficulty) {
  const std::string ts = std::to_string(timestamp);
  const std::string resource = std::string(sender) + ":" + std::string(recipient) + ":" + ts;
  const std::string prefix = "1:" + std::to_string(difficulty) + ":" + ts + ":" + resource + "::";
  const std::string zeros(static_cast<size_t>(difficulty), '0');
  for (uint64_t counter = 0;; ++counter) {
    std::string token = prefix + std::to_string(counter) + ":";
    if (sha256Hex(token).compare(0, zeros.size(), zeros) == 0) return {std::move(token), counter};
  }
}

Json createMessagePacket(const std::string& from, const std::string& to, const std::string& subject,
                         const std::string& body, int difficulty, int64_t timestamp) {
  if (timestamp == 0) timestamp = nowMs();
  unsigned char id[16];
  RAND_bytes(id, sizeof id);
  Json content;
  content["subject"] = subject;
  content["body"] = body;
  const HashCash stamp = generateHashCash(from, to, timestamp, difficulty);
  Json p;
  p["meta"]["type"] = "SEND";
  p["meta"]["messageId"] = hex(id, sizeof id);
  p["meta"]["timestamp"] = timestamp;
  p["meta"]["hashcashToken"]["token"] = stamp.token;
  p["meta"]["hashcashToken"]["counter"] = stamp.counter;
  p["meta"]["encrypted"] = false;
  p["meta"]["signed"] = false;
  p["meta"]["tags"] = Json::object();
  p["sender"] = from;
  p["recipient"] = to;
  p["content"] = content;
  p["verification"]["messageHash"] = sha256Hex(stringify(content));
  return p;
}

Json request(std::string_view action, Json data) {
  Json r;
  r["action"] = std::string(action);
  r["data"] = std::move(data);
  return r;
}

// --- the client ----------------------------------------------------------

std::unique_ptr<MmtpClient> MmtpClient::connect(uint16_t port, bool tls) {
  std::unique_ptr<MmtpClient> c(new MmtpClient());
  c->fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd_ < 0) return nullptr;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  if (::connect(c->fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return nullptr;
  timeval tv{kReadTimeoutSeconds, 0};
  ::setsockopt(c->fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(c->fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  ::setsockopt(c->fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!tls) return c;
  c->ctx_ = SSL_CTX_new(TLS_client_method());
  if (c->ctx_ == nullptr) return nullptr;
  SSL_CTX_set_verify(c->ctx_, SSL_VERIFY_NONE, nullptr);  // verifyTLS: false
  c->ssl_ = SSL_new(c->ctx_);
  if (c->ssl_ == nullptr || SSL_set_fd(c->ssl_, c->fd_) != 1) return nullptr;
  if (SSL_connect(c->ssl_) != 1) return nullptr;
  return c;
}

MmtpClient::~MmtpClient() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

bool MmtpClient::write(std::string_view bytes) {
  if (ssl_ != nullptr) {
    // One SSL_write: the whole buffer (blocking socket, no partial writes).
    return SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) ==
           static_cast<int>(bytes.size());
  }
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

int MmtpClient::readSome(char* buf, size_t n) {
  if (ssl_ != nullptr) return SSL_read(ssl_, buf, static_cast<int>(n));
  return static_cast<int>(::recv(fd_, buf, n, 0));
}

std::optional<std::string> MmtpClient::readOnce() {
  if (!pending_.empty()) return std::exchange(pending_, {});
  std::string buf(1 << 20, '\0');
  const int n = readSome(buf.data(), buf.size());
  if (n <= 0) return std::nullopt;
  buf.resize(static_cast<size_t>(n));
  return buf;
}

std::optional<std::string> MmtpClient::readLine() {
  for (;;) {
    const size_t nl = pending_.find('\n');
    if (nl != std::string::npos) {
      std::string line = pending_.substr(0, nl + 1);
      pending_.erase(0, nl + 1);
      return line;
    }
    char buf[65536];
    const int n = readSome(buf, sizeof buf);
    if (n <= 0) return std::nullopt;
    pending_.append(buf, static_cast<size_t>(n));
  }
}

bool MmtpClient::waitClosed(std::string* rest) {
  if (rest != nullptr) rest->append(pending_);
  pending_.clear();
  for (;;) {
    char buf[65536];
    const int n = readSome(buf, sizeof buf);
    if (n == 0) return true;
    if (n < 0) {
      if (ssl_ != nullptr) {
        const unsigned long e = ERR_peek_error();
        ERR_clear_error();
        // A reset or a close without close_notify ends it too; a timeout does not.
        return e != 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
      }
      return errno != EAGAIN && errno != EWOULDBLOCK;
    }
    if (rest != nullptr) rest->append(buf, static_cast<size_t>(n));
  }
}

Json MmtpClient::ask(const Json& req) {
  if (!write(stringify(req))) return Json(Json::value_t::discarded);
  const auto got = readOnce();
  if (!got) return Json(Json::value_t::discarded);
  return parse(*got);
}

Json MmtpClient::call(const Json& req) { return callRaw(stringify(req)); }

Json MmtpClient::callRaw(std::string_view bytes) {
  if (!write(bytes)) return Json(Json::value_t::discarded);
  const auto got = readLine();
  if (!got) return Json(Json::value_t::discarded);
  return parse(*got);
}

// --- the sink ------------------------------------------------------------

SmtpSink::SmtpSink() {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      ::listen(listener_, 16) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    std::abort();
  }
  port_ = ntohs(sa.sin_port);
  thread_ = std::thread([this] { run(); });
}

SmtpSink::~SmtpSink() { stop(); }

void SmtpSink::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listener_ >= 0) ::close(listener_);
  listener_ = -1;
}

std::vector<SmtpSink::Mail> SmtpSink::mails() const {
  std::lock_guard<std::mutex> lock(mu_);
  return mails_;
}

void SmtpSink::run() {
  while (!stop_) {
    pollfd p{listener_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    session(fd);
    ::close(fd);
  }
}

void SmtpSink::session(int fd) {
  std::string in;
  auto say = [fd](std::string_view s) { (void)::send(fd, s.data(), s.size(), MSG_NOSIGNAL); };
  auto line = [&](std::string* out) {
    for (;;) {
      const size_t at = in.find("\r\n");
      if (at != std::string::npos) {
        *out = in.substr(0, at);
        in.erase(0, at + 2);
        return true;
      }
      char buf[4096];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      in.append(buf, static_cast<size_t>(n));
    }
  };
  say("220 sink.test ESMTP\r\n");
  Mail mail;
  std::string l;
  while (line(&l)) {
    std::string verb = l.substr(0, 4);
    for (char& c : verb) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (verb == "EHLO" || verb == "HELO") {
      say("250 sink.test\r\n");
    } else if (verb == "MAIL") {
      mail = Mail{};
      mail.mail_from = l.substr(l.find(':') + 1);
      say("250 2.1.0 OK\r\n");
    } else if (verb == "RCPT") {
      mail.rcpt_to = l.substr(l.find(':') + 1);
      const int code = rcpt_code_;
      say(std::to_string(code) + (code == 250 ? " 2.1.5 OK\r\n" : " refused by the sink\r\n"));
    } else if (verb == "DATA") {
      say("354 go on\r\n");
      std::string d;
      while (line(&d) && d != ".") {
        if (!d.empty() && d[0] == '.') d.erase(0, 1);
        mail.data += d + "\r\n";
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        mails_.push_back(mail);
      }
      say("250 2.0.0 queued\r\n");
    } else if (verb == "RSET" || verb == "NOOP") {
      say("250 2.0.0 OK\r\n");
    } else if (verb == "QUIT") {
      say("221 2.0.0 bye\r\n");
      return;
    } else {
      say("500 5.5.2 what\r\n");
    }
  }
}

}  // namespace mtep::itest

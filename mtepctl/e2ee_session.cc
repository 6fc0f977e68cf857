// Passwords, messages, key files and key-server sessions for mtepctl's
// user-key commands; see e2ee_session.h.
#include "e2ee_session.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

#include "dns/resolver.h"
#include "mtep/client.h"
#include "smtp/address.h"
#include "transport/dialer.h"
#include "util/base64.h"
#include "verify/key_fetcher.h"

namespace mtep::ctl {
namespace {

// Wipes a string's bytes before it is freed.
struct Wipe {
  std::string& s;
  ~Wipe() {
    if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  }
};

std::string errnoText(int err) { return std::strerror(err); }

// One line from `fd`, a byte at a time; the line ending is dropped.
Result<std::string> readLine(int fd, const char* what) {
  std::string line;
  for (;;) {
    char c = 0;
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Wipe w{line};
      return Error(ErrorKind::kInvalid, std::string("cannot read ") + what + ": " + errnoText(errno));
    }
    if (n == 0 || c == '\n') break;
    if (line.size() >= e2ee::kMaxPassword) {
      Wipe w{line};
      return Error(ErrorKind::kLimit, std::string(what) + " longer than " +
                                          std::to_string(e2ee::kMaxPassword) + " bytes");
    }
    line += c;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// The terminal with echo off for as long as this lives.
class NoEcho {
 public:
  explicit NoEcho(int fd) : fd_(fd) {
    if (tcgetattr(fd_, &saved_) != 0) return;
    termios quiet = saved_;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL);
    quiet.c_lflag |= ICANON;
    active_ = tcsetattr(fd_, TCSAFLUSH, &quiet) == 0;
  }
  ~NoEcho() {
    if (active_) (void)tcsetattr(fd_, TCSAFLUSH, &saved_);
  }
  NoEcho(const NoEcho&) = delete;
  NoEcho& operator=(const NoEcho&) = delete;

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

void say(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<size_t>(n));
  }
}

Result<std::string> askTerminal(int tty, const std::string& prompt) {
  say(tty, prompt);
  Result<std::string> line = Error(ErrorKind::kInternal, "unset");
  {
    NoEcho quiet(tty);
    line = readLine(tty, "the password");
  }
  say(tty, "\n");
  return line;
}

Result<std::string> readWhole(int fd, const std::string& name) {
  std::string data;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error(ErrorKind::kInvalid, "cannot read " + name + ": " + errnoText(errno));
    if (n == 0) break;
    if (data.size() + static_cast<size_t>(n) > kMaxMessageBytes) {
      return Error(ErrorKind::kLimit, name + " is larger than " +
                                          std::to_string(kMaxMessageBytes >> 20) + " MiB");
    }
    data.append(buf, static_cast<size_t>(n));
  }
  return data;
}

// Unique file descriptor.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Result<std::string> readPassword(int fd, const std::string& prompt, bool confirm) {
  if (fd >= 0) {
    auto line = readLine(fd, "the password from --password-fd");
    if (!line) return line;
    if (line->empty()) return Error(ErrorKind::kInvalid, "the password is empty");
    return line;
  }
  Fd tty{::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)};
  if (tty.fd < 0) {
    return Error(ErrorKind::kInvalid, "no terminal to ask for the password (use --password-fd)");
  }
  auto first = askTerminal(tty.fd, prompt);
  if (!first) return first;
  if (first->empty()) return Error(ErrorKind::kInvalid, "the password is empty");
  if (confirm) {
    auto again = askTerminal(tty.fd, "Again: ");
    if (!again) return again;
    Wipe w{*again};
    if (*again != *first) {
      Wipe w1{*first};
      return Error(ErrorKind::kInvalid, "the passwords differ");
    }
  }
  return first;
}

Result<std::string> readMessage(const std::string& file) {
  if (file == "-") return readWhole(0, "standard input");
  Fd f{::open(file.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) return Error(ErrorKind::kInvalid, "cannot open " + file + ": " + errnoText(errno));
  return readWhole(f.fd, file);
}

Status writeOut(std::string_view data) {
  if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size()) {
    return Error(ErrorKind::kTemporary, "cannot write to standard output");
  }
  return {};
}

Status writeKeyFile(const std::string& path, const std::string& user, const e2ee::KeyPair& pair,
                    bool force) {
  if (force) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISREG(st.st_mode)) return Error(ErrorKind::kInvalid, path + " is not a regular file");
      if (::unlink(path.c_str()) != 0) {
        return Error(ErrorKind::kInvalid, "cannot replace " + path + ": " + errnoText(errno));
      }
    }
  }
  Fd f{::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
  if (f.fd < 0) {
    if (errno == EEXIST) {
      return Error(ErrorKind::kInvalid, path + " exists (--force replaces it)");
    }
    return Error(ErrorKind::kInvalid, "cannot create " + path + ": " + errnoText(errno));
  }
  std::string text = "# mtep user key: ed25519 private seed; keep it secret\nuser " + user +
                     "\nseed " + base64Encode(pair.seed.data(), pair.seed.size(), false, true) +
                     "\npublic " + e2ee::formatOpensshText(pair.pub) + "\n";
  Wipe w{text};
  std::string_view rest = text;
  while (!rest.empty()) {
    const ssize_t n = ::write(f.fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error(ErrorKind::kTemporary, "cannot write " + path + ": " + errnoText(errno));
    rest.remove_prefix(static_cast<size_t>(n));
  }
  if (::fsync(f.fd) != 0) {
    return Error(ErrorKind::kTemporary, "cannot write " + path + ": " + errnoText(errno));
  }
  return {};
}

Result<e2ee::KeyPair> readKeyFile(const std::string& path) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) return Error(ErrorKind::kInvalid, "cannot open " + path + ": " + errnoText(errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return Error(ErrorKind::kInvalid, path + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    return Error(ErrorKind::kInvalid, path + " may be read by others: chmod 600 " + path);
  }
  if (st.st_size > 4096) return Error(ErrorKind::kInvalid, path + " is not a key file (too big)");
  auto text = readWhole(f.fd, path);
  if (!text) return std::move(text).error();
  Wipe w{*text};
  std::optional<e2ee::KeyPair> pair;
  std::optional<e2ee::PublicKey> listed;
  std::string_view rest = *text;
  while (!rest.empty()) {
    const size_t lf = rest.find('\n');
    std::string_view line = rest.substr(0, lf);
    rest = lf == std::string_view::npos ? std::string_view() : rest.substr(lf + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.rfind("seed ", 0) == 0) {
      auto bytes = base64Decode(line.substr(5), false);
      if (!bytes || bytes->size() != 32) {
        return Error(ErrorKind::kInvalid, path + ": the seed line is damaged");
      }
      e2ee::Seed seed{};
      std::copy(bytes->begin(), bytes->end(), seed.begin());
      OPENSSL_cleanse(bytes->data(), bytes->size());
      auto p = e2ee::keyPairFromSeed(seed);
      OPENSSL_cleanse(seed.data(), seed.size());
      if (!p) return Error(ErrorKind::kInvalid, path + ": " + p.error().message());
      pair = *p;
    } else if (line.rfind("public ", 0) == 0) {
      auto pub = e2ee::parsePublicKey(line.substr(7));
      if (!pub) return Error(ErrorKind::kInvalid, path + ": the public line is damaged");
      listed = *pub;
    }
  }
  if (!pair) return Error(ErrorKind::kInvalid, path + " holds no seed line: not a key file");
  if (listed && *listed != pair->pub) {
    return Error(ErrorKind::kInvalid, path + ": the public key does not match the seed");
  }
  return *pair;
}

Result<config::ConfigPtr> optionalConfig(const GlobalOptions& global) {
  std::error_code ec;
  if (std::filesystem::exists(global.config_path, ec)) return config::loadFile(global.config_path);
  return config::loadString("", "(defaults)");
}

Result<std::unique_ptr<e2ee::KeyClient>> openKeyServer(const config::Config& cfg,
                                                       const config::ServerAddress& at,
                                                       const ServerOptions& options,
                                                       const std::string& address,
                                                       const transport::TargetPolicy& targets) {
  e2ee::KeyClientOptions o;
  o.total_timeout_ms = options.timeout_seconds * 1000;
  o.read_timeout_ms = std::min(o.read_timeout_ms, o.total_timeout_ms);
  o.connect_timeout_ms = std::min(o.connect_timeout_ms, o.total_timeout_ms);
  o.dial = proto::clientOptionsFor(cfg.outbound).dial;
  o.dial.targets = targets;
  o.expect_fingerprint = options.tls_fingerprint;
  if (options.tls_fingerprint.empty()) {
    const size_t at_sign = address.rfind('@');
    const std::string domain = at_sign == std::string::npos ? address : address.substr(at_sign + 1);
    o.tls = verify::serverTrust(cfg.milter, cfg.milter.tlsPinsFor(domain), at.host);
    if (!options.ca_file.empty()) o.tls.ca_file = options.ca_file;
  }
  auto client = e2ee::KeyClient::open(at.host, at.port, o);
  if (!client && o.tls.verify_certificate &&
      client.error().message().find(" not trusted for ") != std::string::npos) {
    return Error(client.error().kind(),
                 client.error().message() +
                     "; if that key is the server's, --tls-fingerprint or [milter] tls_pins "
                     "trusts it");
  }
  if (!client) return client;
  if (options.tls_fingerprint.empty()) {
    std::fprintf(stderr,
                 "mtepctl: %s: TLS key fingerprint %s (%s); --tls-fingerprint %s pins it\n",
                 at.toString().c_str(), (*client)->fingerprint().c_str(),
                 (*client)->tlsProtocol().c_str(), (*client)->fingerprint().c_str());
  }
  return client;
}

Result<e2ee::KeyPair> loginAndDerive(e2ee::KeyClient& client, const std::string& user,
                                     const std::string& password, bool reset,
                                     std::string* salt_out) {
  auto hash = e2ee::hashedPass(user, password);
  if (!hash) return std::move(hash).error();
  Status in = client.login(user, *hash);
  OPENSSL_cleanse(hash->data(), hash->size());
  if (!in) return std::move(in).error();
  auto salt = reset ? client.resetSalt() : client.getSalt();
  if (!salt) return std::move(salt).error();
  auto pair = e2ee::deriveKey(password, *salt);
  if (pair && salt_out != nullptr) *salt_out = *salt;
  return pair;
}

Result<FoundKey> lookUpKey(const config::Config& cfg, const ServerOptions& options,
                           const std::string& address) {
  std::vector<config::ServerAddress> servers;
  bool discovered = false;  // not --server: refuse non-public addresses but for static entries
  if (!options.server.empty()) {
    auto at = parseServer(options.server);
    if (!at) return std::move(at).error();
    servers.push_back(*at);
  } else {
    auto mailbox = smtp::parseMailbox(address);
    if (!mailbox) return Error(ErrorKind::kInvalid, address + ": " + mailbox.error().message());
    auto resolver = dns::makeSystemResolver();
    auto found = verify::discoverKeyServers(cfg, *resolver, mailbox->domainLower(),
                                            dns::monotonicMs() + options.timeout_seconds * 1000);
    if (!found && found.error().kind() == ErrorKind::kNotFound) {
      return Error(ErrorKind::kNotFound, mailbox->domainLower() + " has no key server: " +
                                             found.error().message());
    }
    if (!found) return std::move(found).error();
    for (const verify::KeyServer& k : *found) servers.push_back({k.host, k.port});
    discovered = found->front().via != "static";
  }
  std::string why;
  for (const config::ServerAddress& at : servers) {
    auto client = openKeyServer(cfg, at, options, address,
                                verify::dialTargets(cfg.milter, !discovered));
    if (!client) {
      // A pinned server with another key is an answer, not an outage.
      if (client.error().kind() == ErrorKind::kInvalid) return std::move(client).error();
      why = client.error().message();
      continue;
    }
    auto key = (*client)->pubkey(address);
    (*client)->quit();
    if (key) return FoundKey{*key, at.toString()};
    if (key.error().kind() != ErrorKind::kTemporary) return std::move(key).error();
    why = key.error().message();
  }
  return Error(ErrorKind::kTemporary, "no key server answered for " + address + ": " + why);
}

}  // namespace mtep::ctl

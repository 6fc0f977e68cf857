// startTls() and key fingerprints (see tls.h). The TLS records travel
// through a small BIO of our own over the stream's socket, so writes use
// MSG_NOSIGNAL like the plain stream; every wait is a poll() bound by the
// stream's read timeout and deadline.

#include "transport/tls.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "util/base64.h"

namespace mtep::transport {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const noexcept { Free(p); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX, SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Deleter<SSL, SSL_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

// ---- base32 (RFC 4648, lower case, no padding); transport keeps its own.
std::string base32(const unsigned char* data, size_t size) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::string out;
  out.reserve((size * 8 + 4) / 5);
  uint32_t buffer = 0;
  int bits = 0;
  for (size_t i = 0; i < size; ++i) {
    buffer = (buffer << 8) | data[i];
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 31]);
  return out;
}

// ---- a socket BIO that never raises SIGPIPE.
int bioFd(BIO* bio) { return static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(bio))); }

bool retryable(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

int bioWrite(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  const ssize_t n = ::send(bioFd(bio), data, static_cast<size_t>(size), MSG_NOSIGNAL);
  if (n < 0 && retryable(errno)) BIO_set_retry_write(bio);
  return static_cast<int>(n);
}

int bioRead(BIO* bio, char* data, int size) {
  BIO_clear_retry_flags(bio);
  const ssize_t n = ::recv(bioFd(bio), data, static_cast<size_t>(size), 0);
  if (n < 0 && retryable(errno)) BIO_set_retry_read(bio);
  return static_cast<int>(n);
}

int bioPuts(BIO* bio, const char* text) { return bioWrite(bio, text, static_cast<int>(std::strlen(text))); }

long bioCtrl(BIO* /*bio*/, int cmd, long /*num*/, void* /*ptr*/) {
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int bioCreate(BIO* bio) {
  BIO_set_init(bio, 0);
  return 1;
}

const BIO_METHOD* socketMethod() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mtep socket");
    if (m == nullptr) return m;
    BIO_meth_set_write(m, bioWrite);
    BIO_meth_set_read(m, bioRead);
    BIO_meth_set_puts(m, bioPuts);
    BIO_meth_set_ctrl(m, bioCtrl);
    BIO_meth_set_create(m, bioCreate);
    return m;
  }();
  return method;
}

// The queued OpenSSL errors as one line (and the queue emptied).
std::string sslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

bool isNumericHost(const std::string& host) {
  in6_addr buf;
  return ::inet_pton(AF_INET, host.c_str(), &buf) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), &buf) == 1;
}

// Waits for `events` on fd within the stream's limits; the error says
// which limit expired, what we were doing and where.
Status waitFor(int fd, short events, const Timeouts& t, const std::string& doing,
               const std::string& label) {
  const auto read_until =
      SteadyClock::now() + std::chrono::milliseconds(std::max(0, t.read_timeout_ms));
  const bool deadline_first = t.deadline <= read_until;
  const auto until = std::min(t.deadline, read_until);
  for (;;) {
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, remainingMs(until));
    if (rc > 0) return okStatus();  // errors and hang-ups surface in the next I/O call
    if (rc == 0) {
      if (deadline_first) {
        return Error(ErrorKind::kTemporary, "deadline expired " + doing + " " + label);
      }
      return Error(ErrorKind::kTemporary, "timed out after " + std::to_string(t.read_timeout_ms) +
                                              " ms " + doing + " " + label);
    }
    if (errno != EINTR) {
      return Error(ErrorKind::kTemporary,
                   "poll failed " + doing + " " + label + ": " + std::strerror(errno));
    }
  }
}

// What a failed SSL_* call means: wait and retry (ok), or an error.
Status afterSslCall(SSL* ssl, int rc, int fd, const Timeouts& t, const std::string& doing,
                    const std::string& label) {
  const int err = SSL_get_error(ssl, rc);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      return waitFor(fd, POLLIN, t, doing, label);
    case SSL_ERROR_WANT_WRITE:
      return waitFor(fd, POLLOUT, t, doing, label);
    case SSL_ERROR_ZERO_RETURN:
      return Error(ErrorKind::kTemporary, "TLS closed by " + label + " " + doing);
    case SSL_ERROR_SYSCALL: {
      const int saved = errno;
      std::string why = sslErrors();
      if (why.empty()) why = saved != 0 ? std::strerror(saved) : "connection closed";
      return Error(ErrorKind::kTemporary, "TLS failed " + doing + " " + label + ": " + why);
    }
    default: {
      std::string why = sslErrors();
      if (why.empty()) why = "SSL error " + std::to_string(err);
      return Error(ErrorKind::kTemporary, "TLS failed " + doing + " " + label + ": " + why);
    }
  }
}

// ---- CA stores, loaded once and shared (X509_STORE locks itself).
// Parsing the system bundle costs tens of milliseconds, so each file is
// read once and again only when its modification time or size changes.
struct CachedStore {
  X509_STORE* store = nullptr;  // one reference held by the cache
  struct timespec mtime {};
  off_t size = -1;
};

// The store for `ca_file`, "" = the system store (OpenSSL's default file
// and directory); a reference for the caller's SSL_CTX_set1_cert_store.
Result<X509_STORE*> caStore(const std::string& ca_file) {
  static std::mutex mu;
  static std::map<std::string, CachedStore>* cache = new std::map<std::string, CachedStore>();
  const std::string path = ca_file.empty() ? std::string(X509_get_default_cert_file()) : ca_file;
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (!exists && !ca_file.empty()) {
    return Error(ErrorKind::kConfig, ca_file + ": cannot read CA certificates: " +
                                         std::strerror(errno));
  }
  std::lock_guard<std::mutex> lock(mu);
  CachedStore& entry = (*cache)[ca_file];
  if (entry.store != nullptr && exists && entry.size == st.st_size &&
      entry.mtime.tv_sec == st.st_mtim.tv_sec && entry.mtime.tv_nsec == st.st_mtim.tv_nsec) {
    return entry.store;
  }
  X509_STORE* fresh = X509_STORE_new();
  if (fresh == nullptr) return Error(ErrorKind::kInternal, "cannot create a CA store");
  const int loaded = ca_file.empty() ? X509_STORE_set_default_paths(fresh)
                                     : X509_STORE_load_file(fresh, ca_file.c_str());
  if (loaded != 1) {
    const std::string why = sslErrors();
    X509_STORE_free(fresh);
    return Error(ErrorKind::kConfig, (ca_file.empty() ? std::string("the system CA store") : ca_file) +
                                         ": cannot load CA certificates" +
                                         (why.empty() ? "" : ": " + why));
  }
  if (entry.store != nullptr) X509_STORE_free(entry.store);
  entry.store = fresh;
  entry.size = exists ? st.st_size : -1;
  entry.mtime = exists ? st.st_mtim : timespec{};
  return entry.store;
}

class TlsStream final : public Stream {
 public:
  TlsStream(std::unique_ptr<Stream> plain, SslCtxPtr ctx, SslPtr ssl)
      : plain_(std::move(plain)), ctx_(std::move(ctx)), ssl_(std::move(ssl)) {}

  ~TlsStream() override {
    // A polite close_notify, never waited for.
    if (ssl_ && SSL_is_init_finished(ssl_.get())) (void)SSL_shutdown(ssl_.get());
    ERR_clear_error();
  }

  Status writeAll(std::string_view data) override {
    while (!data.empty()) {
      ERR_clear_error();
      const int chunk = static_cast<int>(std::min<size_t>(data.size(), 1 << 20));
      const int rc = SSL_write(ssl_.get(), data.data(), chunk);
      if (rc > 0) {
        data.remove_prefix(static_cast<size_t>(rc));
        continue;
      }
      if (auto st = afterSslCall(ssl_.get(), rc, fd(), timeouts(), "sending to", label()); !st) {
        return st;
      }
    }
    return okStatus();
  }

  Result<size_t> readSome(char* buf, size_t size) override {
    for (;;) {
      ERR_clear_error();
      const int want = static_cast<int>(std::min<size_t>(size, 1 << 20));
      const int rc = SSL_read(ssl_.get(), buf, want);
      if (rc > 0) return static_cast<size_t>(rc);
      if (SSL_get_error(ssl_.get(), rc) == SSL_ERROR_ZERO_RETURN) return size_t{0};
      if (auto st = afterSslCall(ssl_.get(), rc, fd(), timeouts(), "reading from", label());
          !st) {
        return std::move(st).error();
      }
    }
  }

  void setTimeouts(const Timeouts& timeouts) override { plain_->setTimeouts(timeouts); }
  const Timeouts& timeouts() const override { return plain_->timeouts(); }
  const std::string& label() const override { return plain_->label(); }
  int fd() const override { return plain_->fd(); }

  SSL* ssl() { return ssl_.get(); }

 private:
  std::unique_ptr<Stream> plain_;
  SslCtxPtr ctx_;
  SslPtr ssl_;
};

}  // namespace

Result<TlsSession> startTls(std::unique_ptr<Stream> plain, const TlsClientOptions& options) {
  if (!plain) return Error(ErrorKind::kInternal, "startTls without a stream");
  const std::string where = plain->label();
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return Error(ErrorKind::kInternal, "cannot create a TLS context: " + sslErrors());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // The handshake always completes, so a refused certificate can be named
  // with its key fingerprint; OpenSSL still verifies the chain (and the
  // name set below) and the result is checked before the session is used.
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  const TlsTrust& trust = options.trust;
  const bool use_ca = trust.pins.empty() && trust.verify_certificate;
  std::string verify_name = trust.name.empty() ? options.server_name : trust.name;
  if (!verify_name.empty() && verify_name.back() == '.') verify_name.pop_back();
  if (use_ca) {
    if (verify_name.empty()) {
      return Error(ErrorKind::kInvalid,
                   "no name to check the certificate of TLS server " + where + " against");
    }
    auto store = caStore(trust.ca_file);
    if (!store) return std::move(store).error();
    SSL_CTX_set1_cert_store(ctx.get(), *store);  // a reference of its own
  }
  // Many SMTP servers close without close_notify: that is a clean end.
  SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE);

  SslPtr ssl(SSL_new(ctx.get()));
  const BIO_METHOD* method = socketMethod();
  if (!ssl || method == nullptr) {
    return Error(ErrorKind::kInternal, "cannot create a TLS session: " + sslErrors());
  }
  BIO* bio = BIO_new(method);
  if (bio == nullptr) return Error(ErrorKind::kInternal, "cannot create a BIO: " + sslErrors());
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<intptr_t>(plain->fd())));
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl.get(), bio, bio);  // ssl owns it now
  if (!options.server_name.empty() && !isNumericHost(options.server_name)) {
    // SSL_set_tlsext_host_name() without its C cast.
    if (SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(options.server_name.c_str())) != 1) {
      return Error(ErrorKind::kInvalid,
                   "cannot use '" + options.server_name + "' as TLS server name: " + sslErrors());
    }
  }
  if (use_ca) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const int set = isNumericHost(verify_name)
                        ? X509_VERIFY_PARAM_set1_ip_asc(param, verify_name.c_str())
                        : SSL_set1_host(ssl.get(), verify_name.c_str());
    if (set != 1) {
      return Error(ErrorKind::kInvalid, "cannot check certificates for '" +
                                            printableAscii(verify_name, 80) + "': " + sslErrors());
    }
  }
  SSL_set_connect_state(ssl.get());

  for (;;) {
    ERR_clear_error();
    const int rc = SSL_connect(ssl.get());
    if (rc == 1) break;
    if (auto st = afterSslCall(ssl.get(), rc, plain->fd(), plain->timeouts(),
                               "in the TLS handshake with", where);
        !st) {
      return std::move(st).error();
    }
  }

  X509Ptr cert(SSL_get1_peer_certificate(ssl.get()));
  if (!cert) {
    return Error(ErrorKind::kTemporary, "TLS server " + where + " sent no certificate");
  }
  TlsSession session;
  session.fingerprint = spkiFingerprint(cert.get());
  if (session.fingerprint.empty()) {
    return Error(ErrorKind::kTemporary,
                 "cannot encode the key of the certificate of TLS server " + where);
  }
  if (!trust.pins.empty()) {
    if (std::find(trust.pins.begin(), trust.pins.end(), session.fingerprint) == trust.pins.end()) {
      return Error(ErrorKind::kTemporary, "TLS server " + where + " has key " +
                                              session.fingerprint + ", which is not pinned");
    }
    session.trusted_by = "pin";
  } else if (use_ca) {
    const long verdict = SSL_get_verify_result(ssl.get());
    if (verdict != X509_V_OK) {
      return Error(ErrorKind::kTemporary,
                   "certificate of TLS server " + where + " not trusted for " +
                       printableAscii(verify_name, 80) + ": " +
                       X509_verify_cert_error_string(verdict) + " (key " + session.fingerprint +
                       ")");
    }
    session.trusted_by = "ca";
  }
  session.protocol = SSL_get_version(ssl.get());
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl.get());
  session.cipher = cipher != nullptr ? SSL_CIPHER_get_name(cipher) : "";
  session.stream = std::make_unique<TlsStream>(std::move(plain), std::move(ctx), std::move(ssl));
  return session;
}

std::string spkiFingerprint(X509* cert) {
  if (cert == nullptr) return {};
  X509_PUBKEY* key = X509_get_X509_PUBKEY(cert);
  if (key == nullptr) return {};
  unsigned char* der = nullptr;
  const int len = i2d_X509_PUBKEY(key, &der);
  if (len <= 0 || der == nullptr) return {};
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  const int ok = EVP_Digest(der, static_cast<size_t>(len), digest, &digest_len, EVP_sha256(),
                            nullptr);
  OPENSSL_free(der);
  if (ok != 1 || digest_len != 32) return {};
  return base32(digest, digest_len);
}

Result<std::string> spkiFingerprintOfPemFile(const std::string& path) {
  ERR_clear_error();
  BioPtr file(BIO_new_file(path.c_str(), "r"));
  if (!file) {
    const int saved = errno;
    ERR_clear_error();
    return Error(ErrorKind::kConfig, path + ": cannot read: " + std::strerror(saved));
  }
  X509Ptr cert(PEM_read_bio_X509(file.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    const std::string why = sslErrors();
    return Error(ErrorKind::kConfig, path + ": no PEM certificate" + (why.empty() ? "" : ": " + why));
  }
  std::string fp = spkiFingerprint(cert.get());
  if (fp.empty()) return Error(ErrorKind::kConfig, path + ": cannot encode the certificate's key");
  return fp;
}

}  // namespace mtep::transport

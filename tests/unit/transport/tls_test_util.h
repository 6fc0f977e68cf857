#pragma once
// NAME
//   tls_test_util.h - self-signed certificates, TLS server contexts and
//   loopback sockets for the tests of TLS clients (header-only)
// DESCRIPTION
//   A fresh EC P-256 key and a self-signed certificate per call; the
//   expected fingerprint is computed here from the KEY (i2d_PUBKEY, not the
//   certificate) with a base32 of the test's own, so a test compares two
//   independent computations. Sockets bind 127.0.0.1 port 0.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "util/unique_fd.h"

namespace mtep::testing {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const noexcept { X509_free(p); }
};
struct CtxFree {
  void operator()(SSL_CTX* p) const noexcept { SSL_CTX_free(p); }
};
struct SslFree {
  void operator()(SSL* p) const noexcept { SSL_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using CertPtr = std::unique_ptr<X509, X509Free>;
using CtxPtr = std::unique_ptr<SSL_CTX, CtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

struct Credentials {
  PkeyPtr key;
  CertPtr cert;
};

inline Credentials selfSigned(const char* common_name = "test.onion") {
  Credentials c;
  c.key.reset(EVP_EC_gen("P-256"));
  if (!c.key) return c;
  c.cert.reset(X509_new());
  X509* x = c.cert.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, c.key.get());
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509_set_issuer_name(x, name);
  if (X509_sign(x, c.key.get(), EVP_sha256()) == 0) c.cert.reset();
  return c;
}

// A self-signed certificate with one subjectAltName ("DNS:mx.alpha.test"
// or "IP:127.0.0.1") and basicConstraints CA:TRUE, so a file holding it
// serves as its own CA (the way an admin trusts a private CA).
inline Credentials selfSignedFor(const char* subject_alt_name) {
  Credentials c = selfSigned("mtep test");
  if (!c.cert) return c;
  X509* x = c.cert.get();
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
  for (const auto& [nid, value] : {std::pair<int, const char*>{NID_subject_alt_name, subject_alt_name},
                                   {NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    if (ext == nullptr) {
      c.cert.reset();
      return c;
    }
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(x, c.key.get(), EVP_sha256()) == 0) c.cert.reset();
  return c;
}

// Writes `cert` as PEM to a new file under /tmp; its path, "" on failure.
inline std::string writePemFile(X509* cert) {
  char path[] = "/tmp/mtep-tls-ca-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return {};
  FILE* f = ::fdopen(fd, "w");
  if (f == nullptr) return {};
  const bool ok = PEM_write_X509(f, cert) == 1;
  std::fclose(f);
  return ok ? std::string(path) : std::string();
}

inline std::string testBase32(const unsigned char* p, size_t n) {
  const char* alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  std::string bits;
  for (size_t i = 0; i < n; ++i) {
    for (int b = 7; b >= 0; --b) bits.push_back(((p[i] >> b) & 1) ? '1' : '0');
  }
  while (bits.size() % 5 != 0) bits.push_back('0');
  std::string out;
  for (size_t i = 0; i < bits.size(); i += 5) out.push_back(alphabet[std::stoi(bits.substr(i, 5), nullptr, 2)]);
  return out;
}

// base32(SHA-256(DER SubjectPublicKeyInfo of the key)).
inline std::string expectedFingerprint(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  if (len <= 0) return {};
  unsigned char digest[32];
  unsigned int dlen = 0;
  EVP_Digest(der, static_cast<size_t>(len), digest, &dlen, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  return testBase32(digest, dlen);
}

// A server context with `c`, limited to [min_version, max_version] (0 = no limit).
inline CtxPtr serverContext(const Credentials& c, int min_version = 0, int max_version = 0) {
  CtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return ctx;
  if (max_version != 0 && max_version < TLS1_2_VERSION) {
    SSL_CTX_set_security_level(ctx.get(), 0);  // old protocols need it in OpenSSL 3
  }
  if (min_version != 0) SSL_CTX_set_min_proto_version(ctx.get(), min_version);
  if (max_version != 0) SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  SSL_CTX_use_certificate(ctx.get(), c.cert.get());
  SSL_CTX_use_PrivateKey(ctx.get(), c.key.get());
  return ctx;
}

// A listening socket on 127.0.0.1, port 0; *port receives the port.
inline UniqueFd listenLoopback(uint16_t* port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (!fd.valid() || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      ::listen(fd.get(), 8) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    return UniqueFd();
  }
  *port = ntohs(sa.sin_port);
  return fd;
}

// A connected, non-blocking client socket to 127.0.0.1:port.
inline UniqueFd connectLoopback(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  if (!fd.valid() || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    return UniqueFd();
  }
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
  return fd;
}

// For server threads whose OpenSSL writes through plain write(): a peer
// that went away must not kill the test with SIGPIPE. Only the calling
// thread is affected, so the clients under test still would be.
inline void blockSigpipeInThisThread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// Blocking helpers for server threads.
inline void sendText(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// Reads one line up to LF (returned without CR LF); "" with *eof on close.
inline std::string readLine(int fd, bool* eof = nullptr) {
  std::string line;
  char c = 0;
  for (;;) {
    const ssize_t n = ::recv(fd, &c, 1, 0);
    if (n <= 0) {
      if (eof != nullptr) *eof = true;
      return line;
    }
    if (c == '\n') break;
    line.push_back(c);
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace mtep::testing

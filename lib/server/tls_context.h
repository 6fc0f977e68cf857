#pragma once
// NAME
//   tls_context.h - the server side of TLS: certificate, key, protocol floor
// SUMMARY
//   auto tls = TlsContext::load(cert_file, key_file);   // as root, before the drop
//   if (!tls) return tls.error();                       // kConfig, names the file
//   session->tlsContext() returns (*tls)->get() for SessionAction::kStartTls
// DESCRIPTION
//   One OpenSSL SSL_CTX for accepting TLS (STARTTLS on an ESMTP listener):
//   the PEM certificate chain (leaf first), its private key (from key_file,
//   or from cert_file when key_file is empty), checked to match; TLS 1.2 at
//   least, no compression, no renegotiation, the server's cipher order.
//   No client certificates are asked for. Shared, immutable once loaded:
//   every session that may start TLS keeps a shared_ptr, and each SSL made
//   from it holds its own reference, so a reload never pulls the context
//   from under a live handshake.
// SECURITY
//   Private keys are typically readable by root only: load() belongs in
//   Service::prepare() (daemon.h), which runs before the privilege drop.
// SEE ALSO
//   session.h (kStartTls), connection.h, daemon.h

#include <memory>
#include <string>
#include <string_view>

#include "util/result.h"

typedef struct ssl_ctx_st SSL_CTX;  // NOLINT: OpenSSL's own spelling

namespace mtep::server {

class TlsContext {
 public:
  // kConfig errors: "FILE: what OpenSSL said".
  static Result<std::shared_ptr<const TlsContext>> load(const std::string& cert_file,
                                                        const std::string& key_file);
  // The same from PEM text (a certificate chain and a key), for tests.
  static Result<std::shared_ptr<const TlsContext>> fromPem(std::string_view cert_pem,
                                                           std::string_view key_pem);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // Never null. SSL_new() on it takes its own reference.
  SSL_CTX* get() const noexcept { return ctx_; }
  // The leaf certificate's subject, for the start-up log ("CN=mx.example").
  const std::string& subject() const { return subject_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;  // owned
  std::string subject_;
};

}  // namespace mtep::server

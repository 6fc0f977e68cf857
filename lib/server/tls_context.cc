// NAME
//   tls_context.cc - loading the server certificate and key into an SSL_CTX
// DESCRIPTION
//   See tls_context.h. Every OpenSSL handle is owned by a unique_ptr.

#include "server/tls_context.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "server/event_handles.h"

namespace mtep::server {
namespace {

using SslCtxPtr = std::unique_ptr<SSL_CTX, HandleDeleter<SSL_CTX, SSL_CTX_free>>;
using BioPtr = std::unique_ptr<BIO, HandleDeleter<BIO, BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, HandleDeleter<X509, X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, HandleDeleter<EVP_PKEY, EVP_PKEY_free>>;

// The last OpenSSL error queued (and clears the queue).
std::string opensslError(const char* fallback) {
  unsigned long last = 0;
  while (unsigned long e = ERR_get_error()) last = e;
  if (last == 0) return fallback;
  char buf[256];
  ERR_error_string_n(last, buf, sizeof buf);
  return buf;
}

Error configError(std::string_view what, const std::string& detail) {
  return Error(ErrorKind::kConfig, std::string(what) + ": " + detail);
}

// A context with this project's protocol settings and no certificate yet.
Result<SslCtxPtr> newServerContext() {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return Error(ErrorKind::kInternal, "SSL_CTX_new: " + opensslError("failed"));
  if (SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1) {
    return Error(ErrorKind::kInternal, "cannot require TLS 1.2: " + opensslError("failed"));
  }
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                     SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  return ctx;
}

std::string subjectOf(SSL_CTX* ctx) {
  X509* leaf = SSL_CTX_get0_certificate(ctx);
  if (leaf == nullptr) return {};
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(leaf), buf, sizeof buf);
  return buf;
}

}  // namespace

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

Result<std::shared_ptr<const TlsContext>> TlsContext::load(const std::string& cert_file,
                                                           const std::string& key_file) {
  auto ctx = newServerContext();
  if (!ctx) return std::move(ctx).error();
  if (SSL_CTX_use_certificate_chain_file(ctx->get(), cert_file.c_str()) != 1) {
    return configError(cert_file, "cannot load the certificate: " + opensslError("unreadable"));
  }
  const std::string& key = key_file.empty() ? cert_file : key_file;
  if (SSL_CTX_use_PrivateKey_file(ctx->get(), key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return configError(key, "cannot load the private key: " + opensslError("unreadable"));
  }
  if (SSL_CTX_check_private_key(ctx->get()) != 1) {
    return configError(key, "the private key does not match " + cert_file);
  }
  std::shared_ptr<TlsContext> out(new TlsContext(ctx->release()));
  out->subject_ = subjectOf(out->ctx_);
  return std::shared_ptr<const TlsContext>(std::move(out));
}

Result<std::shared_ptr<const TlsContext>> TlsContext::fromPem(std::string_view cert_pem,
                                                              std::string_view key_pem) {
  auto ctx = newServerContext();
  if (!ctx) return std::move(ctx).error();
  BioPtr cert_bio(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())));
  BioPtr key_bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  if (!cert_bio || !key_bio) return Error(ErrorKind::kInternal, "BIO_new_mem_buf failed");
  X509Ptr leaf(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (!leaf || SSL_CTX_use_certificate(ctx->get(), leaf.get()) != 1) {
    return configError("certificate", opensslError("not a PEM certificate"));
  }
  while (X509* extra = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr)) {
    if (SSL_CTX_add_extra_chain_cert(ctx->get(), extra) != 1) {  // takes ownership on success
      X509_free(extra);
      return configError("certificate chain", opensslError("cannot add"));
    }
  }
  ERR_clear_error();  // the loop ends on "no start line"
  PkeyPtr pkey(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!pkey || SSL_CTX_use_PrivateKey(ctx->get(), pkey.get()) != 1) {
    return configError("private key", opensslError("not a PEM private key"));
  }
  if (SSL_CTX_check_private_key(ctx->get()) != 1) {
    return configError("private key", "does not match the certificate");
  }
  std::shared_ptr<TlsContext> out(new TlsContext(ctx->release()));
  out->subject_ = subjectOf(out->ctx_);
  return std::shared_ptr<const TlsContext>(std::move(out));
}

}  // namespace mtep::server

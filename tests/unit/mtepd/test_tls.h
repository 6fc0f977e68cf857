#pragma once
// NAME
//   test_tls.h - a throwaway TLS context for mtepd's session tests
// DESCRIPTION
//   testTls(): a self-signed P-256 certificate and key made in memory (no
//   files), as server::TlsContext. The sessions never handshake in these
//   tests; the context only has to exist for STARTTLS to be offered.

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "server/tls_context.h"

namespace mtep::mtepd {

// A throwaway self-signed P-256 certificate, made in memory.
inline std::shared_ptr<const server::TlsContext> testTls() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("test"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_sign(cert, key, EVP_sha256());
  BIO* cb = BIO_new(BIO_s_mem());
  BIO* kb = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cb, cert);
  PEM_write_bio_PrivateKey(kb, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* p = nullptr;
  long n = BIO_get_mem_data(cb, &p);
  const std::string cert_pem(p, static_cast<size_t>(n));
  n = BIO_get_mem_data(kb, &p);
  const std::string key_pem(p, static_cast<size_t>(n));
  BIO_free(cb);
  BIO_free(kb);
  X509_free(cert);
  EVP_PKEY_free(key);
  auto tls = server::TlsContext::fromPem(cert_pem, key_pem);
  EXPECT_TRUE(tls) << tls.error().message();
  return tls ? *tls : nullptr;
}

}  // namespace mtep::mtepd

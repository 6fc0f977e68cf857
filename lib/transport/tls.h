#pragma once
// NAME
//   tls.h - TLS for the blocking clients (OpenSSL 3), and key fingerprints
// SUMMARY
//   auto t = transport::startTls(std::move(plain), {.server_name = "x.onion"});
//   (*t)->stream->writeAll(...); (*t)->fingerprint  // 52 base32 characters
//   std::string fp = transport::spkiFingerprint(cert);
// DESCRIPTION
//   startTls() runs a client handshake over a connected Stream within its
//   timeouts (TLS 1.2 at least; SNI = server_name when it is a name), and
//   returns a Stream that encrypts. The server's certificate is NOT checked
//   against a CA: SMTorP servers use self-signed certificates and the
//   suite's trust is the key fingerprint (the address's fingerprint label,
//   or a pin). The caller compares `fingerprint` and decides.
//   Fingerprint (PROTOCOLS.md section 6): SHA-256 of the certificate's DER
//   SubjectPublicKeyInfo, RFC 4648 base32, lower case, no padding: 52
//   characters. A handshake failure or timeout is kTemporary with OpenSSL's
//   reason; a peer that never finishes its handshake is bound by the
//   stream's read timeout and deadline.
// SEE ALSO
//   stream.h, lib/overlay/overlay.h (matching fingerprints)

#include <memory>
#include <string>

#include "transport/stream.h"
#include "util/result.h"

typedef struct x509_st X509;

namespace mtep::transport {

struct TlsClientOptions {
  std::string server_name;  // SNI and messages; no SNI for numeric addresses
};

struct TlsSession {
  std::unique_ptr<Stream> stream;  // encrypting; owns the plain stream
  std::string fingerprint;         // the server certificate's, as above
  std::string protocol;            // "TLSv1.3"
  std::string cipher;              // "TLS_AES_256_GCM_SHA384"
};

Result<TlsSession> startTls(std::unique_ptr<Stream> plain, const TlsClientOptions& options);

// The fingerprint of `cert` as above; "" when the key cannot be encoded.
std::string spkiFingerprint(X509* cert);
// The fingerprint of the first certificate in a PEM file; kConfig naming
// the file when it cannot be read.
Result<std::string> spkiFingerprintOfPemFile(const std::string& path);

}  // namespace mtep::transport

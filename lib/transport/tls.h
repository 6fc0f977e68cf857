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
//   returns a Stream that encrypts. What is trusted is options.trust:
//   - pins not empty: the server key's fingerprint must equal one of them
//     (self-signed certificates are fine; no CA is consulted);
//   - else verify_certificate: the certificate must chain to ca_file (or,
//     when it is "", the system store: OpenSSL's default paths) and be
//     for trust.name (a DNS name: subjectAltName dNSName, wildcards in the
//     first label only; or a numeric address: iPAddress), "" = server_name;
//   - else nothing is checked (overlay peers: the onion or i2p address
//     authenticates the peer; SMTorP compares `fingerprint` itself).
//   A certificate that fails the check is kTemporary naming the server, the
//   reason (OpenSSL's verify error) and the key fingerprint, so an admin
//   can pin it; nothing has been sent over the session then. A ca_file
//   that cannot be read is kConfig. CA files (and the system bundle) are
//   parsed once per process and shared between connections; a file whose
//   modification time or size changes is read again on the next use.
//   Fingerprint (PROTOCOLS.md section 6): SHA-256 of the certificate's DER
//   SubjectPublicKeyInfo, RFC 4648 base32, lower case, no padding: 52
//   characters. A handshake failure or timeout is kTemporary with OpenSSL's
//   reason; a peer that never finishes its handshake is bound by the
//   stream's read timeout and deadline.
// SEE ALSO
//   stream.h, lib/overlay/overlay.h (matching fingerprints), SSL_set1_host(3)

#include <memory>
#include <string>
#include <vector>

#include "transport/stream.h"
#include "util/result.h"

typedef struct x509_st X509;

namespace mtep::transport {

// Whom the client trusts (see DESCRIPTION); the default checks nothing.
struct TlsTrust {
  std::vector<std::string> pins;  // full 52-character key fingerprints; any one matches
  bool verify_certificate = false;  // chain to ca_file / the system store, and trust.name
  std::string name;     // the name (or numeric address) asked for; "" = server_name
  std::string ca_file;  // PEM file of trusted CA certificates; "" = the system store
  bool checks() const { return !pins.empty() || verify_certificate; }
};

struct TlsClientOptions {
  std::string server_name;  // SNI and messages; no SNI for numeric addresses
  TlsTrust trust{};
};

struct TlsSession {
  std::unique_ptr<Stream> stream;  // encrypting; owns the plain stream
  std::string fingerprint;         // the server certificate's, as above
  std::string protocol;            // "TLSv1.3"
  std::string cipher;              // "TLS_AES_256_GCM_SHA384"
  std::string trusted_by;          // "pin", "ca" (verified), or "" (nothing checked)
};

Result<TlsSession> startTls(std::unique_ptr<Stream> plain, const TlsClientOptions& options);

// The fingerprint of `cert` as above; "" when the key cannot be encoded.
std::string spkiFingerprint(X509* cert);
// The fingerprint of the first certificate in a PEM file; kConfig naming
// the file when it cannot be read.
Result<std::string> spkiFingerprintOfPemFile(const std::string& path);

}  // namespace mtep::transport

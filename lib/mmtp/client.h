#pragma once
// NAME
//   client.h - a blocking MMTP client: dial, TLS, the greeting, one JSON
//   reply per request
// SUMMARY
//   mmtp::MmtpClientOptions o;
//   o.host = "mmtp.beta.test"; o.port = 8026;
//   o.tls_options.trust.pins = {...};            // or verify_certificate + ca_file
//   mmtp::ClientStep failed;
//   auto c = mmtp::connectMmtp(o, transport::systemResolver(), &failed);
//   c->greeting();                                // {"status":"OK","message":"MMTP Server
//   Ready..."} Result<Json> reply = c->request(send_request);
// DESCRIPTION
//   For a worker thread (every wait blocks, bounded by the options):
//   connectMmtp() dials (transport::dial with options.dial: SOCKS for
//   .onion/.i2p, target policy), runs the TLS handshake when options.tls
//   (transport::startTls with options.tls_options; server_name defaults to
//   host), and reads the server's greeting, all within dial_timeout_ms.
//   The greeting must be a JSON object whose "status" is "OK"; anything
//   else is not an MMTP server (kProtocol).
//   request() writes the request as one JSON text (jsStringify: what the
//   reference client's JSON.stringify writes, no newline, one write) and
//   reads exactly one JSON value back (mmtp::JsonFramer: a reply is one
//   top-level object or array, at most max_reply_bytes, nesting at most
//   max_reply_depth) within reply_timeout_ms, and returns it whatever its
//   "status": the caller decides. Errors, by kind:
//   - kTemporary: the dial, the handshake (an untrusted certificate too),
//     a timeout, or the server closing before a whole reply;
//   - kProtocol: bytes that are no JSON value, a value that does not
//     parse, nesting over the limit, a greeting that is not MMTP's;
//   - kLimit: a reply over max_reply_bytes (its bytes are read no further);
//   - kInvalid: options that cannot work (no host), nothing sent.
//   After an error the connection is not used again (request() says
//   kTemporary). *failed (may be null) says which step of connectMmtp
//   failed, for callers that map it (the bridge: 4.4.1 for the dial,
//   4.7.x for TLS).
//   An MmtpConnection is used by one thread at a time; it closes its
//   socket when destroyed (no farewell: MMTP has none).
// SEE ALSO
//   json.h (JsonFramer, jsStringify), lib/transport/dialer.h, tls.h,
//   mtepd/mmtp_bridge.h (the user)

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "mmtp/json.h"
#include "transport/dialer.h"
#include "transport/stream.h"
#include "transport/tls.h"
#include "util/result.h"

namespace mtep::mmtp {

struct MmtpClientOptions {
  std::string host;                           // name or numeric address
  uint16_t port = 8026;                       // the reference's TLS port
  bool tls = true;                            // implicit TLS (8026); false: plain (8025)
  transport::TlsClientOptions tls_options{};  // trust; server_name "" = host
  transport::DialOptions dial{};              // proxies, target policy (timeouts set from below)
  int dial_timeout_ms = 30000;                // connect + TLS + greeting, all together
  int reply_timeout_ms = 60000;               // each reply, from the request's write
  size_t max_reply_bytes = 16 * 1024 * 1024;  // one reply (and the greeting)
  size_t max_reply_depth = 64;                // nesting of one reply
};

enum class ClientStep { kNone, kRequest, kDial, kTls, kGreeting };
const char* clientStepName(ClientStep step) noexcept;  // "none", "request", "dial", ...

class MmtpConnection {
 public:
  MmtpConnection(MmtpConnection&&) noexcept;
  MmtpConnection& operator=(MmtpConnection&&) noexcept;
  ~MmtpConnection();

  const Json& greeting() const { return greeting_; }
  // One request, one reply (see DESCRIPTION).
  Result<Json> request(const Json& request);

  const std::string& label() const { return label_; }                 // "host:port (addr)"
  const std::string& tlsFingerprint() const { return fingerprint_; }  // "" without TLS
  const std::string& trustedBy() const { return trusted_by_; }        // "pin", "ca" or ""

 private:
  friend Result<MmtpConnection> connectMmtp(const MmtpClientOptions&, transport::NameResolver&,
                                            ClientStep*);
  MmtpConnection(std::unique_ptr<transport::Stream> stream, const MmtpClientOptions& options);
  // Reads one value within the stream's current timeouts.
  Result<Json> readValue(std::string_view what);

  std::unique_ptr<transport::Stream> stream_;
  std::unique_ptr<JsonFramer> framer_;
  int reply_timeout_ms_ = 0;
  size_t max_reply_bytes_ = 0;
  bool broken_ = false;  // an error happened: no more requests
  Json greeting_;
  std::string label_;
  std::string fingerprint_;
  std::string trusted_by_;
};

Result<MmtpConnection> connectMmtp(const MmtpClientOptions& options,
                                   transport::NameResolver& resolver = transport::systemResolver(),
                                   ClientStep* failed = nullptr);

}  // namespace mtep::mmtp

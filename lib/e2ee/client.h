#pragma once
// NAME
//   client.h - blocking client of the draft's key service (PUBKEY, AUTH
//   HASHEDPASS, GETSALT, RSTSALT, SETPUBKEY) over ESMTP with STARTTLS
// SUMMARY
//   auto s = e2ee::KeyClient::open("mx.alpha.test", 25, options);
//   Result<e2ee::PublicKey> k = (*s)->pubkey("alice@alpha.test");  // kNotFound on 550
//   (*s)->login("alice@alpha.test", e2ee::hashedPass(user, pw));    // 235
//   Result<std::string> salt = (*s)->getSalt();                      // decoded
//   (*s)->setPublicKey(pair.pub); (*s)->quit();
// DESCRIPTION
//   open(): connects with transport::dial (overlay names through the SOCKS
//   proxies in options.dial, never DNS), reads the 220 greeting, EHLO,
//   STARTTLS (required: a server that does not offer it, or refuses it, is
//   kTemporary "offers no STARTTLS"; the draft's commands are TLS-only),
//   EHLO again. The server's key fingerprint (transport/tls.h) is kept;
//   with options.expect_fingerprint set (a prefix, as in SMTorP labels)
//   a different key is kInvalid and nothing more is sent. The certificate
//   is checked as options.tls says (transport::TlsTrust: a CA and the
//   name asked, or pins; the default checks nothing, for callers that
//   pin with expect_fingerprint or reach an overlay address); a server
//   that fails the check is kTemporary and nothing is sent to it. SNI is
//   options.tls.name when set (the name asked, when `host` is the
//   address it resolved to), else `host`.
//   Each command is one line and one reply (lib/smtp/client.h), every
//   wait bound by read_timeout_ms and the whole session by
//   total_timeout_ms. Replies map to errors so callers can decide:
//     PUBKEY   220 "ed25519 KEY" -> the key (any form e2ee::parsePublicKey
//              reads); 550 -> kNotFound; 530 -> kTemporary (the server
//              wants TLS: it should have it); 502/500 -> kNotFound "no key
//              service" (an MTA that does not speak the draft).
//     AUTH     235 -> ok; 535 -> kInvalid "user name or password wrong";
//              454/4xx -> kTemporary (rate limited: try later).
//     GETSALT, RSTSALT   220 "SALT B64" -> the decoded salt.
//     SETPUBKEY          250 -> ok.
//   Any other 5xx is kInvalid quoting the reply; 4xx kTemporary; a reply
//   that breaks the grammar kProtocol; connection trouble kTemporary.
//   Every message names host:port and quotes at most the reply's first
//   line (printable ASCII).
//   One thread per KeyClient; separate clients are independent.
// SEE ALSO
//   e2ee.h, lib/smtp/client.h, lib/transport/dialer.h, mtepd(8) "KEY
//   SERVICE", PROTOCOLS.md section 4 (not shipped)

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "e2ee/e2ee.h"
#include "smtp/client.h"
#include "transport/dialer.h"
#include "transport/tls.h"
#include "util/result.h"

namespace mtep::e2ee {

struct KeyClientOptions {
  int connect_timeout_ms = 5000;  // per address (direct) or to the proxy
  int read_timeout_ms = 30000;    // each reply, and the TLS handshake
  int total_timeout_ms = 60000;   // the whole session
  transport::DialOptions dial{};  // proxies and isolation; its timeouts are set from the above
  std::string helo_name = "localhost";
  std::string expect_fingerprint;  // "" = any key; else the server key must start with it
  transport::TlsTrust tls{};       // CA and name, or pins (transport/tls.h); default: none
  transport::NameResolver* resolver = nullptr;  // null = transport::systemResolver()
};

class KeyClient {
 public:
  static Result<std::unique_ptr<KeyClient>> open(const std::string& host, uint16_t port,
                                                 const KeyClientOptions& options);

  const std::string& fingerprint() const { return fingerprint_; }  // the server's key
  const std::string& tlsProtocol() const { return tls_protocol_; }
  // The EHLO reply after STARTTLS ("AUTH" params hold "HASHEDPASS" when offered).
  const smtp::ParsedReply& capabilities() const { return smtp_.capabilities(); }
  bool offersHashedPass() const;

  Result<PublicKey> pubkey(std::string_view address);
  Status login(std::string_view username, const Hash& hash);
  Result<std::string> getSalt();
  Result<std::string> resetSalt();
  Status setPublicKey(const PublicKey& pub);
  void quit() { smtp_.quit(); }

 private:
  KeyClient(smtp::SmtpClient smtp, std::string where)
      : smtp_(std::move(smtp)), where_(std::move(where)) {}
  // One command; its reply, or the error for a connection failure.
  Result<smtp::ParsedReply> ask(std::string_view line);
  Error replyError(const smtp::ParsedReply& r, std::string_view what) const;
  Result<std::string> saltReply(std::string_view command);

  smtp::SmtpClient smtp_;
  std::string where_;  // "host:port"
  std::string fingerprint_;
  std::string tls_protocol_;
};

}  // namespace mtep::e2ee

#pragma once
// NAME
//   socks.h - SOCKS5 client handshake (RFC 1928, RFC 1929), no I/O
// SUMMARY
//   auto c = socks::Client::create({.host = "abc...xyz.onion", .port = 25,
//                                   .credentials = socks::Credentials{"mtep", "x:25"}});
//   send(c->greeting());
//   c->feed(proxy_bytes, &consumed, &out) -> kNeedMore | kSend | kDone | kError
// DESCRIPTION
//   The client side of a SOCKS5 CONNECT. The caller sends greeting(), then
//   feeds what the proxy sends. Each call consumes at most one reply; on
//   kSend the bytes to send next were appended to *out (the caller sends
//   them, then feeds the rest of its input); on kDone the proxy connected
//   and bound() says where; on kError failure(), replyCode() and
//   errorText() say why and blame() says whether the PEER did not answer
//   (SOCKS replies 3, 4, 5, 6 and Tor's unreachable-onion codes) or the
//   proxy failed (anything else, including broken SOCKS).
//   wanted() is the exact number of bytes the next decision needs, so a
//   caller that reads at most wanted() bytes never reads past the CONNECT
//   reply into the peer's own data.
//   Methods offered: "no authentication" (0) and, with credentials,
//   username/password (2). A proxy that picks 2 gets the RFC 1929
//   request; its reply version may be 1 (RFC) or 5 (some proxies).
//   The request carries ATYP 1 or 4 for numeric IPv4/IPv6 hosts ("[::1]"
//   too) and ATYP 3, the name as given, for anything else: names are never
//   resolved here. Bound addresses of every type are parsed and checked;
//   a reply with an error code is decided on as soon as its code arrives.
//   Every field is at most 255 bytes, so no limits struct is needed.
//   After kDone or kError, feed() consumes nothing and returns the same.
// SEE ALSO
//   lib/transport/dialer.h (the user), RFC 1928, RFC 1929

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.h"

namespace mtep::socks {

inline constexpr uint8_t kVersion = 5;
inline constexpr uint8_t kAuthVersion = 1;  // RFC 1929 subnegotiation
inline constexpr size_t kMaxField = 255;    // names, usernames, passwords

enum class Method : uint8_t { kNoAuth = 0x00, kUserPass = 0x02, kNoAcceptable = 0xff };
enum class AddressType : uint8_t { kIpv4 = 1, kDomain = 3, kIpv6 = 4 };

struct Credentials {
  std::string username;  // 1..255 bytes
  std::string password;  // 0..255 bytes (RFC 1929 says 1..; an empty one is sent as such)
};

struct Request {
  std::string host;                        // name (1..255 bytes) or numeric address
  uint16_t port = 0;                       // 1..65535
  std::optional<Credentials> credentials;  // offer username/password too
};

// Where the proxy's outgoing connection is bound (rarely useful; logged).
struct Bound {
  AddressType type = AddressType::kIpv4;
  std::string address;  // dotted quad, RFC 5952 text, or the name
  uint16_t port = 0;
};

enum class State { kNeedMore, kSend, kDone, kError };

enum class Failure {
  kNone,
  kProtocol,      // the proxy broke SOCKS5 (version, unknown method or address type, length)
  kNoMethod,      // the proxy accepts none of the methods offered (0xff)
  kAuthRejected,  // RFC 1929 status other than 0
  kReply,         // the CONNECT reply code is not 0: see replyCode()
};

// Who is to blame for a failure.
enum class Blame { kNone, kPeer, kProxy };

// "host unreachable" for 4, etc.; "unassigned reply code" for unknown ones.
const char* replyText(uint8_t code) noexcept;
// True for the codes that mean the peer did not answer: 3 network
// unreachable, 4 host unreachable, 5 connection refused, 6 TTL expired,
// and Tor's extended 0xf0 (onion descriptor not found), 0xf2
// (introduction failed), 0xf3 (rendezvous failed), 0xf7 (introduction
// timed out).
bool replyMeansPeerNoAnswer(uint8_t code) noexcept;

// True when `host` is an IPv4 or IPv6 literal (brackets allowed for IPv6).
bool isNumericHost(std::string_view host);

class Client {
 public:
  // kInvalid for an empty or over-long name, a name with control bytes,
  // port 0, or credentials out of range.
  static Result<Client> create(Request request);

  // The method-selection message: 05 01 00, or 05 02 00 02 with credentials.
  const std::string& greeting() const noexcept { return greeting_; }

  // Consumes bytes from `in` up to the end of one reply. *consumed: all of
  // `in` on kNeedMore, the reply on kSend/kDone, up to and including the
  // offending byte on kError, 0 once done or in error. On kSend the next
  // message was appended to *out.
  State feed(std::string_view in, size_t* consumed, std::string* out);

  // Bytes the next step needs exactly (0 once done or in error).
  size_t wanted() const noexcept;
  // True once the CONNECT request has been handed out (replies from then
  // on are about the peer).
  bool requestSent() const noexcept { return phase_ == Phase::kConnectReply; }

  Method method() const noexcept { return method_; }  // chosen by the proxy
  const Bound& bound() const noexcept { return bound_; }
  Failure failure() const noexcept { return failure_; }
  uint8_t replyCode() const noexcept { return reply_code_; }
  Blame blame() const noexcept;
  // One lower-case phrase: "proxy replied 4 (host unreachable)",
  // "proxy broke SOCKS5: version 4 in the method reply", ...
  const std::string& errorText() const noexcept { return error_text_; }

 private:
  enum class Phase { kMethodReply, kAuthReply, kConnectReply, kDone, kError };
  Client() = default;
  State fail(Failure f, std::string text);
  State onMethodReply(std::string* out);
  State onAuthReply(std::string* out);
  State onConnectReply();
  size_t connectReplyLength() const noexcept;

  Request request_;
  std::string greeting_;
  std::string connect_request_;
  Phase phase_ = Phase::kMethodReply;
  std::string buf_;  // the reply being collected (at most 262 bytes)
  Method method_ = Method::kNoAcceptable;
  Bound bound_;
  Failure failure_ = Failure::kNone;
  uint8_t reply_code_ = 0;
  std::string error_text_;
};

}  // namespace mtep::socks

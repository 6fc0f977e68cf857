#pragma once
// NAME
//   verifier.h - the two services a milter session needs: asking a sender
//   domain's MTEP server about a token, and minting tokens for our senders
// DESCRIPTION
//   Session (session.h) talks only to these interfaces. The daemon passes
//   verify::RemoteVerifier and verify::RingMinter (lib/verify/); unit tests
//   pass fakes. Both are called from libmilter worker threads, several at
//   once: implementations must be thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.h"

namespace mtep::milter {

struct VerifyQuery {
  std::string token;          // the MTEP-Token header value, trimmed
  std::string sender;         // envelope sender, canonicalLower() (never empty)
  std::string sender_domain;  // its domain, lower case: whose MTEP server is asked
  std::string recipient;      // a recipient of the message at this site, canonicalLower():
                              // the token must be bound to its domain ("" = ask without)
  std::string queue_id;       // for log lines only
};

enum class VerifyKind {
  kValid,        // the server said K: it vouches for the token and sender
  kRefused,      // the server said D (or I5.x.x to "?"): nobody vouches
  kUnsure,       // the server said Z, or I4.x.x (busy, timed out)
  kUnreachable,  // no server found, no connection, timeout, not MTEP
};
inline const char* verifyKindName(VerifyKind k) noexcept {
  switch (k) {
    case VerifyKind::kValid: return "valid";
    case VerifyKind::kRefused: return "refused";
    case VerifyKind::kUnsure: return "unsure";
    case VerifyKind::kUnreachable: return "unreachable";
  }
  return "?";
}

struct VerifyOutcome {
  VerifyKind kind = VerifyKind::kUnreachable;
  std::string server;  // "host:port" that answered or was tried last; "" if none found
  std::string detail;  // the server's reply ("D5.7.8 Nobody here issued...") or the error
  bool cached = false; // answered from the cache
};

class TokenVerifier {
 public:
  virtual ~TokenVerifier() = default;
  virtual VerifyOutcome verify(const VerifyQuery& query) = 0;
};

class TokenMinter {
 public:
  virtual ~TokenMinter() = default;
  // A token for `sender_canonical` (canonicalLower(), not empty) and mail
  // to `recipient_domain` (lower case, not empty), valid for ttl seconds.
  // kInvalid for bad arguments; kTemporary/kConfig/kInternal when no key
  // can be used.
  virtual Result<std::string> mint(std::string_view sender_canonical,
                                   std::string_view recipient_domain, int64_t ttl) = 0;
};

}  // namespace mtep::milter

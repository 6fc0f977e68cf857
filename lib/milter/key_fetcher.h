#pragma once
// NAME
//   key_fetcher.h - the service a milter session needs to check sender
//   signatures: the public key a sender domain's key server gives for an
//   address (PUBKEY, draft-korenenovak-smtp-e2eesign)
// DESCRIPTION
//   Session (session.h) talks only to this interface. The daemon passes
//   verify::RemoteKeyFetcher (lib/verify/key_fetcher.h); unit tests pass a
//   fake. Called from libmilter worker threads, several at once:
//   implementations must be thread-safe.
//   The key is the one for the From: header's address, fetched from the
//   From domain's server; never the X-Sender-Pubkey header's.

#include <string>

#include "e2ee/e2ee.h"

namespace mtep::milter {

struct KeyQuery {
  std::string address;   // the From: address, canonicalLower() (never empty)
  std::string domain;    // its domain, lower case: whose key server is asked
  std::string queue_id;  // for log lines only
};

enum class KeyKind {
  kFound,      // the server gave a key for the address
  kNone,       // a server answered: no key for the address (550), or no key service (502)
  kTemporary,  // no server reached, timeout, 4xx, a reply we cannot read
};
inline const char* keyKindName(KeyKind k) noexcept {
  switch (k) {
    case KeyKind::kFound:
      return "found";
    case KeyKind::kNone:
      return "none";
    case KeyKind::kTemporary:
      return "temporary";
  }
  return "?";
}

struct KeyOutcome {
  KeyKind kind = KeyKind::kTemporary;
  e2ee::PublicKey key{};  // set for kFound
  std::string server;     // "host:port" that answered or was tried last; "" if none found
  std::string detail;     // why (printable ASCII, short)
  bool cached = false;    // answered from the cache
};

class KeyFetcher {
 public:
  virtual ~KeyFetcher() = default;
  virtual KeyOutcome fetch(const KeyQuery& query) = 0;
};

}  // namespace mtep::milter

#pragma once
// NAME
//   client.h - blocking MTEP client with connect, read and total timeouts
// SUMMARY
//   MtepClient c({.connect_timeout_ms = 3000, ...});
//   auto r = c.query("mx.example.org", 6211, token, sender, recipient);
// DESCRIPTION
//   Resolves the host (getaddrinfo; every address tried in turn within the
//   total deadline), connects with a timeout, sends one "?" and reads one
//   response, then sends "Q" and reads the farewell (a dry close or any reply
//   to Q counts as K2.3.0). Each call is one connection. Errors are
//   kTemporary (unresolvable, unreachable, timeout, refused, closed before
//   a full answer) or kProtocol (the peer sent something that is not MTEP);
//   callers tempfail on both. Messages name host:port (and the address
//   tried). Options that are not positive give kConfig.
//   Addresses are tried in getaddrinfo order until one connects; once
//   connected that server's answer (or failure) is final, so a query is
//   never asked twice. The read timeout applies to each wait for data (and
//   for send buffer space); the total deadline bounds the connect attempts
//   and the exchange, except getaddrinfo itself, which has no timeout.
//   Writes use MSG_NOSIGNAL: no SIGPIPE. Thread-safe (no shared state).
//   STARTMTEP fallback over ESMTP comes with the Tor issue.

#include <cstdint>
#include <string>
#include <string_view>

#include "mtep/protocol.h"
#include "util/result.h"

namespace mtep::proto {

struct ClientOptions {
  int connect_timeout_ms = 5000;  // per address
  int read_timeout_ms = 5000;     // per read
  int total_timeout_ms = 15000;   // whole exchange
  size_t max_response_size = 4096;
  bool send_quit = true;          // polite "Q" after the answer
};

class MtepClient {
 public:
  explicit MtepClient(ClientOptions options = {}) : options_(options) {}
  Result<Response> query(const std::string& host, uint16_t port, std::string_view token,
                         std::string_view sender = {}, std::string_view recipient = {}) const;

 private:
  ClientOptions options_;
};

}  // namespace mtep::proto

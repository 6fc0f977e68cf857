#pragma once
// NAME
//   server_session.h - the MTEP server state machine, I/O-free
// SUMMARY
//   ServerSession s(limits, checker, rota, sink);
//   if (s.feed(bytes, &out) == Action::kClose) { flush out; close; }
// DESCRIPTION
//   Fed whatever bytes arrive, in any slicing; appends complete response
//   netstrings to the caller's buffer. Decisions taken:
//   Pipelined requests are answered in order; CR/LF between requests are
//   ignored. Decisions taken:
//   - "?" token [sender [recipient] ...]: the TokenChecker answers (extra
//     elements are ignored). A D/Z/I answer without a code gets <class>.0.0.
//   - "Q": "K2.3.0 CYA <farewell>", then close.
//   - unknown command: I5.5.1; "?" without a token (or an empty one), or a
//     request with no element at all: I5.5.2. The conversation goes on.
//   - framing error, outside or inside the request (bad length digit, leading
//     zero, empty length, missing comma): D5.5.2, close. Request over
//     max_request_size, or with more than max_elements elements: D5.3.4, close.
//   - after max_commands requests: the last one is answered, then close
//     (max_commands 0 counts as 1).
//   - timeout (the daemon's timer): I4.4.2, close. EOF: close, no reply.
//   Bytes after the request that closes the session are dropped.
//   Every reply sent is reported once to the DecisionSink, in order; replies
//   to framing errors and timeouts carry an empty command.
// SECURITY
//   Nothing the peer sends can make it allocate more than max_request_size
//   per request or throw.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "mtep/farewell.h"
#include "mtep/protocol.h"

namespace mtep::proto {

struct Query {
  std::string_view token;
  std::string_view sender;     // empty when the asker sent none
  std::string_view recipient;  // empty when the asker sent none
  bool has_sender = false;
};

// What a check decided, and a short machine-friendly reason for the log
// ("valid", "bad-mac", "expired", "revoked", "sender-mismatch", ...).
struct CheckResult {
  Response response;
  std::string reason;
};

class TokenChecker {
 public:
  virtual ~TokenChecker() = default;
  virtual CheckResult check(const Query& query) = 0;
};

// Everything here is safe to log as is: command, sender and recipient have
// every byte outside printable ASCII replaced by '?', the command is cut at
// kMaxLoggedCommand bytes, sender and recipient at kMaxLoggedSender bytes.
// The views are valid only during the call.
inline constexpr size_t kMaxLoggedCommand = 32;
inline constexpr size_t kMaxLoggedSender = 256;
struct Decision {
  std::string_view command;  // "?", "Q", the unknown command, or "" (see above)
  const Response& response;  // the reply sent
  std::string_view reason;   // the checker's, or the session's own: "quit",
                             // "unknown-command", "missing-token", "empty-request",
                             // "bad-framing", "request-too-big",
                             // "too-many-elements", "timeout"
  std::string_view sender;   // as sent (sanitized), may be empty
  std::string_view recipient = {};  // as sent (sanitized), may be empty
};
using DecisionSink = std::function<void(const Decision&)>;

struct SessionLimits {
  Limits request;                // request size and element count
  uint32_t max_commands = 1000;  // requests answered per connection
};

class ServerSession {
 public:
  enum class Action { kContinue, kClose };

  ServerSession(const SessionLimits& limits, TokenChecker& checker, FarewellRota& rota,
                DecisionSink sink = nullptr);

  // Appends responses to *out. After kClose, do not feed again.
  Action feed(std::string_view in, std::string* out);
  // The peer half-closed. Returns kClose; a partial request is dropped.
  Action onEof(std::string* out);
  // The daemon's idle/request timer fired.
  Action onTimeout(std::string* out);
  // The connection reached its lifetime ([mtepd] connection_lifetime)
  // between requests: I4.4.2 with a goodbye that says so, then close.
  Action onLifetimeOver(std::string* out);

  uint32_t commandsAnswered() const { return commands_; }

 private:
  Action handleRequest(const std::string& payload, std::string* out);
  Action fail(const Response& r, std::string_view reason, std::string* out);
  void report(std::string_view command, const Response& r, std::string_view reason,
              std::string_view sender, std::string_view recipient = {});

  SessionLimits limits_;
  TokenChecker& checker_;
  FarewellRota& rota_;
  DecisionSink sink_;
  netstring::Decoder decoder_;
  uint32_t commands_ = 0;
  bool closed_ = false;
};

}  // namespace mtep::proto

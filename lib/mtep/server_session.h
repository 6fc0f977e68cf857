#pragma once
// NAME
//   server_session.h - the MTEP server state machine, I/O-free
// SUMMARY
//   ServerSession s(limits, checker, rota, sink);
//   if (s.feed(bytes, &out) == Action::kClose) { flush out; close; }
// DESCRIPTION
//   Fed whatever bytes arrive, in any slicing; appends complete response
//   netstrings to the caller's buffer. Decisions taken:
//   - "?" token [sender [recipient]]: the TokenChecker answers.
//   - "Q": "K2.3.0 CYA <farewell>", then close.
//   - unknown command or missing argument: I5.5.1 / I5.5.2, conversation goes on.
//   - framing error (bad length digit, leading zero, missing comma): D5.5.2,
//     close. Request over max_request_size: D5.3.4, close.
//   - after max_commands requests: the last one is answered, then close.
//   - timeout (the daemon's timer): I4.4.2, close.
//   Every answered command is reported once to the DecisionSink.
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

struct Decision {
  std::string_view command;  // "?", "Q", or the unknown command (truncated)
  const Response& response;
  std::string_view reason;
  std::string_view sender;   // as sent, may be empty
};
using DecisionSink = std::function<void(const Decision&)>;

struct SessionLimits {
  Limits request;               // request size and element count
  uint32_t max_commands = 1000; // requests answered per connection
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

  uint32_t commandsAnswered() const { return commands_; }

 private:
  Action handleRequest(const std::string& payload, std::string* out);
  Action fail(const Response& r, std::string_view reason, std::string* out);
  void report(std::string_view command, const Response& r, std::string_view reason,
              std::string_view sender);

  SessionLimits limits_;
  TokenChecker& checker_;
  FarewellRota& rota_;
  DecisionSink sink_;
  netstring::Decoder decoder_;
  uint32_t commands_ = 0;
  bool closed_ = false;
};

}  // namespace mtep::proto

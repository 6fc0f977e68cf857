#pragma once
// NAME
//   session.h - one MMTP connection, I/O-free: bytes in, replies out
// SUMMARY
//   mmtp::Session s(gateway, client, {.max_value_bytes = ..., .max_depth = 32}, later);
//   out += s.greeting(tls_offered);
//   Session::Step st = s.feed(bytes, config, &out);   // kPending: wait for later()
//   ... later(reply) -> st = s.complete(reply, config, &out);
// DESCRIPTION
//   Frames the stream (json.h JsonFramer: any slicing, values back to back
//   or separated by white space), answers each request in order with one
//   compact JSON value and "\n" (the reference client parses it; it reads
//   one reply per read, so it sends one request at a time anyway).
//   Errors that do not end the connection, each with one ERROR reply:
//   not JSON or not an object ("Invalid request format. Must be valid
//   JSON.", the reference's text), a request over the size limit ("Request
//   too large") or nested too deep ("Request nested too deeply"), whose
//   bytes are skipped without being stored. While a request waits for a
//   later answer (a SEND handed to the MTA), further requests wait in the
//   framer, in order; the caller stops reading (the connection's
//   kPending), so the bytes held stay bounded.
// SEE ALSO
//   json.h, gateway.h, mtepd/mmtp_service.h

#include <functional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "mmtp/gateway.h"
#include "mmtp/json.h"

namespace mtep::mmtp {

inline constexpr std::string_view kNotJson = "Invalid request format. Must be valid JSON.";

class Session {
 public:
  enum class Step { kContinue, kPending };

  // `later` receives the answer to a pending request (the owner then
  // calls complete() with it on the loop thread).
  Session(Gateway& gateway, Client client, FrameLimits limits, std::function<void(Json)> later);

  std::string greeting(bool tls_offered) const;
  Step feed(std::string_view in, const config::Config& config, std::string* out);
  Step complete(const Json& reply, const config::Config& config, std::string* out);
  bool pending() const { return pending_; }
  uint64_t requests() const { return requests_; }

 private:
  Step pump(const config::Config& config, std::string* out);

  Gateway& gateway_;
  Client client_;
  JsonFramer framer_;
  std::function<void(Json)> later_;
  bool pending_ = false;
  uint64_t requests_ = 0;
};

// One reply as sent: compact JSON and "\n".
std::string frameReply(const Json& reply);

}  // namespace mtep::mmtp

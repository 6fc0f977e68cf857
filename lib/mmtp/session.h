#pragma once
// NAME
//   session.h - one MMTP connection, I/O-free: bytes in, replies out
// SUMMARY
//   mmtp::Session s(gateway, client, {.max_value_bytes = ..., .max_depth = 32}, later);
//   out += s.greeting(tls_offered);
//   Session::Step st = s.feed(bytes, config, &out);   // kPending: wait for later()
//   size_t keep = s.unconsumed();    // the last bytes of `bytes`: feed them again later
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
//   later answer (a SEND handed to the MTA), the bytes after it are given
//   back (unconsumed()) and the caller stops reading (the connection's
//   kPending); it feeds them again after complete().
//   Output is bounded too: once one feed() has written kOutputBudget bytes
//   of replies, it stops answering and gives back the bytes it has not
//   looked at (unconsumed()); the caller feeds them again once that output
//   is sent. A peer that pipelines small requests for large replies (a
//   64 KiB public key for a 60-byte REQUEST_PUBLIC_KEY) and never reads
//   cannot make a read's worth of them answered into memory.
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
  // Reply bytes one feed() writes before it stops and gives the rest back.
  static constexpr size_t kOutputBudget = 64 * 1024;

  // `later` receives the answer to a pending request (the owner then
  // calls complete() with it on the loop thread).
  // `gateway` is the Gateway, or what a daemon puts in front of it.
  Session(RequestHandler& gateway, Client client, FrameLimits limits,
          std::function<void(Json)> later);

  std::string greeting(bool tls_offered) const;
  Step feed(std::string_view in, const config::Config& config, std::string* out);
  Step complete(const Json& reply, const config::Config& config, std::string* out);
  // How many bytes at the end of the last feed()'s input it did not take
  // (the caller offers them again: after complete() when kPending, else
  // once the output is sent).
  size_t unconsumed() const { return unconsumed_; }
  bool pending() const { return pending_; }
  uint64_t requests() const { return requests_; }

 private:
  // Answers what the framer holds; stops once *out reaches `budget`
  // bytes (the bytes not looked at are then given back by feed()).
  Step pump(const config::Config& config, std::string* out, size_t budget);

  RequestHandler& gateway_;
  Client client_;
  JsonFramer framer_;
  std::function<void(Json)> later_;
  bool pending_ = false;
  size_t unconsumed_ = 0;
  uint64_t requests_ = 0;
};

// One reply as sent: compact JSON and "\n".
std::string frameReply(const Json& reply);

}  // namespace mtep::mmtp

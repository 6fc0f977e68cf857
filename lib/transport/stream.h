#pragma once
// NAME
//   stream.h - a connected byte stream with timeouts, for blocking clients
// SUMMARY
//   auto s = transport::dial("x.onion", 6211, options, resolver);  // dialer.h
//   (*s)->writeAll("..."); auto n = (*s)->readSome(buf, sizeof buf);
// DESCRIPTION
//   The clients of the suite (the MTEP client, its STARTMTEP fallback, the
//   onion relay's SMTP client) run on worker threads and block; a Stream
//   bounds every wait by two limits: the read timeout (each wait for data or
//   for send buffer space) and the deadline (the whole exchange). Either
//   expiring is a kTemporary error whose message says which one and names
//   label(). Writes never raise SIGPIPE. A Stream is used by one thread at
//   a time. TLS (tls.h) wraps a SocketStream and is a Stream itself.
// SEE ALSO
//   dialer.h, tls.h

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "util/result.h"
#include "util/unique_fd.h"

namespace mtep::transport {

using SteadyClock = std::chrono::steady_clock;

struct Timeouts {
  int read_timeout_ms = 5000;                                    // each wait
  SteadyClock::time_point deadline = SteadyClock::time_point::max();  // the whole exchange
};

class Stream {
 public:
  virtual ~Stream() = default;
  // Sends every byte. kTemporary on error, close or timeout.
  virtual Status writeAll(std::string_view data) = 0;
  // Waits for at least one byte and returns how many were read (at most
  // `size`); 0 means the peer closed cleanly. kTemporary on error or timeout.
  virtual Result<size_t> readSome(char* buf, size_t size) = 0;
  // The limits for the waits from now on.
  virtual void setTimeouts(const Timeouts& timeouts) = 0;
  virtual const Timeouts& timeouts() const = 0;
  // "x.onion:25 via SOCKS 127.0.0.1:9050", "mx.example.org:6211 (192.0.2.1)": for messages.
  virtual const std::string& label() const = 0;
  // The socket underneath (TLS needs it); the stream keeps owning it.
  virtual int fd() const = 0;
};

// A non-blocking connected TCP socket as a Stream (takes ownership).
std::unique_ptr<Stream> makeSocketStream(UniqueFd fd, std::string label, Timeouts timeouts);

// Milliseconds left until `deadline`, rounded up, 0 when passed.
int remainingMs(SteadyClock::time_point deadline);

}  // namespace mtep::transport

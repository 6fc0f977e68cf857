#pragma once
// NAME
//   session.h - the seam between connections and protocols in mtepd
// SUMMARY
//   class MySession : public ProtocolSession { ... };
//   class MyFactory : public SessionFactory { ... };
//   Listener::bind(addr, factory) -> every accepted socket gets
//   factory.create(peer) and a Connection that drives it.
// DESCRIPTION
//   A Connection (connection.h) owns the socket, the buffers and the timer and
//   knows nothing about any protocol. A ProtocolSession knows the protocol
//   and nothing about sockets: it is handed the bytes that arrived and
//   appends whatever it wants to send to the caller's buffer, then says what
//   the connection must do next. A SessionFactory makes one session per
//   accepted connection and supplies the protocol's fixed "too busy" reply.
//
//   New protocols (an ESMTP listener with STARTTLS, LMTP over TLS, an MMTP
//   JSON listener) plug in as new factories; the connection code stays as is.
// SEE ALSO
//   connection.h, listener.h, mtep_session.h

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace mtep::mtepd {

// What the connection does after a session callback.
enum class SessionAction {
  kContinue,         // keep reading
  kCloseAfterFlush,  // stop reading, send what is queued, then close
  // START TLS goes here. A future ESMTP or LMTP session returns kStartTls
  // right after appending its "220 2.0.0 Ready to start TLS" reply; the
  // connection then flushes that reply, wraps its bufferevent with
  // bufferevent_openssl_filter_new() and keeps feeding the SAME session,
  // which resets its own state as RFC 3207 requires. Not implemented yet:
  // Connection treats kStartTls as a bug and closes (logged at error).
  kStartTls,
};

// The result of one session callback.
struct SessionStep {
  SessionAction action = SessionAction::kContinue;
  bool answered = false;  // a whole request was answered: the idle timer restarts
};

// Who is on the other end, for logs and policy.
struct PeerInfo {
  std::string address;  // "192.0.2.1:40000", "[2001:db8::1]:40000"
  std::string local;    // the listen address it came in on, "127.0.0.1:6211"
};

// One protocol conversation. Called from the event loop, one thread; every
// method must be cheap and must not block. Output is appended to *out (the
// caller clears it). No method may throw on peer input.
class ProtocolSession {
 public:
  virtual ~ProtocolSession() = default;

  // Right after accept: a greeting, if the protocol has one (MTEP has none).
  virtual SessionStep onConnect(std::string* /*out*/) { return {}; }
  // Bytes arrived, in any slicing.
  virtual SessionStep onData(std::string_view in, std::string* out) = 0;
  // The peer half-closed its side.
  virtual SessionStep onEof(std::string* out) = 0;
  // No whole request was answered within idleTimeoutSeconds().
  virtual SessionStep onTimeout(std::string* out) = 0;

  // Seconds the peer gets for each whole request (fixed per connection).
  virtual int64_t idleTimeoutSeconds() const = 0;
};

// Makes sessions for one listener's protocol.
class SessionFactory {
 public:
  virtual ~SessionFactory() = default;

  // Short protocol name for logs ("mtep").
  virtual const char* protocolName() const = 0;
  // A new session for an accepted peer; never null (bad_alloc aside).
  virtual std::unique_ptr<ProtocolSession> create(const PeerInfo& peer) = 0;
  // Sent, complete and framed, to a peer accepted while the daemon is at
  // max_connections, just before closing it.
  virtual std::string_view busyReply() const = 0;
};

}  // namespace mtep::mtepd

#pragma once
// NAME
//   session.h - the seam between connections and protocols in the daemons
// SUMMARY
//   class MySession : public ProtocolSession { ... };
//   class MyFactory : public SessionFactory { ... };
//   Listener::bind(addr) then start(base, factory, pool) -> every accepted
//   socket gets factory.create(peer) and a Connection that drives it.
// DESCRIPTION
//   A Connection (connection.h) owns the socket, the buffers and the timer and
//   knows nothing about any protocol. A ProtocolSession knows the protocol
//   and nothing about sockets: it is handed the bytes that arrived and
//   appends whatever it wants to send to the caller's buffer, then says what
//   the connection must do next. A SessionFactory makes one session per
//   accepted connection and supplies the protocol's fixed "too busy" reply.
//
//   Answers that need slow work (DNS, a remote MTEP server, LMTP delivery)
//   must not block the loop. The session starts the work (work_queue.h),
//   keeps the ConnectionHandle it was given in attach(), and returns
//   kPending: the connection stops reading, switches its idle timer off and
//   keeps every byte not yet consumed. When the work is done, the session's
//   owner calls handle.resume(step, output) on the loop thread; the handle
//   does nothing once the connection has closed, so late answers are safe.
//
//   New protocols (an ESMTP listener with STARTTLS, LMTP over TLS, an MMTP
//   JSON listener, the Postfix policy protocol) plug in as new factories;
//   the connection code stays as is.
// SEE ALSO
//   connection.h, listener.h, connection_pool.h, work_queue.h

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

typedef struct ssl_ctx_st SSL_CTX;  // NOLINT: OpenSSL's own spelling

namespace mtep::server {

// What the connection does after a session callback.
enum class SessionAction {
  kContinue,         // keep reading
  kCloseAfterFlush,  // stop reading, send what is queued, then close
  // The answer comes later, through ConnectionHandle::resume(): stop
  // reading, keep the idle timer off, keep unconsumed input for later.
  kPending,
  // STARTTLS (RFC 3207): the session appended its "220 2.0.0 Ready to
  // start TLS" and ignores whatever followed the command in `in`. The
  // connection drops every byte already received (pipelined plaintext must
  // never be taken as a command after the handshake: CVE-2011-0411), sends
  // the reply, then accepts TLS on the same socket with tlsContext() and
  // keeps feeding the SAME session the decrypted bytes; the session resets
  // its own state as RFC 3207 requires. The idle timer runs during the
  // handshake: a peer that never finishes it is closed. A failed handshake
  // is logged once and closes the connection. Without a tlsContext(), or
  // when TLS is already on, the connection logs an error and closes.
  kStartTls,
};

// The result of one session callback.
struct SessionStep {
  SessionAction action = SessionAction::kContinue;
  bool answered = false;  // a whole request was answered: the idle timer restarts
  // With kPending from onData(): how many bytes at the end of `in` the
  // session did not take (the start of the next request). They stay in the
  // connection's input and are offered again after resume(). With
  // kContinue: the session stopped taking requests because it has queued
  // enough output (it must have added some); the bytes are offered again
  // once the connection's output is below its limit. Ignored otherwise:
  // every other step consumes all of `in`.
  size_t unconsumed = 0;
};

// Who is on the other end, for logs and policy.
struct PeerInfo {
  std::string address;  // "192.0.2.1:40000", "[2001:db8::1]:40000"
  std::string local;    // the listen address it came in on, "127.0.0.1:6211"
};

class Connection;
class ProtocolSession;

// A session's way back to its connection, safe to keep after the
// connection closed. Copyable; loop thread only (never hand it to a worker).
class ConnectionHandle {
 public:
  ConnectionHandle() = default;

  // True while the connection exists.
  bool alive() const noexcept;
  // The connection's session, or null once the connection closed.
  ProtocolSession* session() const noexcept;
  // Ends a kPending wait: queues `output`, then applies `step` (which may be
  // kPending again). With kContinue the connection reads on, first feeding
  // the bytes it kept. False when the connection is gone (nothing done) or
  // finished during the call. Must not be called from inside a callback of
  // the same connection's session.
  bool resume(const SessionStep& step, std::string_view output) const noexcept;

 private:
  friend class Connection;
  struct Link {
    Connection* connection = nullptr;  // null once the connection is destroyed
  };
  explicit ConnectionHandle(std::shared_ptr<Link> link) : link_(std::move(link)) {}
  std::shared_ptr<Link> link_;
};

// One protocol conversation. Called from the event loop, one thread; every
// method must be cheap and must not block. Output is appended to *out (the
// caller clears it). No method may throw on peer input.
class ProtocolSession {
 public:
  virtual ~ProtocolSession() = default;

  // Before onConnect: the handle a session that answers later keeps.
  virtual void attach(ConnectionHandle /*handle*/) {}
  // Right after accept: a greeting, if the protocol has one (MTEP has none).
  virtual SessionStep onConnect(std::string* /*out*/) { return {}; }
  // Bytes arrived, in any slicing.
  virtual SessionStep onData(std::string_view in, std::string* out) = 0;
  // The peer half-closed its side (never called while kPending).
  virtual SessionStep onEof(std::string* out) = 0;
  // No whole request was answered within idleTimeoutSeconds() (never
  // called while kPending).
  virtual SessionStep onTimeout(std::string* out) = 0;
  // The connection reached its listen group's connection_lifetime (never
  // while a request is half received or pending: then once it is
  // answered). The protocol's goodbye, as for a timeout by default; the
  // connection closes after it.
  virtual SessionStep onLifetimeOver(std::string* out) { return onTimeout(out); }

  // Seconds the peer gets for each whole request; asked each time the
  // timer is armed (a session that switches protocols may change it).
  virtual int64_t idleTimeoutSeconds() const = 0;
  // The server TLS context for kStartTls (not owned: the session keeps it
  // alive, e.g. through a shared_ptr<const TlsContext>); null = no TLS.
  virtual SSL_CTX* tlsContext() const { return nullptr; }
  // True: the connection starts with the TLS handshake (implicit TLS, RFC
  // 8314) with tlsContext(), before onConnect (whose greeting is sent once
  // the handshake is done). Without a tlsContext() the connection is
  // logged and closed.
  virtual bool startsWithTls() const { return false; }
  // The TLS handshake (implicit or after kStartTls) finished. Output is
  // sent; the step applies as any other (kContinue by default).
  virtual SessionStep onTlsReady(std::string* /*out*/) { return {}; }
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
  // max_connections, just before closing it. Empty: close without a word
  // (the Postfix policy protocol has no busy reply).
  virtual std::string_view busyReply() const = 0;
  // The same for a peer over max_connections_per_client.
  virtual std::string_view clientLimitReply() const { return busyReply(); }
};

}  // namespace mtep::server

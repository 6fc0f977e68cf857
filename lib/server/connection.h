#pragma once
// NAME
//   connection.h - one accepted socket driving one ProtocolSession
// SUMMARY
//   auto c = Connection::create(base, fd, peer, factory.create(peer), owner);
//   c->start();          // after the owner has stored it
//   c->beginShutdown();  // SIGTERM: close now if idle, else once idle
// DESCRIPTION
//   A bufferevent carries the bytes; the session decides what they mean.
//   One timer per connection is armed to the session's idle timeout at
//   connect and re-armed only after a whole request was answered, so a peer
//   that trickles one byte a second is still cut off. While more than
//   kMaxPendingOutput bytes wait to be sent, reading stops, and so does
//   feeding the session the bytes already read: they wait in the input
//   buffer until the output is sent (a peer that pipelines requests but
//   never reads cannot make us buffer without end, nor answer a whole
//   read's worth of small requests with large replies into memory). A
//   session may stop taking input itself with kContinue and `unconsumed`
//   (session.h) once it has said enough; the rest is fed again at once, or
//   when the output is over the limit, once it is sent.
//   "Close after flush" stops reading, sends what is queued and closes; a
//   peer that does not read gets kFlushTimeout seconds.
//   When the connection is finished it calls owner.connectionClosed(this),
//   which destroys it; nothing touches the object afterwards.
//   No exception leaves a libevent callback: each is noexcept and turns a
//   surprise into a logged close.
//   A session step kPending (session.h) stops feeding the session and the
//   idle timer until ConnectionHandle::resume(); the bytes the session left
//   unconsumed and whatever arrives meanwhile stay in the input buffer and
//   are fed once it resumes. Reading goes on while pending until the input
//   buffer holds kPendingReadAhead bytes, then stops until resume() (one
//   read may overshoot by at most 16 KiB, libevent's largest; not a read
//   high watermark, which libevent 2.1 answers by calling the read
//   callback again and again, spinning the loop): a pending request then
//   costs no epoll_ctl to stop and restart reading, which was a third of
//   the system calls of a request that waits on a worker (mtep-policyd's
//   rate checks in Redis). An EOF
//   seen while pending is handed to the session only after that. A pending
//   connection is not idle: shutdown waits for its answer.
//   setLifetime(seconds) bounds the whole connection: when the time is up
//   the session's onLifetimeOver() goodbye (SMTP: 421 4.4.2) is sent and
//   the connection closes, however busy the peer keeps it. A request is
//   never cut: one half received or pending is answered first (within the
//   idle timeout), then the goodbye follows; a TLS handshake under way is
//   cut. Each expiry is logged as one line.
//   A session step kStartTls (session.h) drops the input received so far,
//   sends the queued reply on the plain socket, then replaces the plain
//   bufferevent with an OpenSSL one on the same socket, accepting with the
//   session's tlsContext() (TLS 1.2 at least: tls_context.h). Bytes the
//   peer pipelined after STARTTLS are never fed to the session: those
//   already read are dropped, later ones reach the TLS handshake and fail
//   it. The handshake runs under the idle timer; its failure (or a peer
//   that never finishes it) is logged as one line and closes.
//   A session whose startsWithTls() is true (implicit TLS, RFC 8314) gets
//   the same TLS bufferevent at start(), before onConnect: its greeting
//   waits for the handshake. After either handshake the session's
//   onTlsReady() is called.
// SEE ALSO
//   session.h, connection_pool.h

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "server/event_handles.h"
#include "server/session.h"
#include "util/result.h"

namespace mtep::server {

class Connection;

// Whoever keeps the connections (the Server).
class ConnectionOwner {
 public:
  // `c` is finished: the owner destroys it now.
  virtual void connectionClosed(Connection* c) noexcept = 0;

 protected:
  ~ConnectionOwner() = default;
};

class Connection {
 public:
  static constexpr size_t kMaxPendingOutput = 64 * 1024;  // stop reading above this
  static constexpr int64_t kFlushTimeout = 5;             // seconds to flush before a close
  static constexpr size_t kPendingReadAhead = 4096;       // input buffered while pending

  // Takes ownership of `fd` (already nonblocking). kInternal when libevent
  // cannot allocate; the fd is closed then.
  static Result<std::unique_ptr<Connection>> create(event_base* base, int fd, PeerInfo peer,
                                                    std::unique_ptr<ProtocolSession> session,
                                                    ConnectionOwner& owner);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Before start(): the connection closes `seconds` after start(); 0 = never.
  void setLifetime(int64_t seconds) noexcept { lifetime_ = seconds; }
  // Greets (if the protocol does), arms the timer and starts reading. May
  // finish the connection at once (owner.connectionClosed is called).
  void start() noexcept;
  // Shutdown: closes at once when idle (nothing pending in or out), else as
  // soon as it becomes idle. May call owner.connectionClosed at once.
  void beginShutdown() noexcept;

  const PeerInfo& peer() const { return peer_; }
  ProtocolSession& session() { return *session_; }
  // True between a kPending step and its resume().
  bool pending() const { return pending_; }
  // See ConnectionHandle::resume().
  bool resume(const SessionStep& step, std::string_view output) noexcept;

 private:
  Connection(event_base* base, PeerInfo peer, std::unique_ptr<ProtocolSession> session,
             ConnectionOwner& owner);

  static void readCallback(bufferevent* bev, void* arg) noexcept;
  static void writeCallback(bufferevent* bev, void* arg) noexcept;
  static void eventCallback(bufferevent* bev, short events, void* arg) noexcept;
  static void timerCallback(evutil_socket_t fd, short events, void* arg) noexcept;
  static void lifetimeCallback(evutil_socket_t fd, short events, void* arg) noexcept;

  // Each returns false when the connection finished (this is gone).
  bool onRead();
  void onWrite();
  void onEvent(short events);
  bool onEof();
  bool resumeImpl(const SessionStep& step, std::string_view output);
  // While pending: stops reading once kPendingReadAhead bytes wait.
  void stopReadingIfReadAheadIsFull();
  void onTimer();
  // The lifetime is over: the goodbye and the close, now or after the
  // pending answer. False when the connection finished (this is gone).
  bool onLifetimeOver();

  // Applies a session step: queues output, restarts the timer, closes.
  // Returns false when the connection finished (this is gone).
  bool apply(const SessionStep& step);
  void queueOutput();
  // kStartTls: drop the input, flush the reply, then wrapTls(). False: this is gone.
  bool startTls();
  // Replaces the plain bufferevent with a TLS one accepting on the socket.
  bool wrapTls();
  // Logs a failed handshake once and finishes.
  void tlsFailed(const char* what);
  void armTimer(int64_t seconds);
  bool idle() const;
  // Stops reading and closes once the output is sent. False: this is gone.
  bool beginClose();
  // Tells the owner to destroy this. Touch nothing afterwards.
  void finish() noexcept;

  event_base* base_;
  PeerInfo peer_;
  std::unique_ptr<ProtocolSession> session_;
  ConnectionOwner& owner_;
  std::shared_ptr<ConnectionHandle::Link> link_;  // nulled by the destructor
  UniqueFd fd_;         // the socket until TLS starts (the TLS bufferevent owns it then)
  BufferEventPtr bev_;  // plain, or OpenSSL after STARTTLS; freed before fd_ closes
  EventPtr timer_;
  EventPtr lifetime_timer_;        // armed by start() when lifetime_ > 0
  int64_t lifetime_ = 0;           // seconds, 0 = no limit
  bool lifetime_over_ = false;     // the lifetime ended while a request was unanswered
  std::string out_;                // session output, moved to the bufferevent after each call
  bool closing_ = false;           // read side done, closing once flushed
  bool draining_ = false;          // shutdown asked: close as soon as idle
  bool read_paused_ = false;       // too much output pending
  bool unanswered_input_ = false;  // bytes arrived since the last answer
  bool pending_ = false;           // waiting for resume(): not reading, no idle timer
  bool eof_while_pending_ = false; // the peer half-closed while pending or input was held
  bool tls_ = false;               // bev_ is the TLS bufferevent (or about to be)
  bool tls_starting_ = false;      // STARTTLS answered; waiting for the reply to be sent
  bool tls_handshaking_ = false;   // TLS bufferevent made, handshake not finished
};

}  // namespace mtep::server

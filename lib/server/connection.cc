// NAME
//   connection.cc - one bufferevent connection driving a ProtocolSession
// DESCRIPTION
//   See connection.h for the contract. Callbacks return as soon as the
//   connection finished: finish() hands `this` to the owner, which frees it
//   (freeing a bufferevent from inside its own callback is allowed).

#include "server/connection.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string_view>

#include "util/log.h"

namespace mtep::server {

Result<std::unique_ptr<Connection>> Connection::create(event_base* base, int fd, PeerInfo peer,
                                                       std::unique_ptr<ProtocolSession> session,
                                                       ConnectionOwner& owner) {
  std::unique_ptr<Connection> c(new Connection(base, std::move(peer), std::move(session), owner));
  c->link_ = std::make_shared<ConnectionHandle::Link>();
  c->link_->connection = c.get();
  c->fd_.reset(fd);
  // The socket stays ours (no BEV_OPT_CLOSE_ON_FREE): STARTTLS replaces
  // this bufferevent with a TLS one on the same socket.
  c->bev_.reset(bufferevent_socket_new(base, fd, 0));
  if (!c->bev_) return Error(ErrorKind::kInternal, "bufferevent_socket_new failed");
  c->timer_.reset(evtimer_new(base, &Connection::timerCallback, c.get()));
  if (!c->timer_) return Error(ErrorKind::kInternal, "evtimer_new failed");
  bufferevent_setcb(c->bev_.get(), &Connection::readCallback, &Connection::writeCallback,
                    &Connection::eventCallback, c.get());
  return c;
}

Connection::Connection(event_base* base, PeerInfo peer, std::unique_ptr<ProtocolSession> session,
                       ConnectionOwner& owner)
    : base_(base), peer_(std::move(peer)), session_(std::move(session)), owner_(owner) {}

Connection::~Connection() {
  if (link_) link_->connection = nullptr;
  log::debug("disconnect from %s", peer_.address.c_str());
}

// --- ConnectionHandle ----------------------------------------------------

bool ConnectionHandle::alive() const noexcept { return link_ && link_->connection != nullptr; }

ProtocolSession* ConnectionHandle::session() const noexcept {
  return alive() ? &link_->connection->session() : nullptr;
}

bool ConnectionHandle::resume(const SessionStep& step, std::string_view output) const noexcept {
  if (!alive()) return false;
  // Keep the link: the connection may be destroyed during the call.
  std::shared_ptr<Link> keep = link_;
  return keep->connection->resume(step, output) && keep->connection != nullptr;
}

void Connection::start() noexcept {
  try {
    log::debug("connect from %s to %s", peer_.address.c_str(), peer_.local.c_str());
    session_->attach(ConnectionHandle(link_));
    armTimer(session_->idleTimeoutSeconds());
    if (lifetime_ > 0) {
      lifetime_timer_.reset(evtimer_new(base_, &Connection::lifetimeCallback, this));
      timeval tv{static_cast<time_t>(lifetime_), 0};
      const timeval* common = event_base_init_common_timeout(base_, &tv);
      if (!lifetime_timer_ || evtimer_add(lifetime_timer_.get(), common != nullptr ? common : &tv) != 0) {
        log::error("%s: cannot arm the connection lifetime; closing", peer_.address.c_str());
        finish();
        return;
      }
    }
    if (session_->startsWithTls()) {
      // Implicit TLS (RFC 8314): the handshake first, under the idle timer;
      // the greeting waits in the TLS bufferevent until it is done.
      if (session_->tlsContext() == nullptr) {
        log::error("%s: a TLS listener without a TLS context; closing", peer_.address.c_str());
        finish();
        return;
      }
      tls_ = true;
      if (!wrapTls()) return;
    } else {
      bufferevent_enable(bev_.get(), EV_READ);
    }
    apply(session_->onConnect(&out_));
  } catch (const std::exception& e) {
    log::error("%s: connection start failed: %s", peer_.address.c_str(), e.what());
    finish();
  }
}

bool Connection::resume(const SessionStep& step, std::string_view output) noexcept {
  try {
    return resumeImpl(step, output);
  } catch (const std::exception& e) {
    log::error("%s: internal error while resuming: %s", peer_.address.c_str(), e.what());
  } catch (...) {
    log::error("%s: internal error while resuming", peer_.address.c_str());
  }
  finish();
  return false;
}

void Connection::beginShutdown() noexcept {
  draining_ = true;
  if (!closing_ && idle()) beginClose();
}

// --- libevent callbacks: catch everything, finish on surprises -----------

void Connection::readCallback(bufferevent*, void* arg) noexcept {
  auto* c = static_cast<Connection*>(arg);
  try {
    c->onRead();
  } catch (const std::exception& e) {
    log::error("%s: internal error while reading: %s", c->peer_.address.c_str(), e.what());
    c->finish();
  } catch (...) {
    log::error("%s: internal error while reading", c->peer_.address.c_str());
    c->finish();
  }
}

void Connection::writeCallback(bufferevent*, void* arg) noexcept {
  auto* c = static_cast<Connection*>(arg);
  try {
    c->onWrite();
  } catch (...) {
    log::error("%s: internal error while writing", c->peer_.address.c_str());
    c->finish();
  }
}

void Connection::eventCallback(bufferevent*, short events, void* arg) noexcept {
  auto* c = static_cast<Connection*>(arg);
  try {
    c->onEvent(events);
  } catch (...) {
    log::error("%s: internal error on a socket event", c->peer_.address.c_str());
    c->finish();
  }
}

void Connection::timerCallback(evutil_socket_t, short, void* arg) noexcept {
  auto* c = static_cast<Connection*>(arg);
  try {
    c->onTimer();
  } catch (...) {
    log::error("%s: internal error on a timeout", c->peer_.address.c_str());
    c->finish();
  }
}

void Connection::lifetimeCallback(evutil_socket_t, short, void* arg) noexcept {
  auto* c = static_cast<Connection*>(arg);
  try {
    c->onLifetimeOver();
  } catch (...) {
    log::error("%s: internal error at the end of the connection lifetime",
               c->peer_.address.c_str());
    c->finish();
  }
}

// --- the work ------------------------------------------------------------

bool Connection::onRead() {
  evbuffer* in = bufferevent_get_input(bev_.get());
  if (closing_) {
    evbuffer_drain(in, evbuffer_get_length(in));
    return true;
  }
  if (pending_) {  // kept for after resume()
    stopReadingIfReadAheadIsFull();
    return true;
  }
  SessionStep step;
  bool answered = false;
  // Feed the buffer chunk by chunk, without copying, until the session
  // wants to stop, everything was consumed, or the output is over
  // kMaxPendingOutput: then the rest waits in the input buffer until the
  // output is sent (onWrite), so that requests already read cannot make
  // us queue their answers for a peer that does not read them.
  for (;;) {
    if (read_paused_) break;
    auto len = evbuffer_get_contiguous_space(in);
    if (len == 0) break;
    const auto* data =
        reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ev_ssize_t>(len)));
    const size_t out_before = out_.size();
    step = session_->onData(std::string_view(data, len), &out_);
    answered = answered || step.answered;
    unanswered_input_ = !step.answered;
    if (step.action == SessionAction::kPending) {
      // Keep what the session did not take, and everything after it.
      evbuffer_drain(in, len - std::min(step.unconsumed, len));
      unanswered_input_ = true;
      break;
    }
    if (step.action != SessionAction::kContinue) {
      evbuffer_drain(in, evbuffer_get_length(in));
      break;
    }
    // kContinue may leave bytes too: the session stopped for its output.
    const size_t kept = std::min(step.unconsumed, len);
    evbuffer_drain(in, len - kept);
    if (kept > 0) unanswered_input_ = true;
    const bool progress = kept < len || out_.size() > out_before;
    queueOutput();         // over the limit: read_paused_, and the loop stops
    if (!progress) break;  // a session that takes nothing and says nothing: wait
  }
  step.answered = answered;
  if (!apply(step)) return false;
  if (eof_while_pending_ && !pending_ && !closing_ &&
      evbuffer_get_length(bufferevent_get_input(bev_.get())) == 0) {
    eof_while_pending_ = false;
    return onEof();
  }
  if (draining_ && !closing_ && idle()) return beginClose();
  return true;
}

void Connection::stopReadingIfReadAheadIsFull() {
  // Not a read high watermark: libevent 2.1 calls the read callback again,
  // deferred, for as long as the input buffer is at its high watermark, so
  // a pending connection would spin the loop at full CPU until resume().
  if (evbuffer_get_length(bufferevent_get_input(bev_.get())) >= kPendingReadAhead) {
    bufferevent_disable(bev_.get(), EV_READ);  // resume() enables it again
  }
}

bool Connection::resumeImpl(const SessionStep& step, std::string_view output) {
  if (!pending_) {
    log::error("%s: resume() without a pending answer; ignored", peer_.address.c_str());
    return true;
  }
  pending_ = false;
  out_.append(output);
  if (step.answered) unanswered_input_ = false;
  if (!apply(step)) return false;
  if (step.action != SessionAction::kContinue) return true;  // pending again, or closing
  if (!step.answered) armTimer(session_->idleTimeoutSeconds());
  if (!read_paused_) bufferevent_enable(bev_.get(), EV_READ);
  // What arrived meanwhile is already in the input buffer, and libevent
  // only calls back for new bytes: feed it now.
  if (evbuffer_get_length(bufferevent_get_input(bev_.get())) > 0) {
    if (!onRead()) return false;
    if (pending_ || closing_) return true;
  }
  if (eof_while_pending_ && evbuffer_get_length(bufferevent_get_input(bev_.get())) == 0) {
    eof_while_pending_ = false;
    return onEof();
  }
  if (draining_ && !closing_ && idle()) return beginClose();
  return true;
}

void Connection::onWrite() {
  // Called when the output buffer has drained completely.
  if (tls_starting_) {
    wrapTls();
    return;
  }
  if (closing_ || (draining_ && idle())) {
    finish();
    return;
  }
  if (read_paused_) {
    read_paused_ = false;
    if (pending_) return;
    bufferevent_enable(bev_.get(), EV_READ);
    // What was read but not fed while the output was full (libevent only
    // calls back for new bytes).
    if (evbuffer_get_length(bufferevent_get_input(bev_.get())) > 0) onRead();
  }
}

void Connection::onEvent(short events) {
  if (tls_handshaking_) {
    if ((events & BEV_EVENT_CONNECTED) != 0) {
      tls_handshaking_ = false;
      SSL* ssl = bufferevent_openssl_get_ssl(bev_.get());
      log::debug("%s: TLS established: %s %s", peer_.address.c_str(),
                 ssl != nullptr ? SSL_get_version(ssl) : "?",
                 ssl != nullptr ? SSL_get_cipher_name(ssl) : "?");
      if (!closing_) apply(session_->onTlsReady(&out_));
      return;
    }
    if ((events & BEV_EVENT_EOF) != 0) {
      tlsFailed("the peer closed the connection");
      return;
    }
    if ((events & BEV_EVENT_ERROR) != 0) {
      unsigned long err = bufferevent_get_openssl_error(bev_.get());
      char buf[256] = "connection error";
      if (err != 0) {
        ERR_error_string_n(err, buf, sizeof buf);
      } else if (int e = EVUTIL_SOCKET_ERROR(); e != 0) {
        std::snprintf(buf, sizeof buf, "%s", std::strerror(e));
      }
      tlsFailed(buf);
      return;
    }
  }
  if ((events & BEV_EVENT_ERROR) != 0) {
    int err = EVUTIL_SOCKET_ERROR();
    log::debug("%s: connection error: %s", peer_.address.c_str(), std::strerror(err));
    finish();
    return;
  }
  if ((events & BEV_EVENT_EOF) != 0) {
    if (closing_) return;  // keep flushing; the peer may still read
    if (pending_ || evbuffer_get_length(bufferevent_get_input(bev_.get())) > 0) {
      // A peer that half-closes after its request (Exim's readsocket)
      // still gets the answer; requests read but held back while the
      // output was full are answered first too.
      eof_while_pending_ = true;
      return;
    }
    onEof();
  }
}

bool Connection::onEof() {
  SessionStep step = session_->onEof(&out_);
  step.action = SessionAction::kCloseAfterFlush;  // nothing more can arrive
  return apply(step);
}

void Connection::onTimer() {
  if (closing_) {
    log::debug("%s: peer did not read its replies in time, closing", peer_.address.c_str());
    finish();
    return;
  }
  if (pending_) return;  // cannot happen: the timer is off while pending
  if (tls_starting_ || tls_handshaking_) {
    tlsFailed(tls_starting_ ? "the peer did not read the STARTTLS reply in time"
                            : "handshake not finished in time");
    return;
  }
  log::debug("%s: idle timeout", peer_.address.c_str());
  SessionStep step = session_->onTimeout(&out_);
  step.action = SessionAction::kCloseAfterFlush;
  apply(step);
}

bool Connection::onLifetimeOver() {
  if (closing_) return true;  // already on its way out
  if (pending_ || unanswered_input_) {
    // Never cut a request: apply() comes back here once it is answered
    // (the idle timer still bounds how long that may take).
    lifetime_over_ = true;
    return true;
  }
  lifetime_over_ = false;
  log::info("%s: connection lifetime of %lld s reached, closing", peer_.address.c_str(),
            static_cast<long long>(lifetime_));
  if (tls_starting_ || tls_handshaking_) {
    tlsFailed("connection lifetime reached");
    return false;
  }
  SessionStep step = session_->onLifetimeOver(&out_);
  step.action = SessionAction::kCloseAfterFlush;
  return apply(step);
}

bool Connection::apply(const SessionStep& step) {
  queueOutput();
  switch (step.action) {
    case SessionAction::kContinue:
      if (step.answered) {
        unanswered_input_ = false;
        if (lifetime_over_) return onLifetimeOver();
        armTimer(session_->idleTimeoutSeconds());
      }
      return true;
    case SessionAction::kPending:
      pending_ = true;
      evtimer_del(timer_.get());
      // Reading goes on, bounded (connection.h): no epoll_ctl per request.
      stopReadingIfReadAheadIsFull();
      return true;
    case SessionAction::kCloseAfterFlush:
      return beginClose();
    case SessionAction::kStartTls:
      unanswered_input_ = false;
      armTimer(session_->idleTimeoutSeconds());  // bounds the handshake too
      return startTls();
  }
  return true;
}

bool Connection::startTls() {
  if (tls_ || session_->tlsContext() == nullptr) {
    log::error("%s: session asked for TLS %s; closing", peer_.address.c_str(),
               tls_ ? "twice" : "without a TLS context");
    return beginClose();
  }
  tls_ = true;
  // Nothing read so far may reach the session (RFC 3207 section 4.2).
  bufferevent_disable(bev_.get(), EV_READ);
  evbuffer* in = bufferevent_get_input(bev_.get());
  evbuffer_drain(in, evbuffer_get_length(in));
  tls_starting_ = true;
  if (evbuffer_get_length(bufferevent_get_output(bev_.get())) > 0) {
    bufferevent_enable(bev_.get(), EV_WRITE);
    return true;  // onWrite() goes on once the reply is out
  }
  return wrapTls();
}

bool Connection::wrapTls() {
  tls_starting_ = false;
  SSL* ssl = SSL_new(session_->tlsContext());
  if (ssl == nullptr) {
    log::error("%s: SSL_new failed; closing", peer_.address.c_str());
    finish();
    return false;
  }
  // The plain bufferevent goes (the socket stays open: fd_ owns it); the
  // TLS one takes the socket and the SSL and frees both.
  bev_.reset();
  const int fd = fd_.release();
  bev_.reset(bufferevent_openssl_socket_new(base_, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                            BEV_OPT_CLOSE_ON_FREE));
  if (!bev_) {
    // Only when memory ran out; libevent has freed what it could.
    log::error("%s: cannot start TLS: bufferevent_openssl_socket_new failed; closing",
               peer_.address.c_str());
    finish();
    return false;
  }
  tls_handshaking_ = true;
  // A peer that closes without close_notify is an EOF, not an error.
  bufferevent_openssl_set_allow_dirty_shutdown(bev_.get(), 1);
  bufferevent_setcb(bev_.get(), &Connection::readCallback, &Connection::writeCallback,
                    &Connection::eventCallback, this);
  read_paused_ = false;
  bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
  return true;
}

void Connection::tlsFailed(const char* what) {
  log::info("%s: TLS handshake failed: %s", peer_.address.c_str(), what);
  finish();
}

void Connection::queueOutput() {
  if (out_.empty()) return;
  evbuffer* output = bufferevent_get_output(bev_.get());
  size_t sent = 0;
  if (!tls_ && evbuffer_get_length(output) == 0) {
    // Fast path: nothing queued, so the reply goes straight to the socket.
    // This saves the bufferevent's write-event add and delete (two
    // epoll_ctl calls and a loop turn) per request. Whatever does not fit
    // goes to the bufferevent; errors surface through it too.
    ssize_t n = ::send(fd_.get(), out_.data(), out_.size(),
                       MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) sent = static_cast<size_t>(n);
  }
  if (sent < out_.size()) bufferevent_write(bev_.get(), out_.data() + sent, out_.size() - sent);
  out_.clear();
  if (!closing_ && !read_paused_ &&
      evbuffer_get_length(bufferevent_get_output(bev_.get())) > kMaxPendingOutput) {
    read_paused_ = true;
    bufferevent_disable(bev_.get(), EV_READ);
  }
}

void Connection::armTimer(int64_t seconds) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(seconds > 0 ? seconds : 1);
  // A "common timeout" keeps equal timeouts in a queue, O(1) to re-arm.
  const timeval* common = event_base_init_common_timeout(base_, &tv);
  evtimer_add(timer_.get(), common != nullptr ? common : &tv);
}

bool Connection::idle() const {
  return !pending_ && !unanswered_input_ && evbuffer_get_length(bufferevent_get_output(bev_.get())) == 0;
}

bool Connection::beginClose() {
  if (!closing_) {
    closing_ = true;
    bufferevent_disable(bev_.get(), EV_READ);
  }
  if (evbuffer_get_length(bufferevent_get_output(bev_.get())) == 0) {
    finish();
    return false;
  }
  armTimer(kFlushTimeout);
  return true;
}

void Connection::finish() noexcept {
  evtimer_del(timer_.get());
  if (lifetime_timer_) evtimer_del(lifetime_timer_.get());
  owner_.connectionClosed(this);
}

}  // namespace mtep::server

#pragma once
// NAME
//   smtp_adapter.h - an smtp::ServerSession on a libevent Connection
// SUMMARY
//   class MyFactory : public SessionFactory {
//     std::unique_ptr<ProtocolSession> create(const PeerInfo& peer) override {
//       auto a = std::make_unique<SmtpAdapter>(settings, tls, {.idle_timeout = 300,
//                                                             .implicit_tls = true});
//       a->smtp().addVerb(...);  a->smtp().hooks().on_message = ...;
//       return a;
//     }
//   };
//   // later, on the loop thread, for a suspended handler:
//   handle.session() -> static_cast<SmtpAdapter*> ... ->resume(replies);
// DESCRIPTION
//   The adapter turns the engine's steps into the connection's: replies
//   are written in order, close -> kCloseAfterFlush, start_tls ->
//   kStartTls (the connection drops every byte already received and
//   accepts TLS with the adapter's context), suspended -> kPending with the
//   unconsumed bytes kept by the connection. resume() ends a suspension
//   through the ConnectionHandle. The idle timeout is per command
//   (idleTimeoutSeconds() may be overridden: a diversion's protocol has
//   its own). With implicit_tls the connection starts with the TLS
//   handshake (RFC 8314) and the session counts as under TLS from the
//   start (the settings' tls_active is forced on); the greeting goes out
//   once the handshake is done.
// SEE ALSO
//   lib/smtp/server_session.h, session.h, connection.h, tls_context.h

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "server/session.h"
#include "server/tls_context.h"
#include "smtp/server_session.h"

namespace mtep::server {

struct SmtpAdapterOptions {
  int64_t idle_timeout = 300;  // seconds per command
  bool implicit_tls = false;   // the listener speaks TLS from the first byte
};

class SmtpAdapter : public ProtocolSession {
 public:
  // `tls` null: no TLS (STARTTLS gets 454, implicit_tls is refused: every
  // connection is closed at once). settings.tls_available follows `tls`.
  SmtpAdapter(smtp::ServerSettings settings, std::shared_ptr<const TlsContext> tls,
              SmtpAdapterOptions options = {});
  ~SmtpAdapter() override;

  smtp::ServerSession& smtp() { return smtp_; }
  const smtp::ServerSession& smtp() const { return smtp_; }
  const ConnectionHandle& handle() const { return handle_; }

  // Ends the engine's suspend() from the loop thread (never from inside
  // one of this session's callbacks). False when the connection is gone
  // or finished during the call (the adapter is destroyed then).
  bool resume(const std::function<void(smtp::ServerSession&)>& answer);
  bool resume(const std::vector<smtp::Reply>& replies);

  // ProtocolSession
  void attach(ConnectionHandle handle) override { handle_ = std::move(handle); }
  SessionStep onConnect(std::string* out) override;
  SessionStep onData(std::string_view in, std::string* out) override;
  SessionStep onEof(std::string* out) override;
  SessionStep onTimeout(std::string* out) override;
  SessionStep onLifetimeOver(std::string* out) override;
  int64_t idleTimeoutSeconds() const override { return options_.idle_timeout; }
  SSL_CTX* tlsContext() const override { return tls_ ? tls_->get() : nullptr; }
  bool startsWithTls() const override { return options_.implicit_tls; }

 protected:
  // The engine's step as the connection's, its output appended to *out.
  static SessionStep convert(smtp::ServerStep&& step, std::string* out);

 private:
  smtp::ServerSession smtp_;
  std::shared_ptr<const TlsContext> tls_;
  SmtpAdapterOptions options_;
  ConnectionHandle handle_;
};

}  // namespace mtep::server

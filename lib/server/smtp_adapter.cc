// NAME
//   smtp_adapter.cc - an smtp::ServerSession on a libevent Connection
// DESCRIPTION
//   See smtp_adapter.h. Nothing here knows a verb: only steps are mapped.

#include "server/smtp_adapter.h"

#include <utility>

namespace mtep::server {
namespace {

smtp::ServerSettings adjust(smtp::ServerSettings s, bool have_tls, bool implicit_tls) {
  s.tls_available = have_tls;
  if (implicit_tls) s.tls_active = true;
  return s;
}

}  // namespace

SmtpAdapter::SmtpAdapter(smtp::ServerSettings settings, std::shared_ptr<const TlsContext> tls,
                         SmtpAdapterOptions options)
    : smtp_(adjust(std::move(settings), tls != nullptr, options.implicit_tls)),
      tls_(std::move(tls)),
      options_(options) {}

SmtpAdapter::~SmtpAdapter() = default;

SessionStep SmtpAdapter::convert(smtp::ServerStep&& step, std::string* out) {
  out->append(step.out);
  SessionStep s;
  s.answered = step.answered;
  if (step.close) {
    s.action = SessionAction::kCloseAfterFlush;
  } else if (step.start_tls) {
    s.action = SessionAction::kStartTls;
  } else if (step.suspended) {
    s.action = SessionAction::kPending;
    s.unconsumed = step.unconsumed;
  }
  return s;
}

SessionStep SmtpAdapter::onConnect(std::string* out) {
  if (options_.implicit_tls && !tls_) {
    // Misconfigured: a TLS listener without a certificate. Say nothing in
    // plain text to a client that expects TLS.
    return {SessionAction::kCloseAfterFlush};
  }
  return convert(smtp_.greet(), out);
}

SessionStep SmtpAdapter::onData(std::string_view in, std::string* out) {
  return convert(smtp_.feed(in), out);
}

SessionStep SmtpAdapter::onEof(std::string* out) { return convert(smtp_.onEof(), out); }

SessionStep SmtpAdapter::onTimeout(std::string* out) { return convert(smtp_.onTimeout(), out); }

SessionStep SmtpAdapter::onLifetimeOver(std::string* out) {
  return convert(smtp_.onLifetimeOver(), out);
}

bool SmtpAdapter::resume(const std::function<void(smtp::ServerSession&)>& answer) {
  std::string out;
  const SessionStep step = convert(smtp_.resume(answer), &out);
  const ConnectionHandle handle = handle_;  // resume() may end this session
  return handle.resume(step, out);
}

bool SmtpAdapter::resume(const std::vector<smtp::Reply>& replies) {
  std::string out;
  const SessionStep step = convert(smtp_.resume(replies), &out);
  const ConnectionHandle handle = handle_;
  return handle.resume(step, out);
}

}  // namespace mtep::server

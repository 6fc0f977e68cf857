// NAME
//   callbacks.cc - libmilter callbacks forwarding to milter::Session
// DESCRIPTION
//   See callbacks.h. Callbacks hold no logic of their own: they fetch the
//   connection's Session, call it, and translate the answer. Each one runs
//   inside the CallGate (shared_state.h): once the daemon stops, callbacks
//   touch nothing and answer 451 4.3.0.

#include "callbacks.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "milter/session.h"
#include "util/log.h"

namespace mtep::milterd {

namespace {

std::atomic<SharedState*> g_shared{nullptr};
std::atomic<CallGate*> g_gate{nullptr};
// The MTA understands SMFIS_SKIP (SMFIP_SKIP offered at negotiation and
// asked for); Postfix and Sendmail offer it on every connection alike.
std::atomic<bool> g_skip_offered{false};
// MAIL is answered without a reply (SMFIP_NR_MAIL asked). libmilter offers
// it on every connection alike, faking it (a CONTINUE of its own) for an
// MTA that lacks it, so one flag serves all connections.
std::atomic<bool> g_nr_mail{false};

// What a connection keeps between callbacks (smfi_setpriv).
struct Connection {
  explicit Connection(milter::SessionEnv env) : session(std::move(env)) {}
  milter::Session session;
  // xxfi_connect told the Session who the client is. Without it (the MTA
  // skips the connect step, SMFIP_NOCONNECT) every MAIL does, from the
  // {client_addr} and {client_name} macros.
  bool connected = false;
  std::string queue_id;               // last {i} seen, for log lines
  const char* failed_step = nullptr;  // a callback without a reply failed: tempfail at eom
  bool mail_failed = false;  // MAIL, answered without a reply, failed: tempfail at RCPT and eom
  std::string failed_detail;          // what it threw
};

// Every Connection not yet deleted, so that those whose xxfi_close never
// comes (libmilter drops idle connections when it stops) are deleted at
// exit.
std::mutex g_connections_mu;                    // guards g_connections
std::unordered_set<Connection*> g_connections;  // guarded by g_connections_mu

// Enters the CallGate for one callback; false when the daemon is stopping.
class CallGuard {
 public:
  CallGuard() : gate_(g_gate.load()), entered_(gate_ != nullptr && gate_->enter()) {}
  CallGuard(const CallGuard&) = delete;
  CallGuard& operator=(const CallGuard&) = delete;
  ~CallGuard() {
    if (entered_) gate_->leave();
  }
  explicit operator bool() const { return entered_; }

 private:
  CallGate* gate_;
  bool entered_;
};

Connection* connectionOf(SMFICTX* ctx) { return static_cast<Connection*>(smfi_getpriv(ctx)); }

std::string macro(SMFICTX* ctx, const char* name) {
  std::string copy(name);  // libmilter takes char*
  const char* value = smfi_getsymval(ctx, copy.data());
  return value != nullptr ? std::string(value) : std::string();
}

const char* queueIdOf(const Connection* conn) {
  return conn != nullptr && !conn->queue_id.empty() ? conn->queue_id.c_str() : "NOQUEUE";
}

// The client's numeric address; "" for a unix socket or none.
std::string numericAddress(const sockaddr* addr) {
  if (addr == nullptr) return {};
  char text[INET6_ADDRSTRLEN] = {};
  if (addr->sa_family == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, addr, sizeof in);
    if (::inet_ntop(AF_INET, &in.sin_addr, text, sizeof text) != nullptr) return text;
  } else if (addr->sa_family == AF_INET6) {
    // libmilter passes its own sockaddr union, large enough for IPv6.
    sockaddr_in6 in6{};
    std::memcpy(&in6, addr, sizeof in6);
    if (::inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof text) != nullptr) return text;
  }
  return {};
}

sfsistat withReply(SMFICTX* ctx, sfsistat status, const milter::Reply& reply, const char* qid) {
  if (reply.code.empty()) return status;
  std::string code = reply.code;
  std::string esc = reply.esc;
  std::string text = reply.text;
  log::debug("%s: mtep: reply=\"%s %s %s\"", qid, code.c_str(), esc.c_str(), text.c_str());
  if (smfi_setreply(ctx, code.data(), esc.empty() ? nullptr : esc.data(),
                    text.empty() ? nullptr : text.data()) != MI_SUCCESS) {
    log::warning("%s: mtep: cannot set reply \"%s %s\"; the MTA uses its default text", qid,
                 code.c_str(), esc.c_str());
  }
  return status;
}

sfsistat answer(SMFICTX* ctx, const milter::Decision& d, const char* qid) {
  switch (d.step) {
    case milter::Step::kContinue:
      return SMFIS_CONTINUE;
    case milter::Step::kAccept:
      return SMFIS_ACCEPT;
    case milter::Step::kReject:
      return withReply(ctx, SMFIS_REJECT, d.reply, qid);
    case milter::Step::kTempfail:
      return withReply(ctx, SMFIS_TEMPFAIL, d.reply, qid);
  }
  return SMFIS_TEMPFAIL;
}

sfsistat internalTempfail(SMFICTX* ctx, const char* qid) {
  milter::Reply reply{"451", "4.3.0", "mtep-milter had an internal error; try again later"};
  return withReply(ctx, SMFIS_TEMPFAIL, reply, qid);
}

sfsistat stoppingTempfail(SMFICTX* ctx) {
  log::notice("NOQUEUE: mtep: action=tempfail reason=stopping");
  milter::Reply reply{"451", "4.3.0", "mtep-milter is restarting; try again later"};
  return withReply(ctx, SMFIS_TEMPFAIL, reply, "NOQUEUE");
}

// Deletes the connection's Connection, if any (inside the CallGate).
void dropConnection(SMFICTX* ctx) {
  Connection* conn = connectionOf(ctx);
  if (conn == nullptr) return;
  smfi_setpriv(ctx, nullptr);
  {
    std::lock_guard<std::mutex> lock(g_connections_mu);
    g_connections.erase(conn);
  }
  delete conn;
}

// A new Connection with `env` (a config snapshot), stored with
// smfi_setpriv; nullptr (logged) when that fails. Inside the CallGate.
Connection* newConnection(SMFICTX* ctx, milter::SessionEnv env) {
  dropConnection(ctx);  // a reused context (QUIT_NC) whose close was missed
  auto conn = std::make_unique<Connection>(std::move(env));
  {
    std::lock_guard<std::mutex> lock(g_connections_mu);
    g_connections.insert(conn.get());
  }
  if (smfi_setpriv(ctx, conn.get()) != MI_SUCCESS) {
    std::lock_guard<std::mutex> lock(g_connections_mu);
    g_connections.erase(conn.get());
    log::error("NOQUEUE: mtep: action=tempfail reason=internal-error detail=\"smfi_setpriv\"");
    return nullptr;
  }
  return conn.release();
}

// A Connection made after negotiation (a context reused after QUIT_NC,
// which neither Postfix nor Sendmail send): what was negotiated is not
// known here, so the body counts as declined (Session::setBodyDeclined:
// only a message that needs it and got none is refused). nullptr when the
// daemon stops or smfi_setpriv fails.
Connection* lateConnection(SMFICTX* ctx) {
  SharedState* shared = g_shared.load();
  if (shared == nullptr) return nullptr;
  Connection* conn = newConnection(ctx, shared->sessionEnv());
  if (conn != nullptr) conn->session.setBodyDeclined(true);
  return conn;
}

// Runs `body(conn)` for a step that replies, inside the CallGate; no
// connection (connect failed) or an exception becomes a logged tempfail.
// With `create`, a missing connection is made first (MAIL without the
// connect step before it).
template <typename Body>
sfsistat guarded(SMFICTX* ctx, const char* step, Body&& body, bool create = false) noexcept {
  try {
    CallGuard guard;
    if (!guard) return stoppingTempfail(ctx);
    Connection* conn = connectionOf(ctx);
    if (conn == nullptr && create) conn = lateConnection(ctx);
    try {
      if (conn == nullptr) {
        log::error(
            "NOQUEUE: mtep: action=tempfail reason=internal-error step=%s "
            "detail=\"no session\"",
            step);
        return internalTempfail(ctx, "NOQUEUE");
      }
      return body(*conn);
    } catch (const std::exception& e) {
      log::error("%s: mtep: action=tempfail reason=internal-error step=%s detail=\"%s\"",
                 queueIdOf(conn), step, e.what());
      return internalTempfail(ctx, queueIdOf(conn));
    }
  } catch (...) {
    log::error("NOQUEUE: mtep: action=tempfail reason=internal-error step=%s", step);
  }
  return SMFIS_TEMPFAIL;
}

// Header changes through libmilter (valid only inside xxfi_eom).
class LibmilterActions final : public milter::Actions {
 public:
  explicit LibmilterActions(SMFICTX* ctx) : ctx_(ctx) {}

  Status addHeader(std::string_view name, std::string_view value) override {
    std::string n(name);
    std::string v(value);
    return check(smfi_addheader(ctx_, n.data(), v.data()), "add", name);
  }
  Status insertHeader(std::string_view name, std::string_view value) override {
    std::string n(name);
    std::string v(value);
    return check(smfi_insheader(ctx_, 0, n.data(), v.data()), "insert", name);
  }
  Status deleteHeader(std::string_view name, int index) override {
    std::string n(name);
    return check(smfi_chgheader(ctx_, n.data(), index, nullptr), "delete", name);
  }

 private:
  static Status check(int rc, const char* what, std::string_view name) {
    if (rc == MI_SUCCESS) return okStatus();
    return Error(ErrorKind::kTemporary,
                 std::string("cannot ") + what + " header " + std::string(name));
  }
  SMFICTX* ctx_;
};

// --- the callbacks -------------------------------------------------------

sfsistat negotiate(SMFICTX* ctx, unsigned long actions, unsigned long steps,
                   unsigned long* want_actions, unsigned long* want_steps, unsigned long* want_2,
                   unsigned long* want_3) {
  constexpr unsigned long kNeeded = SMFIF_ADDHDRS | SMFIF_CHGHDRS;
  // Steps we do not take, and headers without a reply each (libmilter
  // offers SMFIP_NR_HDR even when the MTA lacks it, and then answers itself).
  // The body is taken (sender signatures need it; whether a message needs
  // it is known only after its headers), with SMFIP_SKIP when offered so
  // that a message that does not need it is skipped after one chunk.
  // MAIL gets no reply either (SMFIP_NR_MAIL): whatever MAIL would refuse
  // is refused at each RCPT instead (onEnvFrom), where the MTA waits anyway.
  // The DATA step is kept and answered at once (onData), though we need
  // nothing from it: Postfix sends the DATA macros in a write of their own
  // even for a milter that declines the step, then the headers from the
  // cleanup server; over TCP the headers then wait for the ACK of those
  // macros (Nagle on Postfix's side), which our kernel delays up to 40 ms
  // when nothing answers them. The answer carries the ACK: one round trip
  // instead of a stall that cut Postfix's throughput in half
  // (doc/performance.md).
  constexpr unsigned long kSteps = SMFIP_NOHELO | SMFIP_NOEOH | SMFIP_NOUNKNOWN | SMFIP_NR_HDR |
                                   SMFIP_NR_MAIL | SMFIP_SKIP;
  // The connect step is declined only when the MTA will send the client's
  // address with MAIL instead: one round trip less per connection.
  constexpr unsigned long kNoConnect = SMFIP_NOCONNECT;
  // The body step is declined when no policy of the config this connection
  // keeps can need a body (milter::configNeedsBody).
  constexpr unsigned long kNoBody = SMFIP_NOBODY;
  if ((actions & kNeeded) != kNeeded) {
    log::error(
        "NOQUEUE: mtep: the MTA does not let milters add and delete headers "
        "(offered actions 0x%lx); mtep-milter takes no part in this connection",
        actions);
    return SMFIS_REJECT;
  }
  *want_actions = kNeeded | (actions & SMFIF_SETSYMLIST);
  *want_steps = steps & kSteps;
  g_skip_offered.store((steps & SMFIP_SKIP) != 0);
  g_nr_mail.store((steps & SMFIP_NR_MAIL) != 0);
  // The Connection is made here, with the config snapshot the body step is
  // decided by: a reload later applies from the next connection, which
  // negotiates again.
  {
    CallGuard guard;
    SharedState* shared = guard ? g_shared.load() : nullptr;
    if (shared != nullptr) {
      milter::SessionEnv env = shared->sessionEnv();
      const bool needs_body = env.config == nullptr || milter::configNeedsBody(*env.config);
      Connection* conn = newConnection(ctx, std::move(env));
      if (conn != nullptr && !needs_body && (steps & kNoBody) != 0) {
        *want_steps |= kNoBody;
        conn->session.setBodyDeclined(true);
      }
    }
  }
  *want_2 = 0;
  *want_3 = 0;
  if ((actions & SMFIF_SETSYMLIST) != 0) {
    char mail_macros[] = "i {auth_authen} {client_addr} {client_name}";
    char eom_macros[] = "i";
    if (smfi_setsymlist(ctx, SMFIM_ENVFROM, mail_macros) != MI_SUCCESS ||
        smfi_setsymlist(ctx, SMFIM_EOM, eom_macros) != MI_SUCCESS) {
      log::warning("NOQUEUE: mtep: cannot request macros; the MTA's defaults are used");
    } else {
      *want_steps |= steps & kNoConnect;
    }
  }
  return SMFIS_CONTINUE;
}

sfsistat onNegotiate(SMFICTX* ctx, unsigned long actions, unsigned long steps, unsigned long,
                     unsigned long, unsigned long* want_actions, unsigned long* want_steps,
                     unsigned long* want_2, unsigned long* want_3) noexcept {
  try {
    return negotiate(ctx, actions, steps, want_actions, want_steps, want_2, want_3);
  } catch (...) {
    log::error("NOQUEUE: mtep: internal error at negotiation");
    return SMFIS_REJECT;
  }
}

sfsistat onConnect(SMFICTX* ctx, char* hostname, _SOCK_ADDR* hostaddr) noexcept {
  try {
    CallGuard guard;
    if (!guard) return stoppingTempfail(ctx);
    if (g_shared.load() == nullptr) return stoppingTempfail(ctx);
    // Made at negotiation, normally; a connected one is left from an
    // earlier connection on a reused context.
    Connection* conn = connectionOf(ctx);
    if (conn == nullptr || conn->connected) conn = lateConnection(ctx);
    if (conn == nullptr) return internalTempfail(ctx, "NOQUEUE");
    conn->session.connect({hostname != nullptr ? hostname : "", numericAddress(hostaddr)});
    conn->connected = true;
    return SMFIS_CONTINUE;
  } catch (const std::exception& e) {
    log::error("NOQUEUE: mtep: action=tempfail reason=internal-error step=connect detail=\"%s\"",
               e.what());
  } catch (...) {
    log::error("NOQUEUE: mtep: action=tempfail reason=internal-error step=connect");
  }
  return SMFIS_TEMPFAIL;
}

// MAIL's work: the client (when no connect step told it) and the Session's
// decision.
milter::Decision mailStep(SMFICTX* ctx, Connection& conn, char** argv) {
  conn.queue_id = macro(ctx, "i");
  conn.failed_step = nullptr;
  if (!conn.connected) {
    // No connect step (SMFIP_NOCONNECT): the client as the MAIL macros
    // name it, at every MAIL. Without a usable {client_addr} the client is
    // external (connectInfoFromMacros).
    const std::string addr = macro(ctx, "{client_addr}");
    if (addr.empty()) {
      log::debug("%s: mtep: no {client_addr} at MAIL; the client counts as external",
                 queueIdOf(&conn));
    }
    conn.session.connect(milter::connectInfoFromMacros(macro(ctx, "{client_name}"), addr));
  }
  const std::string auth = macro(ctx, "{auth_authen}");
  const char* sender = argv != nullptr && argv[0] != nullptr ? argv[0] : "";
  return conn.session.mailFrom(sender, auth, conn.queue_id);
}

sfsistat onEnvFrom(SMFICTX* ctx, char** argv) noexcept {
  if (!g_nr_mail.load()) {
    return guarded(
        ctx, "mail",
        [&](Connection& conn) { return answer(ctx, mailStep(ctx, conn, argv), queueIdOf(&conn)); },
        /*create=*/true);
  }
  // SMFIP_NR_MAIL: MAIL is never answered (libmilter would drop the answer,
  // and a reply text set here would stick to the next one). A refusal the
  // Session gives at MAIL it repeats at each RCPT and at end of message; a
  // failure here is marked, and RCPT and end of message tempfail. Once the
  // daemon stops, or without a Connection, RCPT tempfails by itself.
  try {
    CallGuard guard;
    if (!guard) return SMFIS_NOREPLY;
    Connection* conn = connectionOf(ctx);
    if (conn == nullptr) conn = lateConnection(ctx);
    if (conn == nullptr) return SMFIS_NOREPLY;
    conn->mail_failed = true;
    try {
      (void)mailStep(ctx, *conn, argv);
      conn->mail_failed = false;
    } catch (const std::exception& e) {
      log::error("%s: mtep: action=tempfail reason=internal-error step=mail detail=\"%s\"",
                 queueIdOf(conn), e.what());
    }
  } catch (...) {
    log::error("NOQUEUE: mtep: action=tempfail reason=internal-error step=mail");
  }
  return SMFIS_NOREPLY;
}

sfsistat onEnvRcpt(SMFICTX* ctx, char** argv) noexcept {
  return guarded(ctx, "rcpt", [&](Connection& conn) {
    if (conn.mail_failed) return internalTempfail(ctx, queueIdOf(&conn));
    const char* rcpt = argv != nullptr && argv[0] != nullptr ? argv[0] : "";
    return answer(ctx, conn.session.rcpt(rcpt), queueIdOf(&conn));
  });
}

// Headers get no reply (SMFIP_NR_HDR; libmilter answers for us when the
// MTA lacks the feature), so a failure here is remembered and answered
// at end of message.
// DATA: nothing to do; the answer is the point (negotiate()).
sfsistat onData(SMFICTX*) noexcept { return SMFIS_CONTINUE; }

sfsistat onHeader(SMFICTX* ctx, char* name, char* value) noexcept {
  CallGuard guard;
  if (!guard) return SMFIS_NOREPLY;  // end of message will tempfail
  Connection* conn = connectionOf(ctx);
  if (conn == nullptr) return SMFIS_NOREPLY;
  try {
    conn->session.header(name != nullptr ? name : "", value != nullptr ? value : "");
  } catch (const std::exception& e) {
    conn->failed_step = "header";
    try {
      conn->failed_detail = e.what();
    } catch (...) {
    }
  } catch (...) {
    conn->failed_step = "header";
  }
  return SMFIS_NOREPLY;
}

// Body pieces: stored by the Session when a signature check needs them;
// otherwise the MTA is asked to skip the rest (SMFIS_SKIP, when it can).
sfsistat onBody(SMFICTX* ctx, unsigned char* chunk, size_t len) noexcept {
  return guarded(ctx, "body", [&](Connection& conn) {
    const std::string_view piece(reinterpret_cast<const char*>(chunk), chunk != nullptr ? len : 0);
    const bool more = conn.session.body(piece);
    return more || !g_skip_offered.load() ? SMFIS_CONTINUE : SMFIS_SKIP;
  });
}

sfsistat onEom(SMFICTX* ctx) noexcept {
  return guarded(ctx, "eom", [&](Connection& conn) {
    std::string qid = macro(ctx, "i");
    if (!qid.empty()) conn.queue_id = std::move(qid);
    if (conn.failed_step != nullptr) {
      const char* step = std::exchange(conn.failed_step, nullptr);
      log::error("%s: mtep: action=tempfail reason=internal-error step=%s detail=\"%s\"",
                 queueIdOf(&conn), step, conn.failed_detail.c_str());
      conn.session.abort();
      return internalTempfail(ctx, queueIdOf(&conn));
    }
    if (std::exchange(conn.mail_failed, false)) {
      conn.session.abort();
      return internalTempfail(ctx, queueIdOf(&conn));
    }
    LibmilterActions actions(ctx);
    return answer(ctx, conn.session.endOfMessage(actions, conn.queue_id), queueIdOf(&conn));
  });
}

sfsistat onAbort(SMFICTX* ctx) noexcept {
  try {
    CallGuard guard;
    if (!guard) return SMFIS_CONTINUE;
    if (Connection* conn = connectionOf(ctx)) {
      conn->failed_step = nullptr;
      conn->mail_failed = false;
      conn->session.abort();
    }
  } catch (...) {
    log::error("NOQUEUE: mtep: internal error at abort");
  }
  return SMFIS_CONTINUE;
}

sfsistat onClose(SMFICTX* ctx) noexcept {
  try {
    CallGuard guard;
    if (!guard) return SMFIS_CONTINUE;  // deleteAbandonedConnections() frees it
    dropConnection(ctx);
  } catch (...) {
    log::error("NOQUEUE: mtep: internal error at close");
  }
  return SMFIS_CONTINUE;
}

char kFilterName[] = "mtep-milter";

}  // namespace

void installShared(SharedState* shared, CallGate* gate) {
  g_shared.store(shared);
  g_gate.store(gate);
}

int deleteAbandonedConnections() {
  std::unordered_set<Connection*> left;
  {
    std::lock_guard<std::mutex> lock(g_connections_mu);
    left.swap(g_connections);
  }
  for (Connection* conn : left) delete conn;
  return static_cast<int>(left.size());
}

smfiDesc filterDescription() {
  smfiDesc d{};
  d.xxfi_name = kFilterName;
  d.xxfi_version = SMFI_VERSION;
  d.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS;
  d.xxfi_connect = onConnect;
  d.xxfi_helo = nullptr;
  d.xxfi_envfrom = onEnvFrom;
  d.xxfi_envrcpt = onEnvRcpt;
  d.xxfi_header = onHeader;
  d.xxfi_eoh = nullptr;
  d.xxfi_body = onBody;
  d.xxfi_eom = onEom;
  d.xxfi_abort = onAbort;
  d.xxfi_close = onClose;
  d.xxfi_unknown = nullptr;
  d.xxfi_data = onData;
  d.xxfi_negotiate = onNegotiate;
  return d;
}

}  // namespace mtep::milterd

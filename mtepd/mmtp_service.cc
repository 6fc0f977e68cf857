// NAME
//   mmtp_service.cc - see mmtp_service.h

#include "mmtp_service.h"

#include <utility>
#include <vector>

#include "mmtp/gateway.h"
#include "mmtp/session.h"
#include "server/event_handles.h"
#include "server/work_queue.h"
#include "smtp/delivery.h"
#include "smtp_session.h"
#include "store/open.h"
#include "util/clock.h"
#include "util/log.h"

namespace mtep::mtepd {

namespace {

// The daemon's KeyLogin for data.auth.
class Login final : public mmtp::Authenticator {
 public:
  // `users` reads the same users as login's, through the gateway's own
  // store handle (the one that writes mailboxes: no second handle to keep
  // in step on every SEND).
  Login(KeyLogin* login, std::unique_ptr<e2ee::UserBook> users, const config::ConfigPtr* config)
      : login_(login), users_(std::move(users)), config_(config) {}
  mmtp::AuthResult login(const mmtp::Client& client, std::string_view payload,
                         std::string* user) override {
    const config::Config& c = **config_;
    const e2ee::LoginLimits limits{c.mtepd.auth_failures_per_client, c.mtepd.auth_failures_per_user};
    const LoginAttempt a = login_->attempt(client.address, client.host, payload, limits);
    switch (a.result) {
      case LoginResult::kOk:
        *user = a.user;
        return mmtp::AuthResult::kOk;
      case LoginResult::kLimited:
        return mmtp::AuthResult::kLimited;
      case LoginResult::kTempfail:
        return mmtp::AuthResult::kTempfail;
      case LoginResult::kMalformed:
      case LoginResult::kCancelled:
        return mmtp::AuthResult::kMalformed;
      case LoginResult::kFailed:
        break;
    }
    return mmtp::AuthResult::kFailed;
  }
  mmtp::AuthResult known(std::string_view user) override {
    auto u = users_->find(user);
    if (u) return mmtp::AuthResult::kOk;
    return u.error().kind() == ErrorKind::kNotFound || u.error().kind() == ErrorKind::kInvalid
               ? mmtp::AuthResult::kFailed
               : mmtp::AuthResult::kTempfail;
  }

 private:
  KeyLogin* login_;
  std::unique_ptr<e2ee::UserBook> users_;
  const config::ConfigPtr* config_;
};

// SENDs for "mta" domains: SMTP to [mmtp] inject_to on a worker.
class MtaInjector final : public mmtp::Injector {
 public:
  MtaInjector(server::WorkQueue* queue, const config::ConfigPtr* config)
      : queue_(queue), config_(config) {}
  void inject(mmtp::Injection injection, std::function<void(Status)> done) override {
    const config::Config& c = **config_;
    auto job = std::make_shared<mmtp::Injection>(std::move(injection));
    auto request = std::make_shared<smtp::DeliveryRequest>();
    request->protocol = smtp::DeliveryProtocol::kSmtp;
    request->host = c.mmtp.inject_to.host;
    request->port = c.mmtp.inject_to.port;
    request->hello_name = smtpHostname(c);
    request->mail_from = job->mail_from;
    request->recipients = {{job->rcpt_to, ""}};
    const int ms = static_cast<int>(c.mmtp.reply_timeout * 1000);
    request->timeouts = {static_cast<int>(c.mmtp.dial_timeout * 1000), ms, ms, 4 * ms};
    queue_->submit<Status>(
        [job, request]() -> Status {
          request->message = job->message;
          const smtp::DeliveryResult r = smtp::deliver(*request);
          if (r.recipients.size() == 1 && r.recipients[0].delivered()) return okStatus();
          const smtp::Reply& reply =
              r.recipients.empty() ? r.failed_reply : r.recipients[0].final_reply;
          const std::string why = reply.code != 0 ? reply.toString() : r.error;
          if (reply.code / 100 == 5) return Error(ErrorKind::kInvalid, "the MTA said: " + why);
          return Error(ErrorKind::kTemporary, "the MTA: " + why);
        },
        std::move(done), Error(ErrorKind::kTemporary, "mtepd is stopping"));
  }

 private:
  server::WorkQueue* queue_;
  const config::ConfigPtr* config_;
};

// Group commit on the loop: the first write of a loop turn opens a
// transaction on the gateway's store handle and makes `event_` active;
// libevent runs it after the turn's other callbacks, so every request read
// in that turn shares one commit. Then each request's answer goes out.
class LoopBatch final : public mmtp::WriteBatch {
 public:
  LoopBatch(store::Store* store, mmtp::Gateway** gateway) : store_(store), gateway_(gateway) {}
  Status init(event_base* base) {
    event_.reset(event_new(base, -1, 0, &LoopBatch::fire, this));
    if (!event_) return Error(ErrorKind::kInternal, "cannot make the commit event");
    return okStatus();
  }
  Status open() override {
    if (open_) return okStatus();
    if (Status st = store_->begin(); !st.ok()) return st;
    open_ = true;
    event_active(event_.get(), 0, 0);
    return okStatus();
  }
  void whenCommitted(std::function<void(Status)> done) override {
    waiting_.push_back(std::move(done));
  }
  // Commits now (also at shutdown: nothing answered is left unwritten).
  void flush() {
    if (!open_) return;
    open_ = false;
    Status st = store_->commit();
    if (!st.ok()) {
      log::warning("mmtp: store commit failed (%zu request(s) answered with a temporary "
                   "error): %s",
                   waiting_.size(), st.error().message().c_str());
      (void)store_->rollback();
      if (*gateway_ != nullptr) (*gateway_)->forgetCounts();
    }
    std::vector<std::function<void(Status)>> done;
    done.swap(waiting_);
    for (auto& d : done) d(st);
  }

 private:
  static void fire(evutil_socket_t /*fd*/, short /*events*/, void* arg) noexcept {
    try {
      static_cast<LoopBatch*>(arg)->flush();
    } catch (const std::exception& e) {
      log::error("mmtp: commit: %s", e.what());
    }
  }
  store::Store* store_;
  mmtp::Gateway** gateway_;
  server::EventPtr event_;
  bool open_ = false;
  std::vector<std::function<void(Status)>> waiting_;
};

}  // namespace

struct MmtpService::Shared {
  config::ConfigPtr config;
  std::shared_ptr<const server::TlsContext> tls;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<server::WorkQueue> queue;
  std::unique_ptr<Login> login;
  std::unique_ptr<MtaInjector> injector;
  std::unique_ptr<mmtp::Gateway> gateway;
  mmtp::Gateway* gateway_raw = nullptr;  // for the batch's rollback
  std::unique_ptr<LoopBatch> batch;
  std::string client_limit_reply;
  std::string busy_reply;
};

namespace {

class Connection final : public server::ProtocolSession {
 public:
  Connection(std::shared_ptr<MmtpService::Shared> shared, const server::PeerInfo& peer, bool tls)
      : shared_(std::move(shared)),
        handle_(std::make_shared<server::ConnectionHandle>()),
        tls_(tls),
        session_(*shared_->gateway, client(peer, tls), limits(*shared_->config), later()) {}

  void attach(server::ConnectionHandle handle) override { *handle_ = handle; }
  server::SessionStep onConnect(std::string* out) override {
    const config::Config& c = *shared_->config;
    *out += session_.greeting(!c.mmtp.tls_listen.empty());
    return {};
  }
  server::SessionStep onData(std::string_view in, std::string* out) override {
    // Only a whole request answered restarts the idle timer: a peer that
    // trickles one request byte by byte is cut off at idle_timeout.
    const uint64_t before = session_.requests();
    const mmtp::Session::Step s = session_.feed(in, *shared_->config, out);
    server::SessionStep st = step(s, session_.requests() != before);
    // Bytes not taken (after a pending SEND, or over the session's output
    // budget): the connection feeds them again after resume(), or once
    // the replies so far are sent.
    st.unconsumed = session_.unconsumed();
    return st;
  }
  server::SessionStep onEof(std::string* /*out*/) override {
    return {server::SessionAction::kCloseAfterFlush};
  }
  server::SessionStep onTimeout(std::string* /*out*/) override {
    return {server::SessionAction::kCloseAfterFlush};
  }
  int64_t idleTimeoutSeconds() const override { return shared_->config->mmtp.idle_timeout; }
  SSL_CTX* tlsContext() const override {
    return tls_ && shared_->tls ? shared_->tls->get() : nullptr;
  }
  bool startsWithTls() const override { return tls_; }

  mmtp::Session& session() { return session_; }

 private:
  static mmtp::Client client(const server::PeerInfo& peer, bool tls) {
    return {peer.address, hostOfPeer(peer.address), tls};
  }
  static mmtp::FrameLimits limits(const config::Config& c) {
    return {c.mmtp.max_request_size, kMaxDepth};
  }
  static server::SessionStep step(mmtp::Session::Step s, bool answered) {
    server::SessionStep st;
    st.answered = answered;
    if (s == mmtp::Session::Step::kPending) st.action = server::SessionAction::kPending;
    return st;
  }
  // The later answer of a SEND handed to the MTA (loop thread, from the
  // work queue's completion): finish it, then go on with the requests
  // that came meanwhile.
  std::function<void(mmtp::Json)> later() {
    return [handle = handle_, shared = shared_](mmtp::Json reply) {
      if (!handle->alive()) return;
      auto* self = static_cast<Connection*>(handle->session());
      std::string out;
      const mmtp::Session::Step s = self->session_.complete(reply, *shared->config, &out);
      handle->resume(step(s, /*answered=*/true), out);
    };
  }

  static constexpr size_t kMaxDepth = 32;
  std::shared_ptr<MmtpService::Shared> shared_;
  std::shared_ptr<server::ConnectionHandle> handle_;
  bool tls_;
  mmtp::Session session_;
};

class Factory final : public server::SessionFactory {
 public:
  Factory(std::shared_ptr<MmtpService::Shared> shared, bool tls)
      : shared_(std::move(shared)), tls_(tls) {}
  const char* protocolName() const override { return tls_ ? "mmtp-tls" : "mmtp"; }
  std::unique_ptr<server::ProtocolSession> create(const server::PeerInfo& peer) override {
    return std::make_unique<Connection>(shared_, peer, tls_);
  }
  // Sent in clear before any handshake: on tls_listen nothing (a TLS
  // client would take the JSON text for a broken handshake, and a clear
  // text where TLS was promised is what no TLS listener sends).
  std::string_view busyReply() const override {
    return tls_ ? std::string_view() : shared_->busy_reply;
  }
  std::string_view clientLimitReply() const override {
    return tls_ ? std::string_view() : shared_->client_limit_reply;
  }

 private:
  std::shared_ptr<MmtpService::Shared> shared_;
  bool tls_;
};

}  // namespace

bool mmtpOn(const config::Config& config) {
  return !config.mmtp.listen.empty() || !config.mmtp.tls_listen.empty();
}

Result<std::unique_ptr<MmtpService>> MmtpService::create(
    config::ConfigPtr config, std::shared_ptr<const server::TlsContext> tls, KeyLogin* login,
    event_base* base) {
  std::unique_ptr<MmtpService> m(new MmtpService());
  auto shared = std::make_shared<Shared>();
  shared->config = std::move(config);
  shared->tls = std::move(tls);
  auto st = store::open(shared->config->store, SystemClock::instance());
  if (!st) {
    return Error(st.error().kind(),
                 "store " + shared->config->store.path + " (MMTP gateway): " + st.error().message());
  }
  shared->store = std::move(*st);
  auto queue = server::WorkQueue::create(base, kWorkers);
  if (!queue) return std::move(queue).error();
  shared->queue = std::move(*queue);
  shared->login = std::make_unique<Login>(
      login, std::make_unique<e2ee::UserBook>(*shared->store, SystemClock::instance()),
      &shared->config);
  shared->injector = std::make_unique<MtaInjector>(shared->queue.get(), &shared->config);
  const config::Config& c = *shared->config;
  const std::string authserv =
      c.milter.authserv_id.empty() ? smtpHostname(c) : c.milter.authserv_id;
  shared->gateway =
      std::make_unique<mmtp::Gateway>(*shared->store, SystemClock::instance(), shared->login.get(),
                                      shared->injector.get(), authserv);
  shared->gateway_raw = shared->gateway.get();
  shared->batch = std::make_unique<LoopBatch>(shared->store.get(), &shared->gateway_raw);
  if (Status b = shared->batch->init(base); !b.ok()) return b.error();
  shared->gateway->setWriteBatch(shared->batch.get());
  shared->client_limit_reply =
      mmtp::frameReply(mmtp::Gateway::error("Rate limit exceeded. Try again later."));
  shared->busy_reply = mmtp::frameReply(
      mmtp::Gateway::error("Server busy. Try again later.", "", /*temporary=*/true));
  m->plain_ = std::make_unique<Factory>(shared, false);
  m->secure_ = std::make_unique<Factory>(shared, true);
  m->shared_ = std::move(shared);
  return m;
}

MmtpService::~MmtpService() = default;

server::SessionFactory& MmtpService::factory(bool tls) { return tls ? *secure_ : *plain_; }

void MmtpService::setConfig(config::ConfigPtr config) {
  const config::Config& c = *config;
  shared_->gateway->setAuthservId(c.milter.authserv_id.empty() ? smtpHostname(c)
                                                               : c.milter.authserv_id);
  shared_->config = std::move(config);
}

void MmtpService::stop() {
  if (shared_->batch) shared_->batch->flush();
  if (shared_->queue) shared_->queue->stop();
}

size_t MmtpService::outstanding() const {
  return shared_->queue ? shared_->queue->outstanding() : 0;
}

}  // namespace mtep::mtepd

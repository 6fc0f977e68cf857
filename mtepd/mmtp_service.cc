// NAME
//   mmtp_service.cc - see mmtp_service.h

#include "mmtp_service.h"

#include <exception>
#include <memory>
#include <optional>
#include <string>
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
    // The lookup through the gateway's store handle, on the gateway's
    // thread (the loop, or with Redis its worker: OffLoopGateway).
    const LoginStart started = login_->start(client.address, client.host, payload, limits);
    const LoginAttempt a = started.done
                               ? *started.done
                               : login_->finish(client.address, client.host, started,
                                                KeyLogin::lookup(*users_, started.user), limits);
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

// The group commit of OffLoopGateway's worker: one transaction per job
// (the requests of one loop turn), committed at the job's end; the
// waiters run then, on the worker.
class JobBatch final : public mmtp::WriteBatch {
 public:
  explicit JobBatch(store::Store* store) : store_(store) {}
  Status open() override {
    if (open_) return okStatus();
    if (Status st = store_->begin(); !st.ok()) return st;
    open_ = true;
    return okStatus();
  }
  void whenCommitted(std::function<void(Status)> done) override {
    waiting_.push_back(std::move(done));
  }
  // Worker thread, at the end of a job.
  void flush(mmtp::Gateway& gateway) {
    Status st = okStatus();
    if (open_) {
      open_ = false;
      st = store_->commit();
      if (!st.ok()) {
        log::warning("mmtp: store commit failed (%zu request(s) answered with a temporary "
                     "error): %s",
                     waiting_.size(), st.error().message().c_str());
        (void)store_->rollback();
        gateway.forgetCounts();
      }
    }
    std::vector<std::function<void(Status)>> done;
    done.swap(waiting_);
    for (auto& d : done) d(st);
  }

 private:
  store::Store* store_;
  bool open_ = false;
  std::vector<std::function<void(Status)>> waiting_;
};

// The gateway's injector on OffLoopGateway's worker: the hand-overs are
// kept and made on the loop thread when the job is back (the MTA queue
// takes its jobs from the loop thread only).
class DeferredInjector final : public mmtp::Injector {
 public:
  struct HandOver {
    mmtp::Injection injection;
    std::function<void(Status)> done;
  };
  void inject(mmtp::Injection injection, std::function<void(Status)> done) override {
    kept_.push_back({std::move(injection), std::move(done)});
  }
  std::vector<HandOver> take() { return std::move(kept_); }

 private:
  std::vector<HandOver> kept_;  // worker thread only
};

// With [store] backend "redis" every store call is a network round trip
// (up to redis_timeout_ms), so the gateway runs on one worker thread of
// its own instead of the loop: the requests read in one loop turn are
// handed to it together at the end of the turn (the group commit, as
// LoopBatch: one transaction, SENDs answered only once it is committed),
// and each connection waits (kPending) for its answer. One job at a time,
// in order; requests of later turns wait for the next job. Only the worker
// touches the gateway, its store handle and its batch; the loop keeps the
// connections' callbacks and makes the MTA hand-overs.
class OffLoopGateway final : public mmtp::RequestHandler {
 public:
  OffLoopGateway(mmtp::Gateway* gateway, JobBatch* batch, DeferredInjector* injector,
                 mmtp::Injector* mta, server::WorkQueue* queue, const config::ConfigPtr* config)
      : gateway_(gateway),
        batch_(batch),
        deferred_(injector),
        mta_(mta),
        queue_(queue),
        config_(config) {}
  Status init(event_base* base) {
    event_.reset(event_new(base, -1, 0, &OffLoopGateway::fire, this));
    if (!event_) return Error(ErrorKind::kInternal, "cannot make the gateway's turn event");
    return okStatus();
  }
  // Loop thread: queued for the end of this loop turn; always later.
  std::optional<mmtp::Json> handle(const mmtp::Json& request, const mmtp::Client& client,
                                   const config::Config& /*config*/,
                                   std::function<void(mmtp::Json)> later) override {
    Item item;
    item.request = request;
    item.client = client;
    item.config = *config_;
    item.answer = std::make_shared<Answer>();
    turn_.push_back(std::move(item));
    loop_later_.push_back(std::move(later));
    if (!running_) event_active(event_.get(), 0, 0);
    return std::nullopt;
  }
  // SIGHUP (loop thread): used by the next job.
  void setAuthservId(std::string id) { authserv_id_ = std::move(id); }
  void stop() { stopped_ = true; }

 private:
  // A request's answer: set on the worker during its job, or (a SEND
  // handed to the MTA) on the loop once `on_loop` is set after the job.
  struct Answer {
    std::optional<mmtp::Json> reply;
    std::function<void(mmtp::Json)> on_loop;  // set and reset on the loop thread only
  };
  struct Item {
    mmtp::Json request;
    mmtp::Client client;
    config::ConfigPtr config;
    std::shared_ptr<Answer> answer;
  };
  struct Job {
    std::vector<Item> items;
    std::string authserv_id;  // "" = unchanged
    std::vector<DeferredInjector::HandOver> hand_overs;
  };

  static void fire(evutil_socket_t /*fd*/, short /*events*/, void* arg) noexcept {
    try {
      static_cast<OffLoopGateway*>(arg)->submit();
    } catch (const std::exception& e) {
      log::error("mmtp: gateway turn: %s", e.what());
    }
  }

  // Loop thread: this turn's requests to the worker, unless a job runs
  // (its completion submits them).
  void submit() {
    if (running_ || turn_.empty() || stopped_) return;
    running_ = true;
    auto job = std::make_shared<Job>();
    job->items = std::move(turn_);
    job->authserv_id = std::exchange(authserv_id_, std::string());
    turn_.clear();
    std::vector<std::function<void(mmtp::Json)>> laters = std::move(loop_later_);
    loop_later_.clear();
    mmtp::Gateway* gateway = gateway_;
    JobBatch* batch = batch_;
    DeferredInjector* deferred = deferred_;
    queue_->submit(
        [job, gateway, batch, deferred]() mutable {
          if (!job->authserv_id.empty()) gateway->setAuthservId(job->authserv_id);
          for (Item& item : job->items) {
            std::shared_ptr<Answer> answer = item.answer;
            auto later = [answer](mmtp::Json reply) {
              if (answer->on_loop) {
                answer->on_loop(std::move(reply));
              } else {
                answer->reply = std::move(reply);
              }
            };
            std::optional<mmtp::Json> reply;
            try {
              reply = gateway->handle(item.request, item.client, *item.config, later);
            } catch (const std::exception& e) {  // a bug: this request alone fails
              log::error("mmtp: gateway: %s", e.what());
              reply = mmtp::Gateway::error("Temporary failure, try again later",
                                           "internal error", true);
            }
            if (reply) answer->reply = std::move(*reply);
          }
          batch->flush(*gateway);
          job->hand_overs = deferred->take();
          job.reset();  // the loop's copy alone holds the answers' callbacks
        },
        [this, job, laters = std::move(laters)]() mutable { finish(*job, laters); });
  }

  // Loop thread: the answers out, the MTA hand-overs made, the next turn's
  // requests to the worker.
  void finish(Job& job, std::vector<std::function<void(mmtp::Json)>>& laters) {
    running_ = false;
    for (size_t i = 0; i < job.items.size() && i < laters.size(); ++i) {
      Answer& a = *job.items[i].answer;
      if (a.reply) {
        laters[i](std::move(*a.reply));
        a.reply.reset();
      } else {
        a.on_loop = std::move(laters[i]);  // a SEND waiting for the MTA
      }
    }
    for (DeferredInjector::HandOver& h : job.hand_overs) {
      mta_->inject(std::move(h.injection), std::move(h.done));
    }
    submit();
  }

  mmtp::Gateway* gateway_;      // the worker's only
  JobBatch* batch_;             // the worker's only
  DeferredInjector* deferred_;  // the worker's only
  mmtp::Injector* mta_;         // the loop's
  server::WorkQueue* queue_;    // one thread
  const config::ConfigPtr* config_;
  server::EventPtr event_;
  bool running_ = false;  // a job is on the worker
  bool stopped_ = false;
  std::vector<Item> turn_;  // this turn's requests, in order
  std::vector<std::function<void(mmtp::Json)>> loop_later_;  // their answers' callbacks
  std::string authserv_id_;  // a SIGHUP's, for the next job
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
  std::unique_ptr<LoopBatch> batch;  // null with OffLoopGateway
  // With [store] backend "redis": the gateway on a worker of its own.
  std::unique_ptr<JobBatch> job_batch;
  std::unique_ptr<DeferredInjector> deferred;
  std::unique_ptr<OffLoopGateway> off_loop;
  mmtp::RequestHandler* handler = nullptr;  // what the sessions ask: gateway or off_loop
  std::string client_limit_reply;
  std::string busy_reply;
  // The gateway's one worker (destroyed first: declared last).
  std::unique_ptr<server::WorkQueue> gateway_queue;
};

namespace {

class Connection final : public server::ProtocolSession {
 public:
  Connection(std::shared_ptr<MmtpService::Shared> shared, const server::PeerInfo& peer, bool tls)
      : shared_(std::move(shared)),
        handle_(std::make_shared<server::ConnectionHandle>()),
        tls_(tls),
        session_(*shared_->handler, client(peer, tls), limits(*shared_->config), later()) {}

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
  if (c.store.backend == "redis") {
    // Every store call a network round trip: the gateway off the loop.
    auto gq = server::WorkQueue::create(base, 1);
    if (!gq) return std::move(gq).error();
    shared->gateway_queue = std::move(*gq);
    shared->deferred = std::make_unique<DeferredInjector>();
    shared->gateway =
        std::make_unique<mmtp::Gateway>(*shared->store, SystemClock::instance(),
                                        shared->login.get(), shared->deferred.get(), authserv);
    shared->job_batch = std::make_unique<JobBatch>(shared->store.get());
    shared->gateway->setWriteBatch(shared->job_batch.get());
    shared->off_loop = std::make_unique<OffLoopGateway>(
        shared->gateway.get(), shared->job_batch.get(), shared->deferred.get(),
        shared->injector.get(), shared->gateway_queue.get(), &shared->config);
    if (Status b = shared->off_loop->init(base); !b.ok()) return b.error();
    shared->handler = shared->off_loop.get();
  } else {
    shared->gateway =
        std::make_unique<mmtp::Gateway>(*shared->store, SystemClock::instance(),
                                        shared->login.get(), shared->injector.get(), authserv);
    shared->gateway_raw = shared->gateway.get();
    shared->batch = std::make_unique<LoopBatch>(shared->store.get(), &shared->gateway_raw);
    if (Status b = shared->batch->init(base); !b.ok()) return b.error();
    shared->gateway->setWriteBatch(shared->batch.get());
    shared->handler = shared->gateway.get();
  }
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
  std::string id = c.milter.authserv_id.empty() ? smtpHostname(c) : c.milter.authserv_id;
  if (shared_->off_loop) {
    shared_->off_loop->setAuthservId(std::move(id));  // the gateway is the worker's
  } else {
    shared_->gateway->setAuthservId(std::move(id));
  }
  shared_->config = std::move(config);
}

void MmtpService::stop() {
  if (shared_->batch) shared_->batch->flush();
  if (shared_->off_loop) shared_->off_loop->stop();
  // A job running finishes (its batch committed); its answers are dropped.
  if (shared_->gateway_queue) shared_->gateway_queue->stop();
  if (shared_->queue) shared_->queue->stop();
}

size_t MmtpService::outstanding() const {
  return (shared_->queue ? shared_->queue->outstanding() : 0) +
         (shared_->gateway_queue ? shared_->gateway_queue->outstanding() : 0);
}

}  // namespace mtep::mtepd

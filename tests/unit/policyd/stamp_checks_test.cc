// NAME
//   stamp_checks_test.cc - mtep-policyd's stamp checks run off the event
//   loop
// DESCRIPTION
//   A DATA request whose stamp check is stuck in the store (a store whose
//   writes wait for the test) does not hold up an RCPT request on another
//   connection: the RCPT is answered first, the DATA answer follows once
//   the store lets go. The store is purged on a worker too.

#include "stamp_checks.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <thread>

#include "lookups.h"
#include "policy_session.h"
#include "pow/pow.h"
#include "server/connection_pool.h"
#include "unit/server/loop_helpers.h"

namespace mtep::policyd {
namespace {

using server::testing::Peer;
using server::testing::runUntil;

// A store whose writes wait until release(); records which thread wrote.
class GatedStore final : public store::Store {
 public:
  const char* backendName() const override { return "gated"; }
  Status revokeToken(std::string_view, int64_t) override { return okStatus(); }
  Result<bool> isTokenRevoked(std::string_view) override { return false; }
  Result<bool> recordOnce(std::string_view, std::string_view, int64_t) override {
    writer = std::this_thread::get_id();
    ++records;
    wait();
    return true;
  }
  Status putValue(std::string_view, std::string_view, std::string_view, int64_t) override {
    return okStatus();
  }
  Result<std::string> getValue(std::string_view, std::string_view) override {
    return Error(ErrorKind::kNotFound, "none");
  }
  Result<bool> eraseValue(std::string_view, std::string_view) override { return false; }
  Result<std::vector<std::pair<std::string, std::string>>> listValues(std::string_view,
                                                                      size_t) override {
    return std::vector<std::pair<std::string, std::string>>{};
  }
  Result<uint64_t> purgeExpired() override {
    writer = std::this_thread::get_id();
    ++purges;
    return uint64_t{0};
  }

  void release() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  std::atomic<int> records{0};
  std::atomic<int> purges{0};
  std::atomic<std::thread::id> writer{};

 private:
  void wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(15), [this] { return open_; });
  }
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

class NoLookups final : public LookupBackend {
 public:
  policy::LookupAnswer run(const policy::Lookup&) override { return policy::LookupAnswer::kYes; }
};

class StampChecksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::signal(SIGPIPE, SIG_IGN);
    auto cfg = config::loadString(
        "[domain.\"stamps.test\"]\nrequire_stamp = true\nstamp_bits = 8\n", "test.conf");
    ASSERT_TRUE(cfg) << cfg.error().message();
    config_ = *cfg;
    auto base = server::makeEventBase();
    ASSERT_TRUE(base);
    base_ = std::move(*base);
    auto q = server::WorkQueue::create(base_.get(), 1);
    ASSERT_TRUE(q);
    queue_ = std::move(*q);
    auto sq = server::WorkQueue::create(base_.get(), 2);
    ASSERT_TRUE(sq);
    stamp_queue_ = std::move(*sq);
    engine_ = std::make_unique<policy::Engine>(config_, SystemClock::instance());
    lookups_ = std::make_unique<Lookups>(*queue_, *engine_, backend_);
    stamps_ = std::make_unique<StampChecks>(*stamp_queue_, &store_, config_->pow);
    factory_ = std::make_unique<PolicySessionFactory>(config_, *engine_, *lookups_, *stamps_);
    pool_ = std::make_unique<server::ConnectionPool>(base_.get(), 10);
  }
  void TearDown() override {
    store_.release();
    pool_.reset();
    if (stamp_queue_) stamp_queue_->stop();
    if (queue_) queue_->stop();
  }
  std::unique_ptr<Peer> connect() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    pool_->onAccept(fds[0], server::PeerInfo{"peer", "local"}, *factory_);
    return std::make_unique<Peer>(fds[1]);
  }
  std::string reply(Peer& p) {
    std::string got;
    for (int i = 0; i < 20 && (got.size() < 2 || got.substr(got.size() - 2) != "\n\n"); ++i) {
      got += p.read(base_.get(), 1);
    }
    return got;
  }

  config::ConfigPtr config_;
  server::EventBasePtr base_;
  GatedStore store_;
  NoLookups backend_;
  std::unique_ptr<server::WorkQueue> queue_;
  std::unique_ptr<server::WorkQueue> stamp_queue_;
  std::unique_ptr<policy::Engine> engine_;
  std::unique_ptr<Lookups> lookups_;
  std::unique_ptr<StampChecks> stamps_;
  std::unique_ptr<PolicySessionFactory> factory_;
  std::unique_ptr<server::ConnectionPool> pool_;
};

TEST_F(StampChecksTest, AnRcptIsAnsweredWhileADataCheckWaitsForTheStore) {
  pow::MintOptions o;
  o.bits = 8;
  o.resource = "bob@stamps.test";
  o.now = SystemClock::instance().now();
  o.threads = 1;
  auto stamp = pow::mint(o);
  ASSERT_TRUE(stamp.ok()) << stamp.error().message();
  auto data = connect();
  auto rcpt = connect();
  ASSERT_TRUE(data->send("request=smtpd_access_policy\nprotocol_state=DATA\n"
                         "sender=alice@alpha.test\nmtep_recipients=bob@stamps.test\n"
                         "mtep_stamps=" + stamp->stamp + "\nmtep_instance=E.1\n\n"));
  ASSERT_TRUE(runUntil(base_.get(), [&] { return store_.records == 1; }))
      << "the DATA check reached the store";
  EXPECT_NE(store_.writer.load(), std::this_thread::get_id()) << "written off the loop thread";
  EXPECT_EQ(stamps_->inFlight(), 1u);

  ASSERT_TRUE(rcpt->send("request=smtpd_access_policy\nprotocol_state=RCPT\n"
                         "sender=alice@alpha.test\nrecipient=carol@stamps.test\n"
                         "instance=X.1\n\n"));
  EXPECT_EQ(reply(*rcpt), "action=DUNNO\n\n") << "answered while the DATA check still runs";
  EXPECT_EQ(stamps_->inFlight(), 1u) << "the DATA check is still waiting for the store";

  store_.release();
  EXPECT_EQ(reply(*data), "action=PREPEND X-MTEP-Policy: stamp=pass sender-domain=alpha.test\n\n");
  EXPECT_EQ(stamps_->inFlight(), 0u);
}

TEST_F(StampChecksTest, TheStoreIsPurgedOffTheLoopThread) {
  stamps_->purge();
  ASSERT_TRUE(runUntil(base_.get(), [&] { return store_.purges == 1; }));
  EXPECT_NE(store_.writer.load(), std::this_thread::get_id());
}

TEST_F(StampChecksTest, WithoutAStoreTheCheckTempfails) {
  StampChecks none(*stamp_queue_, nullptr, config_->pow);
  PolicySessionFactory factory(config_, *engine_, *lookups_, none);
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  pool_->onAccept(fds[0], server::PeerInfo{"peer", "local"}, factory);
  Peer p(fds[1]);
  ASSERT_TRUE(p.send("request=smtpd_access_policy\nprotocol_state=DATA\n"
                     "sender=alice@alpha.test\nmtep_recipients=bob@stamps.test\n"
                     "mtep_stamps=1:8:261101:bob@stamps.test::c2FsdA:1\n\n"));
  EXPECT_EQ(reply(p),
            "action=451 4.3.0 Cannot check proof-of-work stamps now; try again later\n\n");
  pool_.reset();  // before `factory` and `none` go
}

}  // namespace
}  // namespace mtep::policyd

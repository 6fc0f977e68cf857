// NAME
//   lookups_test.cc - mtep-policyd's lookups: answers, sharing, late replies
// DESCRIPTION
//   capableAnswer(): a static entry or an SRV record make a domain MTEP
//   capable; MX hosts or the bare domain do not; NXDOMAIN and .onion without
//   a static entry are "no"; DNS trouble is temporary. tokenAnswer() maps
//   every verifier outcome. Lookups runs one question once however many
//   sessions ask meanwhile, records the answer in the engine, then wakes
//   each waiter on the loop thread. A policy session whose connection
//   closed while its lookup ran is simply forgotten.

#include "lookups.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <csignal>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "policy_session.h"
#include "server/connection_pool.h"
#include "unit/server/loop_helpers.h"
#include "unit/verify/fakes.h"

namespace mtep::policyd {
namespace {

using policy::LookupAnswer;
using server::testing::Peer;
using server::testing::runFor;
using server::testing::runUntil;
using verify::testing::FakeResolver;

int64_t farDeadline() { return dns::monotonicMs() + 10000; }

TEST(CapableAnswer, StaticEntryIsYes) {
  FakeResolver r;
  config::MilterConfig m;
  m.mtep_servers.emplace("alpha.test", config::ServerAddress{"127.0.0.1", 6211});
  EXPECT_EQ(capableAnswer(m, r, "alpha.test", farDeadline()), LookupAnswer::kYes);
  EXPECT_TRUE(r.calls().empty());
}

TEST(CapableAnswer, SrvRecordIsYes) {
  FakeResolver r;
  r.setSrv("_mtep._tcp.alpha.test", {{10, 0, 6211, "mtep.alpha.test"}});
  EXPECT_EQ(capableAnswer({}, r, "alpha.test", farDeadline()), LookupAnswer::kYes);
}

TEST(CapableAnswer, MxHostsOnlyIsNo) {
  FakeResolver r;
  r.setSrv("_mtep._tcp.alpha.test", {});
  r.setMx("alpha.test", {{10, "mx.alpha.test"}});
  EXPECT_EQ(capableAnswer({}, r, "alpha.test", farDeadline()), LookupAnswer::kNo);
}

TEST(CapableAnswer, TheBareDomainIsNo) {
  FakeResolver r;
  r.setSrv("_mtep._tcp.alpha.test", {});
  r.setMx("alpha.test", {});
  EXPECT_EQ(capableAnswer({}, r, "alpha.test", farDeadline()), LookupAnswer::kNo);
}

TEST(CapableAnswer, NxdomainIsNo) {
  FakeResolver r;  // nothing known: NXDOMAIN everywhere
  EXPECT_EQ(capableAnswer({}, r, "nowhere.test", farDeadline()), LookupAnswer::kNo);
}

TEST(CapableAnswer, OnionWithoutStaticEntryIsNoAndAsksNoDns) {
  FakeResolver r;
  EXPECT_EQ(capableAnswer({}, r, "abcdef.onion", farDeadline()), LookupAnswer::kNo);
  EXPECT_TRUE(r.calls().empty());
}

TEST(CapableAnswer, DnsTroubleIsTemporary) {
  FakeResolver r;
  r.failSrv("_mtep._tcp.alpha.test", ErrorKind::kTemporary);
  EXPECT_EQ(capableAnswer({}, r, "alpha.test", farDeadline()), LookupAnswer::kTemporary);
  FakeResolver late;
  EXPECT_EQ(capableAnswer({}, late, "alpha.test", dns::monotonicMs() - 1),
            LookupAnswer::kTemporary);
}

TEST(TokenAnswer, OnlyValidIsYesAndOnlyRefusedIsNo) {
  EXPECT_EQ(tokenAnswer(milter::VerifyKind::kValid), LookupAnswer::kYes);
  EXPECT_EQ(tokenAnswer(milter::VerifyKind::kRefused), LookupAnswer::kNo);
  EXPECT_EQ(tokenAnswer(milter::VerifyKind::kUnsure), LookupAnswer::kTemporary);
  EXPECT_EQ(tokenAnswer(milter::VerifyKind::kUnreachable), LookupAnswer::kTemporary);
}

TEST(VerifierConfig, UsesLookupTimeoutAndNoCache) {
  auto cfg = config::loadString("[policyd]\nlookup_timeout = 7\n[milter]\ncache_ttl = 60\n", "t");
  ASSERT_TRUE(cfg) << cfg.error().message();
  auto v = verifierConfig(*cfg);
  EXPECT_EQ(v->milter.query_timeout, 7);
  EXPECT_EQ(v->milter.cache_ttl, 0);
  EXPECT_EQ((*cfg)->milter.cache_ttl, 60) << "the daemon's own snapshot is untouched";
}

// Answers kYes once released; counts runs.
class GatedBackend final : public LookupBackend {
 public:
  LookupAnswer run(const policy::Lookup&) override {
    ++runs;
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [this] { return open_; });
    return answer;
  }
  void release() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  std::atomic<int> runs{0};
  LookupAnswer answer = LookupAnswer::kYes;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

class LookupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::signal(SIGPIPE, SIG_IGN);  // a reply to a peer that left
    auto cfg = config::loadString(
        "[domain.\"capable.test\"]\nrequire_mtep_capable = true\n", "test.conf");
    ASSERT_TRUE(cfg) << cfg.error().message();
    config_ = *cfg;
    auto base = server::makeEventBase();
    ASSERT_TRUE(base);
    base_ = std::move(*base);
    auto q = server::WorkQueue::create(base_.get(), 2);
    ASSERT_TRUE(q);
    queue_ = std::move(*q);
    engine_ = std::make_unique<policy::Engine>(config_, clock_);
    lookups_ = std::make_unique<Lookups>(*queue_, *engine_, backend_);
  }
  void TearDown() override {
    backend_.release();
    pool_.reset();
    if (queue_) queue_->stop();
  }

  static policy::Lookup capable(const std::string& domain) {
    policy::Lookup l;
    l.kind = policy::Lookup::Kind::kMtepCapable;
    l.domain = domain;
    return l;
  }

  FakeClock clock_;
  config::ConfigPtr config_;
  server::EventBasePtr base_;
  GatedBackend backend_;
  std::unique_ptr<server::WorkQueue> queue_;
  std::unique_ptr<policy::Engine> engine_;
  std::unique_ptr<Lookups> lookups_;
  std::unique_ptr<server::ConnectionPool> pool_;
};

TEST_F(LookupsTest, TheSameQuestionAskedMeanwhileRunsOnce) {
  int woken = 0;
  for (int i = 0; i < 3; ++i) lookups_->ask(capable("alpha.test"), [&] { ++woken; });
  lookups_->ask(capable("beta.test"), [&] { ++woken; });
  EXPECT_EQ(lookups_->inFlight(), 2u);
  ASSERT_TRUE(runUntil(base_.get(), [&] { return backend_.runs == 2; }));
  runFor(base_.get(), 20);
  EXPECT_EQ(woken, 0) << "woken before the answer";
  backend_.release();
  ASSERT_TRUE(runUntil(base_.get(), [&] { return woken == 4; }));
  EXPECT_EQ(backend_.runs.load(), 2);
  EXPECT_EQ(lookups_->started(), 2u);
  EXPECT_EQ(lookups_->inFlight(), 0u);
  EXPECT_EQ(engine_->cachedLookups(), 2u) << "answers are recorded in the engine";
}

TEST_F(LookupsTest, SessionAnswersAfterTheLookupAndForgetsAClosedConnection) {
  StampChecks stamps(*queue_, nullptr, config_->pow);
  PolicySessionFactory factory(config_, *engine_, *lookups_, stamps);
  pool_ = std::make_unique<server::ConnectionPool>(base_.get(), 10);
  auto connect = [&] {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    pool_->onAccept(fds[0], server::PeerInfo{"peer", "local"}, factory);
    return std::make_unique<Peer>(fds[1]);
  };
  const std::string request =
      "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=alice@alpha.test\n"
      "recipient=bob@capable.test\ninstance=X.1\n\n";
  auto stays = connect();
  auto leaves = connect();
  ASSERT_TRUE(stays->send(request));
  ASSERT_TRUE(leaves->send(request));
  ASSERT_TRUE(runUntil(base_.get(), [&] { return backend_.runs == 1; }));
  leaves.reset();  // the client gives up while the lookup runs
  backend_.release();
  std::string reply;
  for (int i = 0; i < 20 && (reply.size() < 2 || reply.substr(reply.size() - 2) != "\n\n"); ++i) {
    reply += stays->read(base_.get(), 1);
  }
  EXPECT_EQ(reply.rfind("action=PREPEND X-MTEP-Policy: capable=yes", 0), 0u) << reply;
  EXPECT_EQ(reply.substr(reply.size() - 2), "\n\n");
  EXPECT_EQ(backend_.runs.load(), 1);
  ASSERT_TRUE(runUntil(base_.get(), [&] { return pool_->size() == 1; }))
      << "the connection that left is closed once its answer fails";
}

}  // namespace
}  // namespace mtep::policyd

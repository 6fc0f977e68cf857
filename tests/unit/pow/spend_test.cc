// spend() and checkAndSpend() over a real SQLite store in a temporary
// directory: double spends, expiry of the record, a store that cannot
// write, and a message's stamps spent all or none.
#include <grp.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "pow/pow.h"
#include "store/store.h"
#include "unit/pow/vectors.h"

namespace mtep::pow {
namespace {

namespace fs = std::filesystem;
using namespace testdata;

constexpr int64_t kSpendNow = k261101 + 3600;

StampPolicy spendPolicy(int bits = 16) {
  StampPolicy p;
  p.hashcash_bits = bits;
  return p;
}

class SpendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mtep-pow-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/mtep.db";
    auto st = store::openSqlite({.path = path_}, clock_);
    ASSERT_TRUE(st.ok()) << st.error().message();
    store_ = std::move(*st);
  }
  void TearDown() override {
    store_.reset();
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add);
    fs::remove_all(dir_);
  }

  // A valid stamp for `resource`, minted here (8 bits: instant).
  std::string stampFor(const std::string& resource, int bits = 8) {
    MintOptions o;
    o.bits = bits;
    o.resource = resource;
    o.now = kSpendNow;
    o.threads = 1;
    auto m = mint(o);
    EXPECT_TRUE(m.ok()) << m.error().message();
    return m.ok() ? m->stamp : "";
  }

  std::string dir_, path_;
  FakeClock clock_{kSpendNow};
  std::unique_ptr<store::Store> store_;
};

TEST_F(SpendTest, SecondSpendOfTheSameStampIsSpent) {
  CheckResult r = checkStamp(kTool16, "bob@beta.test", spendPolicy(), kSpendNow);
  ASSERT_EQ(r.verdict, Verdict::kValid);
  EXPECT_EQ(spend(*store_, r, kTool16), Verdict::kValid);
  EXPECT_EQ(spend(*store_, r, kTool16), Verdict::kSpent);
}

TEST_F(SpendTest, TheSpentRecordSurvivesReopeningTheStore) {
  CheckResult r = checkStamp(kTool16, "bob@beta.test", spendPolicy(), kSpendNow);
  ASSERT_EQ(spend(*store_, r, kTool16), Verdict::kValid);
  auto again = store::openSqlite({.path = path_}, clock_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(spend(**again, r, kTool16), Verdict::kSpent);
}

TEST_F(SpendTest, TheRecordIsKeptUntilValidityPlusGracePastTheDate) {
  CheckResult r = checkStamp(kTool16, "bob@beta.test", spendPolicy(), kSpendNow);
  ASSERT_EQ(spend(*store_, r, kTool16), Verdict::kValid);
  clock_.set(r.expires_at - 1);
  EXPECT_EQ(spend(*store_, r, kTool16), Verdict::kSpent);
  // Past expires_at the stamp is expired anyway, so the record may go.
  clock_.set(r.expires_at + 1);
  EXPECT_EQ(spend(*store_, r, kTool16), Verdict::kValid);
  EXPECT_EQ(checkStamp(kTool16, "bob@beta.test", spendPolicy(), r.expires_at + 1).verdict,
            Verdict::kExpired);
}

TEST_F(SpendTest, AnInvalidStampIsNotRecorded) {
  CheckResult weak = checkStamp(kTool16, "bob@beta.test", spendPolicy(20), kSpendNow);
  ASSERT_EQ(weak.verdict, Verdict::kTooWeak);
  EXPECT_EQ(spend(*store_, weak, kTool16), Verdict::kTooWeak);
  CheckResult ok = checkStamp(kTool16, "bob@beta.test", spendPolicy(16), kSpendNow);
  EXPECT_EQ(spend(*store_, ok, kTool16), Verdict::kValid);
}

TEST_F(SpendTest, HashcashAndArgon2idShareOneRecord) {
  MintOptions o;
  o.algorithm = Algorithm::kArgon2id;
  o.bits = 1;
  o.resource = "bob@beta.test";
  o.now = kSpendNow;
  o.threads = 1;
  o.memory_kib = 64;
  auto a = mint(o);
  ASSERT_TRUE(a.ok()) << a.error().message();
  StampPolicy p = spendPolicy();
  p.argon2id_bits = 1;
  p.argon2id_min_memory = 64;
  CheckResult r = checkStamp(a->stamp, "bob@beta.test", p, kSpendNow);
  ASSERT_EQ(r.verdict, Verdict::kValid) << r.reason;
  EXPECT_EQ(spend(*store_, r, a->stamp), Verdict::kValid);
  EXPECT_EQ(spend(*store_, r, a->stamp), Verdict::kSpent);
}

// Runs fn in a child without root (root ignores file modes); its exit status.
int runUnprivileged(const std::function<int()>& fn) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::geteuid() == 0 &&
        (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0)) {
      ::_exit(90);
    }
    ::_exit(fn());
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return 99;
  return WEXITSTATUS(status);
}

TEST_F(SpendTest, AStoreThatCannotWriteIsTemporary) {
  // A database file this process may read but not write (in a directory
  // where it may create SQLite's -wal and -shm files): SQLite opens it
  // read-only, and the spend cannot be recorded.
  store_.reset();
  ASSERT_EQ(::chmod(path_.c_str(), 0444), 0);
  ASSERT_EQ(::chmod(dir_.c_str(), 0777), 0);
  const int rc = runUnprivileged([&] {
    FakeClock clock(kSpendNow);
    auto st = store::openSqlite({.path = path_, .busy_timeout_ms = 100}, clock);
    if (!st) {
      std::fprintf(stderr, "open: %s\n", st.error().message().c_str());
      return 3;
    }
    CheckResult r = checkStamp(kTool16, "bob@beta.test", spendPolicy(), kSpendNow);
    return spend(**st, r, kTool16) == Verdict::kTemporary ? 0 : 1;
  });
  EXPECT_EQ(rc, 0);
}

TEST_F(SpendTest, AStoreLockedByAnotherWriterIsTemporary) {
  auto st = store::openSqlite({.path = path_, .busy_timeout_ms = 50}, clock_);
  ASSERT_TRUE(st.ok());
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  CheckResult r = checkStamp(kTool16, "bob@beta.test", spendPolicy(), kSpendNow);
  EXPECT_EQ(spend(**st, r, kTool16), Verdict::kTemporary);
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  EXPECT_EQ(spend(**st, r, kTool16), Verdict::kValid);
}

// ---- checkAndSpend ------------------------------------------------------------

TEST_F(SpendTest, EveryRecipientWithAValidStampGetsItSpent) {
  const std::string a = stampFor("a@beta.test"), b = stampFor("b@beta.test");
  auto out = checkAndSpend({"a@beta.test", "B@beta.test"}, {b, a}, spendPolicy(8), store_.get(),
                           kSpendNow, 200);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].recipient, "a@beta.test");
  EXPECT_EQ(out[0].result.verdict, Verdict::kValid) << out[0].result.reason;
  EXPECT_EQ(out[0].stamp, a);
  EXPECT_EQ(out[1].recipient, "B@beta.test");
  EXPECT_EQ(out[1].result.verdict, Verdict::kValid) << out[1].result.reason;
  EXPECT_EQ(out[1].stamp, b);
  // Both are recorded now.
  out = checkAndSpend({"a@beta.test", "b@beta.test"}, {a, b}, spendPolicy(8), store_.get(),
                      kSpendNow, 200);
  EXPECT_EQ(out[0].result.verdict, Verdict::kSpent);
  EXPECT_EQ(out[1].result.verdict, Verdict::kSpent);
}

TEST_F(SpendTest, OneRecipientWithoutAValidStampMeansNothingIsSpent) {
  const std::string a = stampFor("a@beta.test");
  const std::string weak_b = stampFor("b@beta.test", 4);
  auto out = checkAndSpend({"a@beta.test", "b@beta.test"}, {a, weak_b}, spendPolicy(8),
                           store_.get(), kSpendNow, 200);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].result.verdict, Verdict::kValid);
  EXPECT_EQ(out[1].result.verdict, Verdict::kTooWeak);
  // a's stamp was not burnt: it spends now.
  CheckResult r = checkStamp(a, "a@beta.test", spendPolicy(8), kSpendNow);
  EXPECT_EQ(spend(*store_, r, a), Verdict::kValid);
}

TEST_F(SpendTest, WithoutAStoreNothingIsSpent) {
  const std::string a = stampFor("a@beta.test");
  auto out = checkAndSpend({"a@beta.test"}, {a}, spendPolicy(8), nullptr, kSpendNow, 200);
  EXPECT_EQ(out[0].result.verdict, Verdict::kValid);
  CheckResult r = checkStamp(a, "a@beta.test", spendPolicy(8), kSpendNow);
  EXPECT_EQ(spend(*store_, r, a), Verdict::kValid);
}

TEST_F(SpendTest, RecipientsWithoutStampsSayWhy) {
  auto none = checkAndSpend({"a@beta.test"}, {}, spendPolicy(8), store_.get(), kSpendNow, 200);
  EXPECT_EQ(none[0].result.verdict, Verdict::kMalformed);
  EXPECT_EQ(none[0].stamp, "");
  const std::string b = stampFor("b@beta.test");
  auto other = checkAndSpend({"a@beta.test"}, {b}, spendPolicy(8), store_.get(), kSpendNow, 200);
  EXPECT_EQ(other[0].result.verdict, Verdict::kWrongResource);
  EXPECT_NE(other[0].result.reason.find("a@beta.test"), std::string::npos);
}

TEST_F(SpendTest, TheMostNearlyValidStampGivesTheReason) {
  const std::string weak = stampFor("a@beta.test", 4);
  auto out = checkAndSpend({"a@beta.test"}, {"garbage", kTool16, weak}, spendPolicy(8),
                           store_.get(), kSpendNow, 200);
  EXPECT_EQ(out[0].result.verdict, Verdict::kTooWeak);
  EXPECT_EQ(out[0].stamp, weak);
}

TEST_F(SpendTest, AValidStampAmongBadOnesIsFound) {
  const std::string a = stampFor("a@beta.test");
  auto out = checkAndSpend({"a@beta.test"}, {"garbage", stampFor("a@beta.test", 2), a},
                           spendPolicy(8), store_.get(), kSpendNow, 200);
  EXPECT_EQ(out[0].result.verdict, Verdict::kValid);
  EXPECT_EQ(out[0].stamp, a);
}

TEST_F(SpendTest, StampsPastMaxStampsAreNotLookedAt) {
  const std::string a = stampFor("a@beta.test");
  auto out =
      checkAndSpend({"a@beta.test"}, {"x", "y", a}, spendPolicy(8), store_.get(), kSpendNow, 2);
  EXPECT_NE(out[0].result.verdict, Verdict::kValid);
  out = checkAndSpend({"a@beta.test"}, {"x", "y", a}, spendPolicy(8), store_.get(), kSpendNow, 3);
  EXPECT_EQ(out[0].result.verdict, Verdict::kValid);
}

TEST_F(SpendTest, DuplicateRecipientsShareOneStamp) {
  const std::string a = stampFor("a@beta.test");
  auto out = checkAndSpend({"a@beta.test", "A@Beta.Test"}, {a}, spendPolicy(8), store_.get(),
                           kSpendNow, 200);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].result.verdict, Verdict::kValid);
  EXPECT_EQ(out[1].result.verdict, Verdict::kValid);
  EXPECT_EQ(out[1].recipient, "A@Beta.Test");
}

TEST_F(SpendTest, OneStampCannotServeTwoMessages) {
  const std::string a = stampFor("a@beta.test");
  EXPECT_EQ(checkAndSpend({"a@beta.test"}, {a}, spendPolicy(8), store_.get(), kSpendNow, 200)[0]
                .result.verdict,
            Verdict::kValid);
  auto second =
      checkAndSpend({"a@beta.test"}, {a, a}, spendPolicy(8), store_.get(), kSpendNow, 200);
  EXPECT_EQ(second[0].result.verdict, Verdict::kSpent);
  EXPECT_NE(second[0].result.reason, "");
}

}  // namespace
}  // namespace mtep::pow

namespace mtep::pow {
namespace {

// spend() with the message's identity: the retry of that message passes
// (a bounded number of times), any other message is refused.
TEST_F(SpendTest, AStampSpentWithAMessageIdentityPassesAgainOnlyForThatMessage) {
  CheckResult r = checkStamp(kTool16, "bob@beta.test", spendPolicy(), kSpendNow);
  ASSERT_EQ(r.verdict, Verdict::kValid);
  EXPECT_EQ(spend(*store_, r, kTool16, "message-1"), Verdict::kValid);
  EXPECT_EQ(spend(*store_, r, kTool16, "message-1"), Verdict::kValid) << "the retry";
  EXPECT_EQ(spend(*store_, r, kTool16, "message-2"), Verdict::kSpent);
  EXPECT_EQ(spend(*store_, r, kTool16), Verdict::kSpent) << "no identity: spent";
  EXPECT_EQ(spend(*store_, r, kTool16, "message-"), Verdict::kSpent) << "a prefix is not it";
  auto again = store::openSqlite({.path = path_}, clock_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(spend(**again, r, kTool16, "message-1"), Verdict::kValid) << "another process";
}

TEST_F(SpendTest, TheSameMessagePassesAgainAtMostMaxRespendsTimes) {
  CheckResult r = checkStamp(kTool16, "bob@beta.test", spendPolicy(), kSpendNow);
  ASSERT_EQ(spend(*store_, r, kTool16, "m"), Verdict::kValid);
  for (uint64_t i = 0; i < kMaxRespends; ++i) {
    EXPECT_EQ(spend(*store_, r, kTool16, "m"), Verdict::kValid) << i;
  }
  EXPECT_EQ(spend(*store_, r, kTool16, "m"), Verdict::kSpent);
}

TEST_F(SpendTest, AStampSpentWithoutIdentityIsSpentForEveryMessage) {
  CheckResult r = checkStamp(kTool16, "bob@beta.test", spendPolicy(), kSpendNow);
  ASSERT_EQ(spend(*store_, r, kTool16), Verdict::kValid);
  EXPECT_EQ(spend(*store_, r, kTool16, "message-1"), Verdict::kSpent);
}

TEST_F(SpendTest, CheckAndSpendPassesTheIdentityOn) {
  const std::string a = stampFor("a@beta.test");
  const std::vector<RecipientPolicy> rcpts = {{"a@beta.test", spendPolicy(8)}};
  EXPECT_EQ(
      checkAndSpend(rcpts, {a}, store_.get(), kSpendNow, CheckLimits{}, "id-1")[0].result.verdict,
      Verdict::kValid);
  EXPECT_EQ(
      checkAndSpend(rcpts, {a}, store_.get(), kSpendNow, CheckLimits{}, "id-1")[0].result.verdict,
      Verdict::kValid);
  EXPECT_EQ(
      checkAndSpend(rcpts, {a}, store_.get(), kSpendNow, CheckLimits{}, "id-2")[0].result.verdict,
      Verdict::kSpent);
}

TEST_F(SpendTest, RecipientsUnderDifferentPoliciesAreAllCheckedBeforeAnySpend) {
  const std::string a = stampFor("a@beta.test", 8);
  const std::string b = stampFor("b@gamma.test", 8);
  // b's domain asks for 12 bits: b's stamp is too weak, so a's is not spent.
  auto out = checkAndSpend({{"a@beta.test", spendPolicy(8)}, {"b@gamma.test", spendPolicy(12)}},
                           {a, b}, store_.get(), kSpendNow, CheckLimits{});
  EXPECT_EQ(out[0].result.verdict, Verdict::kValid);
  EXPECT_EQ(out[1].result.verdict, Verdict::kTooWeak);
  out =
      checkAndSpend({{"a@beta.test", spendPolicy(8)}}, {a}, store_.get(), kSpendNow, CheckLimits{});
  EXPECT_EQ(out[0].result.verdict, Verdict::kValid) << "not spent by the refused message";
}

}  // namespace
}  // namespace mtep::pow

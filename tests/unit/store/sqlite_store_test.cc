// SQLite store: schema migration, reopen, expiry, atomic recordOnce across
// processes, and which failures are temporary.
#include "store/sqlite_store.h"

#include <grp.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

namespace mtep::store {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mtep-store-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/mtep.db";
  }
  void TearDown() override {
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add);
    fs::remove_all(dir_);
  }

  std::unique_ptr<Store> openOk(int busy_ms = 2000) {
    auto st = openSqlite({.path = path_, .busy_timeout_ms = busy_ms}, clock_);
    EXPECT_TRUE(st.ok()) << st.error().message();
    return st.ok() ? std::move(*st) : nullptr;
  }

  // Runs SQL on a separate raw connection; returns the first column of the
  // first row as text ("" when none).
  std::string rawQuery(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    std::string out;
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }

  std::string dir_;
  std::string path_;
  FakeClock clock_;
};

TEST_F(StoreTest, MigratesANewDatabaseToTheCurrentSchema) {
  auto st = SqliteStore::create({.path = path_}, clock_);
  ASSERT_TRUE(st.ok()) << st.error().message();
  auto v = (*st)->schemaVersion();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, kSqliteSchemaVersion);
  EXPECT_STREQ((*st)->backendName(), "sqlite");
  EXPECT_EQ(rawQuery("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                     "('revoked_tokens', 'once_records')"),
            "2");
  EXPECT_EQ(rawQuery("PRAGMA journal_mode"), "wal");
}

TEST_F(StoreTest, NewDatabaseFilesAreNotOpenToOthers) {
  auto st = openOk();
  ASSERT_TRUE(st->revokeToken("t1", clock_.now() + 10).ok());
  for (const char* suffix : {"", "-wal", "-shm"}) {
    struct stat sb;
    ASSERT_EQ(::stat((path_ + suffix).c_str(), &sb), 0) << suffix;
    EXPECT_EQ(sb.st_mode & 0007, 0u) << path_ << suffix << " mode " << std::oct << sb.st_mode;
  }
}

TEST_F(StoreTest, MigratesAnEmptyFile) {
  std::ofstream(path_).close();
  ASSERT_NE(openOk(), nullptr);
  EXPECT_EQ(rawQuery("PRAGMA user_version"), std::to_string(kSqliteSchemaVersion));
}

TEST_F(StoreTest, ReopenKeepsEntriesAndSchema) {
  {
    auto st = openOk();
    ASSERT_TRUE(st->revokeToken("00000001-aa", clock_.now() + 100).ok());
    ASSERT_TRUE(*st->recordOnce("hashcash", "stamp", clock_.now() + 100));
  }
  auto st = openOk();
  ASSERT_NE(st, nullptr);
  EXPECT_TRUE(*st->isTokenRevoked("00000001-aa"));
  EXPECT_FALSE(*st->recordOnce("hashcash", "stamp", clock_.now() + 100));
  EXPECT_EQ(rawQuery("PRAGMA user_version"), std::to_string(kSqliteSchemaVersion));
}

TEST_F(StoreTest, RefusesANewerSchemaAndLeavesItAlone) {
  ASSERT_NE(openOk(), nullptr);
  rawQuery("PRAGMA user_version = " + std::to_string(kSqliteSchemaVersion + 1));
  auto st = openSqlite({.path = path_}, clock_);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::kConfig);
  EXPECT_NE(st.error().message().find("newer"), std::string::npos) << st.error().message();
  EXPECT_NE(st.error().message().find(path_), std::string::npos) << st.error().message();
  EXPECT_EQ(rawQuery("PRAGMA user_version"), std::to_string(kSqliteSchemaVersion + 1));
}

TEST_F(StoreTest, RefusesAFileThatIsNotADatabase) {
  std::ofstream(path_) << std::string(4096, 'x');
  auto st = openSqlite({.path = path_}, clock_);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::kConfig) << st.error().message();
}

TEST_F(StoreTest, RefusesAnEmptyPath) {
  auto st = openSqlite({.path = ""}, clock_);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::kConfig);
}

TEST_F(StoreTest, RevokedTokenIsRevokedUntilItsExpiry) {
  auto st = openOk();
  EXPECT_FALSE(*st->isTokenRevoked("t1"));
  ASSERT_TRUE(st->revokeToken("t1", clock_.now() + 10).ok());
  EXPECT_TRUE(*st->isTokenRevoked("t1"));
  EXPECT_FALSE(*st->isTokenRevoked("t2"));
  clock_.advance(9);
  EXPECT_TRUE(*st->isTokenRevoked("t1"));
  clock_.advance(1);  // expires_at == now: absent
  EXPECT_FALSE(*st->isTokenRevoked("t1"));
}

TEST_F(StoreTest, RevocationByAnotherConnectionIsSeenAtTheNextRecheck) {
  auto writer = openOk();
  auto exact = openSqlite({.path = path_, .revocation_refresh_ms = 0}, clock_);
  auto cached = openSqlite({.path = path_, .revocation_refresh_ms = 3'600'000}, clock_);
  ASSERT_TRUE(exact.ok() && cached.ok());
  EXPECT_FALSE(*(*exact)->isTokenRevoked("t1"));
  EXPECT_FALSE(*(*cached)->isTokenRevoked("t1"));  // loads its copy now
  ASSERT_TRUE(writer->revokeToken("t1", clock_.now() + 100).ok());
  EXPECT_TRUE(*(*exact)->isTokenRevoked("t1"));    // data_version changed: reloaded
  EXPECT_FALSE(*(*cached)->isTokenRevoked("t1"));  // not re-checked within the hour
  EXPECT_TRUE(*writer->isTokenRevoked("t1"));      // its own write, at once
  auto reopened = openOk();
  EXPECT_TRUE(*reopened->isTokenRevoked("t1"));    // a fresh store loads it
}

TEST_F(StoreTest, RevocationTableUnreadableIsTemporary) {
  auto st = openSqlite({.path = path_, .revocation_refresh_ms = 0}, clock_);
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(*(*st)->isTokenRevoked("t1"));
  rawQuery("DROP TABLE revoked_tokens");
  auto r = (*st)->isTokenRevoked("t1");
  ASSERT_FALSE(r.ok());
}

TEST_F(StoreTest, RevokingTwiceKeepsTheLaterExpiry) {
  auto st = openOk();
  ASSERT_TRUE(st->revokeToken("t1", clock_.now() + 100).ok());
  ASSERT_TRUE(st->revokeToken("t1", clock_.now() + 10).ok());
  clock_.advance(50);
  EXPECT_TRUE(*st->isTokenRevoked("t1"));
  ASSERT_TRUE(st->revokeToken("t1", clock_.now() + 500).ok());
  clock_.advance(200);
  EXPECT_TRUE(*st->isTokenRevoked("t1"));
}

TEST_F(StoreTest, RecordOnceSucceedsOncePerLiveEntry) {
  auto st = openOk();
  EXPECT_TRUE(*st->recordOnce("hashcash", "a", clock_.now() + 10));
  EXPECT_FALSE(*st->recordOnce("hashcash", "a", clock_.now() + 10));
  EXPECT_FALSE(*st->recordOnce("hashcash", "a", clock_.now() + 1000));
  EXPECT_TRUE(*st->recordOnce("argon2", "a", clock_.now() + 10));  // other namespace
  EXPECT_TRUE(*st->recordOnce("hashcash", "b", clock_.now() + 10));
}

TEST_F(StoreTest, RecordOnceTakesOverAnExpiredEntry) {
  auto st = openOk();
  ASSERT_TRUE(*st->recordOnce("ns", "k", clock_.now() + 10));
  clock_.advance(10);
  EXPECT_TRUE(*st->recordOnce("ns", "k", clock_.now() + 10));
  EXPECT_FALSE(*st->recordOnce("ns", "k", clock_.now() + 10));
  clock_.advance(9);
  EXPECT_FALSE(*st->recordOnce("ns", "k", clock_.now() + 10));
}

TEST_F(StoreTest, KeysAreComparedAsExactBytes) {
  auto st = openOk();
  using namespace std::string_literals;
  EXPECT_TRUE(*st->recordOnce("ns", "a\0b"s, clock_.now() + 10));
  EXPECT_TRUE(*st->recordOnce("ns", "a\0c"s, clock_.now() + 10));
  EXPECT_TRUE(*st->recordOnce("ns", "A\0b"s, clock_.now() + 10));
  EXPECT_FALSE(*st->recordOnce("ns", "a\0b"s, clock_.now() + 10));
  EXPECT_TRUE(*st->recordOnce("ns", "\xff\xfe", clock_.now() + 10));
  EXPECT_FALSE(*st->recordOnce("ns", "\xff\xfe", clock_.now() + 10));
}

TEST_F(StoreTest, PurgeRemovesOnlyExpiredEntries) {
  auto st = openOk();
  const int64_t now = clock_.now();
  ASSERT_TRUE(st->revokeToken("old1", now + 1).ok());
  ASSERT_TRUE(st->revokeToken("old2", now + 5).ok());
  ASSERT_TRUE(st->revokeToken("live", now + 100).ok());
  for (const char* k : {"x", "y", "z"}) ASSERT_TRUE(*st->recordOnce("ns", k, now + 100));
  ASSERT_TRUE(*st->recordOnce("ns", "gone", now + 5));
  clock_.advance(5);
  auto n = st->purgeExpired();
  ASSERT_TRUE(n.ok()) << n.error().message();
  EXPECT_EQ(*n, 3u);
  EXPECT_EQ(*st->purgeExpired(), 0u);
  EXPECT_EQ(rawQuery("SELECT count(*) FROM revoked_tokens"), "1");
  EXPECT_EQ(rawQuery("SELECT count(*) FROM once_records"), "3");
  EXPECT_TRUE(*st->isTokenRevoked("live"));
  EXPECT_FALSE(*st->recordOnce("ns", "x", clock_.now() + 100));
}

// Two processes race recordOnce over the same 1000 keys: each key is won
// exactly once.
TEST_F(StoreTest, RecordOnceIsAtomicAcrossProcesses) {
  constexpr int kKeys = 1000;
  ASSERT_NE(openOk(), nullptr);  // create and migrate before the race
  int start[2];
  ASSERT_EQ(::pipe(start), 0);
  struct Child {
    pid_t pid;
    int result_fd;
  };
  std::vector<Child> children;
  for (int c = 0; c < 2; ++c) {
    int out[2];
    ASSERT_EQ(::pipe(out), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(out[0]);
      ::close(start[1]);
      char go;
      if (::read(start[0], &go, 1) != 0) ::_exit(3);  // wait for the parent to close
      FakeClock clock;
      auto st = openSqlite({.path = path_, .busy_timeout_ms = 10000}, clock);
      if (!st) ::_exit(2);
      std::string won(kKeys, '0');
      for (int i = 0; i < kKeys; ++i) {
        auto r = (*st)->recordOnce("race", "key-" + std::to_string(i), clock.now() + 3600);
        if (!r) {
          std::fprintf(stderr, "child: %s\n", r.error().message().c_str());
          ::_exit(4);
        }
        won[i] = *r ? '1' : '0';
      }
      ssize_t n = ::write(out[1], won.data(), won.size());
      ::_exit(n == kKeys ? 0 : 5);
    }
    ::close(out[1]);
    children.push_back({pid, out[0]});
  }
  ::close(start[0]);
  ::close(start[1]);  // both children start now

  std::vector<std::string> results;
  for (const Child& c : children) {
    std::string got;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(c.result_fd, buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
    ::close(c.result_fd);
    int status = 0;
    ASSERT_EQ(::waitpid(c.pid, &status, 0), c.pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    ASSERT_EQ(got.size(), static_cast<size_t>(kKeys));
    results.push_back(got);
  }
  int first_wins = 0;
  for (int i = 0; i < kKeys; ++i) {
    EXPECT_NE(results[0][i], results[1][i]) << "key " << i << " won by both or by neither";
    first_wins += results[0][i] == '1';
  }
  EXPECT_EQ(rawQuery("SELECT count(*) FROM once_records WHERE ns = 'race'"), std::to_string(kKeys));
  std::printf("first process won %d of %d keys\n", first_wins, kKeys);
}

// Runs fn in a child process without root (root ignores file permissions);
// returns its exit status.
int runUnprivileged(const std::function<int()>& fn) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::geteuid() == 0) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) {
        ::_exit(90);
      }
    }
    ::_exit(fn());
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return 99;
  return WEXITSTATUS(status);
}

// 0 = kTemporary as wanted, 1 = opened fine, 2 = another error kind.
int openExpectingTemporary(const std::string& path) {
  FakeClock clock;
  auto st = openSqlite({.path = path, .busy_timeout_ms = 100}, clock);
  if (st) {
    auto r = (*st)->recordOnce("ns", "k", clock.now() + 10);
    if (r) return 1;
    std::fprintf(stderr, "recordOnce: %s\n", r.error().message().c_str());
    return r.error().kind() == ErrorKind::kTemporary ? 0 : 2;
  }
  std::fprintf(stderr, "open: %s (%s)\n", st.error().message().c_str(),
               errorKindName(st.error().kind()));
  return st.error().kind() == ErrorKind::kTemporary ? 0 : 2;
}

TEST_F(StoreTest, NewDatabaseInReadOnlyDirectoryIsTemporary) {
  ASSERT_EQ(::chmod(dir_.c_str(), 0555), 0);
  EXPECT_EQ(runUnprivileged([&] { return openExpectingTemporary(path_); }), 0);
}

TEST_F(StoreTest, ExistingDatabaseInReadOnlyDirectoryIsTemporary) {
  ASSERT_NE(openOk(), nullptr);
  ASSERT_EQ(::chmod(path_.c_str(), 0444), 0);
  ASSERT_EQ(::chmod(dir_.c_str(), 0555), 0);
  EXPECT_EQ(runUnprivileged([&] { return openExpectingTemporary(path_); }), 0);
}

TEST_F(StoreTest, WriterHoldingTheLockMakesRecordOnceTemporary) {
  auto st = openOk(/*busy_ms=*/50);
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto r = st->recordOnce("ns", "k", clock_.now() + 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTemporary) << r.error().message();
  auto rv = st->revokeToken("t", clock_.now() + 10);
  ASSERT_FALSE(rv.ok());
  EXPECT_EQ(rv.error().kind(), ErrorKind::kTemporary);
  // Readers are not blocked by a writer in WAL mode.
  EXPECT_TRUE(st->isTokenRevoked("t").ok());
  ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  EXPECT_TRUE(*st->recordOnce("ns", "k", clock_.now() + 10));
}

}  // namespace
}  // namespace mtep::store

namespace mtep::store {
namespace {

// The export mtepctl store migrate reads: every live entry with its expiry,
// in key order; expired ones are left out; nothing is changed.
TEST_F(StoreTest, ExportWalksLiveEntriesWithTheirExpiries) {
  auto st = SqliteStore::create({.path = path_}, clock_);
  ASSERT_TRUE(st.ok()) << st.error().message();
  SqliteStore& s = **st;
  const int64_t now = clock_.now();
  ASSERT_TRUE(s.revokeToken("t2", now + 50).ok());
  ASSERT_TRUE(s.revokeToken("t1", now + 10).ok());
  ASSERT_TRUE(s.revokeToken("old", now + 1).ok());
  ASSERT_TRUE(*s.recordOnce("pow", "stamp-b", now + 20));
  ASSERT_TRUE(*s.recordOnce("hashcash", "stamp-a", now + 30));
  ASSERT_TRUE(*s.recordOnce("pow", "gone", now + 1));
  ASSERT_TRUE(s.putValue("tlspin", "x.onion", "fp", 0).ok());
  ASSERT_TRUE(s.putValue("mmtp-box:a@b", "m1", std::string("\0bin", 4), now + 40).ok());
  ASSERT_TRUE(s.putValue("tlspin", "y.onion", "old", now + 1).ok());
  clock_.advance(1);  // "old", "gone" and y.onion expire

  std::vector<std::string> got;
  ASSERT_TRUE(s.forEachRevocation([&](const SqliteStore::Revocation& r) {
                 got.push_back(r.token_id + "@" + std::to_string(r.expires_at - now));
                 return okStatus();
               }).ok());
  ASSERT_TRUE(s.forEachSpend([&](const SqliteStore::Spend& r) {
                 got.push_back(r.ns + "/" + r.key + "@" + std::to_string(r.expires_at - now));
                 return okStatus();
               }).ok());
  ASSERT_TRUE(s.forEachValue([&](const SqliteStore::NamedValue& v) {
                 got.push_back(v.ns + "/" + v.key + "=" + std::to_string(v.value.size()) + "@" +
                               std::to_string(v.expires_at == 0 ? -1 : v.expires_at - now));
                 return okStatus();
               }).ok());
  const std::vector<std::string> want{"t1@10",           "t2@50",         "hashcash/stamp-a@30",
                                      "pow/stamp-b@20",  "mmtp-box:a@b/m1=4@40",
                                      "tlspin/x.onion=2@-1"};
  EXPECT_EQ(got, want);

  // A visitor's error stops the walk and is returned.
  int calls = 0;
  Status stopped = s.forEachRevocation([&](const SqliteStore::Revocation&) -> Status {
    ++calls;
    return Error(ErrorKind::kTemporary, "target down");
  });
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.error().message(), "target down");
  EXPECT_EQ(calls, 1);
  // Nothing was written or taken over: the spends are still refused.
  EXPECT_FALSE(*s.recordOnce("pow", "stamp-b", now + 99));
}

}  // namespace
}  // namespace mtep::store

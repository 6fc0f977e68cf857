// SQLite store: named values (putValue/getValue/eraseValue/listValues),
// their expiry and purge, and the forward migration of a schema 1 database.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "store/sqlite_store.h"

namespace mtep::store {
namespace {

namespace fs = std::filesystem;

using Values = std::vector<std::pair<std::string, std::string>>;

class StoreValuesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mtep-values-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/mtep.db";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<SqliteStore> openOk() {
    auto st = SqliteStore::create({.path = path_}, clock_);
    EXPECT_TRUE(st.ok()) << st.error().message();
    return st.ok() ? std::move(*st) : nullptr;
  }

  // Runs SQL on a separate raw connection; the first column of the first
  // row as text ("" when none).
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

  // Runs several statements on a separate raw connection.
  void rawExec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
        << (err ? err : "") << "\n" << sql;
    sqlite3_free(err);
    sqlite3_close(db);
  }

  std::string dir_;
  std::string path_;
  FakeClock clock_;
};

TEST_F(StoreValuesTest, NewDatabaseHasSchema3WithTheValuesTable) {
  auto st = openOk();
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(kSqliteSchemaVersion, 3);
  EXPECT_EQ(*st->schemaVersion(), 3);
  EXPECT_EQ(rawQuery("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                     "name = 'named_values'"),
            "1");
}

TEST_F(StoreValuesTest, MigratesASchema1DatabaseKeepingItsEntries) {
  // A database as a schema 1 build left it, written by hand.
  rawExec(
      "CREATE TABLE revoked_tokens (token_id TEXT NOT NULL PRIMARY KEY, expires_at INTEGER "
      "NOT NULL) WITHOUT ROWID;"
      "CREATE INDEX revoked_tokens_expires_at ON revoked_tokens(expires_at);"
      "CREATE TABLE once_records (ns TEXT NOT NULL, key TEXT NOT NULL, expires_at INTEGER NOT "
      "NULL, PRIMARY KEY (ns, key)) WITHOUT ROWID;"
      "CREATE INDEX once_records_expires_at ON once_records(expires_at);"
      "INSERT INTO revoked_tokens VALUES('old-token', 1800000000);"
      "INSERT INTO once_records VALUES('hashcash', 'old-stamp', 1800000000);"
      "PRAGMA user_version = 1;");
  ASSERT_EQ(rawQuery("PRAGMA user_version"), "1");
  auto st = openOk();
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(*st->schemaVersion(), 3);
  EXPECT_EQ(rawQuery("PRAGMA user_version"), "3");
  EXPECT_TRUE(*st->isTokenRevoked("old-token"));
  EXPECT_FALSE(*st->recordOnce("hashcash", "old-stamp", clock_.now() + 10));
  ASSERT_TRUE(st->putValue("tlspin", "h.onion", "FP 1", 0).ok());
  EXPECT_EQ(*st->getValue("tlspin", "h.onion"), "FP 1");
}

TEST_F(StoreValuesTest, MigratesASchema2DatabaseKeepingItsValuesAndTheirUniqueness) {
  // The values table as a schema 2 build left it (WITHOUT ROWID).
  rawExec(
      "CREATE TABLE revoked_tokens (token_id TEXT NOT NULL PRIMARY KEY, expires_at INTEGER "
      "NOT NULL) WITHOUT ROWID;"
      "CREATE INDEX revoked_tokens_expires_at ON revoked_tokens(expires_at);"
      "CREATE TABLE once_records (ns TEXT NOT NULL, key TEXT NOT NULL, expires_at INTEGER NOT "
      "NULL, PRIMARY KEY (ns, key)) WITHOUT ROWID;"
      "CREATE INDEX once_records_expires_at ON once_records(expires_at);"
      "CREATE TABLE named_values (ns TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, "
      "expires_at INTEGER NOT NULL, PRIMARY KEY (ns, key)) WITHOUT ROWID;"
      "CREATE INDEX named_values_expires_at ON named_values(expires_at);"
      "INSERT INTO named_values VALUES('e2ee-user', 'alice@alpha.test', 'v1 x', 0);"
      "PRAGMA user_version = 2;");
  auto st = openOk();
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(*st->schemaVersion(), 3);
  EXPECT_EQ(*st->getValue("e2ee-user", "alice@alpha.test"), "v1 x");
  // Still one value per (ns, key): put replaces.
  ASSERT_TRUE(st->putValue("e2ee-user", "alice@alpha.test", "v1 y", 0).ok());
  EXPECT_EQ(*st->getValue("e2ee-user", "alice@alpha.test"), "v1 y");
  EXPECT_EQ(rawQuery("SELECT count(*) FROM named_values"), "1");
  EXPECT_EQ(rawQuery("SELECT count(*) FROM sqlite_master WHERE name = 'named_values_expires_at'"),
            "1");
}

TEST_F(StoreValuesTest, GetOfAnAbsentValueIsNotFound) {
  auto st = openOk();
  auto v = st->getValue("tlspin", "nobody.onion");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().kind(), ErrorKind::kNotFound);
}

TEST_F(StoreValuesTest, PutThenGetReturnsTheValueAndPutReplacesIt) {
  auto st = openOk();
  ASSERT_TRUE(st->putValue("tlspin", "a.onion", "first", 0).ok());
  EXPECT_EQ(*st->getValue("tlspin", "a.onion"), "first");
  ASSERT_TRUE(st->putValue("tlspin", "a.onion", "second", 0).ok());
  EXPECT_EQ(*st->getValue("tlspin", "a.onion"), "second");
  EXPECT_EQ(rawQuery("SELECT count(*) FROM named_values"), "1");
}

TEST_F(StoreValuesTest, NamespacesAreSeparate) {
  auto st = openOk();
  ASSERT_TRUE(st->putValue("tlspin", "k", "pin", 0).ok());
  ASSERT_TRUE(st->putValue("userkey", "k", "key", 0).ok());
  EXPECT_EQ(*st->getValue("tlspin", "k"), "pin");
  EXPECT_EQ(*st->getValue("userkey", "k"), "key");
  EXPECT_TRUE(*st->eraseValue("tlspin", "k"));
  EXPECT_EQ(*st->getValue("userkey", "k"), "key");
}

TEST_F(StoreValuesTest, ValuesAreExactBytesIncludingNulAndEmpty) {
  auto st = openOk();
  const std::string binary("a\0b\xff", 4);
  ASSERT_TRUE(st->putValue("ns", "bin", binary, 0).ok());
  ASSERT_TRUE(st->putValue("ns", "empty", "", 0).ok());
  EXPECT_EQ(*st->getValue("ns", "bin"), binary);
  auto empty = st->getValue("ns", "empty");
  ASSERT_TRUE(empty.ok()) << empty.error().message();
  EXPECT_EQ(*empty, "");
}

TEST_F(StoreValuesTest, ExpiresAtZeroNeverExpires) {
  auto st = openOk();
  ASSERT_TRUE(st->putValue("ns", "forever", "v", 0).ok());
  clock_.advance(100LL * 365 * 86400);
  EXPECT_EQ(*st->getValue("ns", "forever"), "v");
  EXPECT_EQ(*st->purgeExpired(), 0u);
  EXPECT_EQ(*st->getValue("ns", "forever"), "v");
}

TEST_F(StoreValuesTest, AnExpiredValueIsAbsentFromGetAndList) {
  auto st = openOk();
  ASSERT_TRUE(st->putValue("ns", "short", "v", clock_.now() + 10).ok());
  EXPECT_EQ(*st->getValue("ns", "short"), "v");
  clock_.advance(10);  // expires_at <= now: expired
  auto v = st->getValue("ns", "short");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().kind(), ErrorKind::kNotFound);
  EXPECT_TRUE(st->listValues("ns", 10)->empty());
  ASSERT_TRUE(st->putValue("ns", "short", "again", clock_.now() + 10).ok());
  EXPECT_EQ(*st->getValue("ns", "short"), "again");
}

TEST_F(StoreValuesTest, EraseReportsWhetherALiveValueWasRemoved) {
  auto st = openOk();
  EXPECT_FALSE(*st->eraseValue("ns", "absent"));
  ASSERT_TRUE(st->putValue("ns", "k", "v", 0).ok());
  EXPECT_TRUE(*st->eraseValue("ns", "k"));
  EXPECT_FALSE(*st->eraseValue("ns", "k"));
  EXPECT_FALSE(st->getValue("ns", "k").ok());
  ASSERT_TRUE(st->putValue("ns", "old", "v", clock_.now() + 1).ok());
  clock_.advance(5);
  EXPECT_FALSE(*st->eraseValue("ns", "old"));
  EXPECT_EQ(rawQuery("SELECT count(*) FROM named_values"), "0");
}

TEST_F(StoreValuesTest, ListIsOrderedByKeyAndLimited) {
  auto st = openOk();
  ASSERT_TRUE(st->putValue("ns", "c", "3", 0).ok());
  ASSERT_TRUE(st->putValue("ns", "a", "1", 0).ok());
  ASSERT_TRUE(st->putValue("ns", "b", "2", clock_.now() + 100).ok());
  ASSERT_TRUE(st->putValue("other", "0", "x", 0).ok());
  auto all = st->listValues("ns", 100);
  ASSERT_TRUE(all.ok()) << all.error().message();
  EXPECT_EQ(*all, (Values{{"a", "1"}, {"b", "2"}, {"c", "3"}}));
  EXPECT_EQ(*st->listValues("ns", 2), (Values{{"a", "1"}, {"b", "2"}}));
  EXPECT_TRUE(st->listValues("ns", 0)->empty());
  EXPECT_EQ(*st->listValues("ns", SIZE_MAX), *all);
}

TEST_F(StoreValuesTest, PurgeRemovesExpiredValuesAndCountsThem) {
  auto st = openOk();
  ASSERT_TRUE(st->putValue("ns", "gone1", "v", clock_.now() + 5).ok());
  ASSERT_TRUE(st->putValue("ns", "gone2", "v", clock_.now() + 6).ok());
  ASSERT_TRUE(st->putValue("ns", "stays", "v", clock_.now() + 100).ok());
  ASSERT_TRUE(st->putValue("ns", "never", "v", 0).ok());
  ASSERT_TRUE(st->revokeToken("tok", clock_.now() + 5).ok());
  clock_.advance(10);
  EXPECT_EQ(*st->purgeExpired(), 3u);  // two values and the token
  EXPECT_EQ(rawQuery("SELECT group_concat(key, ',') FROM "
                     "(SELECT key FROM named_values ORDER BY key)"),
            "never,stays");
}

TEST_F(StoreValuesTest, ValuesSurviveReopen) {
  {
    auto st = openOk();
    ASSERT_TRUE(st->putValue("tlspin", "x.onion", "FP 1700000000", 0).ok());
  }
  auto st = openOk();
  EXPECT_EQ(*st->getValue("tlspin", "x.onion"), "FP 1700000000");
}

TEST_F(StoreValuesTest, WriterHoldingTheLockMakesPutTemporary) {
  auto st = SqliteStore::create({.path = path_, .busy_timeout_ms = 0}, clock_);
  ASSERT_TRUE(st.ok()) << st.error().message();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  Status s = (*st)->putValue("ns", "k", "v", 0);
  sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind(), ErrorKind::kTemporary) << s.error().message();
}

}  // namespace
}  // namespace mtep::store

namespace mtep::store {
namespace {

class StatValuesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mtep-stat-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto st = SqliteStore::create({.path = dir_ + "/mtep.db"}, clock_);
    ASSERT_TRUE(st.ok()) << st.error().message();
    store_ = std::move(*st);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
  FakeClock clock_{1000};  // Unix seconds
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(StatValuesTest, CountsLiveValuesOfOneNamespaceAndTheirBytes) {
  ASSERT_TRUE(store_->putValue("box", "a", "12345", 0).ok());
  ASSERT_TRUE(store_->putValue("box", "b", "123", 2000).ok());
  ASSERT_TRUE(store_->putValue("box", "c", "1234567", 1500).ok());
  ASSERT_TRUE(store_->putValue("other", "a", "xxxxxxxxxx", 0).ok());
  auto stats = store_->statValues("box");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->count, 3u);
  EXPECT_EQ(stats->bytes, 15u);

  clock_.set(1500);  // "c" has expired: it no longer counts
  stats = store_->statValues("box");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->count, 2u);
  EXPECT_EQ(stats->bytes, 8u);
  // The generic version (list and sum) says the same.
  auto generic = store_->Store::statValues("box");
  ASSERT_TRUE(generic.ok());
  EXPECT_EQ(generic->count, 2u);
  EXPECT_EQ(generic->bytes, 8u);

  stats = store_->statValues("empty");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->count, 0u);
  EXPECT_EQ(stats->bytes, 0u);
}

}  // namespace
}  // namespace mtep::store

namespace mtep::store {
namespace {

TEST_F(StatValuesTest, ABatchIsSeenByItsOwnHandleAndByOthersOnlyOnceCommitted) {
  auto other = SqliteStore::create({.path = dir_ + "/mtep.db"}, clock_);
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(store_->begin().ok());
  ASSERT_TRUE(*store_->recordOnce("mmtp-stamp", "s1", 5000));
  EXPECT_FALSE(*store_->recordOnce("mmtp-stamp", "s1", 5000));  // its own write, seen
  ASSERT_TRUE(store_->putValue("box", "m1", "x", 0).ok());
  EXPECT_EQ((*other)->getValue("box", "m1").error().kind(), ErrorKind::kNotFound);
  ASSERT_TRUE(store_->commit().ok());
  EXPECT_EQ(*(*other)->getValue("box", "m1"), "x");
  // Rolled back: gone, and the stamp may be spent again.
  ASSERT_TRUE(store_->begin().ok());
  ASSERT_TRUE(*store_->recordOnce("mmtp-stamp", "s2", 5000));
  ASSERT_TRUE(store_->rollback().ok());
  EXPECT_TRUE(*(*other)->recordOnce("mmtp-stamp", "s2", 5000));
  EXPECT_TRUE(store_->rollback().ok());  // none open: nothing to do
}

}  // namespace
}  // namespace mtep::store

#pragma once
// NAME
//   sqlite_store.h - the Store on one SQLite database file
// SUMMARY
//   auto st = store::SqliteStore::create({.path = "/var/lib/mtep/mtep.db"}, clock);
//   (or store::openSqlite(), which returns it as a std::unique_ptr<Store>)
// DESCRIPTION
//   Opens (creating when missing) the database in WAL mode with
//   synchronous=NORMAL and the busy timeout from the options, then migrates
//   the schema forward inside one IMMEDIATE transaction, keyed by PRAGMA
//   user_version:
//     v1: revoked_tokens(token_id PRIMARY KEY, expires_at)
//         once_records(ns, key, expires_at, PRIMARY KEY(ns, key))
//     v2: named_values(ns, key, value, expires_at, PRIMARY KEY(ns, key)),
//         expires_at 0 = never expires
//   A database with a newer user_version than kSqliteSchemaVersion is
//   refused (kConfig) and left untouched. Statements are prepared once and
//   kept for the life of the store. recordOnce() is one INSERT ... ON
//   CONFLICT DO UPDATE ... WHERE expired statement, so it is atomic across
//   processes. An entry whose expires_at <= now counts as absent.
//   SQLite's BUSY, LOCKED, IOERR, READONLY, CANTOPEN, FULL, NOMEM and
//   PROTOCOL results are kTemporary (callers tempfail); a file that is not
//   a database is kConfig; anything else is kInternal.
//   forEachRevocation/forEachSpend/forEachValue read every live entry with
//   its expiry, in key order, without changing anything (mtepctl store
//   migrate copies them into Redis); they are not part of Store: only a
//   backend that can be read whole offers them.
//   One SqliteStore is used by one thread at a time; `clock` must outlive it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "store/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace mtep::store {

class SqliteStore final : public Store {
 public:
  static Result<std::unique_ptr<SqliteStore>> create(const SqliteOptions& options,
                                                     const Clock& clock);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  const char* backendName() const override { return "sqlite"; }
  Status revokeToken(std::string_view token_id, int64_t expires_at) override;
  Result<bool> isTokenRevoked(std::string_view token_id) override;
  Result<bool> recordOnce(std::string_view ns, std::string_view key, int64_t expires_at) override;
  Status putValue(std::string_view ns, std::string_view key, std::string_view value,
                  int64_t expires_at) override;
  Result<std::string> getValue(std::string_view ns, std::string_view key) override;
  Result<bool> eraseValue(std::string_view ns, std::string_view key) override;
  Result<std::vector<std::pair<std::string, std::string>>> listValues(std::string_view ns,
                                                                      size_t limit) override;
  Result<ValueStats> statValues(std::string_view ns) override;
  // BEGIN IMMEDIATE (the write lock at once: waits up to busy_timeout for
  // another writer), COMMIT, ROLLBACK.
  Status begin() override;
  Status commit() override;
  Status rollback() override;
  Result<uint64_t> purgeExpired() override;

  // The database's PRAGMA user_version (tests, mtepctl status).
  Result<int> schemaVersion();

  // Read-only export of the live entries (expires_at > now; values also
  // expires_at 0 = never), ordered by key. `visit` is called once per
  // entry; an error it returns stops the walk and is returned. Nothing is
  // written, so the store need not be in a batch; the walk is one read
  // transaction (a consistent view of each kind).
  struct Revocation {
    std::string token_id;
    int64_t expires_at = 0;
  };
  struct Spend {
    std::string ns;
    std::string key;
    int64_t expires_at = 0;
  };
  struct NamedValue {
    std::string ns;
    std::string key;
    std::string value;
    int64_t expires_at = 0;  // 0 = never expires
  };
  Status forEachRevocation(const std::function<Status(const Revocation&)>& visit);
  Status forEachSpend(const std::function<Status(const Spend&)>& visit);
  Status forEachValue(const std::function<Status(const NamedValue&)>& visit);

 private:
  struct DbClose {
    void operator()(sqlite3* db) const noexcept;
  };
  struct StmtFinalize {
    void operator()(sqlite3_stmt* st) const noexcept;
  };
  using DbPtr = std::unique_ptr<sqlite3, DbClose>;
  using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

  SqliteStore(std::string path, const Clock& clock) : path_(std::move(path)), clock_(clock) {}
  Status open(const SqliteOptions& options);
  Status migrate();
  Status prepareAll();
  Status exec(const char* sql);
  Status refreshRevocations();
  // Prepares `sql` (one use), binds now as ?1 and calls `row` per result row.
  Status walk(const char* what, const char* sql, const std::function<Status(sqlite3_stmt*)>& row);
  Error fail(const char* what, int rc) const;

  std::string path_;
  const Clock& clock_;
  DbPtr db_;  // declared before the statements: destroyed after them
  StmtPtr revoke_;
  StmtPtr record_once_;
  StmtPtr purge_revoked_;
  StmtPtr purge_once_;
  StmtPtr user_version_;
  StmtPtr data_version_;
  StmtPtr load_revoked_;
  StmtPtr put_value_;
  StmtPtr get_value_;
  StmtPtr erase_value_;
  StmtPtr list_values_;
  StmtPtr stat_values_;
  StmtPtr purge_values_;

  // The revocation list in memory: token id -> expires_at. Reloaded when
  // PRAGMA data_version says another connection wrote, checked at most every
  // revocation_refresh_ms.
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>> revoked_;
  std::chrono::milliseconds revocation_refresh_{250};
  std::chrono::steady_clock::time_point revoked_checked_{};
  int64_t revoked_version_ = -1;  // -1: not loaded yet
};

}  // namespace mtep::store

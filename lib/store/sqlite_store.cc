#include "store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <string>

#include "util/unique_fd.h"

namespace mtep::store {
namespace {

// Schema migrations, applied in order to databases older than `version`.
struct Migration {
  int version;
  const char* sql;
};
constexpr Migration kMigrations[] = {
    {1,
     "CREATE TABLE revoked_tokens ("
     "  token_id TEXT NOT NULL PRIMARY KEY,"
     "  expires_at INTEGER NOT NULL"
     ") WITHOUT ROWID;"
     "CREATE INDEX revoked_tokens_expires_at ON revoked_tokens(expires_at);"
     "CREATE TABLE once_records ("
     "  ns TEXT NOT NULL,"
     "  key TEXT NOT NULL,"
     "  expires_at INTEGER NOT NULL,"
     "  PRIMARY KEY (ns, key)"
     ") WITHOUT ROWID;"
     "CREATE INDEX once_records_expires_at ON once_records(expires_at);"},
    {2,
     "CREATE TABLE named_values ("
     "  ns TEXT NOT NULL,"
     "  key TEXT NOT NULL,"
     "  value BLOB NOT NULL,"
     "  expires_at INTEGER NOT NULL,"
     "  PRIMARY KEY (ns, key)"
     ") WITHOUT ROWID;"
     "CREATE INDEX named_values_expires_at ON named_values(expires_at);"},
    // Values of a kilobyte and more (MMTP mailboxes): a WITHOUT ROWID table
    // keeps at most about 1000 bytes of a row in its b-tree page and spills
    // the rest into an overflow page of its own, so a 1 KB message took
    // 5 KB of file and several page reads. A rowid table keeps rows of up
    // to a page inline; (ns, key) stays unique through its index.
    {3,
     "CREATE TABLE named_values_v3 ("
     "  ns TEXT NOT NULL,"
     "  key TEXT NOT NULL,"
     "  value BLOB NOT NULL,"
     "  expires_at INTEGER NOT NULL,"
     "  UNIQUE (ns, key)"
     ");"
     "INSERT INTO named_values_v3(ns, key, value, expires_at) "
     "  SELECT ns, key, value, expires_at FROM named_values;"
     "DROP TABLE named_values;"
     "ALTER TABLE named_values_v3 RENAME TO named_values;"
     "CREATE INDEX named_values_expires_at ON named_values(expires_at);"},
};
static_assert(sizeof kMigrations / sizeof kMigrations[0] == kSqliteSchemaVersion,
              "one migration per schema version");

ErrorKind kindOf(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_FULL:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
      return ErrorKind::kTemporary;
    case SQLITE_NOTADB:
      return ErrorKind::kConfig;
    default:
      return ErrorKind::kInternal;
  }
}

// Resets a statement (ending its implicit read transaction) and clears
// its bindings however the scope is left.
class StmtUse {
 public:
  explicit StmtUse(sqlite3_stmt* st) : st_(st) {}
  StmtUse(const StmtUse&) = delete;
  StmtUse& operator=(const StmtUse&) = delete;
  ~StmtUse() {
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
  }
  sqlite3_stmt* get() const { return st_; }

 private:
  sqlite3_stmt* st_;
};

int bindText(sqlite3_stmt* st, int index, std::string_view text) {
  if (text.size() > static_cast<size_t>(INT_MAX)) return SQLITE_TOOBIG;
  return sqlite3_bind_text(st, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

int bindBlob(sqlite3_stmt* st, int index, std::string_view bytes) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) return SQLITE_TOOBIG;
  // A zero-length blob still binds as a blob (not NULL) with a non-null pointer.
  return sqlite3_bind_blob(st, index, bytes.empty() ? "" : bytes.data(),
                           static_cast<int>(bytes.size()), SQLITE_STATIC);
}

// A column's bytes (text or blob), "" for NULL.
std::string columnBytes(sqlite3_stmt* st, int col) {
  const void* p = sqlite3_column_blob(st, col);
  const int n = sqlite3_column_bytes(st, col);
  if (p == nullptr || n <= 0) return std::string();
  return std::string(static_cast<const char*>(p), static_cast<size_t>(n));
}

}  // namespace

void SqliteStore::DbClose::operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
void SqliteStore::StmtFinalize::operator()(sqlite3_stmt* st) const noexcept {
  sqlite3_finalize(st);
}

SqliteStore::~SqliteStore() = default;

Error SqliteStore::fail(const char* what, int rc) const {
  std::string detail = sqlite3_errstr(rc);
  if (db_ && sqlite3_extended_errcode(db_.get()) == rc) {
    std::string msg = sqlite3_errmsg(db_.get());
    if (msg != detail) detail += " (" + msg + ")";
  }
  return Error(kindOf(rc), path_ + ": " + what + ": " + detail);
}

Status SqliteStore::exec(const char* sql) {
  int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return fail("cannot run SQL", rc);
  return okStatus();
}

Status SqliteStore::open(const SqliteOptions& options) {
  // Create a missing database file ourselves, mode 0640: SQLite would use
  // 0644, and it gives its -wal and -shm files the database file's mode.
  {
    UniqueFd created(::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640));
    if (!created.valid() && errno != EEXIST) {
      return Error(ErrorKind::kTemporary,
                   "store " + path_ + ": cannot create: " + std::strerror(errno));
    }
  }
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(
      path_.c_str(), &raw,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
      nullptr);
  db_.reset(raw);  // a handle is returned even on failure and must be closed
  if (rc != SQLITE_OK) return fail("cannot open the database", rc);
  sqlite3_busy_timeout(db_.get(), options.busy_timeout_ms > 0 ? options.busy_timeout_ms : 0);
  revocation_refresh_ = std::chrono::milliseconds(std::max(0, options.revocation_refresh_ms));

  sqlite3_stmt* st = nullptr;
  rc = sqlite3_prepare_v2(db_.get(), "PRAGMA journal_mode=WAL", -1, &st, nullptr);
  StmtPtr journal(st);
  if (rc != SQLITE_OK) return fail("cannot set WAL mode", rc);
  rc = sqlite3_step(journal.get());
  if (rc != SQLITE_ROW) return fail("cannot set WAL mode", rc);
  const auto* mode = reinterpret_cast<const char*>(sqlite3_column_text(journal.get(), 0));
  if (mode == nullptr || std::string_view(mode) != "wal") {
    return Error(ErrorKind::kTemporary, path_ + ": cannot switch to WAL mode (journal mode is " +
                                            std::string(mode ? mode : "unknown") + ")");
  }
  journal.reset();
  return exec("PRAGMA synchronous=NORMAL");
}

Status SqliteStore::migrate() {
  if (Status s = exec("BEGIN IMMEDIATE"); !s) return s;
  auto rollback = [this](Error e) -> Status {
    sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    return e;
  };
  auto version = schemaVersion();
  if (!version) return rollback(std::move(version).error());
  if (*version > kSqliteSchemaVersion) {
    return rollback(Error(ErrorKind::kConfig,
                          path_ + ": the database has schema version " + std::to_string(*version) +
                              ", newer than this mtep build knows (" +
                              std::to_string(kSqliteSchemaVersion) +
                              "); run the newer mtep or use another database file"));
  }
  for (const Migration& m : kMigrations) {
    if (m.version <= *version) continue;
    if (Status s = exec(m.sql); !s) return rollback(std::move(s).error());
    const std::string set = "PRAGMA user_version = " + std::to_string(m.version);
    if (Status s = exec(set.c_str()); !s) return rollback(std::move(s).error());
  }
  if (Status s = exec("COMMIT"); !s) return rollback(std::move(s).error());
  return okStatus();
}

Status SqliteStore::prepareAll() {
  struct Want {
    StmtPtr* slot;
    const char* sql;
  };
  const Want wants[] = {
      {&revoke_,
       "INSERT INTO revoked_tokens(token_id, expires_at) VALUES(?1, ?2) "
       "ON CONFLICT(token_id) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)"},
      {&record_once_,
       "INSERT INTO once_records(ns, key, expires_at) VALUES(?1, ?2, ?3) "
       "ON CONFLICT(ns, key) DO UPDATE SET expires_at = excluded.expires_at "
       "WHERE once_records.expires_at <= ?4"},
      {&purge_revoked_, "DELETE FROM revoked_tokens WHERE expires_at <= ?1"},
      {&data_version_, "PRAGMA data_version"},
      {&load_revoked_, "SELECT token_id, expires_at FROM revoked_tokens WHERE expires_at > ?1"},
      {&purge_once_, "DELETE FROM once_records WHERE expires_at <= ?1"},
      {&put_value_,
       "INSERT INTO named_values(ns, key, value, expires_at) VALUES(?1, ?2, ?3, ?4) "
       "ON CONFLICT(ns, key) DO UPDATE SET value = excluded.value, "
       "expires_at = excluded.expires_at"},
      {&get_value_,
       "SELECT value FROM named_values WHERE ns = ?1 AND key = ?2 "
       "AND (expires_at = 0 OR expires_at > ?3)"},
      // An expired entry is absent: erasing it reports false (it is still
      // deleted, as purgeExpired() would).
      {&erase_value_,
       "DELETE FROM named_values WHERE ns = ?1 AND key = ?2 "
       "RETURNING expires_at = 0 OR expires_at > ?3"},
      {&list_values_,
       "SELECT key, value FROM named_values WHERE ns = ?1 "
       "AND (expires_at = 0 OR expires_at > ?2) ORDER BY key LIMIT ?3"},
      {&stat_values_,
       "SELECT count(*), coalesce(sum(length(value)), 0) FROM named_values WHERE ns = ?1 "
       "AND (expires_at = 0 OR expires_at > ?2)"},
      {&purge_values_, "DELETE FROM named_values WHERE expires_at <> 0 AND expires_at <= ?1"},
  };
  for (const Want& w : wants) {
    sqlite3_stmt* st = nullptr;
    int rc = sqlite3_prepare_v3(db_.get(), w.sql, -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr);
    w.slot->reset(st);
    if (rc != SQLITE_OK) return fail("cannot prepare a statement", rc);
  }
  return okStatus();
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::create(const SqliteOptions& options,
                                                         const Clock& clock) {
  if (options.path.empty()) return Error(ErrorKind::kConfig, "store: no database path given");
  std::unique_ptr<SqliteStore> st(new SqliteStore(options.path, clock));
  if (Status s = st->open(options); !s) return std::move(s).error();
  if (Status s = st->migrate(); !s) return std::move(s).error();
  if (Status s = st->prepareAll(); !s) return std::move(s).error();
  return st;
}

Result<int> SqliteStore::schemaVersion() {
  if (!user_version_) {
    sqlite3_stmt* st = nullptr;
    int rc = sqlite3_prepare_v3(db_.get(), "PRAGMA user_version", -1, SQLITE_PREPARE_PERSISTENT,
                                &st, nullptr);
    user_version_.reset(st);
    if (rc != SQLITE_OK) return fail("cannot read the schema version", rc);
  }
  StmtUse use(user_version_.get());
  int rc = sqlite3_step(use.get());
  if (rc != SQLITE_ROW) return fail("cannot read the schema version", rc);
  return sqlite3_column_int(use.get(), 0);
}

Status SqliteStore::revokeToken(std::string_view token_id, int64_t expires_at) {
  StmtUse use(revoke_.get());
  int rc = bindText(use.get(), 1, token_id);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(use.get(), 2, expires_at);
  if (rc != SQLITE_OK) return fail("cannot revoke a token", rc);
  rc = sqlite3_step(use.get());
  if (rc != SQLITE_DONE) return fail("cannot revoke a token", rc);
  // Our own commits do not change data_version: update the copy directly.
  if (revoked_version_ >= 0) {
    auto [it, inserted] = revoked_.try_emplace(std::string(token_id), expires_at);
    if (!inserted) it->second = std::max(it->second, expires_at);
  }
  return okStatus();
}

Status SqliteStore::refreshRevocations() {
  const auto now = std::chrono::steady_clock::now();
  if (revoked_version_ >= 0 && now - revoked_checked_ < revocation_refresh_) return okStatus();
  int64_t version = 0;
  {
    StmtUse use(data_version_.get());
    int rc = sqlite3_step(use.get());
    if (rc != SQLITE_ROW) return fail("cannot look up a revocation", rc);
    version = sqlite3_column_int64(use.get(), 0);
  }
  if (version != revoked_version_) {
    std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>> fresh;
    StmtUse use(load_revoked_.get());
    int rc = sqlite3_bind_int64(use.get(), 1, clock_.now());
    if (rc != SQLITE_OK) return fail("cannot look up a revocation", rc);
    while ((rc = sqlite3_step(use.get())) == SQLITE_ROW) {
      const auto* id = reinterpret_cast<const char*>(sqlite3_column_text(use.get(), 0));
      if (id != nullptr) fresh.emplace(id, sqlite3_column_int64(use.get(), 1));
    }
    if (rc != SQLITE_DONE) return fail("cannot look up a revocation", rc);
    revoked_.swap(fresh);
    revoked_version_ = version;
  }
  revoked_checked_ = now;
  return okStatus();
}

Result<bool> SqliteStore::isTokenRevoked(std::string_view token_id) {
  if (Status s = refreshRevocations(); !s) return std::move(s).error();
  auto it = revoked_.find(token_id);
  return it != revoked_.end() && it->second > clock_.now();
}

Result<bool> SqliteStore::recordOnce(std::string_view ns, std::string_view key,
                                     int64_t expires_at) {
  StmtUse use(record_once_.get());
  int rc = bindText(use.get(), 1, ns);
  if (rc == SQLITE_OK) rc = bindText(use.get(), 2, key);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(use.get(), 3, expires_at);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(use.get(), 4, clock_.now());
  if (rc != SQLITE_OK) return fail("cannot record", rc);
  rc = sqlite3_step(use.get());
  if (rc != SQLITE_DONE) return fail("cannot record", rc);
  // 1 row inserted or an expired row taken over; 0 when a live row exists.
  return sqlite3_changes64(db_.get()) == 1;
}

Status SqliteStore::putValue(std::string_view ns, std::string_view key, std::string_view value,
                             int64_t expires_at) {
  if (expires_at < 0) return Error(ErrorKind::kInternal, "store: negative expiry for a value");
  StmtUse use(put_value_.get());
  int rc = bindText(use.get(), 1, ns);
  if (rc == SQLITE_OK) rc = bindText(use.get(), 2, key);
  if (rc == SQLITE_OK) rc = bindBlob(use.get(), 3, value);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(use.get(), 4, expires_at);
  if (rc != SQLITE_OK) return fail("cannot store a value", rc);
  rc = sqlite3_step(use.get());
  if (rc != SQLITE_DONE) return fail("cannot store a value", rc);
  return okStatus();
}

Result<std::string> SqliteStore::getValue(std::string_view ns, std::string_view key) {
  StmtUse use(get_value_.get());
  int rc = bindText(use.get(), 1, ns);
  if (rc == SQLITE_OK) rc = bindText(use.get(), 2, key);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(use.get(), 3, clock_.now());
  if (rc != SQLITE_OK) return fail("cannot read a value", rc);
  rc = sqlite3_step(use.get());
  if (rc == SQLITE_DONE) {
    return Error(ErrorKind::kNotFound,
                 "store: no value " + std::string(ns) + "/" + std::string(key));
  }
  if (rc != SQLITE_ROW) return fail("cannot read a value", rc);
  return columnBytes(use.get(), 0);
}

Result<bool> SqliteStore::eraseValue(std::string_view ns, std::string_view key) {
  StmtUse use(erase_value_.get());
  int rc = bindText(use.get(), 1, ns);
  if (rc == SQLITE_OK) rc = bindText(use.get(), 2, key);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(use.get(), 3, clock_.now());
  if (rc != SQLITE_OK) return fail("cannot erase a value", rc);
  bool live = false;
  while ((rc = sqlite3_step(use.get())) == SQLITE_ROW) {
    live = live || sqlite3_column_int(use.get(), 0) != 0;
  }
  if (rc != SQLITE_DONE) return fail("cannot erase a value", rc);
  return live;
}

Result<std::vector<std::pair<std::string, std::string>>> SqliteStore::listValues(
    std::string_view ns, size_t limit) {
  std::vector<std::pair<std::string, std::string>> out;
  if (limit == 0) return out;
  StmtUse use(list_values_.get());
  int rc = bindText(use.get(), 1, ns);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(use.get(), 2, clock_.now());
  if (rc == SQLITE_OK) {
    const auto capped = std::min<uint64_t>(limit, static_cast<uint64_t>(INT64_MAX));
    rc = sqlite3_bind_int64(use.get(), 3, static_cast<int64_t>(capped));
  }
  if (rc != SQLITE_OK) return fail("cannot list values", rc);
  while ((rc = sqlite3_step(use.get())) == SQLITE_ROW) {
    out.emplace_back(columnBytes(use.get(), 0), columnBytes(use.get(), 1));
  }
  if (rc != SQLITE_DONE) return fail("cannot list values", rc);
  return out;
}

Result<Store::ValueStats> SqliteStore::statValues(std::string_view ns) {
  StmtUse use(stat_values_.get());
  int rc = bindText(use.get(), 1, ns);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(use.get(), 2, clock_.now());
  if (rc != SQLITE_OK) return fail("cannot count values", rc);
  rc = sqlite3_step(use.get());
  if (rc != SQLITE_ROW) return fail("cannot count values", rc);
  ValueStats stats;
  stats.count = static_cast<uint64_t>(sqlite3_column_int64(use.get(), 0));
  stats.bytes = static_cast<uint64_t>(sqlite3_column_int64(use.get(), 1));
  return stats;
}

Status SqliteStore::begin() { return exec("BEGIN IMMEDIATE"); }

Status SqliteStore::commit() { return exec("COMMIT"); }

Status SqliteStore::rollback() {
  if (sqlite3_get_autocommit(db_.get()) != 0) return okStatus();  // none open
  return exec("ROLLBACK");
}

Result<uint64_t> SqliteStore::purgeExpired() {
  uint64_t removed = 0;
  const int64_t now = clock_.now();
  for (sqlite3_stmt* st : {purge_revoked_.get(), purge_once_.get(), purge_values_.get()}) {
    StmtUse use(st);
    int rc = sqlite3_bind_int64(st, 1, now);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) return fail("cannot purge expired entries", rc);
    removed += static_cast<uint64_t>(sqlite3_changes64(db_.get()));
  }
  return removed;
}

Status SqliteStore::walk(const char* what, const char* sql,
                         const std::function<Status(sqlite3_stmt*)>& row) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db_.get(), sql, -1, &raw, nullptr);
  StmtPtr st(raw);
  if (rc != SQLITE_OK) return fail(what, rc);
  rc = sqlite3_bind_int64(st.get(), 1, clock_.now());
  if (rc != SQLITE_OK) return fail(what, rc);
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
    if (Status s = row(st.get()); !s) return s;
  }
  if (rc != SQLITE_DONE) return fail(what, rc);
  return okStatus();
}

Status SqliteStore::forEachRevocation(const std::function<Status(const Revocation&)>& visit) {
  return walk("cannot read the revocations",
              "SELECT token_id, expires_at FROM revoked_tokens WHERE expires_at > ?1 "
              "ORDER BY token_id",
              [&](sqlite3_stmt* st) {
                return visit(Revocation{columnBytes(st, 0), sqlite3_column_int64(st, 1)});
              });
}

Status SqliteStore::forEachSpend(const std::function<Status(const Spend&)>& visit) {
  return walk("cannot read the spend records",
              "SELECT ns, key, expires_at FROM once_records WHERE expires_at > ?1 "
              "ORDER BY ns, key",
              [&](sqlite3_stmt* st) {
                return visit(Spend{columnBytes(st, 0), columnBytes(st, 1),
                                   sqlite3_column_int64(st, 2)});
              });
}

Status SqliteStore::forEachValue(const std::function<Status(const NamedValue&)>& visit) {
  return walk("cannot read the values",
              "SELECT ns, key, value, expires_at FROM named_values "
              "WHERE expires_at = 0 OR expires_at > ?1 ORDER BY ns, key",
              [&](sqlite3_stmt* st) {
                return visit(NamedValue{columnBytes(st, 0), columnBytes(st, 1),
                                        columnBytes(st, 2), sqlite3_column_int64(st, 3)});
              });
}

Result<std::unique_ptr<Store>> openSqlite(const SqliteOptions& options, const Clock& clock) {
  auto st = SqliteStore::create(options, clock);
  if (!st) return std::move(st).error();
  return std::unique_ptr<Store>(std::move(*st));
}

}  // namespace mtep::store

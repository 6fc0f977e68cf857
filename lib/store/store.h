#pragma once
// NAME
//   store.h - the suite's persistent state, behind one interface
// SUMMARY
//   auto st = store::open(config.store, clock);   // SQLite today, Redis later
//   st->revokeToken(id, expires); st->isTokenRevoked(id);
//   st->recordOnce("hashcash", stamp, expires)    // double-spend record
// DESCRIPTION
//   Every entry carries an expiry (Unix seconds); expired entries count as
//   absent and purgeExpired() removes them. A Store object is used by one
//   thread at a time; each thread or process opens its own. Errors are
//   kTemporary when the backend is unavailable or busy (callers tempfail,
//   never accept) and kInternal for impossible states.
//   SQLite: WAL mode, busy timeout, several processes on one host at once;
//   schema version in PRAGMA user_version, migrated forward on open; a newer
//   schema than this build knows is refused.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/clock.h"
#include "util/result.h"

namespace mtep::store {

class Store {
 public:
  virtual ~Store() = default;
  virtual const char* backendName() const = 0;

  // Token revocation. Revoking twice is not an error.
  virtual Status revokeToken(std::string_view token_id, int64_t expires_at) = 0;
  virtual Result<bool> isTokenRevoked(std::string_view token_id) = 0;

  // Records (ns, key) when absent or expired: true = newly recorded, false =
  // already present (a double spend). Atomic across processes.
  virtual Result<bool> recordOnce(std::string_view ns, std::string_view key,
                                  int64_t expires_at) = 0;

  // Small named values (TLS pins, later user keys): one value per (ns,
  // key), replaced by putValue. expires_at 0 = never expires. getValue of
  // an absent or expired entry is kNotFound.
  virtual Status putValue(std::string_view ns, std::string_view key, std::string_view value,
                          int64_t expires_at) = 0;
  virtual Result<std::string> getValue(std::string_view ns, std::string_view key) = 0;
  // True when an entry was removed.
  virtual Result<bool> eraseValue(std::string_view ns, std::string_view key) = 0;
  // Every live (key, value) of `ns`, ordered by key, at most `limit`.
  virtual Result<std::vector<std::pair<std::string, std::string>>> listValues(
      std::string_view ns, size_t limit) = 0;
  // How many live values `ns` holds and their bytes (for quotas). The
  // default lists them; backends answer it without reading the values.
  struct ValueStats {
    uint64_t count = 0;
    uint64_t bytes = 0;
  };
  virtual Result<ValueStats> statValues(std::string_view ns);

  // Removes expired entries; returns how many.
  virtual Result<uint64_t> purgeExpired() = 0;

  // A batch of writes committed together (group commit: one commit for
  // many requests). Between begin() and commit() every call of this
  // handle belongs to the batch; other handles see none of it until the
  // commit. rollback() forgets it. Not nested. The default does nothing
  // (each call commits alone), which is what a backend without
  // transactions offers.
  virtual Status begin() { return okStatus(); }
  virtual Status commit() { return okStatus(); }
  virtual Status rollback() { return okStatus(); }
};

struct SqliteOptions {
  std::string path;              // database file; its directory must exist
  int busy_timeout_ms = 2000;    // wait for other writers this long, then kTemporary
  // isTokenRevoked() answers from an in-memory copy of the revocation list,
  // re-checked against PRAGMA data_version at most this often. Revocations
  // made by other processes are seen within this time; this store's own at
  // once. 0 re-checks on every call.
  int revocation_refresh_ms = 250;
};

inline constexpr int kSqliteSchemaVersion = 3;

Result<std::unique_ptr<Store>> openSqlite(const SqliteOptions& options, const Clock& clock);

}  // namespace mtep::store

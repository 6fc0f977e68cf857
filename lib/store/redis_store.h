#pragma once
// NAME
//   redis_store.h - the Store on a Redis server that several MX hosts share
// SUMMARY
//   auto st = store::openRedis(options, clock);   // redis_connection.h: RedisOptions
//   st->recordOnce("hashcash", stamp, expires);     // SET NX EXAT: atomic across hosts
// DESCRIPTION
//   Keys (P = options.prefix, "mtep:" by default):
//     P once:NS:KEY        recordOnce: SET 1 NX EXAT expires (Redis expires it)
//     P v:NS:KEY           putValue: the value, EXAT expires (none for 0)
//     P i:NS               a sorted set (score 0) of NS's keys, for listValues
//                          (byte order, as SQLite's); members whose value has
//                          expired are dropped when a listing meets them
//     P revoked            a sorted set: token id, scored by its expiry
//     P revoked:version    INCRed with every revocation (MULTI/EXEC with the ZADD)
//   NS may hold ':' (MMTP's "mmtp-box:OWNER"): no namespace of the suite
//   is another one followed by ':', so a key still names one entry.
//   isTokenRevoked() never waits on Redis: a thread of this store re-checks
//   P revoked:version every revocation_refresh_ms (250 ms) and reloads the
//   list when it changed (and every minute, dropping expired ids), so a
//   revocation made on any host is enforced everywhere within about
//   0.3 s. When Redis does not answer, the last list is trusted for
//   revocation_stale_ms (1 s) after its last good check, then every check
//   is kTemporary (mtepd answers Z 4.3.0) until Redis answers again: a
//   token revoked during an outage can never pass. The first call waits
//   for the refresh thread's first attempt (up to the timeout); if that
//   failed, the calls after it are kTemporary at once until a load
//   succeeds (they never wait on Redis).
//   Every other call is one round trip (or one pipeline) on this store's
//   connection, bounded by timeout_ms; a failure is kTemporary and drops
//   the connection, and the next call dials again (asking the sentinels
//   afresh, so a failover is followed without a restart). The process logs
//   one warning when Redis goes away and one notice when it is back, not
//   one per call. begin()/commit() are the default (each write stands
//   alone: Redis has no transaction that reads its own writes).
//   Error replies: OOM (maxmemory with noeviction), READONLY, LOADING,
//   MASTERDOWN and the rest are kTemporary: nothing is accepted as new.
//   One RedisStore is used by one thread at a time (its own refresh thread
//   aside); `clock` must outlive it.

#include <memory>
#include <string>

#include "store/redis_connection.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/result.h"

namespace mtep::store {

// Connects at once: kConfig (a refused password, an unknown database, an
// unreadable CA file, a server certificate that CA does not vouch for)
// fails; a Redis that does not answer yet gives a store
// that tempfails until it does (start-up is not refused for it).
Result<std::unique_ptr<Store>> openRedis(const RedisOptions& options, const Clock& clock);

// The process-wide state of Redis as the stores saw it last, for the one
// log line per change (and tests): true while it answers.
bool redisReachable();
// Every user of Redis in the process reports here: a call that reached
// Redis (Up), or one that could not (Down, with why). Logs one warning at
// the first Down after an Up (or at start) and one notice at the first Up
// after a Down, never one line per call. Thread-safe.
void noteRedisUp(const std::string& label);
void noteRedisDown(const std::string& label, const std::string& why);

}  // namespace mtep::store

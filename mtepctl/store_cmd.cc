// mtepctl store migrate | check: copy a site's SQLite state into the Redis
// its [store] redis_ keys name, and ask the configured store whether it
// answers and how fast.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "store/open.h"
#include "store/redis_store.h"
#include "store/sqlite_store.h"
#include "util/log.h"

namespace mtep::ctl {
namespace {

using store::SqliteStore;

// The namespace a count is kept under: MMTP keeps one per mailbox
// ("mmtp-box:alice@example.org"), counted together as "mmtp-box:*".
std::string nsGroup(const std::string& ns) {
  const size_t colon = ns.find(':');
  return colon == std::string::npos ? ns : ns.substr(0, colon + 1) + "*";
}

std::string expiryText(int64_t expires_at) {
  return expires_at == 0 ? "never expires" : "until " + formatTime(expires_at);
}

// "tlspin 2, e2ee-user 1"
std::string byNamespace(const std::map<std::string, uint64_t>& counts) {
  std::string out;
  for (const auto& [ns, n] : counts) {
    if (!out.empty()) out += ", ";
    out += ns + " " + std::to_string(n);
  }
  return out;
}

struct Counts {
  uint64_t revocations = 0;
  uint64_t spends = 0;
  uint64_t spends_present = 0;  // already in Redis: kept as they are
  uint64_t values = 0;
  std::map<std::string, uint64_t> spends_by_ns;
  std::map<std::string, uint64_t> values_by_ns;
};

void printCounts(const Counts& c, bool dry_run) {
  const char* verb = dry_run ? "to copy" : "copied";
  std::printf("revocations: %llu %s\n", static_cast<unsigned long long>(c.revocations), verb);
  std::printf("spends: %llu %s", static_cast<unsigned long long>(c.spends), verb);
  if (!dry_run) {
    std::printf(", %llu already in redis", static_cast<unsigned long long>(c.spends_present));
  }
  if (!c.spends_by_ns.empty()) std::printf(" (%s)", byNamespace(c.spends_by_ns).c_str());
  std::printf("\nvalues: %llu %s", static_cast<unsigned long long>(c.values), verb);
  if (!c.values_by_ns.empty()) std::printf(" (%s)", byNamespace(c.values_by_ns).c_str());
  std::printf("\n");
}

// `message` without a leading "WHERE: " (the store's errors name it
// already; ours put it first).
std::string after(const std::string& where, const std::string& message) {
  const std::string prefix = where + ": ";
  return message.starts_with(prefix) ? message.substr(prefix.size()) : message;
}

// The milliseconds between two points, for the latency line.
double msBetween(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// One round trip of store check: put, get (the same bytes back), erase (it
// was there), a spend recorded, then refused. kInternal when the store
// answers but wrongly.
Status roundTrip(store::Store& st, const std::string& key, int64_t now) {
  const std::string value = "store check " + key;
  if (Status s = st.putValue(kStoreCheckNamespace, key, value, now + 60); !s) {
    return Error(s.error().kind(), "putValue: " + s.error().message());
  }
  auto got = st.getValue(kStoreCheckNamespace, key);
  if (!got) return Error(got.error().kind(), "getValue: " + got.error().message());
  if (*got != value) return Error(ErrorKind::kInternal, "getValue returned other bytes than were put");
  auto erased = st.eraseValue(kStoreCheckNamespace, key);
  if (!erased) return Error(erased.error().kind(), "eraseValue: " + erased.error().message());
  if (!*erased) return Error(ErrorKind::kInternal, "eraseValue found nothing to erase");
  auto first = st.recordOnce(kStoreCheckNamespace, key, now + 60);
  if (!first) return Error(first.error().kind(), "recordOnce: " + first.error().message());
  auto second = st.recordOnce(kStoreCheckNamespace, key, now + 60);
  if (!second) return Error(second.error().kind(), "recordOnce: " + second.error().message());
  if (!*first || *second) {
    return Error(ErrorKind::kInternal, "recordOnce did not record once (first " +
                                           std::string(*first ? "new" : "refused") + ", second " +
                                           (*second ? "new" : "refused") + ")");
  }
  return okStatus();
}

}  // namespace

int storeMigrate(const GlobalOptions& global, const StoreMigrateOptions& options) {
  if (options.to != "redis") {
    printError("store migrate: --to %s: only redis is a target", options.to.c_str());
    return kExitUsage;
  }
  GlobalOptions from = global;
  if (!options.from_config.empty()) from.config_path = options.from_config;
  config::ConfigPtr cfg = prepare(from);
  if (!cfg) return kExitTrouble;
  const config::StoreConfig& sc = cfg->store;

  // The source: the SQLite file [store] path names, which must exist
  // (opening would otherwise create an empty one).
  struct stat sb{};
  if (::stat(sc.path.c_str(), &sb) != 0) {
    printError("store migrate: sqlite %s: %s", sc.path.c_str(), std::strerror(errno));
    return kExitTrouble;
  }
  store::SqliteOptions so;
  so.path = sc.path;
  so.busy_timeout_ms = static_cast<int>(std::clamp<int64_t>(sc.busy_timeout, 0, 3600) * 1000);
  auto source = SqliteStore::create(so, SystemClock::instance());
  if (!source) {
    printError("store migrate: sqlite %s", source.error().message().c_str());
    return exitCodeFor(source.error());
  }

  // The target: the redis_ keys, whatever backend [store] names today.
  config::StoreConfig target_cfg = sc;
  target_cfg.backend = "redis";
  const std::string where = store::describe(target_cfg);
  std::printf("from: sqlite %s\nto: %s (prefix \"%s\")\n", sc.path.c_str(), where.c_str(),
              sc.redis_prefix.c_str());

  Counts counts;
  SqliteStore& src = **source;
  if (options.dry_run) {
    std::printf("dry run: nothing is written\n");
    Status s = src.forEachRevocation([&](const SqliteStore::Revocation& r) {
      std::printf("revocation %s %s\n", r.token_id.c_str(), expiryText(r.expires_at).c_str());
      ++counts.revocations;
      return okStatus();
    });
    if (s) {
      s = src.forEachSpend([&](const SqliteStore::Spend& r) {
        if (r.ns == kStoreCheckNamespace) return okStatus();
        std::printf("spend %s %s %s\n", r.ns.c_str(), r.key.c_str(),
                    expiryText(r.expires_at).c_str());
        ++counts.spends;
        ++counts.spends_by_ns[nsGroup(r.ns)];
        return okStatus();
      });
    }
    if (s) {
      s = src.forEachValue([&](const SqliteStore::NamedValue& v) {
        if (v.ns == kStoreCheckNamespace) return okStatus();
        std::printf("value %s %s (%zu bytes) %s\n", v.ns.c_str(), v.key.c_str(), v.value.size(),
                    expiryText(v.expires_at).c_str());
        ++counts.values;
        ++counts.values_by_ns[nsGroup(v.ns)];
        return okStatus();
      });
    }
    if (!s) {
      printError("store migrate: sqlite %s", s.error().message().c_str());
      return exitCodeFor(s.error());
    }
    printCounts(counts, true);
    return kExitOk;
  }

  auto ro = store::redisOptions(target_cfg);
  if (!ro) {
    printError("store migrate: %s", ro.error().message().c_str());
    return exitCodeFor(ro.error());
  }
  auto target = store::openRedis(*ro, SystemClock::instance());
  if (!target) {
    printError("store migrate: %s: %s", where.c_str(),
               after(where, target.error().message()).c_str());
    return exitCodeFor(target.error());
  }
  store::Store& dst = **target;
  // A Redis that is down still gives a store (it tempfails): ask it once
  // before the first write, so that the message is about the connection.
  if (auto probe = dst.getValue(kStoreCheckNamespace, "migrate-probe");
      !probe && probe.error().kind() != ErrorKind::kNotFound) {
    printError("store migrate: %s: %s", where.c_str(), after(where, probe.error().message()).c_str());
    return exitCodeFor(probe.error());
  }

  // Each kind in turn; the first failure stops the copy (running it again
  // finishes it: every step is idempotent).
  std::string failed_at;
  Status s = src.forEachRevocation([&](const SqliteStore::Revocation& r) -> Status {
    if (Status w = dst.revokeToken(r.token_id, r.expires_at); !w) {
      failed_at = "revocation " + r.token_id;
      return w;
    }
    ++counts.revocations;
    return okStatus();
  });
  if (s) {
    s = src.forEachSpend([&](const SqliteStore::Spend& r) -> Status {
      if (r.ns == kStoreCheckNamespace) return okStatus();  // store check's own
      auto fresh = dst.recordOnce(r.ns, r.key, r.expires_at);
      if (!fresh) {
        failed_at = "spend " + r.ns + " " + r.key;
        return std::move(fresh).error();
      }
      ++(*fresh ? counts.spends : counts.spends_present);
      ++counts.spends_by_ns[nsGroup(r.ns)];
      return okStatus();
    });
  }
  if (s) {
    s = src.forEachValue([&](const SqliteStore::NamedValue& v) -> Status {
      if (v.ns == kStoreCheckNamespace) return okStatus();
      if (Status w = dst.putValue(v.ns, v.key, v.value, v.expires_at); !w) {
        failed_at = "value " + v.ns + " " + v.key;
        return w;
      }
      ++counts.values;
      ++counts.values_by_ns[nsGroup(v.ns)];
      return okStatus();
    });
  }
  printCounts(counts, false);
  if (!s) {
    if (failed_at.empty()) {
      printError("store migrate: sqlite %s", s.error().message().c_str());
    } else {
      printError("store migrate: %s: %s (what is counted above was copied; run it again "
                 "to finish)",
                 failed_at.c_str(), s.error().message().c_str());
    }
    return exitCodeFor(s.error());
  }
  log::notice("store migrate: sqlite %s -> %s: %llu revocations, %llu spends, %llu values",
              sc.path.c_str(), where.c_str(), static_cast<unsigned long long>(counts.revocations),
              static_cast<unsigned long long>(counts.spends + counts.spends_present),
              static_cast<unsigned long long>(counts.values));
  return kExitOk;
}

int storeCheck(const GlobalOptions& global, const StoreCheckOptions& options) {
  config::ConfigPtr cfg = prepare(global);
  if (!cfg) return kExitTrouble;
  const std::string where = store::describe(cfg->store);
  std::printf("store: %s\n", where.c_str());
  std::fflush(stdout);
  auto st = store::open(cfg->store, SystemClock::instance());
  if (!st) {
    printError("store check: %s: %s", where.c_str(), after(where, st.error().message()).c_str());
    return exitCodeFor(st.error());
  }
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "host");
  const std::string base = std::string(host) + "-" + std::to_string(::getpid()) + "-" +
                           std::to_string(SystemClock::instance().now());
  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(options.count));
  for (int i = 0; i < options.count; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    Status s = roundTrip(**st, base + "-" + std::to_string(i), SystemClock::instance().now());
    const auto t1 = std::chrono::steady_clock::now();
    if (!s) {
      printError("store check: %s: %s", where.c_str(), after(where, s.error().message()).c_str());
      return exitCodeFor(s.error());
    }
    ms.push_back(msBetween(t0, t1));
  }
  std::sort(ms.begin(), ms.end());
  const size_t mid = ms.size() / 2;
  const double median = ms.size() % 2 == 1 ? ms[mid] : (ms[mid - 1] + ms[mid]) / 2;
  std::printf("round trips: %d (put, get, erase, recordOnce twice): min %.2f ms, median %.2f ms, "
              "max %.2f ms\n",
              options.count, ms.front(), median, ms.back());
  std::printf("OK\n");
  return kExitOk;
}

}  // namespace mtep::ctl

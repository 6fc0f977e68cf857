#include "store/open.h"

#include <algorithm>
#include <climits>
#include <fstream>

#include "store/redis_store.h"
#include "util/log.h"

namespace mtep::store {
namespace {

// The first line of the password file, without its line end.
Result<std::string> readPassword(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error(ErrorKind::kConfig, "[store] redis_password_file " + path + ": cannot be read");
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  if (line.empty()) {
    return Error(ErrorKind::kConfig, "[store] redis_password_file " + path + ": the first line is empty");
  }
  return line;
}

}  // namespace

Result<RedisOptions> redisOptions(const config::StoreConfig& cfg) {
  RedisOptions o;
  o.server = {cfg.redis_server.host, cfg.redis_server.port};
  o.socket = cfg.redis_socket;
  o.database = cfg.redis_database;
  o.user = cfg.redis_user;
  if (!cfg.redis_password_file.empty()) {
    auto pw = readPassword(cfg.redis_password_file);
    if (!pw) return std::move(pw).error();
    o.password = std::move(*pw);
  }
  o.tls = cfg.redis_tls;
  o.tls_ca_file = cfg.redis_tls_ca_file;
  o.prefix = cfg.redis_prefix;
  o.timeout_ms = static_cast<int>(std::clamp<int64_t>(cfg.redis_timeout_ms, 1, INT_MAX));
  for (const auto& s : cfg.redis_sentinels) o.sentinels.push_back({s.host, s.port});
  o.master_name = cfg.redis_master_name;
  return o;
}

Result<std::unique_ptr<Store>> open(const config::StoreConfig& cfg, const Clock& clock) {
  if (cfg.backend == "redis") {
    auto o = redisOptions(cfg);
    if (!o) return std::move(o).error();
    return openRedis(*o, clock);
  }
  if (cfg.backend != "sqlite") {
    return Error(ErrorKind::kConfig,
                 "store backend \"" + cfg.backend + "\" is not supported by this build");
  }
  SqliteOptions options;
  options.path = cfg.path;
  options.busy_timeout_ms =
      static_cast<int>(std::clamp<int64_t>(cfg.busy_timeout, 0, INT_MAX / 1000) * 1000);
  return openSqlite(options, clock);
}

std::string describe(const config::StoreConfig& cfg) {
  if (cfg.backend != "redis") return "sqlite " + cfg.path;
  if (!cfg.redis_sentinels.empty()) return "redis master " + cfg.redis_master_name + " (sentinels)";
  if (!cfg.redis_socket.empty()) return "redis " + cfg.redis_socket;
  return "redis " + cfg.redis_server.toString();
}

std::string openedPassword(const config::StoreConfig& cfg) {
  if (cfg.backend != "redis" || cfg.redis_password_file.empty()) return {};
  auto pw = readPassword(cfg.redis_password_file);
  return pw ? *pw : std::string();
}

bool restartNeeded(const config::StoreConfig& a, const config::StoreConfig& b) {
  if (a.backend != b.backend || a.path != b.path || a.busy_timeout != b.busy_timeout) return true;
  if (a.backend != "redis") return false;
  return a.redis_server != b.redis_server || a.redis_socket != b.redis_socket ||
         a.redis_database != b.redis_database || a.redis_user != b.redis_user ||
         a.redis_password_file != b.redis_password_file || a.redis_tls != b.redis_tls ||
         a.redis_tls_ca_file != b.redis_tls_ca_file || a.redis_prefix != b.redis_prefix ||
         a.redis_timeout_ms != b.redis_timeout_ms || a.redis_sentinels != b.redis_sentinels ||
         a.redis_master_name != b.redis_master_name;
}

void reviewPassword(const config::StoreConfig& next, const std::string& opened,
                    const char* daemon) {
  if (next.backend != "redis" || next.redis_password_file.empty()) return;
  auto o = redisOptions(next);
  if (!o) {
    log::error("SIGHUP: %s; %s keeps the password it started with, and a restart would fail",
               o.error().message().c_str(), daemon);
    return;
  }
  if (o->password == opened) return;
  auto c = RedisConnection::open(*o);
  const std::string file = next.redis_password_file;
  if (c) {
    log::notice("SIGHUP: [store] redis_password_file %s holds a new password, which %s "
                "accepts; restart %s to use it (the store keeps the old one until then)",
                file.c_str(), describe(next).c_str(), daemon);
  } else if (c.error().kind() == ErrorKind::kConfig) {
    log::error("SIGHUP: [store] redis_password_file %s: the new password is refused (%s); %s "
               "keeps the old one, and a restart would fail until the file is fixed",
               file.c_str(), c.error().message().c_str(), daemon);
  } else {
    log::warning("SIGHUP: [store] redis_password_file %s holds a new password that cannot be "
                 "checked now (%s); restart %s to use it (the store keeps the old one until then)",
                 file.c_str(), c.error().message().c_str(), daemon);
  }
}

}  // namespace mtep::store

#include "store/open.h"

#include <algorithm>
#include <climits>
#include <fstream>

#include "store/redis_store.h"

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

}  // namespace mtep::store

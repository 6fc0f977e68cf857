#include "store/redis_store.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "util/log.h"

namespace mtep::store {
namespace {

using Steady = std::chrono::steady_clock;

// -1 unknown (nothing tried yet), 0 down, 1 up: one log line per change.
std::atomic<int> g_reachable{-1};

void noteUp(const std::string& label) { noteRedisUp(label); }
void noteDown(const std::string& label, const std::string& why) { noteRedisDown(label, why); }

std::string num(int64_t v) { return std::to_string(v); }

// putValue: the value and its index entry, together.
constexpr const char* kPutScript =
    "if ARGV[2] == '0' then redis.call('SET', KEYS[1], ARGV[1]) "
    "else redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[2]) end "
    "redis.call('ZADD', KEYS[2], 0, ARGV[3]) return 1";
// eraseValue: 1 when a live value was removed.
constexpr const char* kEraseScript =
    "local n = redis.call('DEL', KEYS[1]) redis.call('ZREM', KEYS[2], ARGV[1]) return n";

class RedisStore final : public Store {
 public:
  RedisStore(RedisOptions options, const Clock& clock)
      : options_(std::move(options)), clock_(clock) {
    label_ = !options_.sentinels.empty() ? "master " + options_.master_name
             : !options_.socket.empty()  ? options_.socket
                                         : endpointText(options_.server);
  }
  ~RedisStore() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (refresher_.joinable()) refresher_.join();
  }

  const char* backendName() const override { return "redis"; }

  // Connects now (openRedis): kConfig errors are returned, others logged.
  Status connectNow() {
    auto c = RedisConnection::open(options_);
    if (!c) {
      if (c.error().kind() == ErrorKind::kConfig) return std::move(c).error();
      noteDown(label_, c.error().message());
      return okStatus();
    }
    conn_ = std::move(*c);
    noteUp(label_);
    return okStatus();
  }

  Status revokeToken(std::string_view token_id, int64_t expires_at) override {
    const std::string exp = num(expires_at);
    auto r = pipeline(conn_, {{"MULTI"},
                              {"ZADD", key("revoked"), "GT", exp, token_id},
                              {"INCR", key("revoked:version")},
                              {"EXEC"}});
    if (!r) return std::move(r).error();
    if (Status s = checkReplies(*r); !s) return s;
    // Our own revocation counts at once, before the next refresh.
    std::lock_guard<std::mutex> lock(mu_);
    auto& e = revoked_[std::string(token_id)];
    e = std::max(e, expires_at);
    return okStatus();
  }

  Result<bool> isTokenRevoked(std::string_view token_id) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (!refresher_.joinable()) {
      refresher_ = std::thread([this] { refreshLoop(); });
    }
    // Only the refresh thread's first attempt is waited for (once, up to
    // the timeout): while Redis has never answered, later calls are
    // kTemporary at once instead of each waiting again.
    if (!attempted_once_) {
      cv_.wait_for(lock, std::chrono::milliseconds(options_.timeout_ms + 100),
                   [this] { return attempted_once_ || stopping_; });
    }
    const auto stale = std::chrono::milliseconds(options_.revocation_stale_ms);
    if (!loaded_once_ || Steady::now() - checked_at_ > stale) {
      return Error(ErrorKind::kTemporary,
                   "redis " + label_ + ": the revocation list could not be confirmed" +
                       (last_error_.empty() ? "" : ": " + last_error_));
    }
    auto it = revoked_.find(std::string(token_id));
    return it != revoked_.end() && it->second > clock_.now();
  }

  Result<bool> recordOnce(std::string_view ns, std::string_view k, int64_t expires_at) override {
    if (Status s = checkNs(ns); !s) return std::move(s).error();
    auto r = command(conn_, {"SET", key("once:", ns, k), "1", "NX", "EXAT",
                             num(std::max<int64_t>(expires_at, 1))});
    if (!r) return std::move(r).error();
    if (r->isError()) return replyError(*r);
    return !r->isNil();
  }

  Status putValue(std::string_view ns, std::string_view k, std::string_view value,
                  int64_t expires_at) override {
    if (Status s = checkNs(ns); !s) return s;
    if (expires_at != 0 && expires_at <= clock_.now()) {
      // Already expired: absent, as in SQLite.
      auto e = eraseValue(ns, k);
      if (!e) return std::move(e).error();
      return okStatus();
    }
    auto r = command(conn_, {"EVAL", kPutScript, "2", key("v:", ns, k), key("i:", ns), value,
                             num(expires_at), k});
    if (!r) return std::move(r).error();
    if (r->isError()) return replyError(*r);
    return okStatus();
  }

  Result<std::string> getValue(std::string_view ns, std::string_view k) override {
    if (Status s = checkNs(ns); !s) return std::move(s).error();
    auto r = command(conn_, {"GET", key("v:", ns, k)});
    if (!r) return std::move(r).error();
    if (r->isError()) return replyError(*r);
    if (r->isNil()) return Error(ErrorKind::kNotFound, "no value");
    return std::move(r->str);
  }

  Result<bool> eraseValue(std::string_view ns, std::string_view k) override {
    if (Status s = checkNs(ns); !s) return std::move(s).error();
    auto r = command(conn_, {"EVAL", kEraseScript, "2", key("v:", ns, k), key("i:", ns), k});
    if (!r) return std::move(r).error();
    if (r->isError()) return replyError(*r);
    return r->integer > 0;
  }

  Result<std::vector<std::pair<std::string, std::string>>> listValues(std::string_view ns,
                                                                      size_t limit) override {
    if (Status s = checkNs(ns); !s) return std::move(s).error();
    std::vector<std::pair<std::string, std::string>> out;
    const std::string index = key("i:", ns);
    std::string from = "-";
    constexpr size_t kBatch = 256;
    while (out.size() < limit) {
      auto keys = command(conn_, {"ZRANGEBYLEX", index, from, "+", "LIMIT", "0", num(kBatch)});
      if (!keys) return std::move(keys).error();
      if (keys->isError()) return replyError(*keys);
      if (keys->elements.empty()) break;
      std::vector<std::string> names;
      names.reserve(keys->elements.size());
      for (auto& e : keys->elements) names.push_back(key("v:", ns, e.str));
      std::vector<std::string_view> mget{"MGET"};
      for (const auto& n : names) mget.push_back(n);
      auto values = command(conn_, mget);
      if (!values) return std::move(values).error();
      if (values->isError()) return replyError(*values);
      if (values->elements.size() != keys->elements.size()) {
        return Error(ErrorKind::kTemporary, "redis " + label_ + ": MGET answered out of step");
      }
      std::vector<std::string_view> gone{"ZREM", index};
      for (size_t i = 0; i < keys->elements.size(); ++i) {
        if (values->elements[i].isNil()) {
          gone.push_back(keys->elements[i].str);
        } else if (out.size() < limit) {
          out.emplace_back(keys->elements[i].str, std::move(values->elements[i].str));
        }
      }
      if (gone.size() > 2) {
        auto z = command(conn_, gone);  // tidying: a failure here changes no answer
        if (!z) return std::move(z).error();
      }
      if (keys->elements.size() < kBatch) break;
      from = "(" + keys->elements.back().str;
    }
    return out;
  }

  Result<uint64_t> purgeExpired() override {
    auto r = command(conn_, {"ZREMRANGEBYSCORE", key("revoked"), "-inf", num(clock_.now())});
    if (!r) return std::move(r).error();
    if (r->isError()) return replyError(*r);
    return static_cast<uint64_t>(std::max<int64_t>(r->integer, 0));
  }

 private:
  // prefix + a, prefix + a + ns, prefix + a + ns + ":" + k.
  std::string key(std::string_view a) const { return options_.prefix + std::string(a); }
  std::string key(std::string_view a, std::string_view ns) const {
    return key(a) + std::string(ns);
  }
  std::string key(std::string_view a, std::string_view ns, std::string_view k) const {
    std::string out = key(a, ns);
    out += ':';
    out += k;
    return out;
  }

  // A namespace may hold ':' (MMTP keeps one per mailbox, "mmtp-box:" and
  // the owner): the suite's namespaces are fixed names, and none is
  // another followed by ':', so "P v:NS:KEY" names one entry.
  static Status checkNs(std::string_view ns) {
    if (ns.empty()) return Error(ErrorKind::kInternal, "redis store: empty namespace");
    return okStatus();
  }

  Error replyError(const RedisReply& r) const {
    return Error(ErrorKind::kTemporary, "redis " + label_ + ": " + r.str);
  }

  Status checkReplies(const std::vector<RedisReply>& rs) const {
    for (const RedisReply& r : rs) {
      if (r.isError()) return replyError(r);
      if (r.type == RedisReply::Type::kArray) {
        if (Status s = checkReplies(r.elements); !s) return s;
      }
    }
    // EXEC answers nil when the transaction was aborted.
    if (!rs.empty() && rs.back().isNil()) {
      return Error(ErrorKind::kTemporary, "redis " + label_ + ": transaction aborted");
    }
    return okStatus();
  }

  // One command on `conn`, dialling first when it is closed or broken.
  Result<RedisReply> command(std::unique_ptr<RedisConnection>& conn,
                             const std::vector<std::string_view>& args) {
    if (Status s = ensure(conn); !s) return std::move(s).error();
    auto r = conn->command(args);
    return settle(conn, std::move(r));
  }

  Result<std::vector<RedisReply>> pipeline(std::unique_ptr<RedisConnection>& conn,
                                           const std::vector<std::vector<std::string_view>>& cmds) {
    if (Status s = ensure(conn); !s) return std::move(s).error();
    auto r = conn->pipeline(cmds);
    return settle(conn, std::move(r));
  }

  template <typename T>
  Result<T> settle(std::unique_ptr<RedisConnection>& conn, Result<T> r) {
    if (!r) {
      noteDown(label_, r.error().message());
      conn.reset();
      return std::move(r).error();
    }
    noteUp(label_);
    return r;
  }

  Status ensure(std::unique_ptr<RedisConnection>& conn) {
    if (conn && !conn->broken()) return okStatus();
    conn.reset();
    auto c = RedisConnection::open(options_);
    if (!c) {
      noteDown(label_, c.error().message());
      return Error(ErrorKind::kTemporary, c.error().message());
    }
    conn = std::move(*c);
    return okStatus();
  }

  // The refresh thread: its own connection, so the caller's thread never
  // waits on it.
  void refreshLoop() {
    std::unique_ptr<RedisConnection> conn;
    std::string loaded_version = "\x01unloaded";
    Steady::time_point full_at{};
    for (;;) {
      std::string error;
      auto v = command(conn, {"GET", key("revoked:version")});
      if (v && !v->isError()) {
        const std::string version = v->isNil() ? "" : v->str;
        if (version != loaded_version || Steady::now() - full_at > std::chrono::minutes(1)) {
          auto list = command(conn, {"ZRANGEBYSCORE", key("revoked"), "(" + num(clock_.now()),
                                     "+inf", "WITHSCORES"});
          if (list && !list->isError()) {
            std::unordered_map<std::string, int64_t> fresh;
            for (size_t i = 0; i + 1 < list->elements.size(); i += 2) {
              fresh[list->elements[i].str] = std::strtoll(list->elements[i + 1].str.c_str(), nullptr, 10);
            }
            std::lock_guard<std::mutex> lock(mu_);
            revoked_ = std::move(fresh);
            loaded_version = version;
            full_at = Steady::now();
            checked_at_ = Steady::now();
            loaded_once_ = true;
            last_error_.clear();
          } else {
            error = list ? list->str : list.error().message();
          }
        } else {
          std::lock_guard<std::mutex> lock(mu_);
          checked_at_ = Steady::now();
          last_error_.clear();
        }
      } else {
        error = v ? v->str : v.error().message();
      }
      std::unique_lock<std::mutex> lock(mu_);
      if (!error.empty()) last_error_ = error;
      attempted_once_ = true;
      cv_.notify_all();
      if (cv_.wait_for(lock, std::chrono::milliseconds(options_.revocation_refresh_ms),
                       [this] { return stopping_; })) {
        return;
      }
    }
  }

  RedisOptions options_;
  const Clock& clock_;
  std::string label_;
  std::unique_ptr<RedisConnection> conn_;  // the caller's thread

  std::mutex mu_;
  std::condition_variable cv_;
  std::thread refresher_;
  bool stopping_ = false;
  bool loaded_once_ = false;
  bool attempted_once_ = false;  // the refresh thread tried once (loaded or not)
  Steady::time_point checked_at_{};
  std::string last_error_;
  std::unordered_map<std::string, int64_t> revoked_;  // id -> expires_at
};

}  // namespace

bool redisReachable() { return g_reachable.load() == 1; }

void noteRedisUp(const std::string& label) {
  if (g_reachable.exchange(1) == 0) log::notice("redis store %s: answering again", label.c_str());
}

void noteRedisDown(const std::string& label, const std::string& why) {
  if (g_reachable.exchange(0) != 0) {
    log::warning("redis store %s: %s; everything that needs the store tempfails until it answers",
                 label.c_str(), why.c_str());
  }
}

Result<std::unique_ptr<Store>> openRedis(const RedisOptions& options, const Clock& clock) {
  if (!options.sentinels.empty() && options.master_name.empty()) {
    return Error(ErrorKind::kConfig, "[store] redis_sentinels needs redis_master_name");
  }
  auto st = std::make_unique<RedisStore>(options, clock);
  if (Status s = st->connectNow(); !s) return std::move(s).error();
  return std::unique_ptr<Store>(std::move(st));
}

}  // namespace mtep::store

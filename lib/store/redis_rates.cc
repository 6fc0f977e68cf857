// NAME
//   redis_rates.cc - shared rate counters: one Lua script per check, a
//   batch per pipeline
// DESCRIPTION
//   See redis_rates.h.

#include "store/redis_rates.h"

#include <string_view>
#include <utility>

#include "store/redis_store.h"

namespace mtep::store {
namespace {

// ARGV[1] = the key prefix, then (key, window, limit) per key; no KEYS.
// Returns 0 when every key was under its limit and all were counted, else
// the 1-based index of the first key over (nothing counted). One MGET reads
// every current and previous window; a current window not there yet is
// created with its expiry (SET EXAT), one already there is INCRed (it has
// its expiry since it was created): one write per key.
// Lua numbers are doubles: Unix seconds and windows are exact in them, and
// ".." prints them as integers (%.14g).
constexpr const char* kScript = R"lua(
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1])
local n = math.floor((#ARGV - 1) / 3)
local names, starts = {}, {}
for i = 0, n - 1 do
  local window = tonumber(ARGV[3 + 3 * i])
  local start = now - (now % window)
  local base = ARGV[1] .. 'rate:' .. window .. ':'
  names[2 * i + 1] = base .. start .. ':' .. ARGV[2 + 3 * i]
  names[2 * i + 2] = base .. (start - window) .. ':' .. ARGV[2 + 3 * i]
  starts[i + 1] = start
end
local v = redis.call('MGET', unpack(names))
for i = 0, n - 1 do
  local window = tonumber(ARGV[3 + 3 * i])
  local previous = tonumber(v[2 * i + 2]) or 0
  local current = tonumber(v[2 * i + 1]) or 0
  local estimate = previous * (window - (now - starts[i + 1])) / window + current
  if estimate + 1 > tonumber(ARGV[4 + 3 * i]) then return i + 1 end
end
for i = 0, n - 1 do
  if v[2 * i + 1] then
    redis.call('INCR', names[2 * i + 1])
  else
    redis.call('SET', names[2 * i + 1], 1, 'EXAT', starts[i + 1] + 2 * tonumber(ARGV[3 + 3 * i]))
  end
end
return 0
)lua";

bool valid(const RateRequest& r) {
  if (r.empty() || r.size() > kMaxRateKeys) return false;
  for (const RateKey& k : r) {
    if (k.window <= 0 || k.limit == 0) return false;
  }
  return true;
}

// The EVALSHA command of one request; `args` holds the strings it points at.
std::vector<std::string_view> evalsha(const std::string& sha, const std::string& prefix,
                                      const RateRequest& r, std::vector<std::string>* args) {
  args->clear();
  args->reserve(3 * r.size());
  for (const RateKey& k : r) {
    args->push_back(std::to_string(k.window));
    args->push_back(std::to_string(k.limit));
  }
  std::vector<std::string_view> cmd{"EVALSHA", sha, "0", prefix};
  for (size_t i = 0; i < r.size(); ++i) {
    cmd.push_back(r[i].key);
    cmd.push_back((*args)[2 * i]);
    cmd.push_back((*args)[2 * i + 1]);
  }
  return cmd;
}

bool noScript(const RedisReply& r) { return r.isError() && r.str.starts_with("NOSCRIPT"); }

RateVerdict verdictOf(const RedisReply& r, size_t keys) {
  RateVerdict v;
  if (r.isError()) {
    v.detail = r.str;
  } else if (r.type != RedisReply::Type::kInteger || r.integer < 0 ||
             static_cast<uint64_t>(r.integer) > keys) {
    v.detail = "unexpected reply to the rate script";
  } else if (r.integer == 0) {
    v.kind = RateVerdict::Kind::kUnder;
  } else {
    v.kind = RateVerdict::Kind::kOver;
    v.over = static_cast<size_t>(r.integer - 1);
  }
  return v;
}

}  // namespace

RedisRates::RedisRates(RedisOptions options) : options_(std::move(options)) {
  label_ = !options_.sentinels.empty() ? "master " + options_.master_name
           : !options_.socket.empty()  ? options_.socket
                                       : endpointText(options_.server);
}

RedisRates::~RedisRates() = default;

const char* RedisRates::script() { return kScript; }

std::unique_ptr<RedisConnection> RedisRates::take(std::string* error) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (!idle_.empty()) {
      std::unique_ptr<RedisConnection> c = std::move(idle_.back());
      idle_.pop_back();
      if (c && !c->broken()) return c;
    }
  }
  auto c = RedisConnection::open(options_);
  if (!c) {
    *error = c.error().message();
    return nullptr;
  }
  return std::move(*c);
}

void RedisRates::giveBack(std::unique_ptr<RedisConnection> conn) {
  if (!conn || conn->broken()) return;
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(std::move(conn));
}

std::vector<RateVerdict> RedisRates::checkAndCount(const std::vector<RateRequest>& batch) {
  std::vector<RateVerdict> out(batch.size());
  std::vector<size_t> todo;  // indexes of the valid requests
  todo.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    if (valid(batch[i])) {
      todo.push_back(i);
    } else {
      out[i].detail = "malformed rate check";
    }
  }
  if (todo.empty()) return out;
  const auto failAll = [&](const std::string& why) {
    for (size_t i : todo) out[i].detail = why;
    noteRedisDown(label_, why);
    return out;
  };

  std::string error;
  std::unique_ptr<RedisConnection> conn = take(&error);
  if (!conn) return failAll(error);

  std::string sha;
  {
    std::lock_guard<std::mutex> lock(mu_);
    sha = sha_;
  }
  const auto load = [&]() -> bool {
    auto r = conn->command({"SCRIPT", "LOAD", kScript});
    if (!r) {
      error = r.error().message();
      return false;
    }
    if (r->isError() || r->type != RedisReply::Type::kString) {
      error = r->isError() ? r->str : "unexpected reply to SCRIPT LOAD";
      return false;
    }
    sha = r->str;
    std::lock_guard<std::mutex> lock(mu_);
    sha_ = sha;
    return true;
  };
  if (sha.empty() && !load()) {
    if (conn->broken()) return failAll(error);
    for (size_t i : todo) out[i].detail = error;  // an error reply: Redis is there
    noteRedisUp(label_);
    giveBack(std::move(conn));
    return out;
  }

  // Sends `which` (indexes into batch) as one pipeline; replies in order.
  std::vector<std::vector<std::string>> storage;
  const auto send = [&](const std::vector<size_t>& which) -> Result<std::vector<RedisReply>> {
    storage.assign(which.size(), {});
    std::vector<std::vector<std::string_view>> cmds;
    cmds.reserve(which.size());
    for (size_t j = 0; j < which.size(); ++j) {
      cmds.push_back(evalsha(sha, options_.prefix, batch[which[j]], &storage[j]));
    }
    return conn->pipeline(cmds);
  };

  auto replies = send(todo);
  if (!replies) return failAll(replies.error().message());
  std::vector<size_t> again;
  for (size_t j = 0; j < todo.size(); ++j) {
    const RedisReply& r = (*replies)[j];
    if (noScript(r)) {
      again.push_back(todo[j]);
    } else {
      out[todo[j]] = verdictOf(r, batch[todo[j]].size());
    }
  }
  if (!again.empty()) {
    // Redis lost its scripts (restarted, SCRIPT FLUSH): those ran nothing.
    if (!load()) {
      if (conn->broken()) {
        todo = again;
        return failAll(error);
      }
      for (size_t i : again) out[i].detail = error;
    } else {
      auto retried = send(again);
      if (!retried) {
        todo = again;
        return failAll(retried.error().message());
      }
      for (size_t j = 0; j < again.size(); ++j) {
        out[again[j]] = verdictOf((*retried)[j], batch[again[j]].size());
      }
    }
  }
  noteRedisUp(label_);
  giveBack(std::move(conn));
  return out;
}

}  // namespace mtep::store

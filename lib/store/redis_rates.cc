// NAME
//   redis_rates.cc - shared rate counters: one Lua script per check, a
//   batch per pipeline
// DESCRIPTION
//   See redis_rates.h.

#include "store/redis_rates.h"

#include <algorithm>
#include <deque>
#include <string_view>
#include <utility>

#include "store/redis_store.h"

namespace mtep::store {
namespace {

// ARGV[1] = the key prefix, ARGV[2] = the number of requests, then per
// request its number of keys and (key, window, limit) per key; no KEYS.
// Returns one integer per request: 0 when every key was under its limit
// and all were counted, else the 1-based index of the first key over
// (nothing of that request counted). The requests are decided in order,
// each seeing the counts of those before it, as if each ran alone.
// A window's counters are the fields of one hash, P rate:WINDOW:START;
// per window the script makes one HMGET of the current hash, one of the
// previous, one HSET of the new counts (read above, so absolute values
// are exact: nothing else runs meanwhile), one EXPIREAT and one UNLINK of
// the hash before the previous (freed off Redis's main thread when big):
// five calls per window whatever the batch's size.
// Lua numbers are doubles: Unix seconds, windows and counts are exact in
// them, and ".." and redis.call print them as integers (%.17g).
// Lua's unpack() takes at most about 8000 values: calls go by 1000.
constexpr const char* kScript = R"lua(
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1])
local prefix = ARGV[1]
local nreq = tonumber(ARGV[2])
local p = 3
local reqs, windows, order = {}, {}, {}
for r = 1, nreq do
  local k = tonumber(ARGV[p])
  p = p + 1
  local keys = {}
  for j = 1, k do
    local field, window, limit = ARGV[p], tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2])
    p = p + 3
    local w = windows[window]
    if not w then
      local start = now - (now % window)
      local base = prefix .. 'rate:' .. window .. ':'
      w = {window = window, start = start, cur = base .. start, prev = base .. (start - window),
           old = base .. (start - 2 * window), fields = {}, seen = {}, added = {}}
      windows[window] = w
      order[#order + 1] = w
    end
    if not w.seen[field] then
      w.seen[field] = true
      w.fields[#w.fields + 1] = field
    end
    keys[j] = {w = w, field = field, limit = limit}
  end
  reqs[r] = keys
end
local function call(cmd, hash, list)
  local out = {}
  for i = 1, #list, 1000 do
    local args = {hash}
    for j = i, math.min(i + 999, #list) do args[#args + 1] = list[j] end
    local v = redis.call(cmd, unpack(args))
    if type(v) == 'table' then
      for j = 1, #v do out[list[i + j - 1]] = tonumber(v[j]) or 0 end
    end
  end
  return out
end
for _, w in ipairs(order) do
  w.current = call('HMGET', w.cur, w.fields)
  w.previous = call('HMGET', w.prev, w.fields)
end
local out = {}
for r = 1, nreq do
  local over = 0
  for j, k in ipairs(reqs[r]) do
    local w = k.w
    local current = w.current[k.field] + (w.added[k.field] or 0)
    local estimate = w.previous[k.field] * (w.window - (now - w.start)) / w.window + current
    if estimate + 1 > k.limit then
      over = j
      break
    end
  end
  if over == 0 then
    for _, k in ipairs(reqs[r]) do k.w.added[k.field] = (k.w.added[k.field] or 0) + 1 end
  end
  out[r] = over
end
for _, w in ipairs(order) do
  local set = {}
  for _, f in ipairs(w.fields) do
    local a = w.added[f]
    if a then
      set[#set + 1] = f
      set[#set + 1] = w.current[f] + a
    end
  end
  if #set > 0 then
    call('HSET', w.cur, set)
    redis.call('EXPIREAT', w.cur, w.start + 2 * w.window)
  end
  redis.call('UNLINK', w.old)
end
return out
)lua";

bool valid(const RateRequest& r) {
  if (r.empty() || r.size() > kMaxRateKeys) return false;
  for (const RateKey& k : r) {
    if (k.window <= 0 || k.limit == 0) return false;
  }
  return true;
}

// The EVALSHA of the requests `which` (indexes into batch) as one script
// call; `args` holds the strings it points at.
std::vector<std::string_view> evalsha(const std::string& sha, const std::string& prefix,
                                      const std::vector<RateRequest>& batch,
                                      const std::vector<size_t>& which,
                                      std::deque<std::string>* args) {
  args->clear();
  std::vector<std::string_view> cmd{"EVALSHA", sha, "0", prefix};
  cmd.push_back(args->emplace_back(std::to_string(which.size())));
  for (size_t i : which) {
    const RateRequest& r = batch[i];
    cmd.push_back(args->emplace_back(std::to_string(r.size())));
    for (const RateKey& k : r) {
      cmd.push_back(k.key);
      cmd.push_back(args->emplace_back(std::to_string(k.window)));
      cmd.push_back(args->emplace_back(std::to_string(k.limit)));
    }
  }
  return cmd;
}

bool noScript(const RedisReply& r) { return r.isError() && r.str.starts_with("NOSCRIPT"); }

RateVerdict verdictOf(const RedisReply& r, size_t keys) {
  RateVerdict v;
  if (r.type != RedisReply::Type::kInteger || r.integer < 0 ||
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

  // The requests in `which` (indexes into batch), kRequestsPerScript to a
  // script call, the calls as one pipeline. The verdicts go to `out`; the
  // requests of a call that Redis answered NOSCRIPT (it ran nothing) go to
  // `again`. False: the connection failed (`error` says why).
  const auto run = [&](const std::vector<size_t>& which, std::vector<size_t>* again) -> bool {
    std::vector<std::vector<size_t>> calls;
    for (size_t j = 0; j < which.size(); j += kRequestsPerScript) {
      calls.emplace_back(which.begin() + static_cast<std::ptrdiff_t>(j),
                         which.begin() + static_cast<std::ptrdiff_t>(
                                             std::min(which.size(), j + kRequestsPerScript)));
    }
    std::vector<std::deque<std::string>> storage(calls.size());
    std::vector<std::vector<std::string_view>> cmds;
    cmds.reserve(calls.size());
    for (size_t c = 0; c < calls.size(); ++c) {
      cmds.push_back(evalsha(sha, options_.prefix, batch, calls[c], &storage[c]));
    }
    auto replies = conn->pipeline(cmds);
    if (!replies) {
      error = replies.error().message();
      return false;
    }
    for (size_t c = 0; c < calls.size(); ++c) {
      const RedisReply& r = (*replies)[c];
      if (noScript(r)) {
        again->insert(again->end(), calls[c].begin(), calls[c].end());
      } else if (r.isError()) {
        // An error reply (OOM with maxmemory and noeviction): the script
        // wrote nothing, so none of its requests was counted.
        for (size_t i : calls[c]) out[i].detail = r.str;
      } else if (r.type != RedisReply::Type::kArray || r.elements.size() != calls[c].size()) {
        for (size_t i : calls[c]) out[i].detail = "unexpected reply to the rate script";
      } else {
        for (size_t j = 0; j < calls[c].size(); ++j) {
          out[calls[c][j]] = verdictOf(r.elements[j], batch[calls[c][j]].size());
        }
      }
    }
    return true;
  };

  std::vector<size_t> again;
  if (!run(todo, &again)) return failAll(error);
  if (!again.empty()) {
    // Redis lost its scripts (restarted, SCRIPT FLUSH): those ran nothing.
    todo = again;
    if (!load()) {
      if (conn->broken()) return failAll(error);
      for (size_t i : again) out[i].detail = error;
    } else {
      std::vector<size_t> still;
      if (!run(again, &still)) return failAll(error);
      for (size_t i : still) out[i].detail = "the rate script is not loaded";
    }
  }
  noteRedisUp(label_);
  giveBack(std::move(conn));
  return out;
}

}  // namespace mtep::store

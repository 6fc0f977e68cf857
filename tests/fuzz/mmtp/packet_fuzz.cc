// packet_fuzz - bytes from a peer into mmtp::Session over a Gateway (an
// in-memory store, a fake login and a fake MTA, a fixed config and clock),
// in slices, as mtepd's MMTP service feeds them: the bytes a feed() gives
// back (unconsumed(): after a pending SEND, or over the output budget) are
// fed again first, a pending SEND is answered by the fake MTA (250, 550 or
// 451, chosen by the input) and complete()d.
// Invariants: no crash; every reply is one line of a JSON object whose
// status is "OK" or "ERROR"; one reply per request framed (a JsonFramer
// fed the bytes the session took, in the same pieces, counts them) and
// requests() agrees; a feed gives back only bytes of its own input and
// writes at most its budget and one reply; what an attacker must not get:
// an OK to RECEIVE, RECEIVE_FILTERED, CHECK or REGISTER_KEY without TLS and
// the owner's login, an OK to a SEND whose messageHash is not the
// content's, whose stamp does not check, which was OK before (replay), or
// which is for a domain not served.
// The corpus (tests/fuzz/corpus/packet) holds requests with stamps valid
// at the fixed clock (difficulty 1), so the fuzzer starts past the checks.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../netstring/fuzz_slices.h"
#include "config/config.h"
#include "mmtp/address.h"
#include "mmtp/gateway.h"
#include "mmtp/json.h"
#include "mmtp/session.h"
#include "pow/pow.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/log.h"

namespace {

using mtep::Error;
using mtep::ErrorKind;
using mtep::Result;
using mtep::Status;
using mtep::mmtp::FrameLimits;
using mtep::mmtp::FrameStatus;
using mtep::mmtp::Json;

constexpr int64_t kNowMs = 1'800'000'000'000;  // the corpus's stamps are minted at this time
constexpr size_t kMaxValue = 64 * 1024;

// The Store interface in memory: expiry ignored (the clock is fixed).
class MemStore final : public mtep::store::Store {
 public:
  const char* backendName() const override { return "memory"; }
  Status revokeToken(std::string_view, int64_t) override { return mtep::okStatus(); }
  Result<bool> isTokenRevoked(std::string_view) override { return false; }
  Result<bool> recordOnce(std::string_view ns, std::string_view key, int64_t) override {
    return spent_.insert(std::string(ns) + "\n" + std::string(key)).second;
  }
  Status putValue(std::string_view ns, std::string_view key, std::string_view value,
                  int64_t) override {
    values_[std::string(ns)][std::string(key)] = std::string(value);
    return mtep::okStatus();
  }
  Result<std::string> getValue(std::string_view ns, std::string_view key) override {
    auto n = values_.find(std::string(ns));
    if (n == values_.end()) return Error(ErrorKind::kNotFound, "none");
    auto k = n->second.find(std::string(key));
    if (k == n->second.end()) return Error(ErrorKind::kNotFound, "none");
    return k->second;
  }
  Result<bool> eraseValue(std::string_view ns, std::string_view key) override {
    auto n = values_.find(std::string(ns));
    return n != values_.end() && n->second.erase(std::string(key)) > 0;
  }
  Result<std::vector<std::pair<std::string, std::string>>> listValues(std::string_view ns,
                                                                      size_t limit) override {
    std::vector<std::pair<std::string, std::string>> out;
    auto n = values_.find(std::string(ns));
    if (n == values_.end()) return out;
    for (const auto& kv : n->second) {
      if (out.size() == limit) break;
      out.push_back(kv);
    }
    return out;
  }
  Result<uint64_t> purgeExpired() override { return uint64_t{0}; }

 private:
  std::set<std::string> spent_;
  std::map<std::string, std::map<std::string, std::string>> values_;
};

// data.auth "good:USER" logs USER in; (nobody)%(beta.test) is no user.
class FakeLogin final : public mtep::mmtp::Authenticator {
 public:
  mtep::mmtp::AuthResult login(const mtep::mmtp::Client&, std::string_view payload,
                               std::string* user) override {
    if (payload.substr(0, 5) != "good:") return mtep::mmtp::AuthResult::kFailed;
    *user = std::string(payload.substr(5));
    return mtep::mmtp::AuthResult::kOk;
  }
  mtep::mmtp::AuthResult known(std::string_view user) override {
    return user == "nobody@beta.test" ? mtep::mmtp::AuthResult::kFailed
                                      : mtep::mmtp::AuthResult::kOk;
  }
};

class FakeMta final : public mtep::mmtp::Injector {
 public:
  void inject(mtep::mmtp::Injection injection, std::function<void(Status)> done) override {
    FUZZ_CHECK(!injection.message.empty());
    FUZZ_CHECK(injection.message.find("\r\n\r\n") != std::string::npos);
    pending.push_back(std::move(done));
  }
  std::vector<std::function<void(Status)>> pending;
};

const mtep::config::Config& fuzzConfig() {
  static const mtep::config::Config c = [] {
    mtep::config::Config c;
    c.mmtp.difficulty = 1;
    c.mmtp.max_request_size = kMaxValue;
    c.mmtp.max_reply_size = 4 * kMaxValue;
    c.mmtp.mailbox_quota = 8;
    c.mmtp.mailbox_size_limit = 65536;
    c.domains["beta.test"].mmtp_delivery = mtep::config::MmtpDelivery::kMailbox;
    c.domains["mta.test"].mmtp_delivery = mtep::config::MmtpDelivery::kMta;
    return c;
  }();
  return c;
}

const Json* member(const Json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

std::string stringAt(const Json* j) {
  return j != nullptr && j->is_string() ? j->get<std::string>() : std::string();
}

// Checks one reply (already a JSON object with a status) against the
// request it answers (`request` is discarded when the event was not a
// value, or the value was not JSON).
void checkAnswer(const Json& request, const Json& reply, bool tls,
                 std::set<std::string>* ok_stamps) {
  const bool ok = stringAt(member(reply, "status")) == "OK";
  if (!ok || !request.is_object()) return;
  const std::string action = stringAt(member(request, "action"));
  const Json* data = member(request, "data");
  if (action == "RECEIVE" || action == "RECEIVE_FILTERED" || action == "CHECK" ||
      action == "REGISTER_KEY") {
    // Only the owner, logged in over TLS.
    FUZZ_CHECK(tls);
    FUZZ_CHECK(data != nullptr);
    const std::string email = stringAt(data == nullptr ? nullptr : member(*data, "email"));
    const auto mail = mtep::mmtp::toMail(mtep::mmtp::canonical(email));
    FUZZ_CHECK(mail.has_value());
    FUZZ_CHECK(stringAt(member(*data, "auth")) == "good:" + *mail);
  }
  if (action == "SEND") {
    FUZZ_CHECK(data != nullptr);
    const Json* p = member(*data, "packet");
    FUZZ_CHECK(p != nullptr);
    const Json* content = member(*p, "content");
    const Json* verification = member(*p, "verification");
    FUZZ_CHECK(content != nullptr && verification != nullptr);
    FUZZ_CHECK(stringAt(member(*verification, "messageHash")) == mtep::mmtp::messageHash(*content));
    const std::string sender = stringAt(member(*p, "sender"));
    const std::string recipient = stringAt(member(*p, "recipient"));
    const std::string domain = std::string(mtep::mmtp::domainOf(recipient));
    FUZZ_CHECK(domain == "beta.test" || domain == "mta.test");
    const Json* meta = member(*p, "meta");
    FUZZ_CHECK(meta != nullptr);
    const Json* stamp = member(*meta, "hashcashToken");
    FUZZ_CHECK(stamp != nullptr);
    const std::string token = stringAt(member(*stamp, "token"));
    const Json* ts = member(*meta, "timestamp");
    FUZZ_CHECK(ts != nullptr && ts->is_number());
    const auto c = mtep::pow::checkMmtp(
        token, sender + ":" + recipient + ":" + std::to_string(ts->get<int64_t>()), 1, kNowMs,
        3600 * 1000);
    FUZZ_CHECK(c.verdict == mtep::pow::Verdict::kValid);
    FUZZ_CHECK(ok_stamps->insert(token).second);  // never twice
    const std::string id = stringAt(member(reply, "messageId"));
    FUZZ_CHECK(id.size() == 32 && id.find_first_not_of("0123456789abcdef") == std::string::npos);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    mtep::log::setMinLevel(mtep::log::Level::kError);
    return true;
  }();
  (void)quiet;
  const std::string_view in = mtep::fuzz::asView(data, size);
  const uint64_t h = mtep::fuzz::hashBytes(in);
  const bool tls = (h & 1) != 0;
  const mtep::config::Config& config = fuzzConfig();

  MemStore store;
  FakeLogin login;
  FakeMta mta;
  mtep::FakeClock clock(kNowMs / 1000);
  mtep::mmtp::Gateway gateway(store, clock, &login, &mta, "mx.beta.test", [] { return kNowMs; });
  std::vector<Json> later;
  const FrameLimits limits{kMaxValue, 32};
  mtep::mmtp::Session session(gateway, {"192.0.2.1:1", "192.0.2.1", tls}, limits,
                              [&later](Json j) { later.push_back(std::move(j)); });

  std::string out = session.greeting(true);
  mtep::mmtp::JsonFramer reference(limits);  // fed what the session took
  std::vector<Json> requests;                // one per framed event
  auto count = [&](std::string_view taken) {
    reference.feed(taken);
    std::string value;
    for (FrameStatus s; (s = reference.next(&value)) != FrameStatus::kNeedMore;) {
      requests.push_back(s == FrameStatus::kValue ? mtep::mmtp::parseJson(value)
                                                  : Json(Json::value_t::discarded));
    }
  };
  // The fake MTA answers what waits: 250, 550 or 451 by the input's hash.
  uint64_t answer = h >> 1;
  auto settle = [&] {
    while (!mta.pending.empty()) {
      auto done = std::move(mta.pending.front());
      mta.pending.erase(mta.pending.begin());
      const int pick = static_cast<int>(answer % 3);
      answer = answer / 3 + 7;
      done(pick == 0   ? mtep::okStatus()
           : pick == 1 ? Status(Error(ErrorKind::kInvalid, "550 no"))
                       : Status(Error(ErrorKind::kTemporary, "451 later")));
      FUZZ_CHECK(later.size() == 1);
      FUZZ_CHECK(session.pending());
      session.complete(later.front(), config, &out);
      later.clear();
    }
    FUZZ_CHECK(!session.pending());
  };

  std::string held;  // given back by the last feed: fed again first
  auto feedOnce = [&](std::string_view piece) {
    const std::string bytes = held + std::string(piece);
    const size_t before = out.size();
    session.feed(bytes, config, &out);
    const size_t back = session.unconsumed();
    FUZZ_CHECK(back <= bytes.size());
    // The budget, and one reply more (at most max_reply_size).
    FUZZ_CHECK(out.size() - before <= mtep::mmtp::Session::kOutputBudget + 4 * kMaxValue + 4096);
    count(std::string_view(bytes).substr(0, bytes.size() - back));
    held = bytes.substr(bytes.size() - back);
    settle();
  };
  for (std::string_view piece : mtep::fuzz::slices(in, h >> 9)) feedOnce(piece);
  // What was given back, until all of it is taken (each feed answers one
  // request at least, or takes no complete one).
  for (int round = 0; !held.empty() && round < 100000; ++round) {
    const size_t was = held.size();
    feedOnce({});
    if (held.size() == was) break;  // an incomplete value: it waits for more
  }

  // One reply line per request, the greeting first.
  std::vector<Json> replies;
  size_t start = 0;
  while (start < out.size()) {
    const size_t nl = out.find('\n', start);
    FUZZ_CHECK(nl != std::string::npos);
    const Json r = mtep::mmtp::parseJson(std::string_view(out).substr(start, nl - start));
    FUZZ_CHECK(r.is_object());
    const std::string status = stringAt(member(r, "status"));
    FUZZ_CHECK(status == "OK" || status == "ERROR");
    if (status == "ERROR") FUZZ_CHECK(!stringAt(member(r, "message")).empty());
    replies.push_back(r);
    start = nl + 1;
  }
  FUZZ_CHECK(!replies.empty());
  FUZZ_CHECK(replies.size() - 1 == requests.size());
  FUZZ_CHECK(session.requests() == requests.size());
  std::set<std::string> ok_stamps;
  for (size_t i = 0; i < requests.size(); ++i) {
    checkAnswer(requests[i], replies[i + 1], tls, &ok_stamps);
  }
  return 0;
}

#pragma once
// NAME
//   fakes.h - recording Actions, scripted TokenVerifier and TokenMinter for
//   the milter session tests
// DESCRIPTION
//   RecordingActions keeps every header change as one line of text
//   ("add MTEP-Token: v", "insert Authentication-Results: v",
//   "delete Authentication-Results #2") and can be told to fail.
//   FakeVerifier answers from a script (then a default) and records the
//   queries; FakeMinter returns a fixed token or error and records calls.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "milter/session.h"
#include "milter/verifier.h"

namespace mtep::milter::testing {

class RecordingActions : public Actions {
 public:
  Status addHeader(std::string_view name, std::string_view value) override {
    return record("add " + std::string(name) + ": " + std::string(value));
  }
  Status insertHeader(std::string_view name, std::string_view value) override {
    return record("insert " + std::string(name) + ": " + std::string(value));
  }
  Status deleteHeader(std::string_view name, int index) override {
    return record("delete " + std::string(name) + " #" + std::to_string(index));
  }

  std::vector<std::string> ops;
  bool fail = false;  // every change fails (after being recorded)

 private:
  Status record(std::string op) {
    ops.push_back(std::move(op));
    if (fail) return Error(ErrorKind::kInternal, "smfi call failed");
    return okStatus();
  }
};

class FakeVerifier : public TokenVerifier {
 public:
  FakeVerifier() {
    fallback.kind = VerifyKind::kValid;
    fallback.server = "mx.alpha.test:6211";
    fallback.detail = "K2.7.0 valid";
  }
  VerifyOutcome verify(const VerifyQuery& query) override {
    queries.push_back(query);
    if (script.empty()) return fallback;
    VerifyOutcome out = script.front();
    script.pop_front();
    return out;
  }
  static VerifyOutcome outcome(VerifyKind kind, std::string detail = "",
                               std::string server = "mx.alpha.test:6211") {
    VerifyOutcome o;
    o.kind = kind;
    o.server = std::move(server);
    o.detail = std::move(detail);
    return o;
  }

  std::deque<VerifyOutcome> script;
  VerifyOutcome fallback;
  std::vector<VerifyQuery> queries;
};

class FakeMinter : public TokenMinter {
 public:
  Result<std::string> mint(std::string_view sender_canonical, int64_t ttl) override {
    calls.push_back({std::string(sender_canonical), ttl});
    if (error) return Error(error->kind(), error->message());
    return token;
  }
  struct Call {
    std::string sender;
    int64_t ttl;
  };
  std::string token = "AQAAAAFn0xF2AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJA";
  std::optional<Error> error;
  std::vector<Call> calls;
};

}  // namespace mtep::milter::testing

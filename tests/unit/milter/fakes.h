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
//   FakeStampChecker judges each recipient by a script (recipient ->
//   verdict; the default "valid" when a stamp names the recipient, else
//   "malformed") unless told to answer kTemporary, and records queries;
//   spend() records the recipients it spent for; FakeStampMinter returns "1:BITS:...:<recipient>:..." (or
//   an error, or a fixed value) and records its queries. FakeKeyFetcher
//   answers one outcome (a key, none, temporary) and records the queries.
//   describe(), expectSafeReply() and loadConfig() are the helpers every
//   session test file uses.

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "config/config.h"
#include "milter/key_fetcher.h"
#include "milter/session.h"
#include "milter/stamps.h"
#include "milter/verifier.h"

namespace mtep::milter::testing {

// "continue", "accept", "reject CODE ESC TEXT", "tempfail CODE ESC TEXT".
inline std::string describe(const Decision& d) {
  switch (d.step) {
    case Step::kContinue:
      return "continue";
    case Step::kAccept:
      return "accept";
    case Step::kReject:
      return "reject " + d.reply.code + " " + d.reply.esc + " " + d.reply.text;
    case Step::kTempfail:
      return "tempfail " + d.reply.code + " " + d.reply.esc + " " + d.reply.text;
  }
  return "?";
}

// Every reply: one line of printable ASCII without '%', under 200 characters.
inline void expectSafeReply(const Decision& d) {
  if (d.step == Step::kContinue || d.step == Step::kAccept) return;
  EXPECT_FALSE(d.reply.text.empty());
  EXPECT_LT(d.reply.text.size(), 200u) << d.reply.text;
  for (char c : d.reply.text) {
    const auto u = static_cast<unsigned char>(c);
    EXPECT_TRUE(u >= 0x20 && u < 0x7f && c != '%') << "byte " << int(u) << " in " << d.reply.text;
  }
}

inline config::ConfigPtr loadConfig(std::string_view text) {
  auto cfg = config::loadString(text, "t.conf");
  if (!cfg.ok()) ADD_FAILURE() << cfg.error().message();
  return cfg.ok() ? *cfg : nullptr;
}

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
  Result<std::string> mint(std::string_view sender_canonical, std::string_view recipient_domain,
                           int64_t ttl) override {
    calls.push_back({std::string(sender_canonical), std::string(recipient_domain), ttl});
    if (error) return Error(error->kind(), error->message());
    auto it = per_domain.find(std::string(recipient_domain));
    return it != per_domain.end() ? it->second : token;
  }
  struct Call {
    std::string sender;
    std::string domain;
    int64_t ttl;
  };
  std::map<std::string, std::string> per_domain;  // a token for this domain instead of `token`
  std::string token = "AQAAAAFn0xF2AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJA";
  std::optional<Error> error;
  std::vector<Call> calls;
};

class FakeStampChecker : public StampChecker {
 public:
  StampOutcome check(const StampQuery& query) override {
    queries.push_back(query);
    StampOutcome out;
    if (temporary) {
      out.kind = StampKind::kTemporary;
      out.detail = "store: database is locked";
      return out;
    }
    out.kind = StampKind::kValid;
    for (const std::string& rcpt : query.recipients) {
      RecipientStamp r;
      r.recipient = rcpt;
      r.required_bits = required_bits;
      auto it = verdicts.find(rcpt);
      if (it != verdicts.end()) {
        r.verdict = it->second;
      } else {
        r.verdict = "malformed";
        for (const std::string& stamp : query.stamps) {
          if (stamp.find(":" + rcpt + ":") != std::string::npos) r.verdict = "valid";
        }
      }
      r.valid = r.verdict == "valid";
      if (!r.valid) {
        r.reason = r.verdict == "too-weak" ? "claims 8 bits, 20 required" : "no stamp for it";
        out.kind = StampKind::kRefused;
      }
      if (r.valid) r.stamp = "stamp-for-" + rcpt;
      out.recipients.push_back(r);
    }
    return out;
  }
  StampOutcome spend(const StampQuery& query, const StampOutcome& checked) override {
    StampOutcome out = checked;
    if (spend_temporary) {
      out.kind = StampKind::kTemporary;
      out.detail = "store: database is locked";
      return out;
    }
    for (const std::string& rcpt : query.recipients) spent.push_back(rcpt);
    return out;
  }

  std::map<std::string, std::string> verdicts;  // recipient -> verdict name
  int required_bits = 20;
  bool temporary = false;        // check() answers kTemporary
  bool spend_temporary = false;  // spend() answers kTemporary
  std::vector<StampQuery> queries;
  std::vector<std::string> spent;  // recipients whose stamps were spent
};

class FakeStampMinter : public StampMinter {
 public:
  Result<std::string> mint(const StampMintQuery& query) override {
    queries.push_back(query);
    if (error) return Error(error->kind(), error->message());
    if (fixed) return *fixed;
    return "1:20:261123:" + query.recipient + "::c2FsdA:" + std::to_string(queries.size());
  }

  std::optional<Error> error;
  std::optional<std::string> fixed;  // returned instead of a made-up stamp
  std::vector<StampMintQuery> queries;
};

class FakeKeyFetcher : public KeyFetcher {
 public:
  KeyOutcome fetch(const KeyQuery& query) override {
    queries.push_back(query);
    return answer;
  }
  void found(const e2ee::PublicKey& key) {
    answer.kind = KeyKind::kFound;
    answer.key = key;
    answer.server = "mx.alpha.test:25";
    answer.detail.clear();
  }
  void none() {
    answer.kind = KeyKind::kNone;
    answer.server = "mx.alpha.test:25";
    answer.detail = "550 5.1.1 No public key available";
  }
  void temporary() {
    answer.kind = KeyKind::kTemporary;
    answer.server = "mx.alpha.test:25";
    answer.detail = "connection refused";
  }

  KeyOutcome answer;  // kTemporary "" until told otherwise
  std::vector<KeyQuery> queries;
};

}  // namespace mtep::milter::testing

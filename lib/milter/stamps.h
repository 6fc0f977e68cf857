#pragma once
// NAME
//   stamps.h - the proof-of-work services a milter session needs: checking
//   and spending the stamps of an inbound message, and minting stamps for
//   an outbound one
// SUMMARY
//   StampOutcome out = checker.check({cfg, {"bob@beta.test"}, {"1:20:..."}, "4XyZ", id});
//   if (out.kind == StampKind::kValid) out = checker.spend(query, out);
//   Result<std::string> stamp = minter.mint({cfg, "alpha.test", "bob@beta.test", "4XyZ"});
// DESCRIPTION
//   Session (session.h) talks only to these interfaces, as it does to the
//   token verifier and minter (verifier.h). The daemon passes
//   milterd::PowStamps (milter/pow_stamps.h: lib/pow over a store); unit
//   tests pass fakes (tests/unit/milter/fakes.h). Both are called from
//   libmilter worker threads, several at once: implementations must be
//   thread-safe.
//
//   Which stamps are read, and which recipients need one, is Session's
//   business; what a stamp must be (algorithm, bits at a time, validity,
//   the double-spend record) is lib/pow's, reached through these calls.

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "util/result.h"

namespace mtep::milter {

struct StampQuery {
  config::ConfigPtr config;  // the connection's snapshot: [pow], each domain's policy
  std::vector<std::string>
      recipients;                   // canonicalLower(), distinct, each in a require_stamp domain
  std::vector<std::string> stamps;  // stamp header values, unfolded and trimmed, in order
  std::string queue_id;             // for log lines only
  std::string message_identity;     // the message's digest (hex): the stamps are spent with
                                    // it, so a retry of this message may spend them again
                                    // ("" = spent for good)
};

enum class StampKind {
  kValid,      // every recipient has a valid stamp (spend(): all of them are now spent)
  kRefused,    // some recipient has none that counts (check(): nothing was spent)
  kTemporary,  // the store could not be opened or could not say: tempfail, never accept
};

struct RecipientStamp {
  std::string recipient;  // as in the query
  bool valid = false;     // a valid stamp was found (and, with kValid, spent)
  std::string verdict;    // pow::verdictName(): "valid", "too-weak", "spent", "malformed", ...
  std::string reason;     // one line from lib/pow ("" when valid); may quote the stamp
  int required_bits = 0;  // hashcash v1 bits the recipient's domain requires now
  std::string stamp;      // check(): the valid stamp found ("" when none)
  int64_t expires_at = 0; // check(): until when its spend is recorded
};

struct StampOutcome {
  StampKind kind = StampKind::kTemporary;
  std::vector<RecipientStamp> recipients;  // one per query recipient, same order (may be
                                           // empty with kTemporary)
  std::string detail;                      // kTemporary: why ("store: database is locked")
};

class StampChecker {
 public:
  virtual ~StampChecker() = default;
  // Every recipient needs its own valid stamp, judged by its own domain's
  // policy at this moment; nothing is spent. kValid: every recipient has
  // one (RecipientStamp::stamp). The work and memory are bounded as
  // lib/pow's checkAndSpend() describes ([pow] max_stamps,
  // argon2id_max_message_work, argon2id_check_memory).
  virtual StampOutcome check(const StampQuery& query) = 0;
  // Spends the stamps `checked` (a kValid outcome of check() for this
  // query) with query.message_identity: kValid when every one is now
  // spent, or was spent before with the same identity (a retry of this
  // message); kRefused when one was spent by another message (its
  // verdict "spent"; those recorded before it stay spent); kTemporary when
  // the store cannot say.
  virtual StampOutcome spend(const StampQuery& query, const StampOutcome& checked) = 0;
};

struct StampMintQuery {
  config::ConfigPtr config;   // the connection's snapshot
  std::string sender_domain;  // lower case; its policy's mint_stamps (not kNone) and
                              // mint_stamp_bits decide algorithm and bits
  std::string recipient;      // the stamp's resource: canonicalLower() of one recipient
  std::string queue_id;       // for log lines only
};

class StampMinter {
 public:
  virtual ~StampMinter() = default;
  // One stamp for `query.recipient`, its whole header value (one line of
  // printable ASCII). kTemporary when [pow] mint_budget ran out; kInvalid
  // when the recipient cannot be a stamp's resource.
  virtual Result<std::string> mint(const StampMintQuery& query) = 0;
};

}  // namespace mtep::milter

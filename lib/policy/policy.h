#pragma once
// NAME
//   policy.h - the Postfix SMTP access policy protocol and mtep-policyd's
//   decisions, without I/O
// SUMMARY
//   policy::RequestReader reader(cfg->policyd.max_request_size);
//   size_t used = 0;
//   switch (reader.feed(bytes, &used)) {         // then drop `used` bytes
//     case RequestReader::State::kNeedMore: break;  // read more
//     case RequestReader::State::kError: log(reader.error()); close(); break;
//     case RequestReader::State::kRequest: {
//       policy::Outcome o = engine.decide(reader.take());
//       if (o.needs_lookup) { start(o.lookup); break; }   // later:
//       //   engine.recordLookup(o.lookup, answer); o = engine.decide(request);
//       if (o.needs_rates) { count(o.rates); break; }     // shared counters; later:
//       //   o = engine.decide(request, &rate_answer);    // (and after a lookup too)
//       if (o.decision.action.empty()) close();           // no reply at all
//       else write(policy::formatReply(o.decision.action));
//     }
//   }
// DESCRIPTION
//   The protocol (Postfix SMTPD_POLICY_README): the client sends
//   "name=value" lines ending with an empty line; the server answers one
//   "action=..." line and an empty line, and the connection may carry
//   further requests. Exim reaches the same server with ${readsocket}.
//
//   RequestReader is an incremental parser: feed() it whatever arrived, as
//   often as needed; it consumes at most one request per call. Limits: the
//   whole request (every byte up to and including the empty line) at most
//   max_size bytes, detected as soon as it is exceeded (nothing larger is
//   ever buffered); at most kMaxAttributes attributes; names of 1..64
//   characters [a-z0-9_]; no NUL anywhere. A CR right before an LF is
//   dropped; any other CR stays in the value. A request of no attributes
//   (an empty line alone) is returned as a Request with none. Errors are
//   sticky: after kError the connection is closed.
//
//   Engine decides one request at a time, on the event loop's thread (it
//   has no locks). Gates by the RECIPIENT domain's policy
//   (Config::policyFor):
//   - request is not "smtpd_access_policy": action "" (do not reply, close
//     the connection: Postfix then applies its default_action, a
//     tempfail), logged.
//   - protocol_state RCPT (Postfix; Exim's RCPT ACL), in order:
//     refuse_mixed_onion: per message (instance below), .onion recipients
//       and others are not mixed when any recipient's policy forbids it;
//       the later one gets 452 4.5.3 (send it in a separate message).
//     rate_limit_client, rate_limit_sender: recipients accepted per client
//       address / per envelope sender (null sender: not limited) and per
//       policy section ([domain."x"], [domain.".x"] or [domain_defaults]),
//       an approximate sliding window (the previous fixed window weighted by
//       its remaining overlap plus the current one); over -> 450 4.7.1.
//       Counted in this process's memory, or, with setSharedRates(true)
//       (mtep-policyd with [store] backend "redis"), by the caller in a
//       store every host shares: decide() returns needs_rates with a
//       RateCheck (see "Shared rate counters" below).
//     require_mtep_capable: the sender domain must have an MTEP server:
//       Outcome.needs_lookup with a kMtepCapable Lookup; kNo -> 550 5.7.25,
//       kTemporary -> mtep_unavailable (451 4.7.25, DUNNO, or 550 5.7.25).
//       The null sender passes.
//     else DUNNO, or "PREPEND X-MTEP-Policy: capable=yes
//       sender-domain=<domain>" the first time a recipient of the message
//       passed require_mtep_capable (once per instance: Postfix would add
//       it again for every RCPT).
//     Nothing is remembered (instance kind, rate counts, PREPEND done) for
//     a recipient that is refused or still waits for a lookup.
//   - protocol_state DATA or END-OF-MESSAGE with an `mtep_recipients`
//     attribute (Exim's data ACL; Postfix's own requests there carry none
//     and get DUNNO: its milter checks the message):
//       mtep_recipients  envelope recipients, separated by commas and/or
//                        white space (Exim's $recipients: ", "); "<>" around
//                        an address are removed
//       mtep_stamps      X-Hashcash / MTEP-Stamp values separated by white
//                        space or by commas that start a new stamp ("1:" or
//                        "argon2id:" follows; Argon2id parameters keep
//                        theirs); may repeat. The value cannot hold a
//                        newline: Exim must replace them (${sg}).
//       mtep_token       MTEP-Token header values (token/header.h),
//                        separated by commas; may repeat; empty = absent
//                        (Exim's headers joined by ${sg}, mtep-acl.conf)
//     require_mtep (any recipient's policy requiresMtepFrom(sender
//       domain)), checked first so stamps are never spent on a message then
//       refused: no token -> 550 5.7.25 (the milter's words); malformed, or
//       several for one recipient domain -> 550 5.7.25; else, for each
//       recipient domain MTEP applies to, the header naming it (else the
//       bare one) in a kToken Lookup with one of its recipients (the token
//       is bound to it): all kYes passes, kNo ->
//       550 5.7.25, kTemporary -> mtep_unavailable, the most careful of the
//       recipients' (tempfail over reject over accept). The null sender
//       passes (as in the milter).
//     require_stamp: every recipient in such a domain needs its own stamp,
//       judged under pow::policyFor(cfg.pow, its domain's policy, now);
//       all recipients are checked before any stamp is spent. The check is
//       not made here: decide() returns needs_stamps with a StampCheck,
//       the caller runs runStampCheck() off the event loop (the hashes, a
//       message's work bounded by [pow] max_stamps and
//       argon2id_max_message_work, and the store writes) and
//       finishStamps() decides: a recipient without a valid stamp -> 550
//       5.7.1 naming it and the verdict; store trouble, no store, no
//       memory for Argon2id in time -> 451 4.3.0.
//     all passed: DUNNO, or once per instance "PREPEND X-MTEP-Policy:
//       <results>" with results among "mtep=pass", "mtep=temperror" (passed
//       by mtep_unavailable = accept), "stamp=pass", then
//       "sender-domain=<domain>".
//   - any other protocol_state: DUNNO.
//   A recipient's domain and policy are found as the milter finds them
//   (smtp::envelopeAddress, Config::policyForAddress): an address the RFC
//   5321 parser refuses but whose domain is found (a local part over 64
//   octets, a trailing dot) gets that domain's gates, counted under its
//   address as written, lower case; the bare "postmaster" gets
//   [domain_defaults]. One whose policy cannot be told (no domain; a local
//   part routing by '%', '!' or '@' to a domain under another policy): at
//   RCPT 451 4.1.3 (action=defer, reason=unknown-recipient-domain or
//   routed-recipient) where any policy has a RCPT gate, else DUNNO
//   (reason=bad-recipient); at DATA the whole message gets 451 4.1.3 where
//   any policy has require_mtep or require_stamp. A sender the parser
//   refuses is matched against require_mtep_from by its domain when one is
//   found (else require_mtep alone decides) and is never one MTEP can vouch
//   for.
//
//   X-MTEP-Policy is informational; a message may arrive with forged ones
//   below ours: only the topmost, added by this MTA, counts.
//
//   The instance (one message): Postfix's `instance` attribute; else our
//   own `mtep_instance` (Exim: e.g. $message_exim_id); else
//   client_address, client_port and sender together. Instances are
//   forgotten instance_ttl seconds after their last request.
//
//   Lookups are asked for, never made: decide() returns needs_lookup; the
//   caller runs it (DNS, MTEP; off the event loop), calls recordLookup()
//   and decide()s the same request again. kYes and kNo are cached
//   lookup_cache_ttl seconds; kTemporary is not cached: it answers only the
//   decide() calls of the same second and the next (the requests that
//   waited for it), and so does any answer when lookup_cache_ttl is 0.
//   Instances, rate counters and cached lookups are capped at kMaxEntries
//   each, the least recently used dropped first; each is kept under a keyed
//   128-bit fingerprint of its key, in a flat table (state_table.h).
//
//   Shared rate counters (setSharedRates(true)): at the rate gates,
//   decide() returns Outcome.needs_rates with a RateCheck listing the
//   client and sender gates that apply to this recipient (key, window,
//   limit), and counts nothing itself. The caller checks and counts them
//   in one atomic step (store/redis_rates.h: every key under its limit ->
//   each is counted; else none is) and decide()s the same request again
//   with the RateAnswer, which then stands for the rest of the request
//   (a lookup that follows re-decides with the same answer). kOver ->
//   the 450 4.7.1 of that gate; kTemporary (the store down, slow, full,
//   or an error reply) -> 451 4.3.0, reason=rate-store-unavailable: never
//   accepted unchecked. The approximation differs from the in-memory one
//   in one way: the count is made at the rate gate, so a recipient that
//   require_mtep_capable refuses later has been counted.
//
//   Replies are one line of printable ASCII without '%' under 200
//   characters; names from the peer are shown with other bytes as '?'.
//   Each final decision comes with one log line for the caller to write at
//   info level: "QUEUEID: policy: action=<dunno|prepend|reject|tempfail|
//   defer|close> reason=<word> sender=<...>" then, as they apply,
//   " rcpt=<...>", " recipients=N", " stamps=N", " header=\"...\"",
//   " reply=\"CODE ESC\"" ("NOQUEUE" without queue_id). A closing
//   decision logs "... action=close reason=bad-request request=\"...\"".
// SEE ALSO
//   Postfix SMTPD_POLICY_README, access(5); policyd/README.md; mtep.conf(5)

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "policy/state_table.h"
#include "pow/pow.h"
#include "store/store.h"
#include "util/clock.h"

namespace mtep::policy {

inline constexpr size_t kMaxAttributes = 1000;  // per request
inline constexpr size_t kMaxNameLength = 64;    // attribute name
inline constexpr size_t kMaxEntries = 100000;   // instances, rate keys, cached lookups (each)

// One request's attributes, in the order received (repeats kept).
struct Request {
  std::vector<std::pair<std::string, std::string>> attributes;
  std::string_view get(std::string_view name) const;  // the last value; "" when absent
  bool has(std::string_view name) const;
  std::vector<std::string_view> all(std::string_view name) const;  // every value, in order
};

// Incremental reader of "name=value\n" lines ending with an empty line.
class RequestReader {
 public:
  enum class State { kNeedMore, kRequest, kError };
  explicit RequestReader(size_t max_size);

  // Consumes from `in` as much as one request needs and sets *used to the
  // bytes consumed (the caller drops them and feeds the rest later).
  // kNeedMore: all of `in` consumed, the request is incomplete. kRequest:
  // one request is complete (take() it before feeding again). kError: see
  // error(); every later call returns kError and consumes nothing.
  State feed(std::string_view in, size_t* used);
  // The completed request; the reader starts the next one.
  Request take();
  // Why feed() returned kError ("" otherwise): "request larger than N
  // bytes", "line without '='", "bad attribute name", "NUL byte",
  // "more than 1000 attributes".
  std::string error() const { return error_; }

 private:
  State fail(std::string reason);
  bool finishLine();

  size_t max_size_;
  size_t size_ = 0;    // bytes of the current request so far
  std::string line_;   // the current line, without its LF
  Request request_;
  bool complete_ = false;
  std::string error_;  // set once kError
};

// The reply: "action=<action>\n\n". CR, LF and NUL in `action` become
// spaces, so one reply is always one line.
std::string formatReply(std::string_view action);

// Something only the network can tell; the caller finds out.
struct Lookup {
  enum class Kind {
    kMtepCapable,  // does `domain` have an MTEP server (static map or SRV)?
    kToken,        // does `domain`'s MTEP server vouch for `token` sent by `sender`?
  };
  Kind kind = Kind::kMtepCapable;
  std::string domain;  // the sender domain, lower case, no trailing dot
  std::string token;   // kToken: the MTEP-Token, normalized (no white space)
  std::string sender;  // kToken: the envelope sender, canonical lower case
  std::string recipient;  // kToken: a recipient at the domain the token must be for
  std::string key() const;  // cache key: equal for the same question
};

enum class LookupAnswer { kYes, kNo, kTemporary };

struct Decision {
  std::string action;  // "DUNNO", "550 5.7.25 ...", "PREPEND ...", "" = close, no reply
  std::string log;     // one line to log at info level
};

// The stamp half of a DATA decision. Hashing stamps and writing the
// double-spend record do not belong on the event loop: decide() asks for
// this the way it asks for a Lookup; the caller runs runStampCheck() off
// the loop and hands the answer to Engine::finishStamps() on the loop.
struct StampCheck {
  std::vector<pow::RecipientPolicy> recipients;  // the require_stamp ones, in order
  std::vector<std::string> stamps;               // from mtep_stamps, in order
  int64_t now = 0;
  pow::CheckLimits limits;                       // [pow]; `memory` is the runner's
  // What decide() found before (finishStamps() goes on from there).
  std::vector<std::string> notes;  // "mtep=pass", ...
  size_t recipient_count = 0;      // every parsed recipient (the log's recipients=N)
};
struct StampAnswer {
  bool no_store = false;                      // no store to spend in: tempfail
  std::vector<pow::RecipientResult> results;  // one per StampCheck recipient
};
// Checks every stamp (pow::checkAndSpend without a store, the work bounded
// by check.limits, Argon2id memory from `memory`), then, when every
// recipient has a valid stamp, spends them in `store` (pow::spendResults)
// while holding `store_mu`, if given. Any thread; blocking.
StampAnswer runStampCheck(const StampCheck& check, store::Store* store,
                          pow::MemoryBudget* memory, std::mutex* store_mu = nullptr);

// The rate gates of one RCPT when they are counted in a shared store
// (Engine::setSharedRates): check every entry and count them all, or none.
struct RateCheck {
  enum class Gate { kClient, kSender };
  struct Entry {
    Gate gate = Gate::kClient;
    std::string key;     // "c:SECTION:CLIENT" or "s:SECTION:SENDER" (SECTION "" = defaults)
    int64_t window = 0;  // seconds, > 0
    uint32_t limit = 0;  // recipients per window, > 0
  };
  std::vector<Entry> entries;  // client gate first; never empty
};
struct RateAnswer {
  enum class Result {
    kUnder,      // every entry was under its limit, and each has been counted
    kOver,       // `gate` is over its limit; nothing was counted
    kTemporary,  // not checked (store down, slow, full, error): tempfail
  };
  Result result = Result::kTemporary;
  RateCheck::Gate gate = RateCheck::Gate::kClient;  // kOver: which one
  std::string detail;  // kTemporary: why, for the log line
};

struct Outcome {
  bool needs_lookup = false;  // true: run `lookup`, recordLookup(), decide() again
  Lookup lookup;              // set when needs_lookup
  bool needs_rates = false;   // true: check and count `rates`, decide() again with the answer
  std::shared_ptr<const RateCheck> rates;  // set when needs_rates
  bool needs_stamps = false;  // true: run `stamps` (runStampCheck), then finishStamps()
  std::shared_ptr<const StampCheck> stamps;  // set when needs_stamps
  Decision decision;          // set when neither
};

class Engine {
 public:
  // `clock` must outlive the engine.
  Engine(config::ConfigPtr config, const Clock& clock);

  // A new snapshot (SIGHUP); state kept in memory survives it.
  void setConfig(config::ConfigPtr config);

  // Decides one request (see DESCRIPTION). Event-loop thread only.
  // `rates`: the answer to the RateCheck an earlier decide() of this same
  // request asked for (shared rate counters); null otherwise.
  Outcome decide(const Request& request, const RateAnswer* rates = nullptr);
  // The decision of a request whose decide() asked for `check`, once
  // runStampCheck() gave `answer`. Event-loop thread only.
  Outcome finishStamps(const Request& request, const StampCheck& check, const StampAnswer& answer);
  // The answer to a Lookup that decide() asked for.
  void recordLookup(const Lookup& lookup, LookupAnswer answer);
  // Drops instances, rate counters and lookups whose time is over; call
  // now and then (every few seconds).
  void expire();

  // true: the rate gates are asked for (needs_rates) instead of counted
  // here; false (the default): counted in memory.
  void setSharedRates(bool shared) { shared_rates_ = shared; }
  bool sharedRates() const { return shared_rates_; }

  // Caps each kind of state at `entries` instead of kMaxEntries (tests).
  void setCapacity(size_t entries);

  size_t instances() const { return instances_.size(); }
  size_t rateCounters() const { return rates_.size(); }
  size_t cachedLookups() const { return lookups_.size(); }

 private:
  struct Instance {
    int64_t last_used = 0;
    bool has_onion = false;   // an accepted recipient in .onion
    bool has_clear = false;   // an accepted recipient elsewhere
    bool no_mixing = false;   // an accepted recipient's policy has refuse_mixed_onion
    bool prepended = false;   // X-MTEP-Policy already added
  };
  struct RateCounter {
    int64_t window = 0;       // the policy's window, seconds
    int64_t start = 0;        // current fixed window's start
    uint32_t current = 0;     // accepted in the current window (at most the limit + 1)
    uint32_t previous = 0;    // accepted in the window before
  };
  struct CachedLookup {
    LookupAnswer answer = LookupAnswer::kTemporary;
    int64_t until = 0;        // usable while now <= until
  };

  Outcome decideRcpt(const Request& request, const config::Config& cfg, int64_t now,
                     const RateAnswer* rates);
  Outcome decideData(const Request& request, const config::Config& cfg, int64_t now);
  // Every gate passed: DUNNO or the PREPEND, once per instance.
  Outcome passed(const Request& request, const config::Config& cfg, int64_t now,
                 const std::vector<std::string>& notes, size_t recipients,
                 const StampCheck* check);
  const CachedLookup* cached(const Lookup& lookup, int64_t now);
  Fingerprint lookupKey(const Lookup& lookup);
  Fingerprint instanceKey(const Request& request);
  // Approximate requests in the sliding window ending now, before this one.
  double rateEstimate(const Fingerprint& key, int64_t window, int64_t now);
  void rateCount(const Fingerprint& key, int64_t window, int64_t now);

  config::ConfigPtr config_;
  const Clock& clock_;
  KeyHasher hasher_;  // the keys of the three tables
  LruTable<Instance> instances_{kMaxEntries};
  LruTable<RateCounter> rates_{kMaxEntries};
  LruTable<CachedLookup> lookups_{kMaxEntries};
  bool shared_rates_ = false;  // setSharedRates
};

// Helpers exposed for tests and the fuzzer.
// "a@b, c@d" -> {"a@b", "c@d"}: split on commas and white space, "<>" removed.
std::vector<std::string> splitRecipients(std::string_view text);
// Stamps from mtep_stamps values (see DESCRIPTION).
std::vector<std::string> splitStamps(std::string_view text);
// True for "x.onion", "X.ONION.", "onion".
bool isOnionDomain(std::string_view domain);

}  // namespace mtep::policy

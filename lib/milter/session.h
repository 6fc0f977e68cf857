#pragma once
// NAME
//   session.h - mtep-milter's decisions for one SMTP connection, without
//   libmilter
// SUMMARY
//   Session s(env);                       // per connection (libmilter private data)
//   s.connect({"client.example", "192.0.2.1"});
//   s.mailFrom("<alice@alpha.test>", "", "4XyZ");  // -> Decision
//   s.rcpt("<bob@beta.test>");
//   s.header("MTEP-Token", "...");
//   Decision d = s.endOfMessage(actions, "4XyZ");
// DESCRIPTION
//   The milter's callbacks only forward here; Actions (header changes) is
//   libmilter in the daemon and a recording fake in tests. Connection state
//   (client, internal or not) lives in Session; message state (sender,
//   recipients, headers seen) is reset by abort(), by endOfMessage() and by
//   the next mailFrom().
//
//   Outbound: the client is internal (its address is in [milter]
//   internal_networks, or it authenticated with SASL: auth_authen not
//   empty). If the sender's domain policy has issue_tokens, every
//   MTEP-Token header already present is deleted and a new one, bound to
//   the envelope sender, is added. Minting failure -> 451 4.3.0. Internal
//   mail is never checked. Null sender: nothing added.
//
//   Inbound (any other client): the recipient's domain policy decides
//   (DomainPolicy::requiresMtepFrom(sender domain)). Recipients whose
//   policies differ (checked vs. not, or a different mtep_unavailable) are
//   not mixed in one message: the first accepted recipient fixes the
//   message's policy; a later recipient under another policy gets 452 4.5.3
//   and the sending MTA sends it again in a separate transaction. So a
//   verdict at end of message always concerns every recipient.
//   At end of message, when the policy applies:
//     - no MTEP-Token header                    -> 550 5.7.25
//     - more than one, or a malformed one       -> 550 5.7.25
//       (malformed: over 256 bytes, or bytes outside base64url after
//       unfolding and trimming)
//     - the sender's server says K               -> deliver; Authentication-
//       Results "<authserv-id>; mtep=pass smtp.mailfrom=<sender>" inserted
//       at the top
//     - D (or I)                                 -> 550 5.7.25
//     - Z, timeout, unreachable                  -> mtep_unavailable:
//       tempfail 451 4.7.25 | accept (mtep=temperror) | reject 550 5.7.25
//   The null sender (bounces) has no domain to ask: it passes, with
//   mtep=none in Authentication-Results. Domains without the policy pass
//   untouched. On every inbound message, Authentication-Results headers
//   that claim our authserv-id are deleted (RFC 8601 section 5).
//   Replies tell the sender what to do; each decision is logged in one line
//   "QUEUEID: mtep: action=... reason=... sender=<...> ...".

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "milter/verifier.h"
#include "util/result.h"

namespace mtep::milter {

// What the MTA is told after a step (libmilter's SMFIS_*).
enum class Step { kContinue, kAccept, kReject, kTempfail };

struct Reply {
  std::string code;  // "550"
  std::string esc;   // "5.7.25"
  std::string text;  // one line, printable ASCII, no "%"
};

struct Decision {
  Step step = Step::kContinue;
  Reply reply;  // set for kReject and kTempfail
};

// Header changes at end of message. Header indexes are 1-based among the
// headers with that name, in the order the session saw them (smfi_chgheader).
class Actions {
 public:
  virtual ~Actions() = default;
  virtual Status addHeader(std::string_view name, std::string_view value) = 0;     // at the end
  virtual Status insertHeader(std::string_view name, std::string_view value) = 0;  // at the top
  virtual Status deleteHeader(std::string_view name, int index) = 0;
};

struct SessionEnv {
  config::ConfigPtr config;  // snapshot, held for the connection
  std::string authserv_id;   // resolved: [milter] authserv_id or the host name
  TokenVerifier* verifier = nullptr;
  TokenMinter* minter = nullptr;
};

struct ConnectInfo {
  std::string hostname;  // as the MTA reports it
  std::string address;   // numeric client address; "" when unknown (unix socket)
};

class Session {
 public:
  explicit Session(SessionEnv env);

  void connect(const ConnectInfo& info);
  // `sender` as libmilter gives it ("<a@b>", "<>", maybe without brackets);
  // `auth_authen` the {auth_authen} macro ("" when absent); `queue_id` the
  // {i} macro ("" when absent).
  Decision mailFrom(std::string_view sender, std::string_view auth_authen,
                    std::string_view queue_id);
  Decision rcpt(std::string_view recipient);
  void header(std::string_view name, std::string_view value);
  Decision endOfMessage(Actions& actions, std::string_view queue_id);
  void abort();  // message aborted (RSET, disconnect mid-message)

  bool internal() const { return internal_; }

 private:
  struct Message {
    bool active = false;           // MAIL seen
    std::string queue_id;
    bool sender_valid = false;     // parsed
    bool sender_null = false;
    std::string sender;            // canonicalLower()
    std::string sender_domain;     // lower case
    std::vector<std::string> recipients;
    int policy_class = -1;         // -1 none yet; 0 unchecked; 1+ checked (1 + Unavailable)
    config::Unavailable unavailable = config::Unavailable::kTempfail;
    int token_headers = 0;         // MTEP-Token headers seen
    std::string token;             // the first one, trimmed
    bool token_malformed = false;
    std::vector<int> our_auth_results;  // indexes of A-R headers claiming our authserv-id
    int auth_results_seen = 0;
  };

  Decision outbound(Actions& actions);
  Decision inbound(Actions& actions);

  SessionEnv env_;
  ConnectInfo client_;
  bool internal_ = false;
  bool authenticated_ = false;
  Message msg_;
};

// Authentication-Results helpers (RFC 8601), exposed for tests and fuzzing.
// The authserv-id of an Authentication-Results header value: the first
// token, after leading CFWS (comments skipped), up to ';', whitespace or
// '('. "" when there is none. Case is kept; compare case-insensitively.
std::string authservIdOf(std::string_view header_value);
// "<id>; mtep=<result> smtp.mailfrom=<sender>" (sender omitted when empty),
// with an optional "(comment)" after the result.
std::string formatAuthResults(std::string_view authserv_id, std::string_view result,
                              std::string_view sender, std::string_view comment = {});
// An MTEP-Token header value unfolded and trimmed; kInvalid when empty,
// over 256 bytes, or not base64url characters only.
Result<std::string> normalizeTokenHeader(std::string_view value);

}  // namespace mtep::milter

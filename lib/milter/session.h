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
//   bool more = s.body(chunk);            // false: the rest of the body is not needed
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
//   empty; SASL lasts for the rest of the connection). A client whose
//   address is unknown ("", a unix socket) or not numeric is external. If
//   the sender's domain policy has issue_tokens, every MTEP-Token header
//   already present is deleted (highest index first) and one is added per
//   distinct recipient domain, "<token>; domain=<domain>" (token/header.h),
//   the token bound to the envelope sender and that domain. Domains a
//   header cannot name (UTF-8) are skipped and logged
//   (skipped_domains=<...>); a recipient of domain number
//   kMaxMintedTokens + 1 gets 452 4.5.3. Minting failure, or a minted
//   value that does not parse back to itself -> 451 4.3.0. Internal mail
//   is never checked. Null or unparsable sender: nothing added.
//
//   Inbound (any other client): the recipient's domain policy decides
//   (DomainPolicy::requiresMtepFrom(sender domain)). Recipients whose
//   policies differ (checked vs. not, or a different mtep_unavailable) are
//   not mixed in one message: the first accepted recipient fixes the
//   message's policy; a later recipient under another policy gets 452 4.5.3
//   and the sending MTA sends it again in a separate transaction. So a
//   verdict at end of message always concerns every recipient.
//   Which domain, so which policy, a recipient has is found by
//   smtp::envelopeAddress and Config::policyForAddress, which the MTA's
//   leniency cannot outrun: an address the RFC 5321 parser refuses (a local
//   part over 64 octets, a trailing dot, an over-long path) still gets the
//   policy of the domain after its last '@' outside quotes, and its stamp
//   is checked for the address as written, lower case; the bare
//   "<postmaster>" gets [domain_defaults]. A recipient whose policy cannot
//   be told (no domain at all; or a local part that routes, by '%', '!' or
//   '@' as Postfix's percent hack and resolve_dequoted_address do, to a
//   domain under another policy) gets 451 4.1.3 at RCPT where any domain's
//   policy (or the defaults) has require_mtep, require_stamp,
//   check_signatures or require_signature_from; else it is left to the MTA
//   (continue) and fixes no policy.
//   At end of message, when the policy applies:
//     - unparsable sender                       -> 550 5.7.25 ("not an
//       address MTEP can vouch for"); whether the policy applies is decided
//       by the sender's domain when smtp::envelopeAddress finds one (a local
//       part over 64 octets, a trailing dot), else (no domain at all) the
//       require_mtep_from patterns cannot be matched and require_mtep alone
//       decides
//     - no MTEP-Token header                    -> 550 5.7.25
//     - a malformed one (parseTokenHeader)      -> 550 5.7.25
//     - a checked recipient domain with no header naming it and no bare
//       header, or with more than one           -> 550 5.7.25
//       (the verifier is not asked in these cases)
//     - else one question per checked recipient domain (at most
//       kMaxCheckedDomains; a recipient of one more gets 452 4.5.3), with
//       the header naming the domain (else the bare one) and the first
//       accepted recipient at that domain (VerifyQuery::recipient); the
//       first answer that is not K decides:
//     - the sender's server says K (for every domain) -> deliver; Authentication-
//       Results "<authserv-id>; mtep=pass smtp.mailfrom=<sender>" inserted
//       at the top
//     - D (or I)                                 -> 550 5.7.25
//     - Z, timeout, unreachable, no verifier     -> mtep_unavailable:
//       tempfail 451 4.7.25 | accept (mtep=temperror) | reject 550 5.7.25
//   The null sender (bounces) has no domain to ask: where the policy
//   applies (require_mtep_from "*" covers it, "*.onion" does not) it
//   passes, with "<authserv-id>; mtep=none" in Authentication-Results; its
//   recipients are never split with 452. Domains without the policy pass
//   untouched. On every inbound message that is delivered,
//   Authentication-Results headers that claim our authserv-id (compared
//   without case, after comments; a quoted id counts too) are deleted,
//   highest index first, before ours is inserted (RFC 8601 section 5).
//   A header change that fails -> 451 4.3.0 (never deliver a spoofed
//   result); so does every MAIL when SessionEnv has no config.
//   A refusal at MAIL is given again at every RCPT and at end of message
//   of that transaction: the milter may answer MAIL without a reply
//   (SMFIP_NR_MAIL), and then RCPT is where the MTA first hears it.
//
//   Proof of work (stamps.h, lib/pow), inbound: recipients whose domain has
//   require_stamp each need their own valid, unspent stamp. The stamps are
//   the values of the X-Hashcash:, Hashcash: and MTEP-Stamp: headers, one
//   stamp per header (as the hashcash tool writes them), unfolded and
//   trimmed, at most [pow] max_stamps of them (later ones are ignored); a
//   value over kMaxStampHeader bytes is cut to kMaxStampHeader + 1, which
//   lib/pow refuses as too long. Recipients under different stamp policies
//   are not split: one check covers every such recipient of the message,
//   each at its own domain's policy. The stamp check comes after the MTEP
//   check and only when that one would deliver, so a message refused for
//   its token burns no stamps. StampChecker::check() judges them before
//   any header change; StampChecker::spend() spends them (only when every
//   recipient has one) after the last header change, with the message's
//   identity (message_identity.h; the body is read for it), so a header
//   change that fails spends nothing and a retry of the same message after
//   a failure behind us passes again. The null sender is not exempt.
//   Outcomes:
//     - every recipient has one          -> deliver, "x-hashcash=pass"
//       in our Authentication-Results (after the mtep result, in the same
//       header, when MTEP applies too: "<id>; mtep=pass
//       smtp.mailfrom=<sender>; x-hashcash=pass"; alone "<id>;
//       x-hashcash=pass")
//     - some recipient has none          -> 550 5.7.1 naming the first such
//       recipient, the verdict ("too-weak", "spent", ...) and the fix
//       ("mint one with: hashcash -m -b BITS -r ADDRESS"); nothing spent
//     - store unavailable, no checker, no memory for Argon2id in time
//                                        -> 451 4.3.0
//     - a stamp spent by another message meanwhile (at spend()) -> 550
//       5.7.1 as above (verdict "spent")
//   Outbound: when the sender domain's mint_stamps is not "none", every
//   distinct recipient gets one stamp made for its address (resource =
//   canonicalLower()), added at the end as X-Hashcash: (hashcash) or
//   MTEP-Stamp: (argon2id); stamp headers already in the message stay (they
//   may be the user's own). Recipients that cannot be a stamp's resource
//   (a ':', a space or a control byte in the address) are skipped and
//   logged. A minting failure (out of [pow] mint_budget), no minter, or a
//   minted value that is not one line of printable ASCII -> 451 4.3.0.
//   Minting runs in the calling (libmilter worker) thread: the MTA waits
//   for it.
//
//   Sender signatures (X-Sender-Signature, lib/e2ee), inbound: whether a
//   message is checked depends on its From: header's domain, known only
//   once the headers are in, so recipients are grouped by what their
//   policies can refuse: reject_bad_signatures (with check_signatures) and
//   require_signature_from. A recipient whose pair differs from the first
//   accepted recipient's gets 452 4.5.3 (null sender included); check_signatures
//   alone never splits: the check runs when any recipient's domain
//   checksSignaturesFrom(From domain). The From: address is the one
//   mailbox of the message's only From: header ("Name <a@b>", "a@b", with
//   comments); the key is fetched for it from its domain's key server
//   (KeyFetcher, key_fetcher.h), never taken from X-Sender-Pubkey.
//     - no From: header: the policies are matched against "" (only a "*"
//       pattern covers it); no key to ask for: none
//     - several From: headers, or a From: that is not exactly one mailbox
//       (a group, a list, unparsable): every From: domain that parses is
//       matched, and one that does not parse (or a From: past
//       kMaxFromHeaders) counts as any domain, so a non-empty
//       require_signature_from covers it; the result is fail (no single
//       signer to check)
//     - no X-Sender-Signature header: none; several: fail; one that is not
//       a signature (e2ee::parseSignature): fail
//     - the message (header bytes, name + value + 4 each, plus body) over
//       [milter] max_signed_message_size: not checked, none
//     - key server: no key, no key service -> none; unreachable, 4xx,
//       timeout, no fetcher -> temperror; a key -> the signature over the
//       rebuilt message (the From, To, Date, Subject, Message-ID headers as
//       libmilter gave them, "Name: value" with bare LF made CRLF, an empty
//       line, the body as stored) either verifies (pass) or not (fail)
//   Refusals: fail where reject_bad_signatures or require_signature_from
//   applies -> 550 5.7.7; none where require_signature_from applies ->
//   550 5.7.7; temperror where either applies -> 451 4.7.5; else the
//   message is delivered with "x-sender-signature=<result>
//   header.from=<addr>" in our Authentication-Results (after the mtep
//   result, before x-hashcash; header.from omitted without a From
//   address). The check runs after the MTEP check and before stamps (a
//   refused message spends none). The body is stored only when the check
//   can need it (one From:, one well-formed X-Sender-Signature, a checking
//   policy): body() says false otherwise and the milter asks the MTA to
//   skip the rest. Log lines say "sig=<result>" and "sig_reason=<why>".
//
//   Reply texts are one line of printable ASCII without '%', under 200
//   characters, and tell the sender what to do; names from the peer are
//   shown with other bytes as '?'.
//   Each decision is logged in one line at info level:
//   "QUEUEID: mtep: action=<pass|reject|tempfail|accept|token-added|
//   stamps-added|none> reason=<words> sender=<...>" then, as they apply,
//   " rcpt=<...>", " stamps=N", " server=HOST:PORT", " cached=yes",
//   " detail=\"...\"" and " reply=\"CODE ESC\"" ("NOQUEUE" when there is
//   no queue id). Outbound mail with a token and stamps logs two lines (the
//   token's, then "action=stamps-added").

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "milter/key_fetcher.h"
#include "milter/message_identity.h"
#include "smtp/address.h"
#include "token/header.h"
#include "milter/stamps.h"
#include "milter/submission_tokens.h"
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
  std::string authserv_id;   // resolved: [milter] authserv_id or the host name; not empty
                             // ("localhost" is used if it is)
  TokenVerifier* verifier = nullptr;
  TokenMinter* minter = nullptr;
  StampChecker* stamp_checker = nullptr;  // null: messages that need a stamp check tempfail
  StampMinter* stamp_minter = nullptr;    // null: messages that need stamps tempfail
  KeyFetcher* key_fetcher = nullptr;      // null: signatures that need a key are temperror
  SubmissionTokens* submission_tokens = nullptr;  // null: no Submission-Token added or recorded
};

struct ConnectInfo {
  std::string hostname;  // as the MTA reports it
  std::string address;   // numeric client address; "" when unknown (unix socket)
};

// The client as the MTA's macros name it at MAIL, for an MTA that skips the
// connect step (SMFIP_NOCONNECT): {client_name} and {client_addr}, the
// latter without the "IPv6:" prefix (any case) that Postfix and Sendmail
// write before an IPv6 address. Nothing else is changed: a missing address ("") or one
// that is not numeric ("unknown", "[192.0.2.1]") stays as it is, and
// Session::connect() takes such a client as external, so a macro the MTA
// does not send can never make a client internal.
ConnectInfo connectInfoFromMacros(std::string_view client_name, std::string_view client_addr);

// Whether some policy of `cfg` ([domain_defaults] or a [domain."..."]) can
// ever need a message's body: require_stamp (stamps are spent with the
// message's identity, which covers the body), check_signatures or
// require_signature_from (the signature covers the body). Nothing outbound
// reads it. When false the milter declines the body step (SMFIP_NOBODY);
// a connection negotiates with the config it then keeps, so a reload that
// turns such a policy on applies from the next connection.
bool configNeedsBody(const config::Config& cfg);

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
  // A piece of the body as libmilter delivers it (CRLF line ends). Returns
  // false when the rest of the body is not needed (not stored either).
  bool body(std::string_view chunk);
  Decision endOfMessage(Actions& actions, std::string_view queue_id);
  void abort();  // message aborted (RSET, disconnect mid-message)
  // The MTA was asked not to send the body (SMFIP_NOBODY), or may have
  // been. A message that turns out to need it and got none is then
  // tempfailed (451 4.3.0) rather than judged without it; with the config
  // that decided the step (configNeedsBody()) no message needs it.
  void setBodyDeclined(bool declined) { body_declined_ = declined; }

  bool internal() const { return internal_; }

 private:
  struct Message {
    bool active = false;  // MAIL seen
    std::optional<Decision> mail_refusal;  // what MAIL answered, if not continue
    std::string queue_id;
    std::string sender_text;    // as given, for log lines
    bool sender_valid = false;  // parsed
    bool sender_null = false;
    std::string sender;         // canonicalLower()
    std::string sender_domain;  // lower case; set when sender_domain_found
    bool sender_domain_found = false;  // parsed, or its domain found (smtp::envelopeAddress)
    int recipients = 0;         // accepted by us (not deferred with 452)
    std::string rcpt_domain;    // the first accepted recipient's, for replies
    int policy_class = -1;      // -1 none yet; 0 unchecked; 1+ checked (1 + Unavailable)
    config::Unavailable unavailable = config::Unavailable::kTempfail;
    int token_headers = 0;              // MTEP-Token headers seen
    bool token_malformed = false;       // inbound: one failed parseTokenHeader()
    int bare_tokens = 0;                // inbound: headers without "; domain="
    std::string bare_token;             // the first one
    struct DomainToken {
      std::string domain;     // a recipient domain whose policy checks MTEP (domainLower())
      std::string recipient;  // its first accepted recipient, canonicalLower()
      int count = 0;          // MTEP-Token headers naming this domain
      std::string token;      // the first one
    };
    std::vector<DomainToken> mtep_domains;  // inbound: distinct, at most kMaxCheckedDomains
    std::vector<std::string> mint_domains;  // outbound: distinct recipient domains
    std::vector<int> our_auth_results;  // indexes of A-R headers claiming our authserv-id
    int auth_results_seen = 0;
    std::vector<std::string> stamp_recipients;  // inbound: distinct, require_stamp domains
    std::vector<std::string> mint_recipients;   // outbound: every distinct recipient
    std::vector<std::string> stamps;            // inbound: normalized stamp header values
    int stamps_ignored = 0;                     // stamp headers past [pow] max_stamps
    MessageIdentity identity;                   // inbound with stamp recipients: what the
                                                // stamps are spent with
    // Sender signatures (inbound).
    const config::DomainPolicy* sig_policy = nullptr;  // first accepted recipient's (refusals)
    bool sig_check_any = false;                        // some recipient has check_signatures
    bool sig_maybe = false;                // some recipient's policy may check signatures
    std::vector<std::string> from_values;  // From: header values (at most kMaxFromHeaders)
    int from_headers = 0;
    int sig_headers = 0;         // X-Sender-Signature headers seen
    std::string signature;       // the first one's value
    std::string signed_headers;  // From/To/Date/Subject/Message-ID lines, in order, CRLF
    std::string body;            // stored body (while body_state == kStoring)
    uint64_t message_bytes = 0;  // header and body bytes seen
    enum class BodyState { kUndecided, kStoring, kSkipped } body_state = BodyState::kUndecided;
    bool body_seen = false;  // body() called
    // Submission tokens (submission_tokens.h).
    std::vector<std::string> visible;             // outbound: To/Cc addresses, canonicalLower
    std::vector<std::string> stoken_recipients;   // inbound: accept_submission_tokens recipients
    std::vector<std::string> submission_tokens;   // inbound: Submission-Token values, distinct
  };

  // The sender-signature part of an inbound verdict.
  struct SigVerdict {
    const char* result = nullptr;  // "x-sender-signature=<result>"; nullptr: not checked
    const char* reason = "";
    std::string from;  // header.from
    KeyOutcome key;
    bool asked = false;  // key holds the fetcher's answer
  };

  // How an inbound message that passed the MTEP check is marked.
  struct MtepVerdict {
    const char* action = "none";
    const char* reason = "no-policy";
    const char* result = nullptr;  // "mtep=<result>" in A-R; nullptr: none
    const char* comment = "";      // after the result, in parentheses
    bool asked = false;            // outcome holds the MTEP server's answer
    VerifyOutcome outcome;
  };

  // True when some domain's policy (or the defaults) has an inbound check.
  bool anyInboundCheck() const;
  // Whether a recipient's domain fits in msg_.mtep_domains (inbound,
  // `checked`) or msg_.mint_domains (outbound): already there, or room for
  // one more. addTokenDomain() then adds it.
  bool tokenDomainFits(const smtp::EnvelopeAddress& to, bool checked) const;
  void addTokenDomain(const smtp::EnvelopeAddress& to, bool checked);
  Decision tooManyDomains(const smtp::EnvelopeAddress& to) const;  // 452 4.5.3, logged
  void tokenHeader(std::string_view value);                 // an inbound MTEP-Token header
  Decision outbound(Actions& actions);
  Decision outboundToken(Actions& actions, const config::DomainPolicy& policy);
  Decision outboundStamps(Actions& actions, const config::DomainPolicy& policy);
  // Submission tokens (submission_tokens.cc): headers added outbound,
  // recorded inbound once the message passes, and what headers feed them.
  Decision outboundSubmissionTokens(Actions& actions);
  void holdSubmissionTokens();
  void submissionTokenHeader(std::string_view name, std::string_view value);
  Decision inbound(Actions& actions);
  // The MTEP half of an inbound verdict: false and `refusal` (logged) when
  // the message is refused or tempfailed, else true and `verdict`.
  bool checkMtep(MtepVerdict& verdict, Decision& refusal);
  // The sender-signature half (signature.cc), same contract as checkMtep.
  bool checkSignature(SigVerdict& verdict, Decision& refusal);
  // Whether the signature check applies, and the From: facts it rests on.
  struct FromInfo {
    bool ambiguous = false;            // several From:, or not exactly one mailbox
    std::string address;               // the one mailbox, canonicalLower(); "" if none
    std::string domain;                // its domain
    std::vector<std::string> domains;  // every domain to match ("" when no From:)
    bool unknown_domain = false;       // a From: whose domain cannot be told (unparsable, or
                                       // past kMaxFromHeaders): any pattern may cover it
  };
  FromInfo fromInfo() const;
  bool sigChecks(const FromInfo& from) const;
  // Rebuilt message bytes for e2ee::verifyMessage.
  std::string signedMessage() const;
  // Remembers what the signature check needs from one header.
  void signatureHeader(std::string_view name, std::string_view value);
  // " sig=<result> sig_reason=<why> from=<addr> key_server=... key_cached=yes
  // key_detail=\"...\"" for the decision's log line.
  static std::string sigLogFields(const SigVerdict& verdict);
  // The refusal (550 naming the first recipient without a valid stamp, or
  // 451), logged, when `stamps` is not kValid for every recipient.
  std::optional<Decision> stampRefusal(StampOutcome& stamps, const std::string& counts);
  // Whether the message's identity is being taken (inbound, stamps
  // required), and the identity, started on first use.
  bool stampIdentityNeeded() const;
  MessageIdentity& stampIdentity();
  // Deletes the A-R headers that claim our authserv-id; false on failure.
  bool deleteOurAuthResults(Actions& actions);
  // Logs the one line for a decision and returns `d`; `extra` is appended
  // to the line as given (" rcpt=<...>").
  Decision decided(Decision d, const char* action, const char* reason,
                   const VerifyOutcome* outcome = nullptr, std::string_view extra = {}) const;

  SessionEnv env_;
  ConnectInfo client_;
  bool network_internal_ = false;  // address in [milter] internal_networks
  bool internal_ = false;          // network_internal_ or SASL-authenticated
  bool authenticated_ = false;     // {auth_authen} seen (sticky: SASL is per connection)
  bool body_declined_ = false;     // see setBodyDeclined()
  Message msg_;
};

// Authentication-Results helpers (RFC 8601), exposed for tests and fuzzing.
// The authserv-id of an Authentication-Results header value: the first
// token, after leading CFWS (comments skipped), up to ';', whitespace or
// '('; a quoted-string gives its content (quoted-pairs resolved, CR and LF
// dropped). "" when there is none or a comment or quote is not closed.
// Case is kept; compare case-insensitively.
std::string authservIdOf(std::string_view header_value);
// "<id>; mtep=<result> smtp.mailfrom=<sender>" (sender omitted when empty),
// with an optional "(comment)" after the result. Always one line: control
// bytes are dropped; the comment keeps printable ASCII only, its
// parentheses and backslashes quoted.
std::string formatAuthResults(std::string_view authserv_id, std::string_view result,
                              std::string_view sender, std::string_view comment = {});
// `value` (a formatAuthResults() value) with one more result,
// "; <method>=<result>"; when `value` is empty, a new
// "<authserv_id>; <method>=<result>". Control bytes dropped.
std::string appendAuthResult(std::string value, std::string_view authserv_id,
                             std::string_view method, std::string_view result);
// An MTEP-Token header value unfolded and trimmed; kInvalid when empty,
// over 256 bytes, or not base64url characters only.
Result<std::string> normalizeTokenHeader(std::string_view value);

// The MTEP-Token header parser and formatter (token/header.h).
using token::formatTokenHeader;
using token::kMaxTokenDomain;
using token::kMaxTokenHeader;
using token::parseTokenHeader;
using token::TokenHeader;
using token::tokenHeaderDomainOk;

// Most distinct recipient domains under an MTEP check in one inbound
// message (one "?" each); a recipient of one more gets 452 4.5.3.
inline constexpr size_t kMaxCheckedDomains = 8;
// Most distinct recipient domains (tokens) in one outbound message; a
// recipient of one more gets 452 4.5.3.
inline constexpr size_t kMaxMintedTokens = 1000;

// Longest stamp header value passed on whole (lib/pow's kMaxStampSize).
inline constexpr size_t kMaxStampHeader = 1024;
// True for the headers that carry stamps: X-Hashcash, Hashcash, MTEP-Stamp
// (any case).
bool isStampHeader(std::string_view name);

// Most From: headers remembered (more only count).
inline constexpr size_t kMaxFromHeaders = 8;
// Names of the headers e2ee::canonicalForm signs (From, To, Date,
// Subject, Message-ID; any case).
bool isSignedHeader(std::string_view name);
// A stamp header value unfolded (CR and LF dropped) and trimmed of spaces
// and tabs; a longer one than kMaxStampHeader is cut to kMaxStampHeader + 1
// bytes (still too long for lib/pow: refused, never accepted cut).
std::string normalizeStampHeader(std::string_view value);

}  // namespace mtep::milter

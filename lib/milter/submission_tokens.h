#pragma once
// NAME
//   submission_tokens.h - mtep-milter's part in submission tokens (STOKEN):
//   Submission-Token headers added to outbound mail, and recorded from
//   inbound mail
// SUMMARY
//   SessionEnv env; env.submission_tokens = &tokens;   // the daemon's TokenBook
//   addressesOf("Bob <bob@beta.test>, carol@gamma.test", &visible, kMaxVisibleAddresses);
//   auto who = distributionRecipients(recipients, visible);
//   auto held = chooseHeld(accepting_recipients, header_tokens);
// DESCRIPTION
//   Outbound (the client is internal, the sender's domain has
//   distribute_submission_tokens): one "Submission-Token: <token>" header
//   per recipient chosen by distributionRecipients(), each a temporary
//   token for the pair (remote = that recipient, local = the sender). With
//   one recipient, that recipient. With several, only those the To: and
//   Cc: headers show: a Bcc recipient's token in the headers would tell
//   every other recipient that it got the message. At most
//   kMaxDistributedTokens headers. A token that cannot be made (the store
//   cannot be read for revocations, no key yet) is skipped and logged: a
//   token is a convenience for the reply and no reason to delay the mail.
//   A header change that fails tempfails (451 4.3.0), as elsewhere.
//   Submission-Token headers already in outbound mail are left alone.
//
//   Inbound (any other client, a sender that is an address): recipients
//   whose domain has accept_submission_tokens get the token meant for them
//   recorded as held (local = the recipient, remote = the sender) once the
//   message is let through. Several recipients here may share one message,
//   and the header does not say whose token it is, so chooseHeld() picks
//   for each recipient the header token whose remote tag (stoken/token.h:
//   tokens of this suite's format) names that recipient; a token in any
//   other format is recorded only when it is the message's one
//   Submission-Token and there is one such recipient. At most
//   kMaxSubmissionTokenHeaders headers are read; values that are not one
//   token (stoken::parseSubmissionTokenHeader) are ignored. A temporary
//   never replaces a held permanent (TokenBook::hold). The headers stay in
//   the message (the recipient's mail client may show or use them).
//
//   Recording is best effort: a store error is logged and the message is
//   delivered. This is not a security check. A held token is only ever
//   presented to the token server of the remote address's own domain,
//   which verifies it; a forged or spoofed header (anyone can send mail
//   "from" bob with any Submission-Token) costs one refused attempt, after
//   which the router drops the held token and the reply goes the ordinary
//   way. So a failure to record loses nothing but the shortcut.
//
//   Log lines: "QUEUEID: stoken: action=added|skipped|held|kept|ignored
//   rcpt=<...> id=<tokenLogId>" and a reason where it applies.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "stoken/book.h"
#include "stoken/token.h"
#include "util/result.h"

namespace mtep::milter {

inline constexpr std::string_view kSubmissionTokenHeader = "Submission-Token";
inline constexpr size_t kMaxSubmissionTokenHeaders = 32;  // inbound; more are ignored
inline constexpr size_t kMaxVisibleAddresses = 1000;      // To/Cc addresses remembered
inline constexpr size_t kMaxDistributedTokens = 100;      // outbound headers added at most
inline constexpr size_t kMaxAddressHeader = 65536;        // bytes of one To/Cc value read

// The daemon's token book (stoken::TokenBook over its store and key ring);
// a fake in tests. Thread-safe: sessions of several connections call it.
class SubmissionTokens {
 public:
  virtual ~SubmissionTokens() = default;
  // A temporary token letting `remote` send to our user `local`.
  virtual Result<std::string> temporary(std::string_view remote, std::string_view local,
                                        const stoken::BookLimits& limits) = 0;
  // Records `token` (given to our user `local` by `remote`'s site). false:
  // not stored, a held permanent stays.
  virtual Result<bool> hold(std::string_view local, std::string_view remote, std::string_view token,
                            stoken::Kind kind, const stoken::BookLimits& limits) = 0;
};

// The addresses of an address-list header value (To:, Cc:): "a@b",
// "Name <a@b>", quoted names with commas, comments, groups "G: a@b, c@d;".
// Each address that parses (smtp::parseMailbox) is appended to *out as
// canonicalLower(), without duplicates, until out has `max` entries.
// Reads at most kMaxAddressHeader bytes of the value.
void addressesOf(std::string_view value, std::vector<std::string>* out, size_t max);

// Outbound: the recipients (canonicalLower, distinct) that get a token:
// the one recipient, or those of several that `visible` holds. At most
// kMaxDistributedTokens, in recipient order.
std::vector<std::string> distributionRecipients(const std::vector<std::string>& recipients,
                                                const std::vector<std::string>& visible);

struct HeldChoice {
  std::string recipient;  // canonicalLower
  std::string token;
  stoken::Kind kind = stoken::Kind::kTemporary;
};
// Inbound: which header token to hold for which accepting recipient (see
// DESCRIPTION). `tokens` are parsed header values, in header order.
std::vector<HeldChoice> chooseHeld(const std::vector<std::string>& accepting,
                                   const std::vector<std::string>& tokens);

}  // namespace mtep::milter

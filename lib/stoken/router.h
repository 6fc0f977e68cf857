#pragma once
// NAME
//   router.h - the STOKEN router's decisions for one message, without I/O:
//   which recipients go by token to which domain, what each attempt's
//   replies mean, and the LMTP reply owed to Postfix for every recipient
// SUMMARY
//   MessageRoute route({"bob@beta.test", "carol@gamma.test"});
//   route.setHeld(0, held_token);                  // from TokenBook::held()
//   for (const TokenBatch& b : route.tokenBatches()) {
//     ... discover b.domain's server; deliver the message there with
//     ... tokenAuthLine(route, b) and tokenRcptParams(...) per recipient
//     std::vector<TokenEffect> e = route.applyTokenAttempt(b, attempt);  // hold / drop held
//   }
//   std::vector<size_t> rest = route.toReinject();  // one SMTP delivery to Postfix
//   route.applyReinjectAttempt(rest, attempts);
//   std::vector<smtp::Reply> replies = route.replies();   // one per recipient, in order
// DESCRIPTION
//   Every recipient starts kPending. The daemon (mtepd/stoken_router.cc)
//   does the I/O: the token book, discovery, smtp::deliver; this class
//   only decides, so each rule has a unit test.
//
//   Token batches: the pending recipients holding a token, grouped by
//   their domain (ASCII lower case), each group in RCPT order, the groups
//   in the order of their first recipient. The first recipient of a batch
//   is the one AUTH STOKEN names, with its own token.
//
//   A token attempt (Attempt, one entry per batch recipient, as
//   smtp::deliver reported it) is judged per recipient:
//   - a 250 after the message: delivered by token (kByToken). A
//     "2.1.13 <addr> TOKEN ID" reply carries the permanent token that now
//     replaces the temporary one: TokenEffect::kHold;
//   - connection lost after the final dot, no reply (maybe_delivered):
//     kDeferred with 451 4.4.2. The token server may have delivered it
//     (RFC 1047): sending it again by Postfix could deliver it twice, so
//     Postfix retries later instead; by then the server has answered or
//     not, and the next attempt goes the same way.
//   - the server's own refusal of the token (for this recipient, at RCPT
//     or after the message; or, for the batch's first recipient, at AUTH
//     or MAIL), with the code 535 or an enhanced code 5.7.x: the held
//     token is dropped (TokenEffect::kDrop) and the recipient re-injected;
//   - anything else (no server, dial, TLS, STOKEN not advertised, a 4xx,
//     another 5xx): re-injected (kReinject), the token kept.
//   Note a 5.7.x at AUTH or MAIL only condemns the first recipient's token
//   (the one AUTH named); the batch's others are re-injected with theirs
//   kept.
//
//   Re-injection (one SMTP transaction with every kReinject and still
//   kPending recipient): a recipient accepted and answered 2xx after the
//   message is kDone with that reply; a refusal by the server (RCPT,
//   MAIL, DATA or the final reply) keeps its code (5xx: Postfix bounces,
//   4xx: Postfix retries, and only the recipients not yet done come
//   through the router again); a failure before MAIL (dial, greeting,
//   EHLO) or one made up by the client is a 4xx whatever its code: the
//   re-injection listener being away must never bounce mail.
//
//   replies(): one per recipient. Nothing is 2xx unless it was delivered
//   by token or accepted by the re-injection server; a recipient with no
//   decision yet gets 451 4.3.0.
// SEE ALSO
//   mtepd/stoken_router.h, book.h, protocol.h, doc/stoken.md "The router"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/status.h"
#include "stoken/book.h"

namespace mtep::stoken {

enum class RouteState {
  kPending,   // no decision yet
  kByToken,   // delivered by token
  kReinject,  // to go back to Postfix
  kDone,      // accepted by the re-injection server
  kRefused,   // refused by the re-injection server (its code)
  kDeferred,  // 4xx owed to Postfix (maybe delivered by token, or re-injection 4xx)
};
const char* routeStateName(RouteState s) noexcept;  // "pending", "by-token", ...

struct TokenBatch {
  std::string domain;              // lower case
  std::vector<size_t> recipients;  // indexes into the message's recipients
};

// What one recipient of an attempt got, copied out of smtp::deliver's
// RecipientOutcome by the daemon.
struct AttemptReply {
  smtp::Reply reply;             // its final reply (the server's or made up)
  bool delivered = false;        // accepted at RCPT and 2xx after the message
  bool own = false;              // the reply is the server's about this recipient
                                 // (its RCPT, or its reply after the message)
  bool maybe_delivered = false;  // lost after the final dot
};
struct Attempt {
  std::vector<AttemptReply> recipients;  // one per batch recipient, same order
  // The server refused the session at AUTH or MAIL with this reply
  // (code 0: it did not).
  smtp::Reply credentials_refused;
  // The session failed before MAIL (dial, TLS, greeting, hello, keyword),
  // so no recipient's reply is the server's word on it.
  bool before_mail = false;
};

struct TokenEffect {
  enum class What { kHold, kDrop };
  What what = What::kHold;
  size_t recipient = 0;   // index into the message's recipients
  std::string permanent;  // kHold: the new permanent token
};

// True for a refusal of a token: code 535, or 5xx with enhanced code 5.7.x.
bool isTokenRefusal(const smtp::Reply& reply) noexcept;

// "AUTH STOKEN <base64(recipient NUL token)>".
std::string tokenAuthLine(std::string_view recipient, std::string_view token);
// "STOKEN=<held>" or "STOKEN=<held> MYSTOKEN=<ours>" ("" ours: left out).
std::string tokenRcptParams(std::string_view held, std::string_view ours);

class MessageRoute {
 public:
  explicit MessageRoute(std::vector<std::string> recipients);

  size_t size() const { return recipients_.size(); }
  const std::string& address(size_t i) const { return recipients_.at(i).address; }
  // Lower-case domain of recipient i ("" when it has none).
  const std::string& domain(size_t i) const { return recipients_.at(i).domain; }
  RouteState state(size_t i) const { return recipients_.at(i).state; }
  const std::optional<HeldToken>& held(size_t i) const { return recipients_.at(i).held; }
  const smtp::Reply& reply(size_t i) const { return recipients_.at(i).reply; }
  // tokenLogId() of the token that delivered it, or a note ("" if none).
  const std::string& note(size_t i) const { return recipients_.at(i).note; }

  void setHeld(size_t i, HeldToken token);
  // See DESCRIPTION. Batches of pending recipients with a held token.
  std::vector<TokenBatch> tokenBatches() const;
  // No token server for the batch, or not tried: its recipients are re-injected.
  void reinjectBatch(const TokenBatch& batch, std::string_view why);
  // Judges the attempt (attempt.recipients.size() must equal
  // batch.recipients.size(); otherwise every recipient is re-injected).
  std::vector<TokenEffect> applyTokenAttempt(const TokenBatch& batch, const Attempt& attempt);

  // The recipients to re-inject: kReinject and kPending, in order.
  std::vector<size_t> toReinject() const;
  void applyReinjectAttempt(const std::vector<size_t>& recipients, const Attempt& attempt);
  // Every recipient without a final state gets `reply` (an internal error).
  void failUndecided(const smtp::Reply& reply);

  // One reply per recipient, in order (see DESCRIPTION).
  std::vector<smtp::Reply> replies() const;
  size_t count(RouteState s) const;

 private:
  struct Entry {
    std::string address;
    std::string domain;
    std::optional<HeldToken> held;
    RouteState state = RouteState::kPending;
    smtp::Reply reply;
    std::string note;
  };
  std::vector<Entry> recipients_;
};

}  // namespace mtep::stoken

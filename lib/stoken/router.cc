// NAME
//   router.cc - the STOKEN router's per-recipient decisions (see router.h)

#include "stoken/router.h"

#include <utility>

#include "stoken/protocol.h"
#include "util/base64.h"

namespace mtep::stoken {
namespace {

smtp::Reply makeReply(uint16_t code, smtp::EnhancedStatus status, std::string text) {
  smtp::Reply r;
  r.code = code;
  r.enhanced = status;
  r.text = std::move(text);
  return r;
}

// The reply's text after its code and separator, as protocol.h's parsers
// take it: "2.1.13 <a@b> TOKEN ID Saved".
std::string replyTail(const smtp::Reply& r) {
  if (!r.enhanced) return r.text;
  return r.enhanced->toString() + (r.text.empty() ? "" : " " + r.text);
}

std::string lowerDomain(std::string_view address) {
  const size_t at = address.rfind('@');
  if (at == std::string_view::npos) return {};
  std::string d = asciiLower(address.substr(at + 1));
  if (!d.empty() && d.back() == '.') d.pop_back();
  return d;
}

}  // namespace

const char* routeStateName(RouteState s) noexcept {
  switch (s) {
    case RouteState::kPending:
      return "pending";
    case RouteState::kByToken:
      return "by-token";
    case RouteState::kReinject:
      return "reinject";
    case RouteState::kDone:
      return "done";
    case RouteState::kRefused:
      return "refused";
    case RouteState::kDeferred:
      return "deferred";
  }
  return "?";
}

bool isTokenRefusal(const smtp::Reply& reply) noexcept {
  if (reply.code == 535) return true;
  return reply.code / 100 == 5 && reply.enhanced && reply.enhanced->cls == 5 &&
         reply.enhanced->subject == 7;
}

std::string tokenAuthLine(std::string_view recipient, std::string_view token) {
  return "AUTH STOKEN " + formatAuthPayload(recipient, token);
}

std::string tokenRcptParams(std::string_view held, std::string_view ours) {
  std::string p = "STOKEN=" + std::string(held);
  if (!ours.empty()) p += " MYSTOKEN=" + std::string(ours);
  return p;
}

MessageRoute::MessageRoute(std::vector<std::string> recipients) {
  recipients_.reserve(recipients.size());
  for (std::string& a : recipients) {
    Entry e;
    e.domain = lowerDomain(a);
    e.address = std::move(a);
    recipients_.push_back(std::move(e));
  }
}

void MessageRoute::setHeld(size_t i, HeldToken token) { recipients_.at(i).held = std::move(token); }

std::vector<TokenBatch> MessageRoute::tokenBatches() const {
  std::vector<TokenBatch> batches;
  for (size_t i = 0; i < recipients_.size(); ++i) {
    const Entry& e = recipients_[i];
    if (e.state != RouteState::kPending || !e.held || e.domain.empty()) continue;
    TokenBatch* b = nullptr;
    for (TokenBatch& x : batches) {
      if (x.domain == e.domain) b = &x;
    }
    if (b == nullptr) {
      batches.push_back({e.domain, {}});
      b = &batches.back();
    }
    b->recipients.push_back(i);
  }
  return batches;
}

void MessageRoute::reinjectBatch(const TokenBatch& batch, std::string_view why) {
  for (size_t i : batch.recipients) {
    Entry& e = recipients_.at(i);
    if (e.state != RouteState::kPending) continue;
    e.state = RouteState::kReinject;
    e.note = std::string(why);
  }
}

std::vector<TokenEffect> MessageRoute::applyTokenAttempt(const TokenBatch& batch,
                                                         const Attempt& attempt) {
  std::vector<TokenEffect> effects;
  if (attempt.recipients.size() != batch.recipients.size()) {
    reinjectBatch(batch, "internal error: attempt does not match the batch");
    return effects;
  }
  const bool creds_refused =
      attempt.credentials_refused.code != 0 && isTokenRefusal(attempt.credentials_refused);
  for (size_t k = 0; k < batch.recipients.size(); ++k) {
    const size_t i = batch.recipients[k];
    Entry& e = recipients_.at(i);
    if (e.state != RouteState::kPending) continue;
    const AttemptReply& a = attempt.recipients[k];
    if (creds_refused) {
      // Only the token AUTH named (the first recipient's) was judged.
      if (k == 0) {
        effects.push_back({TokenEffect::What::kDrop, i, {}});
        e.note = "token refused: " + attempt.credentials_refused.toString();
      } else {
        e.note = "not tried: the batch's AUTH was refused";
      }
      e.state = RouteState::kReinject;
      continue;
    }
    if (a.delivered && a.reply.code / 100 == 2) {
      e.state = RouteState::kByToken;
      e.note.clear();
      std::string id;
      auto parsed = parseDeliveryReply(replyTail(a.reply));
      if (parsed) {
        id = parsed->delivery_id;
        if (parsed->permanent && asciiIEquals(parsed->address, e.address)) {
          effects.push_back({TokenEffect::What::kHold, i, *parsed->permanent});
        }
      }
      e.reply = makeReply(250, {2, 0, 0},
                          "<" + e.address + "> delivered by submission token" +
                              (id.empty() ? std::string() : " as " + id));
      continue;
    }
    if (a.maybe_delivered) {
      // RFC 1047: the server may have delivered it; re-injecting it could
      // deliver it twice. Postfix retries later instead.
      e.state = RouteState::kDeferred;
      e.reply = makeReply(451, {4, 4, 2},
                          "<" + e.address +
                              "> connection to the token server lost after the message; "
                              "may have been delivered, try again later");
      e.note = "lost after the message";
      continue;
    }
    if (a.own && !attempt.before_mail && isTokenRefusal(a.reply)) {
      effects.push_back({TokenEffect::What::kDrop, i, {}});
      e.note = "token refused: " + a.reply.toString();
    } else {
      e.note = "token path failed: " + a.reply.toString();
    }
    e.state = RouteState::kReinject;
  }
  return effects;
}

std::vector<size_t> MessageRoute::toReinject() const {
  std::vector<size_t> out;
  for (size_t i = 0; i < recipients_.size(); ++i) {
    const RouteState s = recipients_[i].state;
    if (s == RouteState::kReinject || s == RouteState::kPending) out.push_back(i);
  }
  return out;
}

void MessageRoute::applyReinjectAttempt(const std::vector<size_t>& recipients,
                                        const Attempt& attempt) {
  if (attempt.recipients.size() != recipients.size()) {
    failUndecided(makeReply(451, {4, 3, 0}, "internal error in the token router"));
    return;
  }
  for (size_t k = 0; k < recipients.size(); ++k) {
    Entry& e = recipients_.at(recipients[k]);
    if (e.state != RouteState::kReinject && e.state != RouteState::kPending) continue;
    const AttemptReply& a = attempt.recipients[k];
    if (a.delivered && a.reply.code / 100 == 2) {
      e.state = RouteState::kDone;
      e.reply = a.reply;
      continue;
    }
    const uint16_t code = a.reply.code;
    if (!attempt.before_mail && (code / 100 == 5 || code / 100 == 4) && !a.maybe_delivered) {
      // The server's word (or a made-up 4xx): kept as it is.
      e.state = code / 100 == 5 ? RouteState::kRefused : RouteState::kDeferred;
      e.reply = a.reply;
      continue;
    }
    // Before MAIL, an odd code, or lost after the dot: try again later.
    e.state = RouteState::kDeferred;
    e.reply = makeReply(451, {4, 3, 0},
                        "re-injection failed: " +
                            (a.reply.code != 0 ? a.reply.toString() : std::string("no reply")));
  }
}

void MessageRoute::failUndecided(const smtp::Reply& reply) {
  for (Entry& e : recipients_) {
    if (e.state == RouteState::kPending || e.state == RouteState::kReinject) {
      e.state = RouteState::kDeferred;
      e.reply = reply;
    }
  }
}

std::vector<smtp::Reply> MessageRoute::replies() const {
  std::vector<smtp::Reply> out;
  out.reserve(recipients_.size());
  for (const Entry& e : recipients_) {
    const bool final_state = e.state == RouteState::kByToken || e.state == RouteState::kDone ||
                             e.state == RouteState::kRefused || e.state == RouteState::kDeferred;
    if (!final_state || e.reply.code < 200 || e.reply.code > 599 ||
        (e.reply.code / 100 == 2 && e.state != RouteState::kByToken &&
         e.state != RouteState::kDone)) {
      out.push_back(makeReply(451, {4, 3, 0}, "internal error in the token router"));
      continue;
    }
    out.push_back(e.reply);
  }
  return out;
}

size_t MessageRoute::count(RouteState s) const {
  size_t n = 0;
  for (const Entry& e : recipients_) n += e.state == s ? 1 : 0;
  return n;
}

}  // namespace mtep::stoken

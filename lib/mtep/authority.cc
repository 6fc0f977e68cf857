#include "mtep/authority.h"

#include <utility>

#include "smtp/address.h"
#include "util/log.h"

namespace mtep::proto {
namespace {

constexpr smtp::EnhancedStatus kRecognised{2, 7, 0};

CheckResult answer(Verdict verdict, smtp::EnhancedStatus code, std::string text,
                   std::string reason) {
  CheckResult r;
  r.response.verdict = verdict;
  r.response.code = code;
  r.response.text = std::move(text);
  r.reason = std::move(reason);
  return r;
}

CheckResult refuseToken(token::Outcome outcome) {
  const char* text = "Nobody here issued that token; the sender may need a new one.";
  switch (outcome) {
    case token::Outcome::kExpired:
      text = "That token has expired; the sender can ask for a new one.";
      break;
    case token::Outcome::kRevoked:
      text = "That token was withdrawn by its issuer.";
      break;
    case token::Outcome::kSenderMismatch:
      text = "That token was issued for another sender.";
      break;
    case token::Outcome::kRecipientMismatch:
      text = "That token was issued for mail to another domain.";
      break;
    default:
      break;
  }
  return answer(Verdict::kNo, smtp::esc::kAuthCredentials, text, token::outcomeName(outcome));
}

// The domain a "?" recipient element names: an RFC 5321 path with a
// domain ("<bob@beta.test>", "bob@beta.test") or a bare domain
// ("beta.test", "beta.test.", "[192.0.2.1]"); canonicalDomain() form.
Result<std::string> recipientDomain(std::string_view recipient) {
  const bool address =
      recipient.find('@') != std::string_view::npos || recipient.find('<') != std::string_view::npos;
  if (!address && !recipient.empty() && recipient.back() == '.') recipient.remove_suffix(1);
  auto mailbox = address ? smtp::parsePath(recipient)
                         : smtp::parsePath("postmaster@" + std::string(recipient));
  if (!mailbox) return std::move(mailbox).error();
  if (mailbox->domain.empty()) return Error(ErrorKind::kInvalid, "no domain");
  return token::canonicalDomain(mailbox->domainLower());
}

CheckResult cannotCheck(std::string reason) {
  return answer(Verdict::kTemporary, smtp::esc::kTempSystem,
                "I cannot check that token right now; please ask again later.", std::move(reason));
}

}  // namespace

TokenAuthority::TokenAuthority(config::ConfigPtr config, std::shared_ptr<const token::KeyRing> ring,
                               store::Store& store, const Clock& clock)
    : config_(std::move(config)), ring_(std::move(ring)), store_(store), clock_(clock) {}

void TokenAuthority::update(config::ConfigPtr config, std::shared_ptr<const token::KeyRing> ring) {
  if (config) config_ = std::move(config);
  if (ring) ring_ = std::move(ring);
}

CheckResult TokenAuthority::check(const Query& query) {
  // Hold this request's snapshot even if update() runs meanwhile.
  const config::ConfigPtr config = config_;
  const std::shared_ptr<const token::KeyRing> ring = ring_;
  if (!config || !ring) return cannotCheck("not-ready");

  const bool has_sender = query.has_sender && !query.sender.empty();
  std::string sender_key;
  const config::DomainPolicy* policy = nullptr;
  if (has_sender) {
    auto mailbox = smtp::parsePath(query.sender);
    if (!mailbox) {
      return answer(Verdict::kNo, smtp::esc::kBadArguments,
                    "That sender is not a valid address; please check it and ask again.",
                    "bad-sender");
    }
    sender_key = mailbox->canonicalLower();
    policy = &config->policyFor(mailbox->domainLower());
  } else if (!config->mtepd.answer_without_sender) {
    return answer(Verdict::kNo, smtp::esc::kBadArguments,
                  "Please send the envelope sender with the token.", "sender-required");
  }

  const bool has_recipient = !query.recipient.empty();
  std::string domain;
  if (has_recipient) {
    auto parsed = recipientDomain(query.recipient);
    if (!parsed) {
      return answer(Verdict::kNo, smtp::esc::kBadArguments,
                    "That recipient is not a valid address or domain; please check it and ask "
                    "again.",
                    "bad-recipient");
    }
    domain = std::move(parsed).value();
  }

  const int64_t now = clock_.now();
  token::VerifyResult v = token::verify(
      *ring, query.token, token::Binding{sender_key, domain, has_sender, has_recipient}, now);
  if (v.outcome != token::Outcome::kValid) return refuseToken(v.outcome);
  // A token bound to a recipient domain vouches only for mail to it: the
  // binding is checked, or the site has chosen to answer without it.
  if (v.info.boundToRecipient() && !v.recipient_checked &&
      !config->mtepd.answer_without_recipient) {
    if (!has_recipient) {
      return answer(Verdict::kNo, smtp::esc::kBadArguments,
                    "Please send the envelope recipient with the token.", "recipient-required");
    }
    return answer(Verdict::kNo, smtp::esc::kBadArguments,
                  "Please send the envelope sender with the token and recipient.",
                  "sender-required");
  }

  if (policy != nullptr && !policy->issue_tokens) {
    return answer(Verdict::kNo, smtp::esc::kNotAuthorized,
                  "I do not vouch for senders at that domain.", "not-issuing");
  }

  auto revoked = store_.isTokenRevoked(v.info.revocationId());
  if (!revoked) {
    log::warning("mtep: cannot check revocation: %s", revoked.error().message().c_str());
    return cannotCheck("store-unavailable");
  }
  if (*revoked) return refuseToken(token::Outcome::kRevoked);

  const char* text = v.recipient_checked ? "Yes, I issued that token for this sender and mail "
                                            "to that domain."
                     : has_sender         ? "Yes, I issued that token for this sender."
                                          : "Yes, I issued that token.";
  return answer(Verdict::kYes, kRecognised, text, token::outcomeName(token::Outcome::kValid));
}

}  // namespace mtep::proto

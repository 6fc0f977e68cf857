// mtepctl token mint | verify | revoke
#include <cstdio>

#include "commands.h"
#include "smtp/address.h"
#include "store/open.h"
#include "token/token.h"
#include "util/log.h"

namespace mtep::ctl {
namespace {

// A sender for a token: an RFC 5321 path that is not the null path.
Result<smtp::Mailbox> parseSender(const std::string& text) {
  auto mailbox = smtp::parsePath(text);
  if (!mailbox) {
    return Error(ErrorKind::kInvalid,
                 "sender \"" + text + "\" is not an address: " + mailbox.error().message());
  }
  return std::move(mailbox).value();
}

// A recipient domain for a token: a domain or an address literal, given
// alone ("beta.test", "Beta.Test.", "[192.0.2.1]"); token::canonicalDomain() form.
Result<std::string> parseRecipientDomain(const std::string& text) {
  std::string_view domain = text;
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  auto mailbox = domain.find('@') == std::string_view::npos
                     ? smtp::parsePath("postmaster@" + std::string(domain))
                     : Result<smtp::Mailbox>(Error(ErrorKind::kInvalid, "an address, not a domain"));
  if (!mailbox) {
    return Error(ErrorKind::kInvalid, "recipient domain \"" + text +
                                          "\" is not a domain: " + mailbox.error().message());
  }
  return token::canonicalDomain(mailbox->domainLower());
}

// Why a token is not valid, for a human.
std::string outcomeText(token::Outcome outcome, const token::TokenInfo& info) {
  switch (outcome) {
    case token::Outcome::kValid:
      return "valid";
    case token::Outcome::kMalformed:
      return "malformed: not a token of ours";
    case token::Outcome::kUnknownKey:
      return "unknown key " + std::to_string(info.key_id) + " (never ours, or retired)";
    case token::Outcome::kBadMac:
      return "forged or altered";
    case token::Outcome::kExpired:
      return "expired " + formatTime(info.expires);
    case token::Outcome::kRevoked:
      return "revoked";
    case token::Outcome::kSenderMismatch:
      return "issued for another sender";
    case token::Outcome::kRecipientMismatch:
      return "issued for mail to another recipient domain";
  }
  return token::outcomeName(outcome);
}

}  // namespace

int tokenMint(const GlobalOptions& global, const MintOptions& options) {
  config::ConfigPtr cfg = prepare(global);
  if (!cfg) return kExitTrouble;
  auto sender = parseSender(options.sender);
  if (!sender) {
    printError("%s", sender.error().message().c_str());
    return kExitNo;
  }
  if (sender->isNull()) {
    printError("the null sender <> cannot have a token");
    return kExitNo;
  }
  auto recipient_domain = parseRecipientDomain(options.recipient_domain);
  if (!recipient_domain) {
    printError("--recipient-domain: %s", recipient_domain.error().message().c_str());
    return kExitNo;
  }
  const std::string domain = sender->domainLower();
  const config::DomainPolicy& policy = cfg->policyFor(domain);
  if (!policy.issue_tokens) {
    printError("domain %s does not issue tokens (issue_tokens = false)", domain.c_str());
    return kExitNo;
  }
  int64_t ttl = policy.token_ttl;
  if (!options.ttl.empty()) {
    auto parsed = parseDuration(options.ttl);
    if (!parsed) {
      printError("--ttl: %s", parsed.error().message().c_str());
      return kExitNo;
    }
    ttl = *parsed;
  }
  if (ttl > cfg->tokens.max_ttl) {
    printError("ttl %s exceeds tokens.max_ttl (%s)", config::formatDuration(ttl).c_str(),
               config::formatDuration(cfg->tokens.max_ttl).c_str());
    return kExitNo;
  }
  const Clock& clock = SystemClock::instance();
  auto ring = loadRing(*cfg, true);
  if (!ring) return kExitTrouble;
  auto minted = token::mint(*ring, sender->canonicalLower(), *recipient_domain, clock.now(), ttl);
  if (!minted) {
    printError("cannot mint: %s", minted.error().message().c_str());
    return exitCodeFor(minted.error());
  }
  std::printf("%s\n", minted->c_str());
  return kExitOk;
}

int tokenVerify(const GlobalOptions& global, const std::string& token_text,
                const std::string& sender_text, const std::string& recipient_domain_text) {
  config::ConfigPtr cfg = prepare(global);
  if (!cfg) return kExitTrouble;
  auto sender = parseSender(sender_text);
  if (!sender) {
    printError("%s", sender.error().message().c_str());
    return kExitNo;
  }
  const bool has_recipient = !recipient_domain_text.empty();
  std::string recipient_domain;
  if (has_recipient) {
    auto parsed = parseRecipientDomain(recipient_domain_text);
    if (!parsed) {
      printError("--recipient-domain: %s", parsed.error().message().c_str());
      return kExitNo;
    }
    recipient_domain = std::move(parsed).value();
  }
  const Clock& clock = SystemClock::instance();
  auto ring = loadRing(*cfg, false);
  if (!ring) return kExitTrouble;
  const std::string sender_key = sender->canonicalLower();
  token::VerifyResult result = token::verify(
      *ring, token_text, token::Binding{sender_key, recipient_domain, true, has_recipient},
      clock.now());
  if (result.outcome == token::Outcome::kValid && result.info.boundToRecipient() &&
      !result.recipient_checked) {
    std::printf("invalid: the token is bound to a recipient domain; give --recipient-domain\n");
    return kExitNo;
  }
  if (result.outcome == token::Outcome::kValid) {
    auto st = store::open(cfg->store, clock);
    if (!st) {
      printError("store: %s", st.error().message().c_str());
      return kExitTrouble;
    }
    auto revoked = (*st)->isTokenRevoked(result.info.revocationId());
    if (!revoked) {
      printError("store: %s", revoked.error().message().c_str());
      return kExitTrouble;
    }
    if (*revoked) result.outcome = token::Outcome::kRevoked;
  }
  if (result.outcome != token::Outcome::kValid) {
    std::printf("invalid: %s\n", outcomeText(result.outcome, result.info).c_str());
    return kExitNo;
  }
  const std::string domain = sender->domainLower();
  if (!cfg->policyFor(domain).issue_tokens) {
    std::printf("invalid: domain %s no longer issues tokens (issue_tokens = false)\n",
                domain.c_str());
    return kExitNo;
  }
  std::printf("valid (key %u, expires %s%s)\n", result.info.key_id,
              formatTime(result.info.expires).c_str(),
              result.info.boundToRecipient() ? "" : ", older token bound to no recipient domain");
  return kExitOk;
}

int tokenRevoke(const GlobalOptions& global, const std::string& token_text) {
  config::ConfigPtr cfg = prepare(global);
  if (!cfg) return kExitTrouble;
  auto info = token::decode(token_text);
  if (!info) {
    printError("cannot revoke: %s", info.error().message().c_str());
    return kExitNo;
  }
  const Clock& clock = SystemClock::instance();
  auto st = store::open(cfg->store, clock);
  if (!st) {
    printError("store: %s", st.error().message().c_str());
    return kExitTrouble;
  }
  if (Status s = (*st)->revokeToken(info->revocationId(), info->expires); !s) {
    printError("store: %s", s.error().message().c_str());
    return kExitTrouble;
  }
  log::notice("token revoked: id=%s expires=%s", info->revocationId().c_str(),
              formatTime(info->expires).c_str());
  if (info->expires <= clock.now()) {
    std::printf("token %s already expired %s; nothing to keep\n", info->revocationId().c_str(),
                formatTime(info->expires).c_str());
  } else {
    std::printf("revoked %s until %s\n", info->revocationId().c_str(),
                formatTime(info->expires).c_str());
  }
  return kExitOk;
}

}  // namespace mtep::ctl

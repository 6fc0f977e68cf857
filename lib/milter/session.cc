// mtep-milter's decisions for one SMTP connection (see session.h).
#include "milter/session.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "milter/session_internal.h"
#include "net/cidr.h"
#include "smtp/address.h"
#include "util/base64.h"
#include "util/log.h"

namespace mtep::milter {

namespace internal {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string shown(std::string_view text, size_t max) {
  std::string out;
  for (char c : text) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u >= 0x7f || c == '%') ? '?' : c;
  }
  return out;
}

std::string logged(std::string_view text) {
  if (text.size() <= kMaxLogged) return std::string(text);
  return std::string(text.substr(0, kMaxLogged)) + "...";
}

smtp::EnvelopeAddress parseEnvelope(std::string_view text, bool allow_null) {
  smtp::AddressOptions opts;
  opts.smtputf8 = true;
  opts.allow_null = allow_null;
  return smtp::envelopeAddress(trim(text), opts);
}

Decision reply(Step step, const char* code, const char* esc, const std::string& text) {
  Decision d;
  d.step = step;
  d.reply.code = code;
  d.reply.esc = esc;
  d.reply.text = shown(text, kMaxReply - 3);  // "..." included
  return d;
}

}  // namespace internal

namespace {

using internal::iequals;
using internal::kMaxReply;
using internal::logged;
using internal::parseEnvelope;
using internal::reply;
using internal::shown;
using internal::trim;

constexpr std::string_view kTokenHeader = "MTEP-Token";
constexpr std::string_view kAuthResultsHeader = "Authentication-Results";
constexpr std::string_view kHashcashHeader = "X-Hashcash";
constexpr std::string_view kArgon2idStampHeader = "MTEP-Stamp";
constexpr size_t kMaxShownDomain = 40;   // a domain named in a reply
constexpr size_t kMaxShownDetail = 60;   // the MTEP server's answer in a reply
constexpr size_t kMaxShownAddress = 64;  // a recipient named in a reply

void addDistinct(std::vector<std::string>& list, std::string item) {
  if (std::find(list.begin(), list.end(), item) == list.end()) list.push_back(std::move(item));
}

// An address the stamp formats can carry as their resource field: no ':'
// (the field separator), no space, only printable ASCII.
bool usableAsResource(std::string_view address) {
  if (address.empty()) return false;
  for (char c : address) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == ':') return false;
  }
  return true;
}

// A minted stamp is added as a header: one line of printable ASCII only.
bool safeHeaderValue(std::string_view value) {
  if (value.empty() || value.size() > kMaxStampHeader) return false;
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) return false;
  }
  return true;
}

Decision internalTempfail() {
  return reply(Step::kTempfail, "451", "4.3.0",
               "mtep-milter cannot decide about this message now; try again later");
}

}  // namespace

Session::Session(SessionEnv env) : env_(std::move(env)) {
  if (env_.authserv_id.empty()) env_.authserv_id = "localhost";  // never "; mtep=..."
}

ConnectInfo connectInfoFromMacros(std::string_view client_name, std::string_view client_addr) {
  constexpr std::string_view kIpv6Prefix = "IPv6:";
  if (client_addr.size() > kIpv6Prefix.size() &&
      iequals(client_addr.substr(0, kIpv6Prefix.size()), kIpv6Prefix)) {
    client_addr.remove_prefix(kIpv6Prefix.size());
  }
  return {std::string(client_name), std::string(client_addr)};
}

bool configNeedsBody(const config::Config& cfg) {
  return cfg.anyPolicy([](const config::DomainPolicy& p) {
    return p.require_stamp || p.check_signatures || !p.require_signature_from.empty();
  });
}

void Session::connect(const ConnectInfo& info) {
  client_ = info;
  network_internal_ = false;
  if (env_.config && !info.address.empty()) {
    auto ip = net::IpAddress::parse(info.address);
    network_internal_ = ip.ok() && env_.config->milter.isInternal(*ip);
  }
  internal_ = network_internal_ || authenticated_;
}

Decision Session::mailFrom(std::string_view sender, std::string_view auth_authen,
                           std::string_view queue_id) {
  msg_ = Message{};
  msg_.active = true;
  msg_.queue_id = std::string(queue_id);
  msg_.sender_text = logged(trim(sender));
  if (!auth_authen.empty()) authenticated_ = true;
  internal_ = network_internal_ || authenticated_;
  if (!env_.config) {
    msg_.active = false;
    msg_.mail_refusal = decided(internalTempfail(), "tempfail", "no-config");
    return *msg_.mail_refusal;
  }
  using Kind = smtp::EnvelopeAddress::Kind;
  const smtp::EnvelopeAddress from = parseEnvelope(sender, true);
  msg_.sender_null = from.kind == Kind::kNull;
  msg_.sender_valid = from.kind == Kind::kMailbox;
  if (msg_.sender_valid) msg_.sender = from.address;
  // A sender MTEP cannot vouch for still has a domain to match patterns against.
  msg_.sender_domain_found = from.kind == Kind::kMailbox || from.kind == Kind::kLoose;
  msg_.sender_domain = from.domain;
  return {};
}

bool Session::anyInboundCheck() const {
  return env_.config->anyPolicy([](const config::DomainPolicy& p) {
    return p.require_mtep || p.require_stamp || p.check_signatures ||
           !p.require_signature_from.empty();
  });
}

Decision Session::rcpt(std::string_view recipient) {
  if (msg_.mail_refusal) return *msg_.mail_refusal;
  if (!msg_.active) return {};
  const smtp::EnvelopeAddress to = parseEnvelope(recipient, false);
  if (internal_) {
    if (to.domain.empty()) return {};  // no domain: no token can name it; the MTA decides
    if (!tokenDomainFits(to, false)) return tooManyDomains(to);
    addTokenDomain(to, false);
    addDistinct(msg_.mint_recipients, to.address);  // stamps, if the sender's domain gets them
    return {};
  }
  const config::DomainPolicy* found = env_.config->policyForAddress(to);
  if (found == nullptr) {
    // Its domain, so its policy, cannot be told: never let it pass unchecked.
    const std::string rcpt = logged(trim(recipient));
    if (!anyInboundCheck()) return {};
    return decided(reply(Step::kTempfail, "451", "4.1.3",
                         "Cannot tell which domain's policy applies to this recipient "
                         "address; write it as local-part@domain"),
                   "tempfail", to.found() ? "routed-recipient" : "unknown-recipient-domain",
                   nullptr, " rcpt=<" + rcpt + ">");
  }
  const config::DomainPolicy& policy = *found;
  bool checked = false;
  if (msg_.sender_valid || (msg_.sender_domain_found && !msg_.sender_null)) {
    checked = policy.requiresMtepFrom(msg_.sender_domain);
  } else if (msg_.sender_null) {
    checked = policy.requiresMtepFrom("");  // only "*" covers the null sender
  } else {
    checked = policy.require_mtep;  // cannot match the patterns: assume it applies
  }
  // mtep_unavailable matters only when a server is asked.
  const int cls = !checked            ? 0
                  : msg_.sender_valid ? 1 + static_cast<int>(policy.mtep_unavailable)
                                      : 1;
  const bool token_checked = cls > 0 && msg_.sender_valid;
  if (!tokenDomainFits(to, token_checked)) return tooManyDomains(to);
  if (msg_.policy_class < 0) {
    msg_.policy_class = cls;
    msg_.unavailable = policy.mtep_unavailable;
    msg_.rcpt_domain = to.domain.empty() ? std::string("the postmaster") : to.domain;
  } else if (cls != msg_.policy_class) {
    if (msg_.sender_null) {
      // Bounces pass either way; the header goes in when any policy applies.
      msg_.policy_class = std::max(msg_.policy_class, cls);
    } else {
      return decided(reply(Step::kTempfail, "452", "4.5.3",
                           "Recipients under different MTEP policies: send to this recipient "
                           "in a separate message"),
                     "tempfail", "policy-differs", nullptr,
                     " rcpt=<" + logged(to.address) + ">");
    }
  }
  // Sender signatures: recipients that could refuse differently are not mixed.
  const bool refuses_bad = policy.check_signatures && policy.reject_bad_signatures;
  if (msg_.sig_policy == nullptr) {
    msg_.sig_policy = &policy;
  } else if ((msg_.sig_policy->check_signatures && msg_.sig_policy->reject_bad_signatures) !=
                 refuses_bad ||
             msg_.sig_policy->require_signature_from != policy.require_signature_from) {
    return decided(reply(Step::kTempfail, "452", "4.5.3",
                         "Recipients under different sender-signature policies: send to this "
                         "recipient in a separate message"),
                   "tempfail", "signature-policy-differs", nullptr,
                   " rcpt=<" + logged(to.address) + ">");
  }
  if (policy.check_signatures) msg_.sig_check_any = true;
  if (policy.check_signatures || !policy.require_signature_from.empty()) msg_.sig_maybe = true;
  addTokenDomain(to, token_checked);
  ++msg_.recipients;
  if (policy.require_stamp) addDistinct(msg_.stamp_recipients, to.address);
  if (policy.accept_submission_tokens && to.kind == smtp::EnvelopeAddress::Kind::kMailbox &&
      msg_.stoken_recipients.size() < kMaxVisibleAddresses) {
    addDistinct(msg_.stoken_recipients, to.address);
  }
  return {};
}

bool Session::tokenDomainFits(const smtp::EnvelopeAddress& to, bool checked) const {
  const std::string& domain = to.domain;
  if (internal_) {
    return msg_.mint_domains.size() < kMaxMintedTokens ||
           std::find(msg_.mint_domains.begin(), msg_.mint_domains.end(), domain) !=
               msg_.mint_domains.end();
  }
  if (!checked || msg_.mtep_domains.size() < kMaxCheckedDomains) return true;
  return std::any_of(msg_.mtep_domains.begin(), msg_.mtep_domains.end(),
                     [&](const Message::DomainToken& d) { return d.domain == domain; });
}

void Session::addTokenDomain(const smtp::EnvelopeAddress& to, bool checked) {
  std::string domain = to.domain;
  if (internal_) {
    addDistinct(msg_.mint_domains, std::move(domain));
    return;
  }
  if (!checked) return;
  for (const Message::DomainToken& d : msg_.mtep_domains) {
    if (d.domain == domain) return;
  }
  Message::DomainToken d;
  d.domain = std::move(domain);
  // The address when it is one mtepd can read with the same domain (the
  // usual case), else the domain alone (a local part our parser refuses, an
  // IDN written as U-labels): the token is bound to the domain key.
  d.recipient = to.kind == smtp::EnvelopeAddress::Kind::kMailbox &&
                        asciiLower(to.mailbox.domain) == to.domain
                    ? to.address
                    : to.domain;
  msg_.mtep_domains.push_back(std::move(d));
}

Decision Session::tooManyDomains(const smtp::EnvelopeAddress& to) const {
  const size_t most = internal_ ? kMaxMintedTokens : kMaxCheckedDomains;
  return decided(reply(Step::kTempfail, "452", "4.5.3",
                       "Too many recipient domains in one message (at most " +
                           std::to_string(most) +
                           " with MTEP tokens): send to this recipient in a separate message"),
                 "tempfail", "too-many-domains", nullptr,
                 " rcpt=<" + logged(to.address) + ">");
}

void Session::tokenHeader(std::string_view value) {
  auto parsed = parseTokenHeader(value);
  if (!parsed) {
    msg_.token_malformed = true;
    return;
  }
  if (parsed->domain.empty()) {
    if (++msg_.bare_tokens == 1) msg_.bare_token = std::move(parsed->token);
    return;
  }
  // Only our own recipient domains' tokens are kept: the header may name
  // any number of other domains.
  for (Message::DomainToken& d : msg_.mtep_domains) {
    if (d.domain == parsed->domain) {
      if (++d.count == 1) d.token = std::move(parsed->token);
      return;
    }
  }
}

void Session::header(std::string_view name, std::string_view value) {
  if (!msg_.active) return;
  if (!internal_) signatureHeader(name, value);
  submissionTokenHeader(name, value);
  if (stampIdentityNeeded()) stampIdentity().header(name, value);
  if (iequals(name, kTokenHeader)) {
    ++msg_.token_headers;
    if (!internal_) tokenHeader(value);
  } else if (iequals(name, kAuthResultsHeader)) {
    ++msg_.auth_results_seen;
    if (iequals(authservIdOf(value), env_.authserv_id)) {
      msg_.our_auth_results.push_back(msg_.auth_results_seen);
    }
  } else if (!internal_ && env_.config && isStampHeader(name)) {
    if (msg_.stamps.size() < env_.config->pow.max_stamps) {
      msg_.stamps.push_back(normalizeStampHeader(value));
    } else {
      ++msg_.stamps_ignored;
    }
  }
}

Decision Session::endOfMessage(Actions& actions, std::string_view queue_id) {
  if (!queue_id.empty()) msg_.queue_id = std::string(queue_id);
  Decision d;
  if (msg_.mail_refusal) {
    d = *msg_.mail_refusal;
  } else if (msg_.active && env_.config) {
    d = internal_ ? outbound(actions) : inbound(actions);
    if (!internal_ && (d.step == Step::kContinue || d.step == Step::kAccept)) {
      holdSubmissionTokens();
    }
  }
  msg_ = Message{};
  return d;
}

void Session::abort() { msg_ = Message{}; }

Decision Session::outbound(Actions& actions) {
  if (msg_.sender_null) return decided({}, "none", "null-sender");
  if (!msg_.sender_valid) return decided({}, "none", "unparsable-sender");
  const config::DomainPolicy& policy = env_.config->policyFor(msg_.sender_domain);
  Decision d = outboundToken(actions, policy);
  if (d.step == Step::kContinue && policy.mint_stamps != config::MintStamps::kNone) {
    d = outboundStamps(actions, policy);
  }
  if (d.step == Step::kContinue && policy.distribute_submission_tokens) {
    d = outboundSubmissionTokens(actions);
  }
  return d;
}

Decision Session::outboundToken(Actions& actions, const config::DomainPolicy& policy) {
  const config::Config& cfg = *env_.config;
  if (!policy.issue_tokens) return decided({}, "none", "issue-tokens-off");
  const int64_t ttl = std::min(policy.token_ttl, cfg.tokens.max_ttl);
  const Decision tempfail = reply(Step::kTempfail, "451", "4.3.0",
                                  "Cannot add an MTEP token to this message now; try again later");
  // One token per recipient domain, each bound to it.
  std::vector<std::string> values;
  std::string skipped;  // domains a header cannot name, for the log line
  for (const std::string& domain : msg_.mint_domains) {
    if (!tokenHeaderDomainOk(domain)) {
      skipped += (skipped.empty() ? "" : ",") + logged(domain);
      continue;
    }
    const std::string extra = " rcpt_domain=" + logged(domain);
    Result<std::string> token =
        env_.minter != nullptr
            ? env_.minter->mint(msg_.sender, domain, ttl)
            : Result<std::string>(Error(ErrorKind::kInternal, "no token minter"));
    if (!token.ok()) {
      VerifyOutcome why;
      why.detail = token.error().message();
      return decided(tempfail, "tempfail", "mint-failed", &why, extra);
    }
    // The header must hold exactly what a receiver accepts, nothing to inject.
    const std::string value = formatTokenHeader(*token, domain);
    auto check = parseTokenHeader(value);
    if (!check.ok() || check->token != *token || check->domain != domain) {
      VerifyOutcome why;
      why.detail = "minted token is not a plain base64url value";
      return decided(tempfail, "tempfail", "mint-failed", &why, extra);
    }
    values.push_back(value);
  }
  for (int i = msg_.token_headers; i >= 1; --i) {
    if (!actions.deleteHeader(kTokenHeader, i).ok()) {
      return decided(tempfail, "tempfail", "header-change-failed");
    }
  }
  for (const std::string& value : values) {
    if (!actions.addHeader(kTokenHeader, value).ok()) {
      return decided(tempfail, "tempfail", "header-change-failed");
    }
  }
  std::string extra = " tokens=" + std::to_string(values.size());
  if (!skipped.empty()) extra += " skipped_domains=<" + skipped + ">";
  if (values.empty()) return decided({}, "none", "no-recipient-domains", nullptr, extra);
  return decided({}, "token-added", "issued", nullptr, extra);
}

Decision Session::outboundStamps(Actions& actions, const config::DomainPolicy& policy) {
  const std::string_view header =
      policy.mint_stamps == config::MintStamps::kArgon2id ? kArgon2idStampHeader : kHashcashHeader;
  const std::string algorithm = config::mintStampsName(policy.mint_stamps);
  const Decision tempfail =
      reply(Step::kTempfail, "451", "4.3.0",
            "Cannot add proof-of-work stamps to this message now; try again later");
  std::vector<std::string> stamps;
  std::string skipped;  // recipients that cannot be a resource, for the log line
  for (const std::string& rcpt : msg_.mint_recipients) {
    if (!usableAsResource(rcpt)) {
      skipped += (skipped.empty() ? "" : ",") + logged(rcpt);
      continue;
    }
    StampMintQuery query;
    query.config = env_.config;
    query.sender_domain = msg_.sender_domain;
    query.recipient = rcpt;
    query.queue_id = msg_.queue_id;
    Result<std::string> stamp =
        env_.stamp_minter != nullptr
            ? env_.stamp_minter->mint(query)
            : Result<std::string>(Error(ErrorKind::kInternal, "no stamp minter"));
    const std::string extra = " rcpt=<" + logged(rcpt) + "> algorithm=" + algorithm;
    if (!stamp.ok()) {
      VerifyOutcome why;
      why.detail = stamp.error().message();
      return decided(tempfail, "tempfail", "stamp-mint-failed", &why, extra);
    }
    if (!safeHeaderValue(*stamp)) {
      VerifyOutcome why;
      why.detail = "minted stamp is not one line of printable ASCII";
      return decided(tempfail, "tempfail", "stamp-mint-failed", &why, extra);
    }
    stamps.push_back(std::move(*stamp));
  }
  for (const std::string& stamp : stamps) {
    if (!actions.addHeader(header, stamp).ok()) {
      return decided(tempfail, "tempfail", "header-change-failed");
    }
  }
  std::string extra = " stamps=" + std::to_string(stamps.size()) + " algorithm=" + algorithm;
  if (!skipped.empty()) extra += " skipped=<" + skipped + ">";
  return decided({}, stamps.empty() ? "none" : "stamps-added",
                 stamps.empty() ? "no-stamp-recipients" : "minted", nullptr, extra);
}

bool Session::deleteOurAuthResults(Actions& actions) {
  for (auto it = msg_.our_auth_results.rbegin(); it != msg_.our_auth_results.rend(); ++it) {
    if (!actions.deleteHeader(kAuthResultsHeader, *it).ok()) return false;
  }
  return true;
}

bool Session::checkMtep(MtepVerdict& verdict, Decision& refusal) {
  const std::string sender_domain = shown(msg_.sender_domain, kMaxShownDomain);
  const std::string rcpt_domain = shown(msg_.rcpt_domain, kMaxShownDomain);
  const auto reject = [](const std::string& text) {
    return reply(Step::kReject, "550", "5.7.25", text);
  };
  const auto refuse = [&](Decision d, const char* action, const char* reason,
                          const VerifyOutcome* outcome = nullptr) {
    refusal = decided(std::move(d), action, reason, outcome);
    return false;
  };
  const auto pass = [&](const char* action, const char* reason, const char* result,
                        const char* comment) {
    verdict.action = action;
    verdict.reason = reason;
    verdict.result = result;
    verdict.comment = comment;
    return true;
  };

  if (msg_.policy_class <= 0) return pass("none", "no-policy", nullptr, "");
  if (msg_.sender_null) return pass("pass", "null-sender", "none", "");
  if (!msg_.sender_valid) {
    return refuse(reject("Mail to " + rcpt_domain +
                         " needs MTEP, and the envelope sender is not an address MTEP can "
                         "vouch for"),
                  "reject", "bad-sender");
  }
  if (msg_.token_headers == 0) {
    return refuse(
        reject("Mail to " + rcpt_domain + " needs an MTEP-Token from " + sender_domain +
               "'s MTEP server; ask the postmaster of " + sender_domain + " to enable MTEP"),
        "reject", "no-token");
  }
  if (msg_.token_malformed) {
    return refuse(reject("The MTEP-Token header is malformed; ask the postmaster of " +
                         sender_domain + " to check their MTEP setup"),
                  "reject", "malformed-token");
  }
  if (msg_.mtep_domains.empty()) {  // a checked recipient always adds its domain
    return refuse(internalTempfail(), "tempfail", "no-checked-domain");
  }
  // Each checked recipient domain needs exactly one token: the one naming
  // it, else the one without a domain (older senders).
  for (const Message::DomainToken& d : msg_.mtep_domains) {
    const int count = d.count > 0 ? d.count : msg_.bare_tokens;
    const std::string domain = shown(d.domain, kMaxShownDomain);
    if (count == 0) {
      return refuse(reject("The message has no MTEP-Token for " + domain + " from " +
                           sender_domain + "'s MTEP server; ask the postmaster of " +
                           sender_domain),
                    "reject", "no-token");
    }
    if (count > 1) {
      return refuse(reject("The message has " + std::to_string(count) +
                           " MTEP-Token headers for " + domain +
                           ", which takes exactly one; ask the postmaster of " + sender_domain),
                    "reject", "several-tokens");
    }
  }

  // One question per domain, each naming one of its recipients; the first
  // answer that is not K decides.
  VerifyOutcome& outcome = verdict.outcome;
  verdict.asked = true;
  const Message::DomainToken* asked_for = nullptr;
  for (const Message::DomainToken& d : msg_.mtep_domains) {
    asked_for = &d;
    VerifyQuery query;
    query.token = d.count > 0 ? d.token : msg_.bare_token;
    query.sender = msg_.sender;
    query.sender_domain = msg_.sender_domain;
    query.recipient = d.recipient;
    query.queue_id = msg_.queue_id;
    if (env_.verifier != nullptr) {
      outcome = env_.verifier->verify(query);
    } else {
      outcome = VerifyOutcome{};
      outcome.detail = "no verifier";
    }
    if (outcome.kind != VerifyKind::kValid) break;
  }
  if (asked_for != nullptr && msg_.mtep_domains.size() > 1 && outcome.kind != VerifyKind::kValid) {
    outcome.detail = "for " + asked_for->domain + ": " + outcome.detail;
  }
  switch (outcome.kind) {
    case VerifyKind::kValid:
      return pass("pass", "valid", "pass", "");
    case VerifyKind::kRefused: {
      std::string text = sender_domain + "'s MTEP server does not vouch for this message's " +
                         "MTEP-Token; ask the postmaster of " + sender_domain;
      if (!outcome.detail.empty()) {
        text += " (server said: " + shown(outcome.detail, kMaxShownDetail) + ")";
      }
      return refuse(reject(text), "reject", "refused", &outcome);
    }
    case VerifyKind::kUnsure:
    case VerifyKind::kUnreachable:
      break;
  }
  const char* reason = verifyKindName(outcome.kind);
  switch (msg_.unavailable) {
    case config::Unavailable::kAccept:
      return pass("accept", reason, "temperror",
                  outcome.kind == VerifyKind::kUnsure ? "server unsure" : "server unreachable");
    case config::Unavailable::kReject:
      return refuse(reject("Cannot verify the MTEP token with " + sender_domain +
                           "'s MTEP server; ask the postmaster of " + sender_domain),
                    "reject", reason, &outcome);
    case config::Unavailable::kTempfail:
      break;
  }
  return refuse(reply(Step::kTempfail, "451", "4.7.25",
                      "Cannot verify the MTEP token with " + sender_domain +
                          "'s MTEP server now; try again later"),
                "tempfail", reason, &outcome);
}

Decision Session::inbound(Actions& actions) {
  if (body_declined_ && !msg_.body_seen && (msg_.sig_maybe || !msg_.stamp_recipients.empty())) {
    // A config reloaded between negotiation and this message, say: never
    // judge a signature or spend stamps without the body.
    return decided(internalTempfail(), "tempfail", "body-not-sent");
  }
  MtepVerdict mtep;
  Decision refusal;
  if (!checkMtep(mtep, refusal)) return refusal;
  SigVerdict sig;
  if (!checkSignature(sig, refusal)) return refusal;
  const VerifyOutcome* outcome = mtep.asked ? &mtep.outcome : nullptr;
  const char* action = mtep.action;
  const char* reason = mtep.reason;
  std::string extra;
  if (sig.result != nullptr) {
    extra = sigLogFields(sig);
    if (mtep.result == nullptr) {
      action = std::string_view(sig.result) == "pass" ? "pass" : "accept";
      reason = sig.reason;
    }
  }

  // Stamps, only now that nothing else stands in the way: checked (the
  // hashes) before any header change, spent after the last one, so that a
  // header change that fails spends nothing. They are spent with the
  // message's identity: if the MTA still fails the message after us, the
  // sender's retry of it passes.
  const bool stamps_apply = !msg_.stamp_recipients.empty();
  StampQuery query;
  StampOutcome stamps;
  std::string counts;
  if (stamps_apply) {
    query.config = env_.config;
    query.recipients = msg_.stamp_recipients;
    query.stamps = msg_.stamps;
    query.queue_id = msg_.queue_id;
    query.message_identity = stampIdentity().finish();
    counts = " stamps=" + std::to_string(msg_.stamps.size()) +
             (msg_.stamps_ignored > 0 ? " stamps_ignored=" + std::to_string(msg_.stamps_ignored)
                                      : std::string());
    if (env_.stamp_checker != nullptr) {
      stamps = env_.stamp_checker->check(query);
    } else {
      stamps.kind = StampKind::kTemporary;
      stamps.detail = "no stamp checker";
    }
    if (std::optional<Decision> refused = stampRefusal(stamps, counts)) return *refused;
  }

  // Delivered: spoofed A-R headers out, ours (if any) in.
  if (!deleteOurAuthResults(actions)) {
    return decided(internalTempfail(), "tempfail", "header-change-failed", outcome);
  }
  std::string value;
  if (mtep.result != nullptr) {
    value = formatAuthResults(env_.authserv_id, mtep.result, msg_.sender, mtep.comment);
  }
  if (sig.result != nullptr) {
    std::string result = sig.result;
    if (!sig.from.empty()) result += " header.from=" + sig.from;
    value = appendAuthResult(std::move(value), env_.authserv_id, "x-sender-signature", result);
  }
  if (stamps_apply)
    value = appendAuthResult(std::move(value), env_.authserv_id, "x-hashcash", "pass");
  if (!value.empty() && !actions.insertHeader(kAuthResultsHeader, value).ok()) {
    return decided(internalTempfail(), "tempfail", "header-change-failed", outcome);
  }

  if (stamps_apply) {
    // Spent last. A stamp spent meanwhile by another message is still
    // refused (the MTA drops the header changes with the message).
    stamps = env_.stamp_checker->spend(query, stamps);
    if (std::optional<Decision> refused = stampRefusal(stamps, counts)) return *refused;
    if (mtep.result == nullptr && sig.result == nullptr) {
      action = "pass";
      reason = "stamps-valid";
    }
    extra += counts + " x-hashcash=pass";
  }
  return decided({}, action, reason, outcome, extra);
}

std::optional<Decision> Session::stampRefusal(StampOutcome& stamps, const std::string& counts) {
  const RecipientStamp* missing = nullptr;
  for (const RecipientStamp& r : stamps.recipients) {
    if (!r.valid) {
      missing = &r;
      break;
    }
  }
  if (stamps.kind == StampKind::kValid && missing == nullptr &&
      stamps.recipients.size() != msg_.stamp_recipients.size()) {
    stamps.kind = StampKind::kTemporary;  // a checker that skipped someone cannot be trusted
    stamps.detail = "stamp checker answered for " + std::to_string(stamps.recipients.size()) +
                    " of " + std::to_string(msg_.stamp_recipients.size()) + " recipients";
  }
  if (stamps.kind == StampKind::kRefused ||
      (stamps.kind == StampKind::kValid && missing != nullptr)) {
    VerifyOutcome why;
    std::string rcpt = msg_.stamp_recipients.front();
    std::string verdict = "none";
    int bits = 0;
    if (missing != nullptr) {
      rcpt = missing->recipient;
      verdict = missing->verdict.empty() ? "invalid" : missing->verdict;
      why.detail = missing->reason;
      bits = missing->required_bits;
    }
    const std::string who = shown(rcpt, kMaxShownAddress);
    const std::string fix =
        "; mint one with: hashcash -m -b " + std::to_string(bits > 0 ? bits : 20) + " -r " + who;
    std::string text = "No valid proof-of-work stamp for " + who + " (" + shown(verdict, 20);
    const std::string detail = shown(why.detail, kMaxShownDetail);
    if (!detail.empty() && text.size() + detail.size() + 3 + fix.size() < kMaxReply) {
      text += ": " + detail;
    }
    text += ")" + fix;
    return decided(reply(Step::kReject, "550", "5.7.1", text), "reject",
                   ("stamp-" + verdict).c_str(), &why, " rcpt=<" + logged(rcpt) + ">" + counts);
  }
  if (stamps.kind != StampKind::kValid) {
    VerifyOutcome why;
    why.detail = stamps.detail;
    return decided(reply(Step::kTempfail, "451", "4.3.0",
                         "Cannot check proof-of-work stamps now; try again later"),
                   "tempfail", "stamp-check-unavailable", &why, counts);
  }
  return std::nullopt;
}

bool Session::stampIdentityNeeded() const {
  return msg_.active && !internal_ && !msg_.stamp_recipients.empty();
}

MessageIdentity& Session::stampIdentity() {
  if (!msg_.identity.started()) {
    msg_.identity.start(msg_.sender_valid ? std::string_view(msg_.sender)
                                          : std::string_view(msg_.sender_text));
  }
  return msg_.identity;
}

Decision Session::decided(Decision d, const char* action, const char* reason,
                          const VerifyOutcome* outcome, std::string_view extra) const {
  const std::string qid = msg_.queue_id.empty() ? "NOQUEUE" : logged(msg_.queue_id);
  std::string sender;
  if (msg_.sender_valid) {
    sender = msg_.sender;
  } else if (!msg_.sender_null) {
    std::string_view raw = msg_.sender_text;
    if (raw.size() >= 2 && raw.front() == '<' && raw.back() == '>') {
      raw = raw.substr(1, raw.size() - 2);
    }
    sender = logged(raw);
  }
  std::string tail(extra);
  if (outcome != nullptr) {
    if (!outcome->server.empty()) tail += " server=" + logged(outcome->server);
    if (outcome->cached) tail += " cached=yes";
    if (!outcome->detail.empty()) tail += " detail=\"" + logged(outcome->detail) + "\"";
  }
  if (d.step == Step::kReject || d.step == Step::kTempfail) {
    tail += " reply=\"" + d.reply.code + " " + d.reply.esc + "\"";
  }
  log::info("%s: mtep: action=%s reason=%s sender=<%s>%s", qid.c_str(), action, reason,
            sender.c_str(), tail.c_str());
  return d;
}

}  // namespace mtep::milter

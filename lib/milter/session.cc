// mtep-milter's decisions for one SMTP connection (see session.h).
#include "milter/session.h"

#include <algorithm>
#include <utility>

#include "net/cidr.h"
#include "smtp/address.h"
#include "util/log.h"

namespace mtep::milter {

namespace {

constexpr std::string_view kTokenHeader = "MTEP-Token";
constexpr std::string_view kAuthResultsHeader = "Authentication-Results";
constexpr size_t kMaxReply = 199;       // characters of reply text
constexpr size_t kMaxShownDomain = 40;  // a domain named in a reply
constexpr size_t kMaxShownDetail = 60;  // the MTEP server's answer in a reply
constexpr size_t kMaxLogged = 200;      // a peer's value in a log line

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

// Printable ASCII without '%', at most `max` characters ("..." marks a
// cut); every other byte becomes '?'. Safe in an SMTP reply.
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

// A peer's value for a log line (log.cc replaces control bytes).
std::string logged(std::string_view text) {
  if (text.size() <= kMaxLogged) return std::string(text);
  return std::string(text.substr(0, kMaxLogged)) + "...";
}

Result<smtp::Mailbox> parseEnvelope(std::string_view text, bool allow_null) {
  smtp::AddressOptions opts;
  opts.smtputf8 = true;
  opts.allow_null = allow_null;
  return smtp::parsePath(trim(text), opts);
}

Decision reply(Step step, const char* code, const char* esc, const std::string& text) {
  Decision d;
  d.step = step;
  d.reply.code = code;
  d.reply.esc = esc;
  d.reply.text = shown(text, kMaxReply - 3);  // "..." included
  return d;
}

Decision internalTempfail() {
  return reply(Step::kTempfail, "451", "4.3.0",
               "mtep-milter cannot decide about this message now; try again later");
}

}  // namespace

Session::Session(SessionEnv env) : env_(std::move(env)) {
  if (env_.authserv_id.empty()) env_.authserv_id = "localhost";  // never "; mtep=..."
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
    return decided(internalTempfail(), "tempfail", "no-config");
  }
  auto box = parseEnvelope(sender, true);
  if (box.ok()) {
    msg_.sender_null = box->isNull();
    msg_.sender_valid = !msg_.sender_null;
    msg_.sender = box->canonicalLower();
    msg_.sender_domain = box->domainLower();
  }
  return {};
}

Decision Session::rcpt(std::string_view recipient) {
  if (!msg_.active || internal_) return {};
  auto box = parseEnvelope(recipient, false);
  if (!box.ok() || box->isNull()) return {};  // the MTA decides about it
  const config::DomainPolicy& policy = env_.config->policyFor(box->domainLower());
  bool checked = false;
  if (msg_.sender_valid) {
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
  if (msg_.policy_class < 0) {
    msg_.policy_class = cls;
    msg_.unavailable = policy.mtep_unavailable;
    msg_.rcpt_domain = box->domainLower();
  } else if (cls != msg_.policy_class) {
    if (msg_.sender_null) {
      // Bounces pass either way; the header goes in when any policy applies.
      msg_.policy_class = std::max(msg_.policy_class, cls);
    } else {
      return decided(reply(Step::kTempfail, "452", "4.5.3",
                           "Recipients under different MTEP policies: send to this recipient "
                           "in a separate message"),
                     "tempfail", "policy-differs", nullptr,
                     " rcpt=<" + logged(box->canonicalLower()) + ">");
    }
  }
  ++msg_.recipients;
  return {};
}

void Session::header(std::string_view name, std::string_view value) {
  if (!msg_.active) return;
  if (iequals(name, kTokenHeader)) {
    if (++msg_.token_headers == 1) {
      auto token = normalizeTokenHeader(value);
      msg_.token_malformed = !token.ok();
      if (token.ok()) msg_.token = std::move(*token);
    }
  } else if (iequals(name, kAuthResultsHeader)) {
    ++msg_.auth_results_seen;
    if (iequals(authservIdOf(value), env_.authserv_id)) {
      msg_.our_auth_results.push_back(msg_.auth_results_seen);
    }
  }
}

Decision Session::endOfMessage(Actions& actions, std::string_view queue_id) {
  if (!queue_id.empty()) msg_.queue_id = std::string(queue_id);
  Decision d;
  if (msg_.active && env_.config) d = internal_ ? outbound(actions) : inbound(actions);
  msg_ = Message{};
  return d;
}

void Session::abort() { msg_ = Message{}; }

Decision Session::outbound(Actions& actions) {
  if (msg_.sender_null) return decided({}, "none", "null-sender");
  if (!msg_.sender_valid) return decided({}, "none", "unparsable-sender");
  const config::Config& cfg = *env_.config;
  const config::DomainPolicy& policy = cfg.policyFor(msg_.sender_domain);
  if (!policy.issue_tokens) return decided({}, "none", "issue-tokens-off");
  const int64_t ttl = std::min(policy.token_ttl, cfg.tokens.max_ttl);
  Result<std::string> token =
      env_.minter != nullptr ? env_.minter->mint(msg_.sender, ttl)
                             : Result<std::string>(Error(ErrorKind::kInternal, "no token minter"));
  const Decision tempfail = reply(Step::kTempfail, "451", "4.3.0",
                                  "Cannot add an MTEP token to this message now; try again later");
  if (!token.ok()) {
    VerifyOutcome why;
    why.detail = token.error().message();
    return decided(tempfail, "tempfail", "mint-failed", &why);
  }
  // The header must hold exactly what a receiver accepts, nothing to inject.
  auto check = normalizeTokenHeader(*token);
  if (!check.ok() || *check != *token) {
    VerifyOutcome why;
    why.detail = "minted token is not a plain base64url value";
    return decided(tempfail, "tempfail", "mint-failed", &why);
  }
  for (int i = msg_.token_headers; i >= 1; --i) {
    if (!actions.deleteHeader(kTokenHeader, i).ok()) {
      return decided(tempfail, "tempfail", "header-change-failed");
    }
  }
  if (!actions.addHeader(kTokenHeader, *token).ok()) {
    return decided(tempfail, "tempfail", "header-change-failed");
  }
  return decided({}, "token-added", "issued");
}

bool Session::deleteOurAuthResults(Actions& actions) {
  for (auto it = msg_.our_auth_results.rbegin(); it != msg_.our_auth_results.rend(); ++it) {
    if (!actions.deleteHeader(kAuthResultsHeader, *it).ok()) return false;
  }
  return true;
}

Decision Session::inbound(Actions& actions) {
  const std::string sender_domain = shown(msg_.sender_domain, kMaxShownDomain);
  const std::string rcpt_domain = shown(msg_.rcpt_domain, kMaxShownDomain);
  const auto reject = [](const std::string& text) {
    return reply(Step::kReject, "550", "5.7.25", text);
  };
  // Delivers the message: spoofed A-R headers out, ours (if any) in.
  const auto deliver = [&](const char* action, const char* reason, const char* result,
                           std::string_view comment, const VerifyOutcome* outcome) {
    if (!deleteOurAuthResults(actions)) {
      return decided(internalTempfail(), "tempfail", "header-change-failed", outcome);
    }
    if (result != nullptr) {
      const std::string value = formatAuthResults(env_.authserv_id, result, msg_.sender, comment);
      if (!actions.insertHeader(kAuthResultsHeader, value).ok()) {
        return decided(internalTempfail(), "tempfail", "header-change-failed", outcome);
      }
    }
    return decided({}, action, reason, outcome);
  };

  if (msg_.policy_class <= 0) return deliver("none", "no-policy", nullptr, {}, nullptr);
  if (msg_.sender_null) return deliver("pass", "null-sender", "none", {}, nullptr);
  if (!msg_.sender_valid) {
    return decided(reject("Mail to " + rcpt_domain +
                          " needs MTEP, and the envelope sender is not an address MTEP can "
                          "vouch for"),
                   "reject", "bad-sender");
  }
  if (msg_.token_headers == 0) {
    return decided(
        reject("Mail to " + rcpt_domain + " needs an MTEP-Token from " + sender_domain +
               "'s MTEP server; ask the postmaster of " + sender_domain + " to enable MTEP"),
        "reject", "no-token");
  }
  if (msg_.token_headers > 1) {
    return decided(reject("The message has " + std::to_string(msg_.token_headers) +
                          " MTEP-Token headers; mail to " + rcpt_domain +
                          " takes exactly one; ask the postmaster of " + sender_domain),
                   "reject", "several-tokens");
  }
  if (msg_.token_malformed) {
    return decided(reject("The MTEP-Token header is malformed; ask the postmaster of " +
                          sender_domain + " to check their MTEP setup"),
                   "reject", "malformed-token");
  }

  VerifyQuery query;
  query.token = msg_.token;
  query.sender = msg_.sender;
  query.sender_domain = msg_.sender_domain;
  query.queue_id = msg_.queue_id;
  VerifyOutcome outcome;
  if (env_.verifier != nullptr) {
    outcome = env_.verifier->verify(query);
  } else {
    outcome.detail = "no verifier";
  }
  switch (outcome.kind) {
    case VerifyKind::kValid:
      return deliver("pass", "valid", "pass", {}, &outcome);
    case VerifyKind::kRefused: {
      std::string text = sender_domain + "'s MTEP server does not vouch for this message's " +
                         "MTEP-Token; ask the postmaster of " + sender_domain;
      if (!outcome.detail.empty()) {
        text += " (server said: " + shown(outcome.detail, kMaxShownDetail) + ")";
      }
      return decided(reject(text), "reject", "refused", &outcome);
    }
    case VerifyKind::kUnsure:
    case VerifyKind::kUnreachable:
      break;
  }
  const char* reason = verifyKindName(outcome.kind);
  switch (msg_.unavailable) {
    case config::Unavailable::kAccept:
      return deliver("accept", reason, "temperror",
                     outcome.kind == VerifyKind::kUnsure ? "server unsure" : "server unreachable",
                     &outcome);
    case config::Unavailable::kReject:
      return decided(reject("Cannot verify the MTEP token with " + sender_domain +
                            "'s MTEP server; ask the postmaster of " + sender_domain),
                     "reject", reason, &outcome);
    case config::Unavailable::kTempfail:
      break;
  }
  return decided(reply(Step::kTempfail, "451", "4.7.25",
                       "Cannot verify the MTEP token with " + sender_domain +
                           "'s MTEP server now; try again later"),
                 "tempfail", reason, &outcome);
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

// The sender-signature check of an inbound message (see session.h,
// "Sender signatures"): what the headers and body give it, the From:
// address, the key from the From domain's key server, the verdict.

#include <algorithm>
#include <string>
#include <string_view>

#include "e2ee/e2ee.h"
#include "milter/session.h"
#include "milter/session_internal.h"
#include "smtp/address.h"
#include "util/log.h"

namespace mtep::milter {

namespace {

using internal::iequals;
using internal::logged;
using internal::reply;
using internal::shown;

constexpr std::string_view kFromHeader = "From";
constexpr size_t kMaxShownDomain = 40;
constexpr size_t kMaxShownAddress = 64;
constexpr size_t kMaxSignatureKept = e2ee::kMaxSignatureText + 1;  // longer: refused as such

// A header value as a message line's continuation: bare LF becomes CRLF.
void appendCrlf(std::string& out, std::string_view value) {
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\n' && (i == 0 || value[i - 1] != '\r')) out += '\r';
    out += value[i];
  }
}

}  // namespace

bool isSignedHeader(std::string_view name) {
  for (std::string_view known : {"From", "To", "Date", "Subject", "Message-ID"}) {
    if (iequals(name, known)) return true;
  }
  return false;
}

void Session::signatureHeader(std::string_view name, std::string_view value) {
  msg_.message_bytes += name.size() + value.size() + 4;  // "Name: value\r\n"
  if (!msg_.sig_maybe) return;
  if (iequals(name, kFromHeader)) {
    if (msg_.from_values.size() < kMaxFromHeaders) msg_.from_values.emplace_back(value);
    ++msg_.from_headers;
  } else if (iequals(name, e2ee::kHeaderSignature)) {
    if (++msg_.sig_headers == 1) msg_.signature = value.substr(0, kMaxSignatureKept);
  }
  if (isSignedHeader(name) && msg_.message_bytes <= env_.config->milter.max_signed_message_size) {
    msg_.signed_headers.append(name);
    msg_.signed_headers += ": ";
    appendCrlf(msg_.signed_headers, value);
    msg_.signed_headers += "\r\n";
  }
}

bool Session::body(std::string_view chunk) {
  msg_.body_seen = true;
  if (!msg_.active || internal_ || !env_.config) return false;
  // Stamps are spent with the message's identity, which covers the body.
  const bool for_stamps = stampIdentityNeeded();
  if (for_stamps) stampIdentity().body(chunk);
  using BodyState = Message::BodyState;
  const uint64_t cap = env_.config->milter.max_signed_message_size;
  if (msg_.body_state == BodyState::kUndecided) {
    const FromInfo from = fromInfo();
    const bool needed = sigChecks(from) && !from.ambiguous && !from.address.empty() &&
                        msg_.sig_headers == 1 && e2ee::parseSignature(msg_.signature).ok() &&
                        msg_.message_bytes <= cap;
    msg_.body_state = needed ? BodyState::kStoring : BodyState::kSkipped;
  }
  msg_.message_bytes += chunk.size();
  if (msg_.body_state != BodyState::kStoring) return for_stamps;
  if (msg_.message_bytes > cap) {
    msg_.body_state = BodyState::kSkipped;  // over the limit: not checked
    std::string().swap(msg_.body);
    return for_stamps;
  }
  msg_.body.append(chunk);
  return true;
}

Session::FromInfo Session::fromInfo() const {
  FromInfo info;
  for (const std::string& value : msg_.from_values) {
    auto text = e2ee::fromMailbox(value);
    auto box = text.ok() ? smtp::parseMailbox(*text) : Result<smtp::Mailbox>(text.error());
    if (!box.ok()) {
      info.ambiguous = true;
      info.unknown_domain = true;  // which domain it claims cannot be told
      continue;
    }
    if (msg_.from_headers == 1) {
      info.address = box->canonicalLower();
      info.domain = box->domainLower();
    }
    info.domains.push_back(box->domainLower());
  }
  if (static_cast<size_t>(msg_.from_headers) > msg_.from_values.size()) info.unknown_domain = true;
  if (msg_.from_headers > 1) {
    info.ambiguous = true;
    info.address.clear();
    info.domain.clear();
  }
  if (info.domains.empty()) info.domains.emplace_back();  // matched as "": only "*" covers it
  return info;
}

bool Session::sigChecks(const FromInfo& from) const {
  if (msg_.sig_policy == nullptr) return false;
  if (msg_.sig_check_any) return true;
  if (from.unknown_domain && !msg_.sig_policy->require_signature_from.empty()) return true;
  return std::any_of(from.domains.begin(), from.domains.end(), [&](const std::string& d) {
    return msg_.sig_policy->requiresSignatureFrom(d);
  });
}

std::string Session::signedMessage() const {
  std::string message;
  message.reserve(msg_.signed_headers.size() + 2 + msg_.body.size());
  message += msg_.signed_headers;
  message += "\r\n";
  message += msg_.body;
  return message;
}

bool Session::checkSignature(SigVerdict& verdict, Decision& refusal) {
  if (msg_.sig_policy == nullptr || !msg_.sig_maybe) return true;
  const FromInfo from = fromInfo();
  if (!sigChecks(from)) return true;
  const config::DomainPolicy& policy = *msg_.sig_policy;
  const bool required =
      (from.unknown_domain && !policy.require_signature_from.empty()) ||
      std::any_of(from.domains.begin(), from.domains.end(),
                  [&](const std::string& d) { return policy.requiresSignatureFrom(d); });
  const bool reject_bad = policy.check_signatures && policy.reject_bad_signatures;
  verdict.from = from.address;
  const uint64_t cap = env_.config->milter.max_signed_message_size;

  const auto result = [&](const char* r, const char* why) {
    verdict.result = r;
    verdict.reason = why;
  };
  if (from.ambiguous) {
    result("fail", msg_.from_headers > 1 ? "several-from" : "bad-from");
  } else if (msg_.sig_headers == 0) {
    result("none", "no-signature");
  } else if (msg_.sig_headers > 1) {
    result("fail", "several-signatures");
  } else if (!e2ee::parseSignature(msg_.signature).ok()) {
    result("fail", "malformed-signature");
  } else if (msg_.message_bytes > cap) {
    result("none", "too-large");
  } else if (from.address.empty()) {
    result("none", "no-from");
  } else {
    KeyQuery query;
    query.address = from.address;
    query.domain = from.domain;
    query.queue_id = msg_.queue_id;
    verdict.asked = true;
    if (env_.key_fetcher != nullptr) {
      verdict.key = env_.key_fetcher->fetch(query);
    } else {
      verdict.key.detail = "no key fetcher";
    }
    switch (verdict.key.kind) {
      case KeyKind::kTemporary:
        result("temperror", "key-unavailable");
        break;
      case KeyKind::kNone:
        result("none", "no-key");
        break;
      case KeyKind::kFound: {
        auto ok = e2ee::verifyMessage(signedMessage(), msg_.signature, verdict.key.key);
        if (ok.ok() && *ok) {
          result("pass", "signature-valid");
        } else {
          result("fail", ok.ok() ? "signature-invalid" : "malformed-signature");
        }
        break;
      }
    }
  }

  const std::string_view r = verdict.result;
  const std::string who =
      shown(from.address.empty() ? "(no From: address)" : from.address, kMaxShownAddress);
  const std::string domain =
      shown(from.domain.empty() ? from.domains.front() : from.domain, kMaxShownDomain);
  const std::string rcpt_domain = shown(msg_.rcpt_domain, kMaxShownDomain);
  const auto refuse = [&](Decision d, const char* action) {
    refusal = decided(std::move(d), action, verdict.reason, nullptr, sigLogFields(verdict));
    return false;
  };
  if (r == "fail" && (reject_bad || required)) {
    return refuse(
        reply(Step::kReject, "550", "5.7.7",
              "The X-Sender-Signature of this message from " + who + " does not verify (" +
                  verdict.reason + "); the sender should sign it again with the key " +
                  (domain.empty() ? std::string("their server") : domain) + " publishes"),
        "reject");
  }
  if (r == "none" && required) {
    return refuse(reply(Step::kReject, "550", "5.7.7",
                        "Mail from " + (domain.empty() ? who : domain) + " to " + rcpt_domain +
                            " must carry a valid X-Sender-Signature (" + verdict.reason +
                            "); the sender should sign it"),
                  "reject");
  }
  if (r == "temperror" && (reject_bad || required)) {
    return refuse(reply(Step::kTempfail, "451", "4.7.5",
                        "Cannot fetch the public key of " + who + " from " + domain +
                            "'s key server now; try again later"),
                  "tempfail");
  }
  return true;
}

std::string Session::sigLogFields(const SigVerdict& v) {
  if (v.result == nullptr) return {};
  std::string out = std::string(" sig=") + v.result + " sig_reason=" + v.reason;
  if (!v.from.empty()) out += " from=<" + logged(v.from) + ">";
  if (v.asked) {
    if (!v.key.server.empty()) out += " key_server=" + logged(v.key.server);
    if (v.key.cached) out += " key_cached=yes";
    if (!v.key.detail.empty()) out += " key_detail=\"" + logged(v.key.detail) + "\"";
  }
  return out;
}

}  // namespace mtep::milter

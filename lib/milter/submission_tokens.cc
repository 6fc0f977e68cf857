// Submission-Token headers: added to outbound mail, recorded from inbound
// mail (submission_tokens.h), and the Session's two steps for them.
#include "milter/submission_tokens.h"

#include <algorithm>

#include "milter/session.h"
#include "milter/session_internal.h"
#include "smtp/address.h"
#include "stoken/protocol.h"
#include "util/log.h"

namespace mtep::milter {
namespace {

using internal::logged;

void addDistinctUpTo(std::vector<std::string>* out, std::string value, size_t max) {
  if (out->size() >= max) return;
  if (std::find(out->begin(), out->end(), value) == out->end()) out->push_back(std::move(value));
}

std::string_view trimAll(std::string_view s) {
  const auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

// One element of an address list: the text outside comments, and what
// the last angle brackets held.
void finishElement(const std::string& plain, const std::string& angle, bool had_angle,
                   std::vector<std::string>* out, size_t max) {
  const std::string_view candidate = trimAll(had_angle ? std::string_view(angle) : plain);
  if (candidate.empty()) return;
  auto m = smtp::parseMailbox(candidate);
  if (!m || m->isNull()) return;
  addDistinctUpTo(out, m->canonicalLower(), max);
}

stoken::BookLimits limitsOf(const config::Config& cfg) {
  return {cfg.stoken.temporary_ttl, cfg.stoken.permanent_ttl, cfg.stoken.permanent_refresh};
}

}  // namespace

void addressesOf(std::string_view value, std::vector<std::string>* out, size_t max) {
  value = value.substr(0, std::min(value.size(), kMaxAddressHeader));
  std::string plain;  // the element outside comments and angle brackets
  std::string angle;  // inside the last <...>
  bool had_angle = false;
  bool in_quote = false;
  bool in_angle = false;
  int comment = 0;
  for (size_t i = 0; i < value.size() && out->size() < max; ++i) {
    const char c = value[i];
    if (comment > 0) {
      if (c == '\\') {
        ++i;
      } else if (c == '(') {
        ++comment;
      } else if (c == ')') {
        --comment;
      }
      continue;
    }
    if (in_quote) {
      std::string& into = in_angle ? angle : plain;
      into += c;
      if (c == '\\' && i + 1 < value.size()) {
        into += value[++i];
      } else if (c == '"') {
        in_quote = false;
      }
      continue;
    }
    if (in_angle) {
      if (c == '>') {
        in_angle = false;
      } else {
        if (c == '"') in_quote = true;
        angle += c;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_quote = true;
        plain += c;
        break;
      case '(':
        comment = 1;
        break;
      case '<':
        in_angle = true;
        had_angle = true;
        angle.clear();
        break;
      case ':':  // a group's name ends: what came before was no address
        plain.clear();
        had_angle = false;
        break;
      case ',':
      case ';':
        finishElement(plain, angle, had_angle, out, max);
        plain.clear();
        angle.clear();
        had_angle = false;
        break;
      default:
        plain += c;
    }
  }
  if (!in_angle && !in_quote && comment == 0) finishElement(plain, angle, had_angle, out, max);
}

std::vector<std::string> distributionRecipients(const std::vector<std::string>& recipients,
                                                const std::vector<std::string>& visible) {
  std::vector<std::string> out;
  if (recipients.size() == 1) {
    out.push_back(recipients.front());
    return out;
  }
  for (const std::string& r : recipients) {
    if (out.size() >= kMaxDistributedTokens) break;
    if (std::find(visible.begin(), visible.end(), r) != visible.end()) out.push_back(r);
  }
  return out;
}

std::vector<HeldChoice> chooseHeld(const std::vector<std::string>& accepting,
                                   const std::vector<std::string>& tokens) {
  std::vector<HeldChoice> out;
  bool any_ours = false;
  for (const std::string& r : accepting) {
    const auto tag = stoken::remoteTag(r);
    for (const std::string& t : tokens) {
      auto fields = stoken::decode(t);
      if (!fields) continue;
      any_ours = true;
      if (fields->remote_tag != tag) continue;
      out.push_back({r, t, fields->kind});
      break;
    }
  }
  if (out.empty() && !any_ours) {
    for (const std::string& t : tokens) any_ours = any_ours || stoken::decode(t).ok();
    if (!any_ours && tokens.size() == 1 && accepting.size() == 1) {
      out.push_back({accepting.front(), tokens.front(), stoken::Kind::kTemporary});
    }
  }
  return out;
}

Decision Session::outboundSubmissionTokens(Actions& actions) {
  const std::string qid = msg_.queue_id.empty() ? "NOQUEUE" : logged(msg_.queue_id);
  if (env_.submission_tokens == nullptr) {
    log::warning("%s: stoken: action=skipped reason=no-token-book sender=<%s>", qid.c_str(),
                 msg_.sender.c_str());
    return {};
  }
  const stoken::BookLimits limits = limitsOf(*env_.config);
  for (const std::string& rcpt : distributionRecipients(msg_.mint_recipients, msg_.visible)) {
    auto token = env_.submission_tokens->temporary(rcpt, msg_.sender, limits);
    if (!token || !stoken::isTokenText(*token)) {
      log::warning("%s: stoken: action=skipped reason=%s rcpt=<%s> sender=<%s>", qid.c_str(),
                   token ? "not-a-token" : logged(token.error().message()).c_str(),
                   logged(rcpt).c_str(), msg_.sender.c_str());
      continue;
    }
    if (Status s = actions.addHeader(kSubmissionTokenHeader, *token); !s) {
      return decided(internal::reply(Step::kTempfail, "451", "4.3.0",
                                     "mtep-milter cannot add a header now; try again later"),
                     "tempfail", "header-change-failed");
    }
    log::info("%s: stoken: action=added rcpt=<%s> sender=<%s> id=%s", qid.c_str(),
              logged(rcpt).c_str(), msg_.sender.c_str(), stoken::tokenLogId(*token).c_str());
  }
  return {};
}

void Session::holdSubmissionTokens() {
  if (!msg_.sender_valid || msg_.stoken_recipients.empty() || msg_.submission_tokens.empty()) {
    return;
  }
  const std::string qid = msg_.queue_id.empty() ? "NOQUEUE" : logged(msg_.queue_id);
  if (env_.submission_tokens == nullptr) {
    log::warning("%s: stoken: action=ignored reason=no-token-book sender=<%s>", qid.c_str(),
                 msg_.sender.c_str());
    return;
  }
  const stoken::BookLimits limits = limitsOf(*env_.config);
  const std::vector<HeldChoice> chosen = chooseHeld(msg_.stoken_recipients, msg_.submission_tokens);
  if (chosen.empty()) {
    log::info("%s: stoken: action=ignored reason=no-token-for-recipients sender=<%s>", qid.c_str(),
              msg_.sender.c_str());
  }
  for (const HeldChoice& c : chosen) {
    auto held = env_.submission_tokens->hold(c.recipient, msg_.sender, c.token, c.kind, limits);
    const std::string id = stoken::tokenLogId(c.token);
    if (!held) {
      log::warning("%s: stoken: action=ignored reason=\"%s\" rcpt=<%s> sender=<%s> id=%s",
                   qid.c_str(), logged(held.error().message()).c_str(), logged(c.recipient).c_str(),
                   msg_.sender.c_str(), id.c_str());
      continue;
    }
    log::info("%s: stoken: action=%s kind=%s rcpt=<%s> sender=<%s> id=%s", qid.c_str(),
              *held ? "held" : "kept", stoken::kindName(c.kind), logged(c.recipient).c_str(),
              msg_.sender.c_str(), id.c_str());
  }
}

void Session::submissionTokenHeader(std::string_view name, std::string_view value) {
  if (internal_) {
    if (internal::iequals(name, "To") || internal::iequals(name, "Cc")) {
      addressesOf(value, &msg_.visible, kMaxVisibleAddresses);
    }
    return;
  }
  if (!internal::iequals(name, kSubmissionTokenHeader)) return;
  if (msg_.submission_tokens.size() >= kMaxSubmissionTokenHeaders) return;
  auto token = stoken::parseSubmissionTokenHeader(value);
  if (token)
    addDistinctUpTo(&msg_.submission_tokens, std::move(*token), kMaxSubmissionTokenHeaders);
}

}  // namespace mtep::milter

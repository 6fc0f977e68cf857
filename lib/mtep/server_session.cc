#include "mtep/server_session.h"

#include <utility>

#include "util/base64.h"

namespace mtep::proto {
namespace {

Response reply(Verdict v, const smtp::EnhancedStatus& code, std::string text) {
  return Response{v, code, std::move(text)};
}

}  // namespace

ServerSession::ServerSession(const SessionLimits& limits, TokenChecker& checker, FarewellRota& rota,
                             DecisionSink sink)
    : limits_(limits),
      checker_(checker),
      rota_(rota),
      sink_(std::move(sink)),
      decoder_(
          netstring::Limits{.max_length = limits.request.max_request_size, .skip_crlf = true}) {}

void ServerSession::report(std::string_view command, const Response& r, std::string_view reason,
                           std::string_view sender, std::string_view recipient) {
  if (!sink_) return;
  const std::string cmd = printableAscii(command, kMaxLoggedCommand);
  const std::string from = printableAscii(sender, kMaxLoggedSender);
  const std::string to = printableAscii(recipient, kMaxLoggedSender);
  sink_(Decision{cmd, r, reason, from, to});
}

ServerSession::Action ServerSession::fail(const Response& r, std::string_view reason,
                                          std::string* out) {
  out->append(encodeResponse(r));
  report("", r, reason, "");
  closed_ = true;
  return Action::kClose;
}

ServerSession::Action ServerSession::feed(std::string_view in, std::string* out) {
  if (closed_) return Action::kClose;
  while (!in.empty()) {
    size_t used = 0;
    const netstring::DecodeState state = decoder_.feed(in, &used);
    in.remove_prefix(used);
    if (state == netstring::DecodeState::kNeedMore) break;
    if (state == netstring::DecodeState::kError) {
      if (decoder_.error() == netstring::DecodeError::kTooLong) {
        return fail(
            reply(Verdict::kNo, smtp::esc::kTooBig,
                  "Sorry, a request may be at most " +
                      std::to_string(limits_.request.max_request_size) + " bytes; closing."),
            "request-too-big", out);
      }
      return fail(reply(Verdict::kNo, smtp::esc::kSyntax,
                        std::string("Sorry, I could not read that request (") +
                            netstring::decodeErrorText(decoder_.error()) +
                            "); closing."),
                  "bad-framing", out);
    }
    if (handleRequest(decoder_.payload(), out) == Action::kClose) return Action::kClose;
  }
  return Action::kContinue;
}

ServerSession::Action ServerSession::handleRequest(const std::string& payload, std::string* out) {
  ++commands_;
  auto parsed = parseRequestPayload(payload, limits_.request);
  Response r;
  std::string reason;
  std::string_view command;
  std::string_view sender;
  std::string_view recipient;
  bool close = false;
  if (!parsed) {
    switch (parsed.error().kind()) {
      case ErrorKind::kInvalid:
        r = reply(Verdict::kInfo, smtp::esc::kSyntax,
                  "That request was empty; send ? with a token, or Q to finish.");
        reason = "empty-request";
        break;
      case ErrorKind::kLimit:
        return fail(reply(Verdict::kNo, smtp::esc::kTooBig,
                          "Sorry, a request may have at most " +
                              std::to_string(limits_.request.max_elements) + " elements; closing."),
                    "too-many-elements", out);
      default:
        return fail(reply(Verdict::kNo, smtp::esc::kSyntax,
                          "Sorry, the elements of that request are not well-formed netstrings; "
                          "closing."),
                    "bad-framing", out);
    }
  } else {
    const std::vector<std::string>& el = parsed->elements;
    command = el[0];
    if (command == "Q") {
      r = reply(Verdict::kYes, smtp::esc::kQuitOk, "CYA " + std::string(rota_.next()));
      reason = "quit";
      close = true;
    } else if (command == "?" && (el.size() < 2 || el[1].empty())) {
      r = reply(Verdict::kInfo, smtp::esc::kSyntax, "Please send a token after the ? command.");
      reason = "missing-token";
    } else if (command == "?") {
      Query q;
      q.token = el[1];
      q.has_sender = el.size() > 2;
      if (q.has_sender) sender = q.sender = el[2];
      if (el.size() > 3) recipient = q.recipient = el[3];
      CheckResult checked = checker_.check(q);
      r = std::move(checked.response);
      reason = std::move(checked.reason);
      if (!r.code && r.verdict != Verdict::kYes) {
        r.code = smtp::EnhancedStatus{impliedClass(r.verdict), 0, 0};
      }
    } else {
      r = reply(Verdict::kInfo, smtp::esc::kUnknownCommand,
                "Sorry, I do not know that command; I understand ? and Q.");
      reason = "unknown-command";
    }
  }
  out->append(encodeResponse(r));
  report(command, r, reason, sender, recipient);
  if (close || commands_ >= limits_.max_commands) {
    closed_ = true;
    return Action::kClose;
  }
  return Action::kContinue;
}

ServerSession::Action ServerSession::onEof(std::string* /*out*/) {
  closed_ = true;
  return Action::kClose;
}

ServerSession::Action ServerSession::onTimeout(std::string* out) {
  if (closed_) return Action::kClose;
  return fail(reply(Verdict::kInfo, smtp::esc::kTimeout,
                    "No request arrived in time; closing. Do come back later!"),
              "timeout", out);
}

ServerSession::Action ServerSession::onLifetimeOver(std::string* out) {
  if (closed_) return Action::kClose;
  return fail(reply(Verdict::kInfo, smtp::esc::kTimeout,
                    "This connection has been open as long as I allow; closing. Do come "
                    "back later!"),
              "lifetime", out);
}

}  // namespace mtep::proto

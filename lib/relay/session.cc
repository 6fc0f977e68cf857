// NAME
//   session.cc - the onion relay's SMTP server session
// DESCRIPTION
//   See session.h. Replies follow Postfix's wording where there is one, so
//   that an admin reading the MTA's log recognises them.

#include "relay/session.h"

#include <charconv>
#include <utility>

#include "overlay/overlay.h"
#include "smtp/address.h"
#include "util/log.h"

namespace mtep::relay {
namespace {

constexpr smtp::EnhancedStatus kBadDestination{5, 1, 2};
constexpr smtp::EnhancedStatus kTooManyRecipients{4, 5, 3};
constexpr smtp::EnhancedStatus kBadSequence{5, 5, 1};
constexpr smtp::EnhancedStatus kLineTooLong{5, 5, 6};
constexpr smtp::EnhancedStatus kUnsupportedParam{5, 5, 4};
constexpr smtp::EnhancedStatus kBadSender{5, 1, 7};
constexpr smtp::EnhancedStatus kBadRecipient{5, 1, 3};
constexpr smtp::EnhancedStatus kTooManyErrors{4, 7, 0};
constexpr smtp::EnhancedStatus kLostHop{4, 4, 2};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 32);
    if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 32);
    if (x != y) return false;
  }
  return true;
}

// Verbs we know but do not do here.
bool knownVerb(std::string_view v) {
  for (const char* k : {"STARTTLS", "AUTH", "BDAT", "VRFY", "EXPN", "ETRN", "HELP", "TURN",
                        "ATRN", "XCLIENT", "XFORWARD", "STARTMTEP"}) {
    if (v == k) return true;
  }
  return false;
}

// "<path>" with the mailbox as parsed (local part re-quoted when needed).
std::string pathText(const smtp::Mailbox& m) { return m.isNull() ? "" : m.toString(); }

}  // namespace

RelaySession::RelaySession(SessionLimits limits, std::shared_ptr<NextHop> hop, std::string client)
    : limits_(std::move(limits)),
      hop_(std::move(hop)),
      client_(std::move(client)),
      lines_(smtp::LineLimits{limits_.max_line}),
      data_(smtp::DataLimits{static_cast<size_t>(limits_.max_message_size), 1000000}) {}

RelaySession::~RelaySession() = default;

void RelaySession::reply(uint16_t code, smtp::EnhancedStatus status, std::string_view text,
                         std::string* out) {
  smtp::Reply r;
  r.code = code;
  r.enhanced = status;
  r.text = std::string(text);
  *out += r.toString();
  *out += "\r\n";
  answered_ = true;
}

void RelaySession::reply(const HopReply& r, std::string* out) {
  *out += r.reply.toString();
  *out += "\r\n";
  answered_ = true;
}

RelaySession::Step RelaySession::error(uint16_t code, smtp::EnhancedStatus status,
                                       std::string_view text, std::string* out) {
  reply(code, status, text, out);
  if (++errors_ >= limits_.max_errors) {
    reply(421, kTooManyErrors, limits_.hostname + " Error: too many errors", out);
    phase_ = Phase::kClosed;
    return {Action::kClose, true, 0};
  }
  return {Action::kContinue, true, 0};
}

RelaySession::Step RelaySession::start(std::string* out) {
  reply(220, smtp::esc::kOk, limits_.hostname + " ESMTP mtepd onion relay", out);
  // The greeting is no request: the idle timer starts with the session.
  answered_ = false;
  return {};
}

RelaySession::Job RelaySession::takeWork() {
  Job job = std::move(job_);
  job_ = nullptr;
  return job;
}

RelaySession::Step RelaySession::work(Work what, Job job) {
  work_ = what;
  job_ = std::move(job);
  phase_ = Phase::kWaiting;
  return {Action::kWork, false, 0};
}

void RelaySession::resetTransaction() {
  mail_.reset();
  dest_.reset();
  hop_failed_.reset();
  rcpts_ = accepted_ = 0;
  data_.reset();
}

void RelaySession::logRcpt(const std::string& to, const HopReply& r) const {
  std::string s = r.reply.toString();
  log::info("NOQUEUE: relay: client=%s from=<%s> to=<%s> action=%u reply=%s", client_.c_str(),
            mail_ ? mail_->path.c_str() : "", to.c_str(), static_cast<unsigned>(r.reply.code),
            s.c_str());
}

RelaySession::Step RelaySession::feed(std::string_view in, std::string* out) {
  answered_ = false;
  size_t pos = 0;
  while (pos < in.size()) {
    if (phase_ == Phase::kClosed || phase_ == Phase::kWaiting) break;  // drop the rest
    size_t used = 0;
    Step step;
    if (phase_ == Phase::kData) {
      smtp::DataState st = data_.feed(in.substr(pos), &used);
      pos += used;
      if (st == smtp::DataState::kNeedMore) continue;
      step = dataFinished(st, out);
    } else {
      smtp::LineState st = lines_.feed(in.substr(pos), &used);
      pos += used;
      if (st == smtp::LineState::kNeedMore) continue;
      if (st == smtp::LineState::kTooLong) {
        step = error(500, kLineTooLong, "Error: line too long", out);
      } else {
        step = command(lines_.line(), out);
        lines_.reset();
      }
    }
    if (step.action == Action::kWork) {
      step.unconsumed = in.size() - pos;
      step.answered = answered_;
      return step;
    }
    if (step.action == Action::kClose) return {Action::kClose, answered_, 0};
  }
  if (phase_ == Phase::kClosed) return {Action::kClose, answered_, 0};
  return {Action::kContinue, answered_, 0};
}

RelaySession::Step RelaySession::command(const std::string& line, std::string* out) {
  auto cmd = smtp::parseCommand(line);
  if (!cmd) return error(500, smtp::esc::kSyntax, "Error: bad syntax", out);
  const std::string& verb = cmd->verb;
  if (verb == "EHLO" || verb == "HELO") {
    if (cmd->args.empty()) {
      return error(501, smtp::esc::kBadArguments, "Syntax: " + verb + " hostname", out);
    }
    if (hop_->connected()) hop_->abort();  // an open transaction ends here
    resetTransaction();
    greeted_ = true;
    if (verb == "HELO") {
      reply(250, smtp::esc::kOk, limits_.hostname, out);
    } else {
      *out += "250-" + limits_.hostname + "\r\n";
      *out += "250-SIZE " + std::to_string(limits_.max_message_size) + "\r\n";
      *out += "250-8BITMIME\r\n";
      *out += "250 ENHANCEDSTATUSCODES\r\n";
      answered_ = true;
    }
    return {};
  }
  if (verb == "MAIL") return mail(cmd->args, out);
  if (verb == "RCPT") return rcpt(cmd->args, out);
  if (verb == "DATA") return data(out);
  if (verb == "RSET") {
    resetTransaction();
    if (hop_->connected()) {
      auto hop = hop_;
      return work(Work::kReset, [hop] {
        hop->close();
        return makeReply(250, smtp::esc::kOk, "Ok");
      });
    }
    reply(250, smtp::esc::kOk, "Ok", out);
    return {};
  }
  if (verb == "NOOP") {
    reply(250, smtp::esc::kOk, "Ok", out);
    return {};
  }
  if (verb == "QUIT") {
    if (hop_->connected()) {
      auto hop = hop_;
      return work(Work::kQuit, [hop] {
        hop->close();
        return makeReply(221, smtp::esc::kQuitOk, "Bye");
      });
    }
    reply(221, smtp::esc::kQuitOk, "Bye", out);
    phase_ = Phase::kClosed;
    return {Action::kClose, true, 0};
  }
  if (knownVerb(verb)) return error(502, kBadSequence, "Error: command not implemented", out);
  return error(500, smtp::EnhancedStatus{5, 5, 2}, "Error: command not recognized", out);
}

RelaySession::Step RelaySession::mail(const std::string& args, std::string* out) {
  if (!greeted_) return error(503, kBadSequence, "Error: send HELO/EHLO first", out);
  if (mail_) return error(503, kBadSequence, "Error: nested MAIL command", out);
  auto arg = smtp::splitPathArg(args, "FROM:");
  if (!arg) return error(501, smtp::esc::kSyntax, "Syntax: MAIL FROM:<address>", out);
  smtp::AddressOptions opts;
  opts.smtputf8 = false;
  opts.allow_null = true;
  auto box = smtp::parsePath("<" + arg->path + ">", opts);
  if (!box) return error(501, kBadSender, "Bad sender address: " + box.error().message(), out);
  MailFrom m;
  m.path = pathText(*box);
  std::string_view params = arg->params;
  while (!params.empty()) {
    size_t sp = params.find(' ');
    std::string_view p = params.substr(0, sp);
    params = sp == std::string_view::npos ? std::string_view() : params.substr(sp + 1);
    if (p.empty()) continue;
    size_t eq = p.find('=');
    std::string_view key = p.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : p.substr(eq + 1);
    if (iequals(key, "SIZE") && !value.empty()) {
      uint64_t size = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), size);
      if (ec != std::errc() || end != value.data() + value.size()) {
        return error(501, smtp::esc::kSyntax, "Bad message size syntax", out);
      }
      if (size > limits_.max_message_size) {
        return error(552, smtp::esc::kTooBig, "Message size exceeds fixed limit", out);
      }
      m.size = size;
    } else if (iequals(key, "BODY") && (iequals(value, "7BIT") || iequals(value, "8BITMIME"))) {
      m.body = iequals(value, "7BIT") ? "7BIT" : "8BITMIME";
    } else {
      return error(555, kUnsupportedParam, "Unsupported option: " + std::string(p), out);
    }
  }
  mail_ = std::move(m);
  reply(250, {2, 1, 0}, "Ok", out);
  return {};
}

RelaySession::Step RelaySession::rcpt(const std::string& args, std::string* out) {
  if (!mail_) return error(503, kBadSequence, "Error: need MAIL command", out);
  auto arg = smtp::splitPathArg(args, "TO:");
  if (!arg) return error(501, smtp::esc::kSyntax, "Syntax: RCPT TO:<address>", out);
  if (!arg->params.empty()) {
    return error(555, kUnsupportedParam, "Unsupported option: " + arg->params, out);
  }
  smtp::AddressOptions opts;
  opts.smtputf8 = false;
  auto box = smtp::parsePath("<" + arg->path + ">", opts);
  if (!box) return error(501, kBadRecipient, "Bad recipient address: " + box.error().message(), out);
  const std::string to = box->toString();
  if (box->literal) {
    HopReply r = makeReply(550, kBadDestination,
                           "<" + to + ">: not an overlay address; this relay only delivers to "
                                      ".onion and .i2p domains");
    logRcpt(to, r);
    reply(r, out);
    return {};
  }
  auto domain = overlay::parseDomain(box->domain);
  if (!domain || domain->kind == overlay::Kind::kNone) {
    HopReply r = makeReply(
        550, kBadDestination,
        "<" + to + ">: " +
            (domain ? std::string("not an overlay address; this relay only delivers to .onion "
                                  "and .i2p domains")
                    : "bad overlay address: " + domain.error().message()));
    logRcpt(to, r);
    reply(r, out);
    return {};
  }
  if (rcpts_ >= limits_.max_recipients) {
    reply(452, kTooManyRecipients, "Error: too many recipients", out);
    return {};
  }
  Destination d;
  d.kind = domain->kind;
  d.host = domain->host;
  d.label = domain->fingerprint;
  if (dest_ && dest_->host != d.host) {
    HopReply r = makeReply(452, kTooManyRecipients,
                           "<" + to + ">: one destination per transaction; this one goes to " +
                               dest_->host);
    logRcpt(to, r);
    reply(r, out);
    return {};
  }
  if (hop_failed_) {
    logRcpt(to, *hop_failed_);
    reply(*hop_failed_, out);
    return {};
  }
  smtp::Mailbox next = *box;
  next.domain = d.host;  // the fingerprint label is ours, not the peer's
  std::string mailbox = next.toString();
  ++rcpts_;
  pending_rcpt_ = to;
  auto hop = hop_;
  if (!dest_) {
    dest_ = d;
    MailFrom m = *mail_;
    return work(Work::kFirstRcpt, [hop, d, m, mailbox] {
      HopReply r = hop->open(d, m);
      if (!r.ok()) return r;
      return hop->rcpt(d, mailbox);
    });
  }
  if (!hop_->connected()) {
    HopReply r = makeReply(451, kLostHop, "connection to " + d.host + " lost");
    hop_failed_ = r;
    logRcpt(to, r);
    reply(r, out);
    return {};
  }
  return work(Work::kRcpt, [hop, d, mailbox] { return hop->rcpt(d, mailbox); });
}

RelaySession::Step RelaySession::data(std::string* out) {
  if (!mail_) return error(503, kBadSequence, "Error: need RCPT command", out);
  if (accepted_ == 0) {
    if (hop_failed_) {
      reply(*hop_failed_, out);
      return {};
    }
    reply(554, {5, 5, 1}, "Error: no valid recipients", out);
    return {};
  }
  if (!hop_->connected()) {
    reply(451, kLostHop, "connection to " + (dest_ ? dest_->host : std::string("peer")) + " lost",
          out);
    return {};
  }
  auto hop = hop_;
  return work(Work::kData, [hop] { return hop->startData(); });
}

RelaySession::Step RelaySession::dataFinished(smtp::DataState state, std::string* out) {
  phase_ = Phase::kCommand;
  if (state == smtp::DataState::kMessage) {
    auto hop = hop_;
    auto message = std::make_shared<std::string>(data_.takeMessage());
    data_.reset();
    return work(Work::kMessage, [hop, message] { return hop->sendMessage(*message); });
  }
  // Too big or a line too long: the peer never sees the final ".".
  hop_->abort();
  HopReply r = state == smtp::DataState::kTooBig
                   ? makeReply(552, smtp::esc::kTooBig, "Error: message file too big")
                   : makeReply(552, smtp::esc::kTooBig, "Error: message line too long");
  log::info("NOQUEUE: relay: client=%s from=<%s> to %s: action=%u reply=%s", client_.c_str(),
            mail_ ? mail_->path.c_str() : "", dest_ ? dest_->host.c_str() : "?",
            static_cast<unsigned>(r.reply.code), r.reply.toString().c_str());
  resetTransaction();
  reply(r, out);
  return {};
}

RelaySession::Step RelaySession::complete(const HopReply& r, std::string* out) {
  answered_ = false;
  Work what = work_;
  work_ = Work::kNone;
  phase_ = Phase::kCommand;
  switch (what) {
    case Work::kFirstRcpt:
    case Work::kRcpt:
      if (r.ok()) ++accepted_;
      if (!hop_->connected() && !hop_failed_) {
        // Later recipients get the same answer without another attempt.
        if (r.ok()) {
          hop_failed_ = makeReply(451, kLostHop, "connection to " + dest_->host + " lost");
        } else {
          hop_failed_ = r;
        }
      }
      logRcpt(pending_rcpt_, r);
      reply(r, out);
      break;
    case Work::kData:
      if (r.reply.code == 354) {
        *out += "354 End data with <CR><LF>.<CR><LF>\r\n";  // no enhanced code on 354
        answered_ = true;
        phase_ = Phase::kData;
        data_.reset();
      } else {
        reply(r, out);
      }
      break;
    case Work::kMessage:
      log::info("NOQUEUE: relay: client=%s from=<%s> to %s: %zu recipient(s) action=%u reply=%s",
                client_.c_str(), mail_ ? mail_->path.c_str() : "",
                dest_ ? dest_->host.c_str() : "?", accepted_, static_cast<unsigned>(r.reply.code),
                r.reply.toString().c_str());
      resetTransaction();
      reply(r, out);
      break;
    case Work::kReset:
      reply(r, out);
      break;
    case Work::kQuit:
      reply(r, out);
      phase_ = Phase::kClosed;
      return {Action::kClose, true, 0};
    case Work::kNone:
      break;
  }
  return {Action::kContinue, answered_, 0};
}

RelaySession::Step RelaySession::onEof(std::string* /*out*/) {
  // The client left: a transaction not finished is dropped (the peer never
  // sees the final "."). The hop's connection closes with the session.
  if (hop_->connected() && phase_ != Phase::kWaiting) hop_->abort();
  phase_ = Phase::kClosed;
  return {Action::kClose, false, 0};
}

RelaySession::Step RelaySession::onTimeout(std::string* out) {
  if (hop_->connected() && phase_ != Phase::kWaiting) hop_->abort();
  reply(421, kLostHop, limits_.hostname + " Error: timeout exceeded", out);
  phase_ = Phase::kClosed;
  return {Action::kClose, true, 0};
}

}  // namespace mtep::relay

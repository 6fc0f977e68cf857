// NAME
//   server_session.cc - the I/O-free SMTP/LMTP server state machine
// DESCRIPTION
//   See server_session.h. One loop takes the input a command line (or a
//   piece of DATA, or a diversion's bytes) at a time and stops at a
//   suspend(), a close, STARTTLS or the end of the input. Handlers write
//   into out_; each public driving call hands it over in a ServerStep.

#include "smtp/server_session.h"

#include <algorithm>
#include <limits>

#include "smtp/address.h"
#include "util/log.h"

namespace mtep::smtp {
namespace {

bool isAlnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

std::string upperCase(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = upper(c);
  return r;
}

bool iEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (upper(a[i]) != upper(b[i])) return false;
  }
  return true;
}

// RFC 5321 4.1.2 esmtp-param, with UTF-8 values (RFC 6531). False on bad syntax.
bool parseParams(std::string_view text, Params* out) {
  while (!text.empty()) {
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    if (text.empty()) break;
    const size_t sp = text.find(' ');
    const std::string_view item = text.substr(0, sp);
    text.remove_prefix(sp == std::string_view::npos ? text.size() : sp);
    const size_t eq = item.find('=');
    const std::string_view key = item.substr(0, eq);
    if (key.empty() || !isAlnum(key.front()) || key.size() > 64) return false;
    for (char c : key) {
      if (!isAlnum(c) && c != '-') return false;
    }
    Param p;
    p.keyword = upperCase(key);
    if (eq != std::string_view::npos) {
      const std::string_view value = item.substr(eq + 1);
      if (value.empty()) return false;
      for (char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 33 || u == '=' || u == 127) return false;
      }
      p.value = std::string(value);
      p.has_value = true;
    }
    out->push_back(std::move(p));
  }
  return true;
}

bool isPostmaster(std::string_view path) { return iEquals(path, "postmaster"); }

}  // namespace

std::optional<std::string> findParam(const Params& params, std::string_view keyword) {
  for (const Param& p : params) {
    if (p.keyword == keyword) return p.value;
  }
  return std::nullopt;
}

ServerSession::ServerSession(ServerSettings settings)
    : settings_(std::move(settings)),
      reader_({.max_line = settings_.limits.max_line}),
      tls_active_(settings_.tls_active) {
  updateEnhanced();
}

// ENHANCEDSTATUSCODES is on while it is advertised (a TLS-only one from TLS on).
void ServerSession::updateEnhanced() {
  enhanced_ = false;
  for (const Extension& e : settings_.extensions) {
    if (iEquals(e.keyword, "ENHANCEDSTATUSCODES") && (!e.tls_only || tls_active_)) enhanced_ = true;
  }
}

ServerSession::~ServerSession() = default;

void ServerSession::addVerb(Verb verb) {
  verb.name = upperCase(verb.name);
  for (Verb& v : verbs_) {
    if (v.name == verb.name) {
      v = std::move(verb);
      return;
    }
  }
  verbs_.push_back(std::move(verb));
}

void ServerSession::addAuthMechanism(AuthMechanism mechanism) {
  mechanism.name = upperCase(mechanism.name);
  if (mechanisms_.empty() && findVerb("AUTH") == nullptr) {
    // AUTH takes its HELP place at the first mechanism; its checks are its own.
    verbs_.push_back({"AUTH", [](ServerSession& s, const std::string& args) { s.authCommand(args); },
                      kVerbPlain});
  }
  mechanisms_.push_back(std::move(mechanism));
}

// --- output -------------------------------------------------------------------

ServerStep ServerSession::takeStep() {
  ServerStep step;
  step.out = std::move(out_);
  out_.clear();
  step.close = closed_;
  step.start_tls = start_tls_;
  start_tls_ = false;
  step.suspended = suspended_;
  step.answered = answered_;
  answered_ = false;
  step.messages = messages_;
  messages_ = 0;
  return step;
}

void ServerSession::write(std::string_view line) {
  out_.append(line);
  out_.append("\r\n");
}

void ServerSession::countError(std::string_view line) {
  if (settings_.limits.max_errors != 0 && ++errors_ >= settings_.limits.max_errors) {
    builtin("421", "4.7.0", settings_.hostname + " Error: too many errors");
    end_reason_ = "too-many-errors";
    closed_ = true;
    return;
  }
  if (settings_.limits.max_errors == 0) ++errors_;
  write(line);
}

void ServerSession::reply(std::string_view line) {
  if (closed_) return;
  if (!line.empty() && line.front() == '5') {
    countError(line);
  } else {
    write(line);
  }
}

void ServerSession::error(std::string_view line) {
  if (closed_) return;
  countError(line);
}

void ServerSession::replyUncounted(std::string_view line) {
  if (closed_) return;
  write(line);
}

// A reply of the session's own, with its enhanced code when they are on.
void ServerSession::builtin(std::string_view code, std::string_view esc, std::string_view text) {
  std::string line(code);
  if (enhanced_ && !esc.empty()) {
    line += ' ';
    line.append(esc);
  }
  if (!text.empty()) {
    line += ' ';
    line.append(text);
  }
  if (!code.empty() && code.front() == '5') {
    countError(line);
  } else {
    write(line);
  }
}

ServerStep ServerSession::greet() {
  std::string line = "220 " + settings_.hostname;
  if (!settings_.greeting.empty()) line += " " + settings_.greeting;
  write(line);
  return takeStep();
}

// --- driving ----------------------------------------------------------------------

ServerStep ServerSession::feed(std::string_view in) {
  while (!in.empty() && !closed_ && !suspended_ && !start_tls_) {
    if (diversion_) {
      const Diversion::Result r = diversion_->feed(in, &out_);
      in = {};
      answered_ = answered_ || r.answered;
      if (r.next == Diversion::Next::kBack) {
        diversion_.reset();
        reader_.reset();
        skip_blank_line_ = r.skip_blank_line;
      } else if (r.next == Diversion::Next::kClose) {
        diversion_.reset();
        closed_ = true;
      }
      break;
    }
    size_t used = 0;
    if (mode_ == Mode::kData) {
      const DataState st = data_.feed(in, &used);
      in.remove_prefix(used);
      if (st == DataState::kNeedMore) break;
      messageDone(st != DataState::kMessage);
      continue;
    }
    const LineState st = reader_.feed(in, &used);
    in.remove_prefix(used);
    if (st == LineState::kNeedMore) break;
    answered_ = true;
    if (st == LineState::kTooLong) {
      expect_ = nullptr;  // an over-long continuation ends the exchange
      skip_blank_line_ = false;
      builtin("500", "5.5.6", "Error: line too long");
    } else {
      line(reader_.line());
    }
    if (next_diversion_ && !closed_) {
      diversion_ = std::move(next_diversion_);
      reader_.reset();
    }
  }
  const size_t left = in.size();
  ServerStep step = takeStep();
  if (step.suspended) step.unconsumed = left;
  return step;
}

ServerStep ServerSession::onEof() {
  if (diversion_) {
    diversion_->onEof(&out_);
    diversion_.reset();
  }
  end_reason_ = "eof";
  closed_ = true;
  return takeStep();
}

ServerStep ServerSession::onTimeout() {
  if (diversion_) {
    diversion_->onTimeout(&out_);
    diversion_.reset();
  } else if (!closed_) {
    write("421 " + std::string(enhanced_ ? "4.4.2 " : "") + settings_.hostname +
          " Error: timeout exceeded");
  }
  end_reason_ = "timeout";
  closed_ = true;
  return takeStep();
}

ServerStep ServerSession::onLifetimeOver() {
  if (diversion_) {
    diversion_->onLifetimeOver(&out_);
    diversion_.reset();
  } else if (!closed_) {
    write("421 " + std::string(enhanced_ ? "4.4.2 " : "") + settings_.hostname +
          " Error: connection time limit reached");
  }
  end_reason_ = "lifetime";
  closed_ = true;
  return takeStep();
}

ServerStep ServerSession::resume(const std::function<void(ServerSession&)>& answer) {
  if (!suspended_) {
    log::error("smtp server session: resume() without suspend(); ignored");
    return takeStep();
  }
  suspended_ = false;
  answered_ = true;
  answer(*this);
  if (awaiting_message_ && !suspended_) answerMessage({});  // pads with 451
  if (pending_path_ && !suspended_) {
    answerPath({451, EnhancedStatus{4, 3, 0}, "Error: no answer, try again later"});
  }
  if (next_diversion_ && !closed_ && !suspended_) {
    diversion_ = std::move(next_diversion_);
    reader_.reset();
  }
  return takeStep();
}

ServerStep ServerSession::resume(const std::vector<Reply>& replies) {
  return resume([&replies](ServerSession& s) {
    if (s.awaiting_message_) {
      s.answerMessage(replies);
      return;
    }
    if (s.pending_path_) {
      if (!replies.empty()) s.answerPath(replies.front());
      for (size_t i = 1; i < replies.size(); ++i) s.reply(replies[i]);
      return;
    }
    for (const Reply& r : replies) s.reply(r);
  });
}

void ServerSession::suspend() { suspended_ = true; }

void ServerSession::expectLine(LineHandler handler) { expect_ = std::move(handler); }

void ServerSession::divert(std::unique_ptr<Diversion> diversion) {
  next_diversion_ = std::move(diversion);
}

void ServerSession::close(std::string reason) {
  end_reason_ = std::move(reason);
  closed_ = true;
}

uint32_t ServerSession::commandsLeft() const {
  const uint32_t max = settings_.limits.max_commands;
  if (max == 0) return std::numeric_limits<uint32_t>::max();
  return max - std::min(max, commands_ + charged_);
}

// --- one command line -----------------------------------------------------------

void ServerSession::line(const std::string& text) {
  if (skip_blank_line_) {
    skip_blank_line_ = false;
    if (text.empty()) return;  // the CRLF a client sends after a diversion's last request
  }
  if (settings_.limits.max_commands != 0 &&
      commands_ + charged_ >= settings_.limits.max_commands) {
    write("421 " + std::string(enhanced_ ? "4.7.0 " : "") + settings_.hostname +
          " Error: too many commands");
    end_reason_ = "too-many-commands";
    closed_ = true;
    return;
  }
  ++commands_;
  if (expect_) {
    LineHandler handler = std::move(expect_);
    expect_ = nullptr;
    handler(*this, text);
    return;
  }
  auto command = parseCommand(text);
  if (!command) {
    builtin("500", "5.5.2", "Error: bad syntax");
    return;
  }
  dispatch(*command);
}

const Verb* ServerSession::findVerb(std::string_view name) const {
  for (const Verb& v : verbs_) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

void ServerSession::dispatch(const Command& command) {
  const std::string& verb = command.verb;
  const bool lmtp = settings_.dialect == Dialect::kLmtp;
  const std::string send_hello =
      std::string("Error: send ") + (lmtp ? "LHLO" : "EHLO") + " first";
  if (const Verb* v = findVerb(verb)) {
    if ((v->flags & kNeedsTls) != 0 && !tls_active_) {
      builtin("530", "5.7.0", "Must issue a STARTTLS command first");
      return;
    }
    if ((v->flags & kNeedsHelo) != 0 && helo_.empty()) {
      builtin("503", "5.5.1", send_hello);
      return;
    }
    const VerbHandler handler = v->handler;  // the handler may add verbs
    handler(*this, command.args);
    return;
  }
  if (verb == "EHLO" || verb == "HELO") {
    if (lmtp) {
      builtin("500", "5.5.1", "Error: this is LMTP, say LHLO");
      return;
    }
    helloCommand(verb, command.args);
    return;
  }
  if (verb == "LHLO" && lmtp) {
    helloCommand(verb, command.args);
    return;
  }
  if (verb == "STARTTLS" && settings_.starttls) {
    if (helo_.empty()) {
      builtin("503", "5.5.1", send_hello);
      return;
    }
    startTls(command.args);
    return;
  }
  const bool transactions = static_cast<bool>(hooks_.on_message);
  if (transactions && (verb == "MAIL" || verb == "RCPT" || verb == "DATA")) {
    if (helo_.empty()) {
      builtin("503", "5.5.1", send_hello);
      return;
    }
    if (verb == "MAIL") mailCommand(command.args);
    if (verb == "RCPT") rcptCommand(command.args);
    if (verb == "DATA") dataCommand(command.args);
    return;
  }
  if (transactions && verb == "VRFY") {
    if (command.args.empty()) {
      builtin("501", "5.5.4", "Syntax: VRFY address");
      return;
    }
    builtin("252", "2.0.0", "Cannot VRFY user, but will accept message");
    return;
  }
  if (verb == "NOOP") {
    builtin("250", "2.0.0", "Ok");
    return;
  }
  if (verb == "RSET") {
    if (!command.args.empty()) {
      builtin("501", "5.5.4", "Syntax: RSET");
      return;
    }
    resetTransaction(false);
    builtin("250", "2.0.0", "Ok");
    return;
  }
  if (verb == "HELP") {
    helpCommand();
    return;
  }
  if (verb == "QUIT") {
    end_reason_ = "quit";
    builtin("221", "2.0.0", "Bye");
    closed_ = true;
    return;
  }
  builtin("502", "5.5.1", "Error: command not implemented");
}

// --- built-in verbs -------------------------------------------------------------

void ServerSession::helloCommand(const std::string& verb, const std::string& args) {
  if (args.empty()) {
    builtin("501", "5.5.4", "Syntax: " + verb + " hostname");
    return;
  }
  if (mail_) resetTransaction(false);  // RFC 5321 4.1.4
  helo_ = args;
  if (verb == "HELO") {
    write("250 " + settings_.hostname);
    return;
  }
  ehloReply();
}

bool ServerSession::authUsable(const AuthMechanism& m) const { return !m.tls_only || tls_active_; }

void ServerSession::ehloReply() {
  std::vector<std::string> lines{settings_.hostname};
  for (const Extension& e : settings_.extensions) {
    if (e.tls_only && !tls_active_) continue;
    if (iEquals(e.keyword, "STARTTLS")) {
      if (settings_.starttls && settings_.tls_available && !tls_active_) lines.push_back("STARTTLS");
      continue;
    }
    if (iEquals(e.keyword, "AUTH")) {
      std::string auth = "AUTH";
      for (const AuthMechanism& m : mechanisms_) {
        if (authUsable(m)) auth += " " + m.name;
      }
      if (auth.size() > 4) lines.push_back(auth);
      continue;
    }
    if (iEquals(e.keyword, "SIZE")) {
      lines.push_back("SIZE " + std::to_string(settings_.limits.max_message_size));
      continue;
    }
    lines.push_back(e.keyword);
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    out_ += i + 1 < lines.size() ? "250-" : "250 ";
    out_ += lines[i];
    out_ += "\r\n";
  }
}

void ServerSession::helpCommand() {
  std::string text = "Commands:";
  const bool lmtp = settings_.dialect == Dialect::kLmtp;
  const auto add = [&](std::string_view name) {
    if (const Verb* v = findVerb(name); v != nullptr && (v->flags & kHidden) != 0) return;
    text += ' ';
    text.append(name);
  };
  std::vector<std::string_view> builtins_first =
      lmtp ? std::vector<std::string_view>{"LHLO"} : std::vector<std::string_view>{"EHLO", "HELO"};
  if (settings_.starttls) builtins_first.push_back("STARTTLS");
  std::vector<std::string_view> builtins_last;
  if (hooks_.on_message) builtins_last = {"MAIL", "RCPT", "DATA", "VRFY"};
  for (std::string_view v : {"NOOP", "RSET", "HELP", "QUIT"}) builtins_last.push_back(v);
  for (std::string_view v : builtins_first) add(v);
  for (const Verb& v : verbs_) {
    const bool is_builtin =
        std::find(builtins_first.begin(), builtins_first.end(), v.name) != builtins_first.end() ||
        std::find(builtins_last.begin(), builtins_last.end(), v.name) != builtins_last.end();
    if (!is_builtin) add(v.name);
  }
  for (std::string_view v : builtins_last) add(v);
  builtin("214", "2.0.0", text);
}

void ServerSession::startTls(const std::string& args) {
  if (!args.empty()) {
    builtin("501", "5.5.4", "Syntax: STARTTLS");
    return;
  }
  if (tls_active_) {
    builtin("503", "5.5.1", "Error: TLS already active");
    return;
  }
  if (!settings_.tls_available) {
    builtin("454", "4.7.0", "TLS not available");
    return;
  }
  builtin("220", "2.0.0", "Ready to start TLS");
  // RFC 3207 4.2: forget everything the client said before; nothing that
  // followed the command may ever become one (the owner drops it, and so
  // does this feed: start_tls_ stops the loop).
  tls_active_ = true;
  updateEnhanced();
  helo_.clear();
  user_.clear();
  expect_ = nullptr;
  next_diversion_.reset();
  reader_.reset();
  resetTransaction(true);
  start_tls_ = true;
}

void ServerSession::authCommand(const std::string& args) {
  const bool any_usable = std::any_of(mechanisms_.begin(), mechanisms_.end(),
                                      [this](const AuthMechanism& m) { return authUsable(m); });
  if (!any_usable) {
    builtin("530", "5.7.0", "Must issue a STARTTLS command first");
    return;
  }
  if (helo_.empty()) {
    builtin("503", "5.5.1",
            settings_.dialect == Dialect::kLmtp ? "Error: send LHLO first" : "Error: send EHLO first");
    return;
  }
  if (!user_.empty()) {
    builtin("503", "5.5.1", "Already authenticated");
    return;
  }
  if (mail_) {
    builtin("503", "5.5.1", "Error: MAIL transaction in progress");
    return;
  }
  const std::string_view all(args);
  const size_t sp = all.find(' ');
  const std::string_view name = all.substr(0, sp);
  if (name.empty()) {
    builtin("501", "5.5.4", "Syntax: AUTH mechanism [response]");
    return;
  }
  const auto m = std::find_if(mechanisms_.begin(), mechanisms_.end(),
                              [&](const AuthMechanism& x) { return iEquals(x.name, name); });
  if (m == mechanisms_.end() || !authUsable(*m)) {
    builtin("504", "5.5.4", "Unrecognized authentication type");
    return;
  }
  std::optional<std::string> initial;
  if (sp != std::string_view::npos) {
    const std::string_view rest = all.substr(sp + 1);
    initial = rest == "=" ? std::string() : std::string(rest);
  }
  const AuthHandler handler = m->handler;
  handler(*this, initial);
}

// --- the transaction --------------------------------------------------------------

void ServerSession::resetTransaction(bool tls_started) {
  const bool had = mail_.has_value();
  mail_.reset();
  rcpts_.clear();
  if (hooks_.on_reset && (had || tls_started)) hooks_.on_reset(*this, tls_started);
}

void ServerSession::mailCommand(const std::string& args) {
  if (mail_) {
    builtin("503", "5.5.1", "Error: nested MAIL command");
    return;
  }
  auto path = splitPathArg(args, "FROM:");
  if (!path) {
    builtin("501", "5.5.4", "Syntax: MAIL FROM:<address>");
    return;
  }
  if (!path->path.empty() && !parseMailbox(path->path)) {
    builtin("501", "5.1.7", "Bad sender address syntax");
    return;
  }
  MailRequest request{path->path, {}};
  if (!parseParams(path->params, &request.params)) {
    builtin("501", "5.5.4", "Syntax error in parameters");
    return;
  }
  // SIZE (RFC 1870) is the session's: a message over the limit is refused now.
  for (auto it = request.params.begin(); it != request.params.end();) {
    if (it->keyword != "SIZE") {
      ++it;
      continue;
    }
    const std::string& v = it->value;
    if (v.empty() || v.size() > 20 ||
        !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      builtin("501", "5.5.4", "Bad SIZE parameter");
      return;
    }
    if (v.size() > 19 || std::stoull(v) > settings_.limits.max_message_size) {
      builtin("552", "5.3.4", "Message size exceeds fixed limit");
      return;
    }
    it = request.params.erase(it);
  }
  Reply answer;
  if (hooks_.on_mail) {
    pending_path_ = PendingPath{true, request.path, request.params};
    answer = hooks_.on_mail(*this, request);
    if (suspended_) return;  // answered through resume()
  } else if (request.params.empty()) {
    answer = {250, EnhancedStatus{2, 1, 0}, "Ok"};
  } else {
    answer = {555, EnhancedStatus{5, 5, 4}, "Unsupported parameter " + request.params[0].keyword};
  }
  pending_path_ = PendingPath{true, std::move(request.path), std::move(request.params)};
  answerPath(std::move(answer));
}

void ServerSession::answerPath(Reply answer) {
  if (!pending_path_) return;
  PendingPath p = std::move(*pending_path_);
  pending_path_.reset();
  if (!enhanced_) answer.enhanced.reset();
  if (answer.code >= 200 && answer.code < 300) {
    if (p.mail) {
      mail_ = MailRequest{std::move(p.path), std::move(p.params)};
    } else {
      rcpts_.push_back(Recipient{std::move(p.path), std::move(p.params)});
    }
  }
  reply(answer);
}

void ServerSession::rcptCommand(const std::string& args) {
  if (!mail_) {
    builtin("503", "5.5.1", "Error: need MAIL command");
    return;
  }
  auto path = splitPathArg(args, "TO:");
  if (!path) {
    builtin("501", "5.5.4", "Syntax: RCPT TO:<address>");
    return;
  }
  if (path->path.empty() || (!isPostmaster(path->path) && !parseMailbox(path->path))) {
    builtin("501", "5.1.3", "Bad recipient address syntax");
    return;
  }
  if (rcpts_.size() >= settings_.limits.max_recipients) {
    builtin("452", "4.5.3", "Error: too many recipients");
    return;
  }
  Recipient rcpt{path->path, {}};
  if (!parseParams(path->params, &rcpt.params)) {
    builtin("501", "5.5.4", "Syntax error in parameters");
    return;
  }
  Reply answer;
  if (hooks_.on_rcpt) {
    pending_path_ = PendingPath{false, rcpt.address, rcpt.params};
    answer = hooks_.on_rcpt(*this, rcpt);
    if (suspended_) return;  // answered through resume()
  } else if (rcpt.params.empty()) {
    answer = {250, EnhancedStatus{2, 1, 5}, "Ok"};
  } else {
    answer = {555, EnhancedStatus{5, 5, 4}, "Unsupported parameter " + rcpt.params[0].keyword};
  }
  pending_path_ = PendingPath{false, std::move(rcpt.address), std::move(rcpt.params)};
  answerPath(std::move(answer));
}

void ServerSession::dataCommand(const std::string& args) {
  if (!args.empty()) {
    builtin("501", "5.5.4", "Syntax: DATA");
    return;
  }
  if (!mail_) {
    builtin("503", "5.5.1", "Error: need MAIL command");
    return;
  }
  if (rcpts_.empty()) {
    builtin("503", "5.5.1", "Error: need RCPT command");
    return;
  }
  data_ = DataReader({.max_size = settings_.limits.max_message_size,
                      .max_line = settings_.limits.max_message_line});
  mode_ = Mode::kData;
  write("354 End data with <CR><LF>.<CR><LF>");
}

void ServerSession::messageDone(bool refused) {
  mode_ = Mode::kCommand;
  answered_ = true;
  if (refused) {
    // The data was read to its end and thrown away: one refusal per
    // recipient (LMTP) or one, counted as one error.
    const size_t n = settings_.dialect == Dialect::kLmtp ? rcpts_.size() : 1;
    for (size_t i = 0; i < n; ++i) {
      write(std::string("552 ") + (enhanced_ ? "5.3.4 " : "") + "Error: message too big");
    }
    data_ = DataReader();
    resetTransaction(false);
    if (settings_.limits.max_errors != 0 && ++errors_ >= settings_.limits.max_errors) {
      builtin("421", "4.7.0", settings_.hostname + " Error: too many errors");
      end_reason_ = "too-many-errors";
      closed_ = true;
    }
    return;
  }
  Message message{*mail_, rcpts_, data_.takeMessage()};
  data_ = DataReader();
  awaiting_message_ = true;
  hooks_.on_message(*this, std::move(message));
  if (awaiting_message_ && !suspended_) answerMessage({});
}

void ServerSession::answerMessage(const std::vector<Reply>& replies) {
  if (!awaiting_message_) return;
  awaiting_message_ = false;
  const size_t n = settings_.dialect == Dialect::kLmtp ? rcpts_.size() : 1;
  for (size_t i = 0; i < n; ++i) {
    Reply r = i < replies.size()
                  ? replies[i]
                  : Reply{451, EnhancedStatus{4, 3, 0}, "Error: no answer for this recipient"};
    if (!enhanced_) r.enhanced.reset();
    write(r.toString());
  }
  ++messages_;
  mail_.reset();
  rcpts_.clear();
}

}  // namespace mtep::smtp

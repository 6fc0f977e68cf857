#pragma once
// NAME
//   server_session.h - the server side of SMTP and LMTP as one I/O-free
//   state machine: bytes in, replies out, verbs registered by the daemon
// SUMMARY
//   ServerSettings s{.dialect = Dialect::kLmtp, .hostname = "mx.test",
//                    .greeting = "LMTP ready",
//                    .extensions = {{"STARTTLS"}, {"AUTH", true}, {"PIPELINING"},
//                                   {"ENHANCEDSTATUSCODES"}}};
//   ServerSession session(s);
//   session.addVerb({"PUBKEY", [](ServerSession& ss, const std::string& args) {
//                      ss.reply("250 2.0.0 Ok"); }, kNeedsTls | kNeedsHelo});
//   session.hooks().on_message = [](ServerSession& ss, Message&& m) { ... };
//   write(session.greet());
//   ServerStep step = session.feed(bytes);   // write step.out; then close /
//                                            // TLS / wait for resume()
// DESCRIPTION
//   What Dovecot's lib-smtp does for its submission and LMTP daemons, with
//   no sockets and no event loop (the daemon's adapter, e.g.
//   lib/server/smtp_adapter.h, drives it). Commands are answered in the
//   order they arrive however they are sliced (pipelining, RFC 2920).
//
//   Built in: HELO and EHLO (SMTP) or LHLO (LMTP; HELO and EHLO get "500
//   5.5.1", RFC 2033 4.1), STARTTLS (RFC 3207), NOOP, RSET, HELP, QUIT,
//   and, when the daemon sets hooks().on_message, the transaction: MAIL,
//   RCPT, DATA, VRFY (252). AUTH exists once the daemon registered a
//   mechanism (addAuthMechanism). A verb the daemon registers under a
//   built-in's name replaces it. Everything else: "502 5.5.1".
//
//   Verb checks in this order: line too long (500 5.5.6), syntax (500
//   5.5.2), unknown (502 5.5.1), kNeedsTls (530 5.7.0 Must issue a
//   STARTTLS command first), kNeedsHelo (503 5.5.1), then the handler.
//   A handler replies at once (reply(), error()), or calls suspend() and
//   the daemon later calls resume(): nothing more is read until then (the
//   step's `unconsumed` bytes must be fed again afterwards), so replies
//   stay in order. expectLine() takes the next line raw (AUTH's 334
//   continuation). divert() hands the connection to another protocol after
//   the reply (STARTMTEP) until the Diversion gives it back or closes.
//
//   Transaction: MAIL FROM:<path> [params] -> on_mail (default: 250 2.1.0
//   without parameters, 555 5.5.4 with any); SIZE= is checked here against
//   max_message_size (552 5.3.4) and not passed on. RCPT TO:<address>
//   [params] -> on_rcpt (default: 250 2.1.5 without parameters, else 555
//   5.5.4); over max_recipients "452 4.5.3". DATA -> "354", the message is
//   read (dot-unstuffed, CRLF) up to max_message_size; over it the rest is
//   read and discarded, then 552 5.3.4 (one per recipient in LMTP), never
//   buffered. Then on_message(message) must answer with answerMessage(),
//   at once or after suspend(): SMTP takes the first reply, LMTP one per
//   accepted recipient in order; missing ones become "451 4.3.0". The
//   transaction ends with DATA's answer, RSET, HELO/EHLO/LHLO, STARTTLS.
//
//   Errors: every reply with a 5xx code counts (and error() counts any
//   code); the max_errors-th gets "421 4.7.0 HOST Error: too many errors"
//   instead, and the close. Each command line (and expected line) takes
//   one of max_commands (then 421 4.7.0 ... too many commands and the
//   close). Enhanced status codes are written in the built-in replies (and
//   kept in the daemon's Reply objects) while ENHANCEDSTATUSCODES is
//   advertised (a TLS-only one: from TLS on); the daemon's reply lines are
//   written as given.
//
//   STARTTLS: 454 4.7.0 without TLS available (502 when the daemon turned
//   the verb off), 503 5.5.1 under TLS, 501 5.5.4 with arguments; else
//   "220 2.0.0 Ready to start TLS" and the step says start_tls: every byte
//   received after the command (even in the same packet) is dropped
//   (CVE-2011-0411), HELO, transaction and login are forgotten, and the
//   session counts itself under TLS (tlsActive()).
// SECURITY
//   Nothing is buffered beyond max_line (a command), DataLimits::max_line
//   (a message line) or max_message_size (a message). No callback throws on
//   peer input. The daemon's handlers get the session by reference and must
//   not keep it beyond the session's life.
// SEE ALSO
//   command.h (LineReader, DataReader, parseCommand), status.h (Reply),
//   lib/server/smtp_adapter.h, RFC 5321, RFC 2033, RFC 3207, RFC 4954

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "smtp/command.h"
#include "smtp/status.h"

namespace mtep::smtp {

enum class Dialect { kSmtp, kLmtp };

struct ServerLimits {
  size_t max_line = 2048;                  // command line, CRLF included
  uint32_t max_errors = 20;                // the max_errors-th error closes (421)
  uint32_t max_commands = 0;               // per connection; 0 = no limit
  uint32_t max_recipients = 100;           // per transaction (452 4.5.3)
  size_t max_message_size = 25u << 20;     // bytes after unstuffing (552 5.3.4)
  size_t max_message_line = 1000000;       // bytes per message line
};

// One EHLO/LHLO keyword line, in the order given. "STARTTLS" is shown only
// while TLS is available and not yet active; "AUTH" is expanded to "AUTH"
// and the mechanisms usable now (left out when there are none); "SIZE" gets
// max_message_size appended.
struct Extension {
  std::string keyword;    // "PIPELINING", "X-STARTMTEP", "AUTH"
  bool tls_only = false;  // listed only under TLS
};

struct ServerSettings {
  Dialect dialect = Dialect::kSmtp;
  std::string hostname = "localhost";
  std::string greeting = "ESMTP";  // "220 HOSTNAME GREETING"
  std::vector<Extension> extensions = {{"PIPELINING"}, {"ENHANCEDSTATUSCODES"}};
  bool starttls = true;        // false: STARTTLS is "502 5.5.1" like any unknown verb
  bool tls_available = false;  // a certificate is there (else STARTTLS: 454 4.7.0)
  bool tls_active = false;     // the connection is already under TLS (implicit TLS)
  ServerLimits limits;
};

// Flags of a registered verb.
enum VerbFlags : unsigned {
  kVerbPlain = 0,
  kNeedsHelo = 1u << 0,  // 503 5.5.1 before HELO/EHLO/LHLO
  kNeedsTls = 1u << 1,   // 530 5.7.0 before TLS (checked before kNeedsHelo)
  kHidden = 1u << 2,     // not listed by HELP
};

class ServerSession;

using VerbHandler = std::function<void(ServerSession&, const std::string& args)>;
using LineHandler = std::function<void(ServerSession&, const std::string& line)>;

struct Verb {
  std::string name;  // upper case
  VerbHandler handler;
  unsigned flags = kVerbPlain;
};

// An AUTH mechanism (RFC 4954). The handler gets the initial response
// (nullopt when none was sent; "=" stands for an empty one and is passed
// as ""); it replies "334 ..." and calls expectLine() for more, or ends
// with 235 (after setUser()) or an error. "*" as a continuation line is
// the handler's to refuse (501 5.0.0).
using AuthHandler =
    std::function<void(ServerSession&, const std::optional<std::string>& initial)>;
struct AuthMechanism {
  std::string name;  // upper case: "PLAIN", "HASHEDPASS", "STOKEN"
  AuthHandler handler;
  bool tls_only = true;  // offered and accepted only under TLS
};

// ESMTP parameters of MAIL and RCPT, as sent: keyword upper-cased, value
// as written ("" when there is none).
struct Param {
  std::string keyword;
  std::string value;
  bool has_value = false;
};
using Params = std::vector<Param>;
// The value of `keyword` (upper case), or nullopt.
std::optional<std::string> findParam(const Params& params, std::string_view keyword);

struct MailRequest {
  std::string path;  // inside the brackets; "" for the null path "<>"
  Params params;     // SIZE removed (the session checked it)
};
struct Recipient {
  std::string address;  // inside the brackets
  Params params;
};
struct Message {
  MailRequest from;
  std::vector<Recipient> recipients;  // accepted ones, in order
  std::string data;                   // CRLF lines, unstuffed, without the final "."
};

// The daemon's say in the transaction; on_message null = no transactions
// (MAIL, RCPT, DATA, VRFY are "502 5.5.1").
struct TransactionHooks {
  // Return the reply; 2xx accepts. Or call suspend() (the return value
  // is then ignored) and answer later with resume(replies) / answerPath():
  // a store lookup off the loop.
  std::function<Reply(ServerSession&, const MailRequest&)> on_mail;
  std::function<Reply(ServerSession&, const Recipient&)> on_rcpt;
  // Must call answerMessage(), now or after suspend() + resume().
  std::function<void(ServerSession&, Message&&)> on_message;
  // RSET, HELO/EHLO/LHLO or STARTTLS forgot the transaction (and, for
  // STARTTLS, everything: the daemon forgets its own state too).
  std::function<void(ServerSession&, bool tls_started)> on_reset;
};

// Another protocol on the same connection (STARTMTEP), after the reply
// of the verb that called divert().
class Diversion {
 public:
  enum class Next {
    kStay,   // more bytes for the diversion
    kBack,   // SMTP again; whatever followed in this feed is dropped
    kClose,  // close after the output
  };
  struct Result {
    Next next = Next::kStay;
    bool answered = false;  // a whole request was answered (idle timer)
    bool skip_blank_line = false;  // with kBack: one empty line next is ignored
  };
  virtual ~Diversion() = default;
  // Consumes all of `in`.
  virtual Result feed(std::string_view in, std::string* out) = 0;
  virtual void onEof(std::string* out) = 0;
  virtual void onTimeout(std::string* out) = 0;
  virtual void onLifetimeOver(std::string* out) = 0;
};

// What the session's owner does after a call.
struct ServerStep {
  std::string out;         // to write, in order
  bool close = false;      // close once `out` is sent
  bool start_tls = false;  // send `out`, drop all input received so far, then TLS
  bool suspended = false;  // a handler waits for the daemon: feed nothing until resume()
  size_t unconsumed = 0;   // with suspended: bytes at the end of the input not taken
  bool answered = false;   // a whole command was answered (restart the idle timer)
  uint32_t messages = 0;   // messages whose DATA was completed and answered in this step
};

class ServerSession {
 public:
  explicit ServerSession(ServerSettings settings);
  ~ServerSession();
  ServerSession(const ServerSession&) = delete;
  ServerSession& operator=(const ServerSession&) = delete;

  // --- set up (before greet) ---------------------------------------------
  void addVerb(Verb verb);
  void addAuthMechanism(AuthMechanism mechanism);
  TransactionHooks& hooks() { return hooks_; }
  // The 220 greeting.
  ServerStep greet();

  // --- driving ------------------------------------------------------------
  ServerStep feed(std::string_view in);
  ServerStep onEof();                        // nothing written (the diversion's own goodbye)
  ServerStep onTimeout();                    // 421 4.4.2 HOST Error: timeout exceeded
  ServerStep onLifetimeOver();               // 421 4.4.2 HOST Error: connection time limit reached
  // Ends a suspend(): `answer` replies (and may suspend again). Feed the
  // unconsumed bytes afterwards.
  ServerStep resume(const std::function<void(ServerSession&)>& answer);
  // The same with ready replies: a suspended on_message gets them as its
  // answerMessage(), anything else has them written in order.
  ServerStep resume(const std::vector<Reply>& replies);

  // --- for handlers ---------------------------------------------------------
  // One reply line (no CRLF) or several joined by CRLF; 5xx counts as an error.
  void reply(std::string_view line);
  void reply(const Reply& r) { reply(r.toString()); }
  // A reply that counts as an error whatever its code (454 limited login).
  void error(std::string_view line);
  // A reply that never counts (a 550 lookup answer that is not the peer's fault).
  void replyUncounted(std::string_view line);
  void suspend();
  void expectLine(LineHandler handler);
  void divert(std::unique_ptr<Diversion> diversion);
  void close(std::string reason);  // after what was written
  // on_message's answer: one reply (SMTP) or one per recipient (LMTP).
  void answerMessage(const std::vector<Reply>& replies);
  // A suspended on_mail / on_rcpt's answer (2xx accepts); resume(replies)
  // calls it with the first reply. Without one, resume() answers 451 4.3.0.
  void answerPath(Reply answer);

  // --- state ------------------------------------------------------------------
  const ServerSettings& settings() const { return settings_; }
  bool enhancedCodes() const { return enhanced_; }
  bool tlsActive() const { return tls_active_; }
  const std::string& helo() const { return helo_; }  // "" before HELO and after STARTTLS
  const std::string& user() const { return user_; }  // "" before a login
  void setUser(std::string user) { user_ = std::move(user); }
  bool inTransaction() const { return mail_.has_value(); }
  const std::optional<MailRequest>& mailFrom() const { return mail_; }
  const std::vector<Recipient>& recipients() const { return rcpts_; }
  bool diverted() const { return diversion_ != nullptr; }
  bool suspended() const { return suspended_; }
  bool closed() const { return closed_; }
  uint32_t commands() const { return commands_; }
  uint32_t errors() const { return errors_; }
  // Requests handled elsewhere (a diversion's) that count against max_commands.
  void chargeCommands(uint32_t n) { charged_ += n; }
  uint32_t commandsLeft() const;
  const std::string& endReason() const { return end_reason_; }
  void setEndReason(std::string reason) { end_reason_ = std::move(reason); }

 private:
  enum class Mode { kCommand, kData };

  ServerStep takeStep();
  void updateEnhanced();
  void line(const std::string& text);
  void dispatch(const Command& command);
  void builtin(std::string_view code, std::string_view esc, std::string_view text);
  void write(std::string_view line);
  void countError(std::string_view line);
  void resetTransaction(bool tls_started);
  void helloCommand(const std::string& verb, const std::string& args);
  void ehloReply();
  void startTls(const std::string& args);
  void mailCommand(const std::string& args);
  void rcptCommand(const std::string& args);
  void dataCommand(const std::string& args);
  void authCommand(const std::string& args);
  void helpCommand();
  void messageDone(bool too_big);
  bool authUsable(const AuthMechanism& m) const;
  const Verb* findVerb(std::string_view name) const;

  ServerSettings settings_;
  TransactionHooks hooks_;
  std::vector<Verb> verbs_;
  std::vector<AuthMechanism> mechanisms_;
  LineReader reader_;
  DataReader data_;
  Mode mode_ = Mode::kCommand;
  LineHandler expect_;
  std::unique_ptr<Diversion> diversion_;
  std::unique_ptr<Diversion> next_diversion_;  // starts after the current command
  std::optional<MailRequest> mail_;
  std::vector<Recipient> rcpts_;
  std::string out_;
  std::string helo_;
  std::string user_;
  std::string end_reason_ = "disconnect";
  uint32_t commands_ = 0;
  uint32_t charged_ = 0;
  uint32_t errors_ = 0;
  uint32_t messages_ = 0;
  bool enhanced_ = false;
  bool tls_active_ = false;
  bool suspended_ = false;
  bool awaiting_message_ = false;  // on_message has not answered yet
  struct PendingPath {
    bool mail = false;  // MAIL, else RCPT
    std::string path;
    Params params;
  };
  std::optional<PendingPath> pending_path_;  // MAIL/RCPT being answered
  bool closed_ = false;
  bool start_tls_ = false;
  bool answered_ = false;
  bool skip_blank_line_ = false;
};

}  // namespace mtep::smtp

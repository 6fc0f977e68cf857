// SmtpClient: one command, one reply, over a transport::Stream (client.h).

#include "smtp/client.h"

#include <algorithm>
#include <utility>

namespace mtep::smtp {
namespace {

constexpr int kQuitWaitMs = 2000;  // how long quit() waits for its 221

Error closedError() {
  return Error(ErrorKind::kTemporary, "the SMTP connection is gone (a failed STARTTLS)");
}

}  // namespace

SmtpClient::SmtpClient(std::unique_ptr<transport::Stream> stream, ReplyLimits limits)
    : stream_(std::move(stream)), limits_(limits) {}

Result<ParsedReply> SmtpClient::readReply() {
  if (!stream_) return closedError();
  ReplyParser parser(limits_);
  for (;;) {
    if (!pending_.empty()) {
      size_t used = 0;
      const ReplyState state = parser.feed(pending_, &used);
      pending_.erase(0, used);
      if (state == ReplyState::kMessage) return parser.reply();
      if (state == ReplyState::kError) {
        return Error(ErrorKind::kProtocol,
                     "bad SMTP reply from " + stream_->label() + ": " + parser.error());
      }
    }
    char buf[4096];
    auto n = stream_->readSome(buf, sizeof buf);
    if (!n) return std::move(n).error();
    if (*n == 0) {
      return Error(ErrorKind::kTemporary,
                   "connection closed by " + stream_->label() + " before a full SMTP reply");
    }
    pending_.append(buf, *n);
  }
}

Result<ParsedReply> SmtpClient::greeting() { return readReply(); }

Result<ParsedReply> SmtpClient::command(std::string_view line) {
  if (line.find_first_of("\r\n") != std::string_view::npos) {
    return Error(ErrorKind::kInvalid, "SMTP command contains CR or LF");
  }
  if (!stream_) return closedError();
  std::string wire(line);
  wire += "\r\n";
  if (auto st = stream_->writeAll(wire); !st) return std::move(st).error();
  return readReply();
}

Result<ParsedReply> SmtpClient::ehlo(std::string_view name) {
  capabilities_ = ParsedReply{};
  auto reply = command("EHLO " + std::string(name));
  if (!reply) return reply;
  if (reply->code == 250) {
    capabilities_ = *reply;
    return reply;
  }
  if (reply->code >= 500) return command("HELO " + std::string(name));
  return reply;
}

Result<ParsedReply> SmtpClient::lhlo(std::string_view name) {
  capabilities_ = ParsedReply{};
  auto reply = command("LHLO " + std::string(name));
  if (reply && reply->code == 250) capabilities_ = *reply;
  return reply;
}

Result<transport::TlsSession> SmtpClient::startTls(const transport::TlsClientOptions& options) {
  auto reply = command("STARTTLS");
  if (!reply) return std::move(reply).error();
  if (reply->code != 220) {
    return Error(ErrorKind::kTemporary,
                 stream_->label() + " refused STARTTLS: " + reply->toReply().toString());
  }
  if (!pending_.empty()) {
    // Plain text sent after the 220 would pass for encrypted (RFC 3207 5).
    return Error(ErrorKind::kProtocol,
                 stream_->label() + " sent data after its STARTTLS reply");
  }
  capabilities_ = ParsedReply{};
  auto session = transport::startTls(std::move(stream_), options);
  if (!session) return std::move(session).error();
  stream_ = std::move(session->stream);
  return session;
}

Result<ParsedReply> SmtpClient::data(std::string_view message) {
  auto reply = command("DATA");
  if (!reply || reply->code != 354) return reply;
  if (auto st = stream_->writeAll(dotStuff(message)); !st) return std::move(st).error();
  return readReply();
}

void SmtpClient::quit() {
  if (!stream_) return;
  transport::Timeouts brief = stream_->timeouts();
  brief.read_timeout_ms = std::min(brief.read_timeout_ms, kQuitWaitMs);
  stream_->setTimeouts(brief);
  (void)command("QUIT");
}

std::string dotStuff(std::string_view message) {
  std::string out;
  out.reserve(message.size() + message.size() / 64 + 8);
  bool line_start = true;
  for (size_t i = 0; i < message.size(); ++i) {
    const char c = message[i];
    if (c == '\r' || c == '\n') {
      // CRLF, or a bare CR or LF: each ends a line, sent as CRLF, so no
      // server can see an end of data ("\r.\r\n", "\n.\n") we did not stuff.
      if (c == '\r' && i + 1 < message.size() && message[i + 1] == '\n') ++i;
      out += "\r\n";
      line_start = true;
      continue;
    }
    if (line_start && c == '.') out.push_back('.');
    out.push_back(c);
    line_start = false;
  }
  if (!out.empty() && !line_start) out += "\r\n";
  out += ".\r\n";
  return out;
}

}  // namespace mtep::smtp

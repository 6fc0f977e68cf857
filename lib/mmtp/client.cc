// NAME
//   client.cc - see client.h

#include "mmtp/client.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "util/base64.h"

namespace mtep::mmtp {

namespace {

constexpr size_t kReadChunk = 16 * 1024;

transport::Timeouts within(int ms) {
  transport::Timeouts t;
  t.read_timeout_ms = std::max(ms, 1);
  t.deadline = transport::SteadyClock::now() + std::chrono::milliseconds(std::max(ms, 1));
  return t;
}

}  // namespace

const char* clientStepName(ClientStep step) noexcept {
  switch (step) {
    case ClientStep::kNone:
      return "none";
    case ClientStep::kRequest:
      return "request";
    case ClientStep::kDial:
      return "dial";
    case ClientStep::kTls:
      return "tls";
    case ClientStep::kGreeting:
      return "greeting";
  }
  return "?";
}

MmtpConnection::MmtpConnection(std::unique_ptr<transport::Stream> stream,
                               const MmtpClientOptions& options)
    : stream_(std::move(stream)),
      framer_(std::make_unique<JsonFramer>(FrameLimits{.max_value_bytes = options.max_reply_bytes,
                                                       .max_depth = options.max_reply_depth})),
      reply_timeout_ms_(options.reply_timeout_ms),
      max_reply_bytes_(options.max_reply_bytes),
      label_(stream_->label()) {}

MmtpConnection::MmtpConnection(MmtpConnection&&) noexcept = default;
MmtpConnection& MmtpConnection::operator=(MmtpConnection&&) noexcept = default;
MmtpConnection::~MmtpConnection() = default;

Result<Json> MmtpConnection::readValue(std::string_view what) {
  std::string value;
  char buf[kReadChunk];
  size_t received = 0;  // bytes read for this value
  while (true) {
    switch (framer_->next(&value)) {
      case FrameStatus::kValue: {
        Json j = parseJson(value);
        if (j.is_discarded()) {
          broken_ = true;
          return Error(ErrorKind::kProtocol,
                       label_ + ": the " + std::string(what) + " is not valid JSON");
        }
        return j;
      }
      case FrameStatus::kGarbage:
        broken_ = true;
        return Error(ErrorKind::kProtocol,
                     label_ + ": the " + std::string(what) + " is not a JSON object");
      case FrameStatus::kTooLarge:
        broken_ = true;
        return Error(ErrorKind::kLimit, label_ + ": the " + std::string(what) + " is over " +
                                            std::to_string(max_reply_bytes_) + " bytes");
      case FrameStatus::kTooDeep:
        broken_ = true;
        return Error(ErrorKind::kProtocol,
                     label_ + ": the " + std::string(what) + " is nested too deeply");
      case FrameStatus::kNeedMore:
        break;
    }
    if (received > max_reply_bytes_ + kReadChunk) {
      // The framer skips an over-long value's bytes; do not read them all.
      broken_ = true;
      return Error(ErrorKind::kLimit, label_ + ": the " + std::string(what) + " is over " +
                                          std::to_string(max_reply_bytes_) + " bytes");
    }
    auto n = stream_->readSome(buf, sizeof buf);
    if (!n) {
      broken_ = true;
      return Error(ErrorKind::kTemporary,
                   "waiting for the " + std::string(what) + ": " + n.error().message());
    }
    if (*n == 0) {
      broken_ = true;
      return Error(ErrorKind::kTemporary,
                   label_ + ": connection closed before the " + std::string(what));
    }
    received += *n;
    framer_->feed(std::string_view(buf, *n));
  }
}

Result<Json> MmtpConnection::request(const Json& request) {
  if (broken_ || !stream_) {
    return Error(ErrorKind::kTemporary, label_ + ": the connection failed before");
  }
  stream_->setTimeouts(within(reply_timeout_ms_));
  if (Status s = stream_->writeAll(jsStringify(request)); !s) {
    broken_ = true;
    return Error(ErrorKind::kTemporary, "sending the request: " + s.error().message());
  }
  return readValue("reply");
}

Result<MmtpConnection> connectMmtp(const MmtpClientOptions& options,
                                   transport::NameResolver& resolver, ClientStep* failed) {
  auto fail = [failed](ClientStep step, Error e) {
    if (failed != nullptr) *failed = step;
    return e;
  };
  if (failed != nullptr) *failed = ClientStep::kNone;
  if (options.host.empty() || options.port == 0 || options.max_reply_bytes == 0) {
    return fail(ClientStep::kRequest, Error(ErrorKind::kInvalid, "MMTP client: no host or port"));
  }
  const transport::Timeouts phase = within(options.dial_timeout_ms);
  transport::DialOptions d = options.dial;
  d.connect_timeout_ms = std::min(std::max(d.connect_timeout_ms, 1), phase.read_timeout_ms);
  d.timeouts = phase;
  transport::DialFailure why = transport::DialFailure::kNone;
  auto plain = transport::dial(options.host, options.port, d, resolver, &why);
  if (!plain) {
    return fail(ClientStep::kDial,
                Error(plain.error().kind() == ErrorKind::kInvalid ? ErrorKind::kInvalid
                                                                  : ErrorKind::kTemporary,
                      plain.error().message()));
  }
  std::unique_ptr<transport::Stream> stream = std::move(*plain);
  std::string fingerprint, trusted_by;
  if (options.tls) {
    transport::TlsClientOptions t = options.tls_options;
    if (t.server_name.empty()) t.server_name = options.host;
    const std::string where = stream->label();
    auto session = transport::startTls(std::move(stream), t);
    if (!session) {
      // A CA file that cannot be read is the admin's to fix, but the
      // message waits meanwhile: temporary as well.
      return fail(ClientStep::kTls,
                  Error(ErrorKind::kTemporary, where + ": TLS: " + session.error().message()));
    }
    fingerprint = session->fingerprint;
    trusted_by = session->trusted_by;
    stream = std::move(session->stream);
  }
  MmtpConnection c(std::move(stream), options);
  c.fingerprint_ = std::move(fingerprint);
  c.trusted_by_ = std::move(trusted_by);
  c.stream_->setTimeouts(phase);
  auto greeting = c.readValue("greeting");
  if (!greeting) return fail(ClientStep::kGreeting, std::move(greeting).error());
  const Json& g = *greeting;
  const auto status = g.is_object() ? g.find("status") : g.end();
  if (!g.is_object() || status == g.end() || !status->is_string() || *status != "OK") {
    return fail(
        ClientStep::kGreeting,
        Error(ErrorKind::kProtocol,
              c.label_ + ": not an MMTP greeting: " +
                  printableAscii(g.dump(-1, ' ', false, Json::error_handler_t::replace), 200)));
  }
  c.greeting_ = std::move(*greeting);
  return c;
}

}  // namespace mtep::mmtp

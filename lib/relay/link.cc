// NAME
//   link.cc - SMTP over transport::dial for the relay, and the locked pin book
// DESCRIPTION
//   See link.h.

#include "relay/link.h"

#include <utility>

#include "smtp/client.h"

namespace mtep::relay {
namespace {

class SmtpLink final : public PeerLink {
 public:
  SmtpLink(std::unique_ptr<transport::Stream> stream, int read_timeout_ms)
      : client_(std::move(stream)), read_timeout_ms_(read_timeout_ms) {}

  Result<smtp::ParsedReply> greeting() override { return client_.greeting(); }
  Result<smtp::ParsedReply> ehlo(std::string_view name) override { return client_.ehlo(name); }
  const smtp::ParsedReply& capabilities() const override { return client_.capabilities(); }

  Result<std::string> startTls(const std::string& server_name) override {
    transport::TlsClientOptions options;
    options.server_name = server_name;
    auto tls = client_.startTls(options);
    if (!tls) {
      broken_ = true;  // the client may have handed its stream to the failed handshake
      return std::move(tls).error();
    }
    return std::move(tls->fingerprint);
  }

  Result<smtp::ParsedReply> command(std::string_view line) override {
    if (broken_) return gone();
    return client_.command(line);
  }

  Result<smtp::ParsedReply> message(std::string_view message) override {
    if (broken_) return gone();
    transport::Stream& s = client_.stream();
    if (Status st = s.writeAll(smtp::dotStuff(message)); !st) return std::move(st).error();
    // The final reply within smtp_timeout of the last byte written.
    setDeadline(SteadyClock::now() + std::chrono::milliseconds(read_timeout_ms_));
    return client_.readReply();
  }

  void setDeadline(SteadyClock::time_point deadline) override {
    if (broken_) return;
    client_.stream().setTimeouts({read_timeout_ms_, deadline});
  }

  void quit() override {
    if (!broken_) client_.quit();
  }

 private:
  static Error gone() { return Error(ErrorKind::kTemporary, "the connection failed in STARTTLS"); }

  smtp::SmtpClient client_;
  const int read_timeout_ms_;
  bool broken_ = false;  // after a failed STARTTLS: no stream to use
};

}  // namespace

Result<std::unique_ptr<PeerLink>> DialLinkFactory::connect(const std::string& host, uint16_t port,
                                                           SteadyClock::time_point deadline,
                                                           transport::DialFailure* why) {
  transport::DialOptions options = options_;
  options.timeouts.read_timeout_ms = smtp_timeout_ms_;
  options.timeouts.deadline = deadline;
  auto stream = transport::dial(host, port, options, transport::systemResolver(), why);
  if (!stream) return std::move(stream).error();
  return std::unique_ptr<PeerLink>(
      std::make_unique<SmtpLink>(std::move(*stream), smtp_timeout_ms_));
}

Result<overlay::PinCheck> LockedPinChecker::check(std::string_view host, std::string_view label,
                                                  std::string_view server_fingerprint,
                                                  bool trust_on_first_use) {
  std::lock_guard<std::mutex> lock(mu_);
  return book_.check(host, label, server_fingerprint, trust_on_first_use);
}

}  // namespace mtep::relay

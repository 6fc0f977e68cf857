// NAME
//   next_hop.cc - the onion relay's blocking SMTP transaction to a peer
// DESCRIPTION
//   See next_hop.h for the decisions; this file maps each failure to the
//   reply the relay's client gets.

#include "relay/next_hop.h"

#include <algorithm>

#include "util/base64.h"
#include "util/log.h"

namespace mtep::relay {
namespace {

constexpr size_t kMaxPassedText = 400;  // bytes of a peer's text passed on

constexpr smtp::EnhancedStatus kNoAnswer{4, 4, 1};     // could not connect
constexpr smtp::EnhancedStatus kLost{4, 4, 2};         // connection lost, timed out
constexpr smtp::EnhancedStatus kTlsFailed{4, 7, 0};    // handshake failed
constexpr smtp::EnhancedStatus kNoTls{4, 7, 4};        // security feature not offered
constexpr smtp::EnhancedStatus kKeyRefused{5, 7, 0};   // key does not match
constexpr smtp::EnhancedStatus kStoreDown{4, 3, 0};

std::string prefix16(std::string_view fp) {
  return std::string(fp.substr(0, 16)) + (fp.size() > 16 ? "..." : "");
}

}  // namespace

HopReply makeReply(uint16_t code, smtp::EnhancedStatus status, std::string text) {
  HopReply r;
  r.reply.code = code;
  r.reply.enhanced = status;
  r.reply.text = printableAscii(text);
  return r;
}

HopReply passOn(const std::string& host, const smtp::ParsedReply& reply) {
  HopReply r;
  r.reply.code = reply.code == 421 ? 451 : reply.code;
  uint8_t cls = static_cast<uint8_t>(r.reply.code / 100);
  if (reply.enhanced && reply.enhanced->cls == cls) {
    r.reply.enhanced = reply.enhanced;
  } else {
    r.reply.enhanced = smtp::EnhancedStatus{cls, 0, 0};
  }
  std::string text = host + " said:";
  for (size_t i = 0; i < reply.lines.size(); ++i) {
    text += i == 0 ? " " : "; ";
    text += reply.lines[i];
    if (text.size() > kMaxPassedText) break;
  }
  if (text.size() > kMaxPassedText) text = text.substr(0, kMaxPassedText) + "...";
  r.reply.text = printableAscii(text);
  return r;
}

SteadyClock::time_point NextHop::replyDeadline() const {
  return SteadyClock::now() + std::chrono::milliseconds(settings_.smtp_timeout_ms);
}

HopReply NextHop::lost(const Error& error, const char* during) {
  link_.reset();
  return makeReply(451, kLost,
                   "connection to " + host_ + " lost " + during + ": " + error.message());
}

HopReply NextHop::refusedBy(const smtp::ParsedReply& reply, bool keep) {
  HopReply r = passOn(host_, reply);
  if (!keep || reply.code == 421) close();
  return r;
}

HopReply NextHop::checkKey(const Destination& dest) {
  if (std::find(labels_ok_.begin(), labels_ok_.end(), dest.label) != labels_ok_.end()) {
    return makeReply(250, smtp::esc::kOk, "key checked");
  }
  auto check = pins_.check(dest.host, dest.label, fingerprint_, settings_.trust_on_first_use);
  if (!check) {
    return makeReply(451, kStoreDown,
                     "cannot check the TLS key of " + dest.host + ": " + check.error().message());
  }
  const overlay::PinCheck& c = *check;
  if (overlay::pinAccepted(c.verdict)) {
    log::info("relay: %s: TLS key %s: %s%s%s", dest.host.c_str(), fingerprint_.c_str(),
              overlay::pinVerdictName(c.verdict), c.detail.empty() ? "" : ": ", c.detail.c_str());
    labels_ok_.push_back(dest.label);
    return makeReply(250, smtp::esc::kOk, "key accepted");
  }
  std::string why;
  switch (c.verdict) {
    case overlay::PinVerdict::kMismatch:
      why = "TLS key of " + dest.host + " does not match the address: expected " +
            prefix16(dest.label) + " (" + std::to_string(dest.label.size()) +
            " characters), server has " + fingerprint_;
      break;
    case overlay::PinVerdict::kChanged:
      why = "TLS key of " + dest.host + " changed: server has " + fingerprint_;
      break;
    default:
      why = "TLS key " + fingerprint_ + " of " + dest.host +
            " is not pinned and the address has no fingerprint (trust_on_first_use is off)";
      break;
  }
  if (!c.detail.empty()) why += " (" + c.detail + ")";
  log::warning("relay: %s: refused: %s", dest.host.c_str(), why.c_str());
  return makeReply(550, kKeyRefused, why);
}

HopReply NextHop::open(const Destination& dest, const MailFrom& mail) {
  close();
  host_ = dest.host;
  fingerprint_.clear();
  labels_ok_.clear();
  size_ok_ = eightbit_ok_ = false;
  auto deadline = SteadyClock::now() +
                  std::chrono::milliseconds(settings_.proxy_timeout_ms + settings_.smtp_timeout_ms);
  transport::DialFailure why = transport::DialFailure::kNone;
  auto link = links_.connect(dest.host, settings_.port, deadline, &why);
  if (!link) {
    return makeReply(451, kNoAnswer,
                     "cannot reach " + dest.host + ":" + std::to_string(settings_.port) + ": " +
                         link.error().message());
  }
  link_ = std::move(*link);

  link_->setDeadline(replyDeadline());
  auto greeting = link_->greeting();
  if (!greeting) return lost(greeting.error(), "before its greeting");
  if (greeting->code != 220) return refusedBy(*greeting, false);

  link_->setDeadline(replyDeadline());
  auto ehlo = link_->ehlo(settings_.helo_name);
  if (!ehlo) return lost(ehlo.error(), "after EHLO");
  if (ehlo->code != 250) return refusedBy(*ehlo, false);
  if (!link_->capabilities().hasKeyword("STARTTLS")) {
    close();
    return makeReply(451, kNoTls,
                     dest.host + " does not offer STARTTLS; mail to overlay addresses is only "
                                 "sent over TLS");
  }

  link_->setDeadline(replyDeadline());
  auto fp = link_->startTls(dest.host);
  if (!fp) {
    link_.reset();
    return makeReply(451, kTlsFailed, "TLS with " + dest.host + " failed: " + fp.error().message());
  }
  fingerprint_ = std::move(*fp);

  link_->setDeadline(replyDeadline());
  ehlo = link_->ehlo(settings_.helo_name);
  if (!ehlo) return lost(ehlo.error(), "after EHLO in TLS");
  if (ehlo->code != 250) return refusedBy(*ehlo, false);
  size_ok_ = link_->capabilities().hasKeyword("SIZE");
  eightbit_ok_ = link_->capabilities().hasKeyword("8BITMIME");

  HopReply key = checkKey(dest);
  if (!key.ok()) {
    close();
    return key;
  }

  std::string line = "MAIL FROM:<" + mail.path + ">";
  if (size_ok_ && mail.size > 0) line += " SIZE=" + std::to_string(mail.size);
  if (eightbit_ok_ && !mail.body.empty()) line += " BODY=" + mail.body;
  link_->setDeadline(replyDeadline());
  auto r = link_->command(line);
  if (!r) return lost(r.error(), "after MAIL FROM");
  if (r->code != 250) return refusedBy(*r, false);
  return makeReply(250, smtp::esc::kOk, "sender accepted by " + dest.host);
}

HopReply NextHop::rcpt(const Destination& dest, std::string_view mailbox) {
  if (!link_) return makeReply(451, kLost, "no connection to " + dest.host);
  HopReply key = checkKey(dest);
  if (!key.ok()) return key;
  link_->setDeadline(replyDeadline());
  auto r = link_->command("RCPT TO:<" + std::string(mailbox) + ">");
  if (!r) return lost(r.error(), "after RCPT TO");
  return refusedBy(*r, true);
}

HopReply NextHop::startData() {
  if (!link_) return makeReply(451, kLost, "no connection to " + host_);
  link_->setDeadline(replyDeadline());
  auto r = link_->command("DATA");
  if (!r) return lost(r.error(), "after DATA");
  if (r->code == 354) return makeReply(354, smtp::esc::kOk, "");
  return refusedBy(*r, true);
}

HopReply NextHop::sendMessage(std::string_view message) {
  if (!link_) return makeReply(451, kLost, "no connection to " + host_);
  // Writing a large message through Tor may take long, but not for ever:
  // a peer that reads a byte now and then would otherwise hold this worker
  // (and a few such peers every worker). The write has send_timeout in all,
  // each wait the read timeout; the final reply smtp_timeout after the write.
  link_->setDeadline(SteadyClock::now() + std::chrono::milliseconds(settings_.send_timeout_ms));
  auto r = link_->message(message);
  if (!r) return lost(r.error(), "while sending the message");
  HopReply out = passOn(host_, *r);
  close();
  return out;
}

void NextHop::close() {
  if (!link_) return;
  link_->setDeadline(replyDeadline());
  link_->quit();
  link_.reset();
}

}  // namespace mtep::relay

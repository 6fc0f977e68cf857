// deliver(): one LMTP or SMTP transaction with per-recipient outcomes (delivery.h).

#include "smtp/delivery.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include "smtp/client.h"
#include "util/base64.h"

namespace mtep::smtp {
namespace {

constexpr size_t kMaxErrorText = 300;  // of a made-up reply's text

// The extension that introduces a MAIL/RCPT parameter.
std::string_view extensionOf(std::string_view keyword) {
  struct Entry {
    std::string_view param, extension;
  };
  static constexpr Entry kTable[] = {
      {"SIZE", "SIZE"},   {"BODY", "8BITMIME"},  {"SMTPUTF8", "SMTPUTF8"}, {"RET", "DSN"},
      {"ENVID", "DSN"},   {"NOTIFY", "DSN"},     {"ORCPT", "DSN"},         {"AUTH", "AUTH"},
      {"STOKEN", "STOKEN"}, {"MYSTOKEN", "STOKEN"},
  };
  for (const Entry& e : kTable) {
    if (asciiIEquals(e.param, keyword)) return e.extension;
  }
  return keyword;
}

bool hasCrLfNul(std::string_view s) { return s.find_first_of(std::string_view("\r\n\0", 3)) != s.npos; }

// A path goes between angle brackets: no brackets, spaces or controls in it.
bool validPath(std::string_view s) {
  for (unsigned char c : s) {
    if (c <= ' ' || c == '<' || c == '>' || c == 0x7f) return false;
  }
  return true;
}

Reply madeUp(uint16_t code, EnhancedStatus status, std::string_view text) {
  Reply r;
  r.code = code;
  r.enhanced = status;
  r.text = std::string(text.substr(0, kMaxErrorText));
  return r;
}

class Session {
 public:
  Session(const DeliveryRequest& request, transport::NameResolver& resolver)
      : req_(request), resolver_(resolver) {
    for (const DeliveryRecipient& r : req_.recipients) {
      RecipientOutcome o;
      o.address = r.address;
      out_.recipients.push_back(std::move(o));
    }
    deadline_ = transport::SteadyClock::now() + std::chrono::milliseconds(req_.timeouts.session_ms);
  }

  DeliveryResult run() {
    if (!checkRequest()) return finish();
    if (!connect()) return finish();
    if (!hello()) return finish();
    if (!transaction()) return finish();
    return finish();
  }

 private:
  std::string peer() const { return transport::hostPort(req_.host, req_.port); }

  transport::Timeouts waits(int each_ms) const {
    transport::Timeouts t;
    t.read_timeout_ms = each_ms;
    t.deadline = deadline_;
    return t;
  }

  // Fails the session at `step`: every recipient without a final reply
  // gets `reply` (made up unless from_server).
  void fail(DeliveryStep step, std::string error, const Reply& reply, bool from_server) {
    out_.failed_step = step;
    out_.error = std::move(error);
    if (from_server) out_.failed_reply = reply;
    for (RecipientOutcome& o : out_.recipients) {
      if (o.final_reply.code != 0) continue;
      o.final_reply = reply;
      o.final_from_server = from_server;
    }
  }
  void failMadeUp(DeliveryStep step, const std::string& error, uint16_t code,
                  EnhancedStatus status) {
    fail(step, error, madeUp(code, status, error), false);
  }
  // A failed read or write: a broken grammar or limit is 4.5.0, the rest
  // (closed, timeout) 4.4.2.
  void failIo(DeliveryStep step, const std::string& what, const Error& e) {
    broken_ = true;
    const std::string error = peer() + ": " + what + ": " + e.message();
    if (e.kind() == ErrorKind::kProtocol || e.kind() == ErrorKind::kLimit) {
      failMadeUp(step, error, 451, EnhancedStatus{4, 5, 0});
    } else {
      failMadeUp(step, error, 451, EnhancedStatus{4, 4, 2});
    }
  }
  void failReply(DeliveryStep step, const std::string& what, const ParsedReply& reply) {
    const Reply r = reply.toReply();
    if (r.code == 421) broken_ = true;  // the server is closing: no QUIT
    fail(step, peer() + ": " + what + ": " + r.toString(), r, true);
  }

  DeliveryResult finish() {
    if (client_ && client_->connected() && !broken_) client_->quit();
    out_.session_ok = out_.failed_step == DeliveryStep::kNone;
    // Belt and braces: nobody leaves without an answer.
    for (RecipientOutcome& o : out_.recipients) {
      if (o.final_reply.code == 0) {
        o.final_reply = madeUp(451, EnhancedStatus{4, 3, 0}, "no reply for this recipient");
      }
    }
    return std::move(out_);
  }

  bool checkRequest() {
    std::string bad;
    if (req_.host.empty() || hasCrLfNul(req_.host)) bad = "no host";
    if (req_.recipients.empty()) bad = "no recipients";
    if (req_.recipients.size() > req_.max_recipients) bad = "too many recipients";
    if (!validPath(req_.mail_from)) bad = "bad sender address";
    if (hasCrLfNul(req_.mail_params) || hasCrLfNul(req_.hello_name) || req_.hello_name.empty() ||
        hasCrLfNul(req_.auth_line) || hasCrLfNul(req_.require_keyword)) {
      bad = "CR, LF or NUL in a command";
    }
    for (const DeliveryRecipient& r : req_.recipients) {
      if (r.address.empty() || !validPath(r.address)) bad = "bad recipient address";
      if (hasCrLfNul(r.params)) bad = "CR, LF or NUL in RCPT parameters";
    }
    if (bad.empty()) return true;
    failMadeUp(DeliveryStep::kRequest, "bad delivery request: " + bad, 451, EnhancedStatus{4, 3, 0});
    return false;
  }

  bool connect() {
    transport::DialOptions d = req_.dial;
    d.connect_timeout_ms = req_.timeouts.dial_ms;
    d.timeouts = waits(req_.timeouts.command_ms);
    transport::DialFailure why = transport::DialFailure::kNone;
    auto stream = transport::dial(req_.host, req_.port, d, resolver_, &why);
    if (!stream) {
      failMadeUp(DeliveryStep::kDial, stream.error().message(), 451, EnhancedStatus{4, 4, 1});
      return false;
    }
    std::unique_ptr<transport::Stream> s = std::move(*stream);
    if (req_.tls == DeliveryTls::kImplicit) {
      auto t = transport::startTls(std::move(s), tlsOptions());
      if (!t) {
        failMadeUp(DeliveryStep::kTls, peer() + ": TLS: " + t.error().message(), 451,
                   EnhancedStatus{4, 7, 0});
        return false;
      }
      noteTls(*t);
      s = std::move(t->stream);
    }
    client_ = std::make_unique<SmtpClient>(std::move(s), req_.reply_limits);
    return true;
  }

  transport::TlsClientOptions tlsOptions() const {
    transport::TlsClientOptions o = req_.tls_options;
    if (o.server_name.empty()) o.server_name = req_.host;
    return o;
  }
  void noteTls(const transport::TlsSession& t) {
    out_.tls_protocol = t.protocol;
    out_.tls_fingerprint = t.fingerprint;
  }

  // LHLO or EHLO; false (session failed) unless 250.
  bool sayHello() {
    auto r = req_.protocol == DeliveryProtocol::kLmtp ? client_->lhlo(req_.hello_name)
                                                      : client_->ehlo(req_.hello_name);
    if (!r) {
      failIo(DeliveryStep::kHello, "LHLO/EHLO", r.error());
      return false;
    }
    out_.hello_reply = *r;
    if (r->code != 250) {
      failReply(DeliveryStep::kHello, "LHLO/EHLO refused", *r);
      return false;
    }
    return true;
  }

  bool hello() {
    auto g = client_->greeting();
    if (!g) {
      failIo(DeliveryStep::kGreeting, "greeting", g.error());
      return false;
    }
    if (g->code != 220) {
      failReply(DeliveryStep::kGreeting, "greeting", *g);
      return false;
    }
    if (!sayHello()) return false;
    const bool want_tls =
        req_.tls == DeliveryTls::kRequired ||
        (req_.tls == DeliveryTls::kOpportunistic && client_->capabilities().hasKeyword("STARTTLS"));
    if (want_tls) {
      if (!client_->capabilities().hasKeyword("STARTTLS")) {
        failMadeUp(DeliveryStep::kTls, peer() + ": STARTTLS required but not offered", 451,
                   EnhancedStatus{4, 7, 0});
        return false;
      }
      auto t = client_->startTls(tlsOptions());
      if (t) {
        noteTls(*t);
        if (!sayHello()) return false;
      } else if (req_.tls == DeliveryTls::kRequired || !client_->connected()) {
        failMadeUp(DeliveryStep::kTls, peer() + ": STARTTLS: " + t.error().message(), 451,
                   EnhancedStatus{4, 7, 0});
        return false;
      }
      // Opportunistic and refused before the handshake: on in plain text.
    }
    if (!req_.require_keyword.empty() && !client_->capabilities().hasKeyword(req_.require_keyword)) {
      failMadeUp(DeliveryStep::kKeyword,
                 peer() + ": " + req_.require_keyword + " not advertised" +
                     (out_.tls_protocol.empty() ? " (plain text)" : ""),
                 451, EnhancedStatus{4, 7, 0});
      return false;
    }
    if (!req_.auth_line.empty()) {
      auto a = client_->command(req_.auth_line);
      if (!a) {
        failIo(DeliveryStep::kAuth, "AUTH", a.error());
        return false;
      }
      out_.auth_reply = a->toReply();
      if (a->code / 100 != 2) {
        failReply(DeliveryStep::kAuth, "AUTH refused", *a);
          return false;
      }
    }
    return true;
  }

  std::string withParams(std::string line, std::string_view params) {
    const std::string p = req_.drop_unadvertised_params
                              ? advertisedParams(params, out_.hello_reply, &out_.dropped_params)
                              : std::string(params);
    if (!p.empty()) line += " " + p;
    return line;
  }

  bool transaction() {
    auto m = client_->command(withParams("MAIL FROM:<" + req_.mail_from + ">", req_.mail_params));
    if (!m) {
      failIo(DeliveryStep::kMail, "MAIL", m.error());
      return false;
    }
    if (m->code / 100 != 2) {
      failReply(DeliveryStep::kMail, "MAIL refused", *m);
      return false;
    }
    std::vector<size_t> accepted;
    for (size_t i = 0; i < req_.recipients.size(); ++i) {
      const DeliveryRecipient& r = req_.recipients[i];
      auto reply = client_->command(withParams("RCPT TO:<" + r.address + ">", r.params));
      if (!reply) {
        failIo(DeliveryStep::kRcpt, "RCPT", reply.error());
        return false;
      }
      RecipientOutcome& o = out_.recipients[i];
      o.rcpt_reply = reply->toReply();
      o.rcpt_accepted = reply->code / 100 == 2;
      if (o.rcpt_accepted) {
        accepted.push_back(i);
      } else {
        o.final_reply = o.rcpt_reply;
        o.final_from_server = true;
      }
    }
    if (accepted.empty()) {
      return true;
    }
    auto d = client_->command("DATA");
    if (!d) {
      failIo(DeliveryStep::kData, "DATA", d.error());
      return false;
    }
    if (d->code != 354) {
      failReply(DeliveryStep::kData, "DATA refused", *d);
      return false;
    }
    client_->stream().setTimeouts(waits(req_.timeouts.data_ms));
    if (auto st = client_->stream().writeAll(dotStuff(req_.message)); !st) {
      // The final dot may not have arrived: nothing delivered.
      failIo(DeliveryStep::kData, "sending the message", st.error());
      return false;
    }
    const size_t replies = req_.protocol == DeliveryProtocol::kLmtp ? accepted.size() : 1;
    for (size_t k = 0; k < replies; ++k) {
      auto f = client_->readReply();
      if (!f) {
        // After the final dot: the rest may have been delivered.
        for (size_t j = k; j < accepted.size(); ++j) {
          out_.recipients[accepted[j]].maybe_delivered = true;
        }
        failIo(DeliveryStep::kFinal, "after the message", f.error());
        return false;
      }
      const Reply r = f->toReply();
      if (req_.protocol == DeliveryProtocol::kLmtp) {
        out_.recipients[accepted[k]].final_reply = r;
        out_.recipients[accepted[k]].final_from_server = true;
      } else {
        for (size_t i : accepted) {
          out_.recipients[i].final_reply = r;
          out_.recipients[i].final_from_server = true;
        }
      }
    }
    client_->stream().setTimeouts(waits(req_.timeouts.command_ms));
    return true;
  }

  const DeliveryRequest& req_;
  transport::NameResolver& resolver_;
  transport::SteadyClock::time_point deadline_;
  std::unique_ptr<SmtpClient> client_;
  DeliveryResult out_;
  bool broken_ = false;  // the connection failed: no QUIT
};

}  // namespace

const char* deliveryStepName(DeliveryStep step) noexcept {
  switch (step) {
    case DeliveryStep::kNone: return "none";
    case DeliveryStep::kRequest: return "request";
    case DeliveryStep::kDial: return "dial";
    case DeliveryStep::kTls: return "tls";
    case DeliveryStep::kGreeting: return "greeting";
    case DeliveryStep::kHello: return "hello";
    case DeliveryStep::kKeyword: return "keyword";
    case DeliveryStep::kAuth: return "auth";
    case DeliveryStep::kMail: return "mail";
    case DeliveryStep::kRcpt: return "rcpt";
    case DeliveryStep::kData: return "data";
    case DeliveryStep::kFinal: return "final";
  }
  return "?";
}

std::string advertisedParams(std::string_view params, const ParsedReply& hello,
                             std::vector<std::string>* dropped) {
  std::string kept;
  size_t pos = 0;
  while (pos < params.size()) {
    const size_t end = std::min(params.find(' ', pos), params.size());
    const std::string_view param = params.substr(pos, end - pos);
    pos = end + 1;
    if (param.empty()) continue;
    const std::string_view keyword = param.substr(0, param.find('='));
    if (hello.hasKeyword(extensionOf(keyword))) {
      if (!kept.empty()) kept += ' ';
      kept += param;
    } else if (dropped != nullptr) {
      dropped->emplace_back(param);
    }
  }
  return kept;
}

DeliveryResult deliver(const DeliveryRequest& request, transport::NameResolver& resolver) {
  return Session(request, resolver).run();
}

}  // namespace mtep::smtp

// MtepClient: one "?" and one "Q" over port 6211, or over ESMTP after
// STARTMTEP when 6211 does not answer (client.h).

#include "mtep/client.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <memory>
#include <utility>

#include "config/config.h"
#include "smtp/client.h"
#include "transport/stream.h"
#include "transport/tls.h"

namespace mtep::proto {
namespace {

using transport::SteadyClock;

using transport::hostPort;

int msFromSeconds(int64_t seconds) {
  return static_cast<int>(std::clamp<int64_t>(seconds, 0, std::numeric_limits<int>::max() / 1000) *
                          1000);
}

// Reads one MTEP response from `stream`, starting with the bytes in
// `pending`; what follows the response stays in `pending`.
Result<Response> readResponse(transport::Stream& stream, std::string& pending, size_t max_size) {
  ResponseDecoder decoder(max_size);
  for (;;) {
    if (!pending.empty()) {
      size_t used = 0;
      const auto state = decoder.feed(pending, &used);
      pending.erase(0, used);
      if (state == netstring::DecodeState::kMessage) return decoder.response();
      if (state == netstring::DecodeState::kError) {
        return Error(ErrorKind::kProtocol,
                     "bad MTEP response from " + stream.label() + ": " + decoder.error());
      }
    }
    char buf[1024];
    auto n = stream.readSome(buf, sizeof buf);
    if (!n) return std::move(n).error();
    if (*n == 0) {
      return Error(ErrorKind::kTemporary,
                   "connection closed by " + stream.label() + " before a full response");
    }
    pending.append(buf, *n);
  }
}

// "?" and its answer, then (when `quit`) "Q" and any farewell. Returns
// false in *farewell_ok when the farewell did not come (the connection is
// then not fit for more).
Result<Response> exchange(transport::Stream& stream, std::string& pending,
                          const ClientOptions& options, std::string_view token,
                          std::string_view sender, std::string_view recipient, bool quit,
                          bool* farewell_ok) {
  *farewell_ok = false;
  if (auto st = stream.writeAll(encodeQuery(token, sender, recipient)); !st) {
    return std::move(st).error();
  }
  auto answer = readResponse(stream, pending, options.max_response_size);
  if (!answer) return answer;
  if (quit && SteadyClock::now() < stream.timeouts().deadline &&
      stream.writeAll(encodeQuit()).ok()) {
    // Any farewell, an error, or a dry close all count as K2.3.0.
    *farewell_ok = readResponse(stream, pending, options.max_response_size).ok();
  }
  return answer;
}

class Query {
 public:
  Query(const ClientOptions& options, const std::string& host, std::string_view token,
        std::string_view sender, std::string_view recipient)
      : options_(options),
        host_(host),
        token_(token),
        sender_(sender),
        recipient_(recipient),
        deadline_(SteadyClock::now() + std::chrono::milliseconds(options.total_timeout_ms)),
        resolver_(options.resolver != nullptr ? *options.resolver : transport::systemResolver()) {}

  Result<QueryOutcome> run(uint16_t port) {
    transport::DialFailure why = transport::DialFailure::kNone;
    auto stream = dial(port, options_.read_timeout_ms, &why);
    if (!stream) {
      if (options_.startmtep_fallback && why == transport::DialFailure::kPeerNoAnswer &&
          options_.smtp_port != port) {
        auto outcome = overSmtp();
        if (!outcome) {
          return Error(outcome.error().kind(), stream.error().message() +
                                                   "; over SMTP: " + outcome.error().message());
        }
        return outcome;
      }
      return withTotal(std::move(stream).error());
    }
    std::string pending;
    bool farewell_ok = false;
    auto answer = exchange(**stream, pending, options_, token_, sender_, recipient_,
                           options_.send_quit, &farewell_ok);
    if (!answer) return withTotal(std::move(answer).error());
    return QueryOutcome{std::move(answer).value(), false, {}, {}};
  }

 private:
  Result<std::unique_ptr<transport::Stream>> dial(uint16_t port, int read_timeout_ms,
                                                  transport::DialFailure* why) {
    transport::DialOptions dial = options_.dial;
    dial.connect_timeout_ms = options_.connect_timeout_ms;
    dial.timeouts.read_timeout_ms = read_timeout_ms;
    dial.timeouts.deadline = deadline_;
    if (transport::remainingMs(deadline_) == 0) {
      if (why != nullptr) *why = transport::DialFailure::kOther;
      return Error(ErrorKind::kTemporary, "total timeout of " +
                                              std::to_string(options_.total_timeout_ms) +
                                              " ms expired before connecting to " +
                                              hostPort(host_, port));
    }
    auto stream = transport::dial(host_, port, dial, resolver_, why);
    // No such name, no proxy for it, a bad host: to this client's callers
    // all mean "cannot ask now" (client.h).
    if (!stream && stream.error().kind() != ErrorKind::kTemporary) {
      return Error(ErrorKind::kTemporary, stream.error().message());
    }
    return stream;
  }

  // The client's own deadline is "the total timeout": say so.
  Error withTotal(Error error) const {
    if (SteadyClock::now() < deadline_ ||
        error.message().find("total timeout") != std::string::npos) {
      return error;
    }
    return Error(error.kind(), "total timeout of " + std::to_string(options_.total_timeout_ms) +
                                   " ms expired: " + error.message());
  }

  Result<QueryOutcome> overSmtp() {
    const std::string where = hostPort(host_, options_.smtp_port);
    auto stream = dial(options_.smtp_port,
                       std::min(options_.read_timeout_ms, options_.smtp_timeout_ms), nullptr);
    if (!stream) return withTotal(std::move(stream).error());
    smtp::SmtpClient smtp(std::move(stream).value());
    auto result = converse(smtp, where);
    if (!result) return withTotal(std::move(result).error());
    return result;
  }

  Result<QueryOutcome> converse(smtp::SmtpClient& smtp, const std::string& where) {
    auto greeting = smtp.greeting();
    if (!greeting) return std::move(greeting).error();
    if (greeting->code != 220) {
      return Error(ErrorKind::kTemporary,
                   where + " greeted with " + greeting->toReply().toString());
    }
    QueryOutcome outcome;
    outcome.via_startmtep = true;
    if (auto st = hello(smtp, where); !st) return std::move(st).error();
    if (smtp.capabilities().hasKeyword("STARTTLS")) {
      auto tls = smtp.startTls(
          {.server_name = options_.tls.name.empty() ? host_ : options_.tls.name,
           .trust = options_.tls});
      if (!tls) return std::move(tls).error();
      outcome.tls_fingerprint = tls->fingerprint;
      outcome.tls_protocol = tls->protocol;
      if (auto st = hello(smtp, where); !st) return std::move(st).error();
    }
    if (!smtp.capabilities().hasKeyword("X-STARTMTEP")) {
      smtp.quit();
      return Error(ErrorKind::kTemporary, host_ + " offers no MTEP (no X-STARTMTEP)");
    }
    auto start = smtp.command("STARTMTEP");
    if (!start) return std::move(start).error();
    if (start->code < 200 || start->code > 299) {
      smtp.quit();
      return Error(ErrorKind::kTemporary,
                   where + " refused STARTMTEP: " + start->toReply().toString());
    }
    // MTEP until "Q" (always sent here: it is the way back to SMTP).
    bool farewell_ok = false;
    auto answer = exchange(smtp.stream(), smtp.pending(), options_, token_, sender_, recipient_,
                           true, &farewell_ok);
    if (!answer) return std::move(answer).error();
    if (farewell_ok) smtp.quit();
    outcome.response = std::move(answer).value();
    return outcome;
  }

  Status hello(smtp::SmtpClient& smtp, const std::string& where) {
    auto ehlo = smtp.ehlo(options_.helo_name);
    if (!ehlo) return std::move(ehlo).error();
    if (ehlo->code != 250) {
      smtp.quit();
      return Error(ErrorKind::kTemporary,
                   where + " refused EHLO: " + ehlo->toReply().toString());
    }
    return okStatus();
  }

  const ClientOptions& options_;
  const std::string& host_;
  std::string_view token_;
  std::string_view sender_;
  std::string_view recipient_;
  SteadyClock::time_point deadline_;
  transport::NameResolver& resolver_;
};

}  // namespace

ClientOptions clientOptionsFor(const config::OutboundConfig& outbound, ClientOptions base) {
  transport::DialOptions& d = base.dial;
  d.onion_proxy = outbound.onion_proxy.enabled()
                      ? transport::Proxy{outbound.onion_proxy.host, outbound.onion_proxy.port}
                      : transport::Proxy{};
  d.i2p_proxy = outbound.i2p_proxy.enabled()
                    ? transport::Proxy{outbound.i2p_proxy.host, outbound.i2p_proxy.port}
                    : transport::Proxy{};
  d.proxy_username = outbound.proxy_username;
  d.proxy_password = outbound.proxy_password;
  d.isolate_streams = outbound.isolate_streams;
  d.proxy_timeout_ms = msFromSeconds(outbound.proxy_timeout);
  base.startmtep_fallback = outbound.startmtep_fallback;
  base.smtp_port = static_cast<uint16_t>(std::min<uint32_t>(outbound.smtp_port, 65535));
  base.smtp_timeout_ms = msFromSeconds(outbound.smtp_timeout);
  return base;
}

Result<QueryOutcome> MtepClient::ask(const std::string& host, uint16_t port,
                                     std::string_view token, std::string_view sender,
                                     std::string_view recipient) const {
  if (options_.connect_timeout_ms <= 0 || options_.read_timeout_ms <= 0 ||
      options_.total_timeout_ms <= 0 || options_.max_response_size == 0 ||
      (options_.startmtep_fallback && (options_.smtp_timeout_ms <= 0 || options_.smtp_port == 0))) {
    return Error(ErrorKind::kConfig, "MTEP client timeouts and response size must be positive");
  }
  return Query(options_, host, token, sender, recipient).run(port);
}

Result<Response> MtepClient::query(const std::string& host, uint16_t port, std::string_view token,
                                   std::string_view sender, std::string_view recipient) const {
  auto outcome = ask(host, port, token, sender, recipient);
  if (!outcome) return std::move(outcome).error();
  return std::move(outcome->response);
}

}  // namespace mtep::proto

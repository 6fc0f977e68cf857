// NAME
//   lmtp_intake.cc - see lmtp_intake.h

#include "lmtp_intake.h"

#include <utility>

#include "net/cidr.h"
#include "util/base64.h"

namespace mtep::mtepd {

smtp::Reply makeReply(uint16_t code, smtp::EnhancedStatus status, std::string text) {
  smtp::Reply r;
  r.code = code;
  r.enhanced = status;
  r.text = std::move(text);
  return r;
}

smtp::ServerSettings intakeSettings(const config::Config& config, const std::string& hostname,
                                    std::string greeting, uint32_t max_recipients,
                                    size_t max_message_size) {
  smtp::ServerSettings s;
  s.dialect = smtp::Dialect::kLmtp;
  s.hostname = hostname;
  s.greeting = std::move(greeting);
  s.extensions = {{"PIPELINING"}, {"ENHANCEDSTATUSCODES"}, {"8BITMIME"}, {"SIZE"}};
  s.starttls = false;
  s.limits.max_line = config.mtepd.smtp_max_line;
  s.limits.max_recipients = max_recipients;
  s.limits.max_message_size = max_message_size;
  return s;
}

void installIntakeHooks(smtp::TransactionHooks& h,
                        std::function<void(smtp::ServerSession&, smtp::Message&&)> submit) {
  h.on_mail = [](smtp::ServerSession&, const smtp::MailRequest& m) -> smtp::Reply {
    for (const smtp::Param& p : m.params) {
      if (p.keyword == "BODY" && p.has_value &&
          (asciiIEquals(p.value, "7BIT") || asciiIEquals(p.value, "8BITMIME"))) {
        continue;
      }
      return makeReply(555, {5, 5, 4}, "MAIL parameter " + p.keyword + " not supported");
    }
    return makeReply(250, {2, 1, 0}, "Ok");
  };
  h.on_rcpt = [](smtp::ServerSession&, const smtp::Recipient& r) -> smtp::Reply {
    if (!r.params.empty()) {
      return makeReply(555, {5, 5, 4},
                             "RCPT parameter " + r.params.front().keyword + " not supported");
    }
    return makeReply(250, {2, 1, 5}, "Ok");
  };
  h.on_message = [submit = std::move(submit)](smtp::ServerSession& ss, smtp::Message&& m) {
    ss.suspend();
    submit(ss, std::move(m));
  };
}

Status requireLoopback(const std::vector<config::ListenAddress>& listen, std::string_view key,
                       std::string_view why) {
  for (const config::ListenAddress& a : listen) {
    auto ip = net::IpAddress::parse(a.host);
    const char* kind = ip ? net::nonPublicKind(ip->unmapped()) : nullptr;
    if (kind == nullptr || std::string_view(kind) != "loopback") {
      return Error(ErrorKind::kConfig, std::string(key) + " " + a.toString() +
                                           ": not a loopback address; " + std::string(why));
    }
  }
  return okStatus();
}

}  // namespace mtep::mtepd

#pragma once
// NAME
//   lmtp_intake.h - the loopback LMTP listener shape that the STOKEN router
//   and the MMTP bridge share: how the MTA hands mail to mtepd
// SUMMARY
//   SmtpAdapter(intakeSettings(c, host, "LMTP mtepd MMTP bridge", 100, size), ...)
//   installIntakeHooks(smtp().hooks(), [this](ServerSession& s, Message&& m) { ... });
//   if (Status s = requireLoopback(c.mmtp.lmtp_listen, "[mmtp] lmtp_listen", why); !s) ...
// DESCRIPTION
//   intakeSettings(): plain LMTP (lib/smtp/server_session.h), greeting
//   "220 HOST <greeting>", LHLO listing PIPELINING, ENHANCEDSTATUSCODES,
//   8BITMIME and SIZE, no STARTTLS (loopback), the line limit of [mtepd]
//   smtp_max_line.
//   installIntakeHooks(): MAIL takes BODY=7BIT|8BITMIME (SIZE is the
//   engine's), any other MAIL or RCPT parameter is 555 5.5.4; at the end
//   of DATA the session suspends and `submit` gets the message (it answers
//   each recipient later, from the loop thread).
//   requireLoopback(): kConfig naming the key and the first address that is
//   not loopback (127.0.0.0/8, ::1): whoever reaches such a listener sends
//   mail as any local user.
// SEE ALSO
//   stoken_router.h, mmtp_bridge.h, lib/server/smtp_adapter.h

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "smtp/server_session.h"
#include "util/result.h"

namespace mtep::mtepd {

// A reply with an enhanced status code.
smtp::Reply makeReply(uint16_t code, smtp::EnhancedStatus status, std::string text);

smtp::ServerSettings intakeSettings(const config::Config& config, const std::string& hostname,
                                    std::string greeting, uint32_t max_recipients,
                                    size_t max_message_size);

void installIntakeHooks(smtp::TransactionHooks& hooks,
                        std::function<void(smtp::ServerSession&, smtp::Message&&)> submit);

Status requireLoopback(const std::vector<config::ListenAddress>& listen, std::string_view key,
                       std::string_view why);

}  // namespace mtep::mtepd

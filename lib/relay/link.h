#pragma once
// NAME
//   link.h - the onion relay's real network seams: SMTP over transport::dial,
//   and the pin book shared by the worker threads
// SUMMARY
//   DialLinkFactory links(dial_options, smtp_timeout_ms);
//   LockedPinChecker pins(std::move(store), SystemClock::instance());
//   NextHop hop(settings, links, pins);
// DESCRIPTION
//   DialLinkFactory dials host:port with transport::dial (.onion and .i2p
//   names go to their SOCKS5 proxy as names, never to DNS) and speaks SMTP
//   over the stream with smtp::SmtpClient; every wait is bound by
//   smtp_timeout_ms and the deadline NextHop sets. It is stateless and may
//   be used by several threads at once.
//   LockedPinChecker owns a store of its own (opened for the relay, so that
//   the daemon's loop thread and the workers never share a store handle)
//   and serialises every PinBook call with a mutex.
// SEE ALSO
//   next_hop.h, lib/transport/dialer.h, lib/smtp/client.h, lib/overlay/pins.h

#include <memory>
#include <mutex>
#include <string>

#include "overlay/pins.h"
#include "relay/next_hop.h"
#include "store/store.h"
#include "transport/dialer.h"
#include "util/clock.h"

namespace mtep::relay {

class DialLinkFactory final : public LinkFactory {
 public:
  DialLinkFactory(transport::DialOptions options, int smtp_timeout_ms)
      : options_(std::move(options)), smtp_timeout_ms_(smtp_timeout_ms) {}
  Result<std::unique_ptr<PeerLink>> connect(const std::string& host, uint16_t port,
                                            SteadyClock::time_point deadline,
                                            transport::DialFailure* why) override;

 private:
  const transport::DialOptions options_;
  const int smtp_timeout_ms_;
};

class LockedPinChecker final : public PinChecker {
 public:
  LockedPinChecker(std::unique_ptr<store::Store> store, const Clock& clock)
      : store_(std::move(store)), book_(*store_, clock) {}
  Result<overlay::PinCheck> check(std::string_view host, std::string_view label,
                                  std::string_view server_fingerprint,
                                  bool trust_on_first_use) override;

 private:
  std::mutex mu_;                        // guards store_ and book_
  std::unique_ptr<store::Store> store_;  // guarded by mu_
  overlay::PinBook book_;                // guarded by mu_
};

}  // namespace mtep::relay

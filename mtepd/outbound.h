#pragma once
// NAME
//   outbound.h - how mtepd dials out: [outbound] as transport dial options
// SUMMARY
//   transport::DialOptions o = outboundDialOptions(config);
// DESCRIPTION
//   The onion relay (relay_service.h) and the STOKEN router
//   (stoken_router.h) both connect to other sites; both take the SOCKS
//   proxies for .onion and .i2p names, their credentials, the proxy timeout
//   and stream isolation from [outbound], through this one function.

#include "config/config.h"
#include "transport/dialer.h"

namespace mtep::mtepd {

transport::DialOptions outboundDialOptions(const config::Config& c);

}  // namespace mtep::mtepd

#include "outbound.h"

namespace mtep::mtepd {

transport::DialOptions outboundDialOptions(const config::Config& c) {
  transport::DialOptions o;
  o.proxy_timeout_ms = static_cast<int>(c.outbound.proxy_timeout * 1000);
  if (c.outbound.onion_proxy.enabled()) {
    o.onion_proxy = {c.outbound.onion_proxy.host, c.outbound.onion_proxy.port};
  }
  if (c.outbound.i2p_proxy.enabled()) {
    o.i2p_proxy = {c.outbound.i2p_proxy.host, c.outbound.i2p_proxy.port};
  }
  o.proxy_username = c.outbound.proxy_username;
  o.proxy_password = c.outbound.proxy_password;
  o.isolate_streams = c.outbound.isolate_streams;
  return o;
}

}  // namespace mtep::mtepd

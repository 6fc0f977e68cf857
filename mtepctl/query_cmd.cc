// mtepctl query HOST[:PORT] TOKEN [--sender ADDR] [--recipient ADDR]
// .onion/.i2p hosts go through the [outbound] SOCKS proxies of the config
// file (defaults when the file does not exist); on port 6211 the
// [outbound] STARTMTEP fallback applies as in the milter.
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string_view>
#include <system_error>

#include "commands.h"
#include "context.h"
#include "mtep/client.h"

namespace mtep::ctl {
namespace {

struct Target {
  std::string host;
  uint16_t port = proto::kDefaultPort;
};

std::optional<uint16_t> parsePort(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value == 0 || value > 65535) return std::nullopt;
  return static_cast<uint16_t>(value);
}

// "host", "host:port", "[v6]", "[v6]:port"; a bare IPv6 address (two or
// more colons) is a host without a port.
std::optional<Target> parseTarget(std::string_view text) {
  Target t;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close == 1) return std::nullopt;
    t.host = std::string(text.substr(1, close - 1));
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port_text = rest.substr(1);
      if (port_text.empty()) return std::nullopt;
    }
  } else {
    const size_t colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) == std::string_view::npos) {
      t.host = std::string(text.substr(0, colon));
      port_text = text.substr(colon + 1);
      if (port_text.empty()) return std::nullopt;
    } else {
      t.host = std::string(text);
    }
  }
  if (t.host.empty()) return std::nullopt;
  if (!port_text.empty()) {
    auto port = parsePort(port_text);
    if (!port) return std::nullopt;
    t.port = *port;
  }
  return t;
}

// The server's text goes to a terminal: control bytes are shown as '?'.
std::string printable(std::string text) {
  for (char& c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b == 0x7f) c = '?';
  }
  return text;
}

}  // namespace

int query(const GlobalOptions& global, const QueryOptions& options) {
  auto target = parseTarget(options.target);
  if (!target) {
    printError("\"%s\" is not HOST, HOST:PORT or [IPV6]:PORT", options.target.c_str());
    return kExitUsage;
  }
  if (options.timeout_seconds <= 0 || options.timeout_seconds > 3600) {
    printError("--timeout must be 1 to 3600 seconds");
    return kExitUsage;
  }
  // Only [outbound] is used: no state directory, no privilege drop.
  config::OutboundConfig outbound;
  std::error_code ec;
  if (std::filesystem::exists(global.config_path, ec)) {
    auto cfg = config::loadFile(global.config_path);
    if (!cfg) {
      printError("%s", cfg.error().message().c_str());
      return exitCodeFor(cfg.error());
    }
    outbound = (*cfg)->outbound;
  }
  proto::ClientOptions client_options = proto::clientOptionsFor(outbound);
  client_options.startmtep_fallback =
      outbound.startmtep_fallback && target->port == proto::kDefaultPort;
  client_options.total_timeout_ms = options.timeout_seconds * 1000;
  if (client_options.connect_timeout_ms > client_options.total_timeout_ms) {
    client_options.connect_timeout_ms = client_options.total_timeout_ms;
  }
  if (client_options.read_timeout_ms > client_options.total_timeout_ms) {
    client_options.read_timeout_ms = client_options.total_timeout_ms;
  }
  proto::MtepClient client(client_options);
  auto response =
      client.query(target->host, target->port, options.token, options.sender, options.recipient);
  if (!response) {
    printError("%s port %u: %s", target->host.c_str(), static_cast<unsigned>(target->port),
               response.error().message().c_str());
    return kExitTrouble;
  }
  std::printf("%s\n", printable(response->payload()).c_str());
  switch (response->verdict) {
    case proto::Verdict::kYes:
      return kExitOk;
    case proto::Verdict::kNo:
      return kExitNo;
    case proto::Verdict::kTemporary:
    case proto::Verdict::kInfo:
      return kExitTrouble;
  }
  return kExitTrouble;
}

}  // namespace mtep::ctl

// Value readers for the key table, listen addresses and durations.
#include <arpa/inet.h>

#include <cstdio>
#include <limits>
#include <set>

#include "config/key_table.h"
#include "smtp/address.h"

namespace mtep::config {

namespace {

using detail::quoted;

constexpr size_t kPrintableMax = 80;

std::string_view typeName(toml::node_type type) {
  switch (type) {
    case toml::node_type::none:
      return "nothing";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
  }
  return "an unknown type";
}

detail::Problem wrongType(std::string_view expected, const toml::node& n) {
  return {"expected " + std::string(expected) + ", got " + std::string(typeName(n.type())),
          nullptr};
}

bool allDigits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

Result<uint16_t> parsePort(std::string_view text) {
  if (!allDigits(text) || text.size() > 5) {
    return Error(ErrorKind::kInvalid, "port " + quoted(text) + " is not a number 1..65535");
  }
  uint32_t port = 0;
  for (char c : text) port = port * 10 + static_cast<uint32_t>(c - '0');
  if (port == 0 || port > 65535) {
    return Error(ErrorKind::kInvalid, "port " + quoted(text) + " is not a number 1..65535");
  }
  return static_cast<uint16_t>(port);
}

// "host:port", IPv6 addresses in brackets.
std::string joinHostPort(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

// The numeric IPv6 address inside the leading "[...]" of `text`.
Result<std::string> bracketedV6(std::string_view text) {
  const size_t close = text.find(']');
  if (close == std::string_view::npos) {
    return Error(ErrorKind::kInvalid, quoted(text) + ": missing ] after the IPv6 address");
  }
  std::string host(text.substr(1, close - 1));
  in6_addr v6{};
  if (::inet_pton(AF_INET6, host.c_str(), &v6) != 1) {
    return Error(ErrorKind::kInvalid, quoted(text) + ": not a numeric IPv6 address in brackets");
  }
  return host;
}

std::string rangeText(int64_t lo, int64_t hi, bool duration) {
  if (duration) return formatDuration(lo) + ".." + formatDuration(hi);
  return std::to_string(lo) + ".." + std::to_string(hi);
}

}  // namespace

std::string ListenAddress::toString() const { return joinHostPort(host, port); }

std::string ProxyAddress::toString() const { return enabled() ? joinHostPort(host, port) : ""; }

Result<ListenAddress> parseListenAddress(std::string_view text) {
  ListenAddress out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto host = bracketedV6(text);
    if (!host) return std::move(host).error();
    out.host = std::move(*host);
    const size_t close = out.host.size() + 1;
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      return Error(ErrorKind::kInvalid, quoted(text) + ": missing :PORT");
    }
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return Error(ErrorKind::kInvalid, quoted(text) + ": missing :PORT");
    }
    out.host = std::string(text.substr(0, colon));
    if (out.host.find(':') != std::string::npos) {
      return Error(ErrorKind::kInvalid,
                   quoted(text) + ": write IPv6 addresses in brackets, as in [::1]:6211");
    }
    in_addr v4{};
    if (::inet_pton(AF_INET, out.host.c_str(), &v4) != 1) {
      return Error(ErrorKind::kInvalid,
                   quoted(text) + ": not a numeric IPv4 address (host names are not looked up)");
    }
    port_text = text.substr(colon + 1);
  }
  auto port = parsePort(port_text);
  if (!port) return Error(ErrorKind::kInvalid, quoted(text) + ": " + port.error().message());
  out.port = *port;
  return out;
}

std::string ServerAddress::toString() const { return joinHostPort(host, port); }

Result<ServerAddress> parseServerAddress(std::string_view text, uint16_t default_port) {
  ServerAddress out;
  out.port = default_port;
  std::string_view rest;
  if (!text.empty() && text.front() == '[') {
    auto host = bracketedV6(text);
    if (!host) return std::move(host).error();
    out.host = std::move(*host);
    rest = text.substr(out.host.size() + 2);
  } else {
    const size_t colon = text.find(':');
    out.host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) rest = text.substr(colon);
    if (rest.find(':', 1) != std::string_view::npos) {
      return Error(ErrorKind::kInvalid,
                   quoted(text) + ": write IPv6 addresses in brackets, as in [::1]:6211");
    }
    in_addr v4{};
    if (::inet_pton(AF_INET, out.host.c_str(), &v4) != 1) {
      if (Status s = smtp::checkDomain(out.host, false); !s) {
        return Error(ErrorKind::kInvalid,
                     quoted(text) + ": not a host name or IPv4 address: " + s.error().message());
      }
    }
  }
  if (!rest.empty()) {
    if (rest.front() != ':') return Error(ErrorKind::kInvalid, quoted(text) + ": expected :PORT");
    auto port = parsePort(rest.substr(1));
    if (!port) return Error(ErrorKind::kInvalid, quoted(text) + ": " + port.error().message());
    out.port = *port;
  }
  return out;
}

Result<int64_t> parseDuration(std::string_view text) {
  const auto bad = [&] {
    return Error(ErrorKind::kInvalid,
                 quoted(text) + " is not a duration (a number with s, m, h or d, as in \"30s\")");
  };
  if (text.size() < 2) return bad();
  int64_t unit = 0;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    default:
      return bad();
  }
  const std::string_view digits = text.substr(0, text.size() - 1);
  if (!allDigits(digits)) return bad();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t n = 0;
  for (char c : digits) {
    const int64_t d = c - '0';
    if (n > (kMax - d) / 10) return Error(ErrorKind::kInvalid, quoted(text) + " is too long");
    n = n * 10 + d;
  }
  if (n > kMax / unit) return Error(ErrorKind::kInvalid, quoted(text) + " is too long");
  return n * unit;
}

std::string formatDuration(int64_t seconds) {
  if (seconds != 0) {
    if (seconds % 86400 == 0) return std::to_string(seconds / 86400) + "d";
    if (seconds % 3600 == 0) return std::to_string(seconds / 3600) + "h";
    if (seconds % 60 == 0) return std::to_string(seconds / 60) + "m";
  }
  return std::to_string(seconds) + "s";
}

namespace detail {

// A value from the file in double quotes, its quotes and backslashes escaped.
std::string quoted(std::string_view text) {
  std::string escaped;
  for (char c : text) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return "\"" + printable(escaped) + "\"";
}

std::string printable(std::string_view text) {
  std::string out;
  size_t end = text.size();
  if (end > kPrintableMax) {
    end = kPrintableMax;
    // Do not cut a UTF-8 sequence in two.
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  }
  for (size_t i = 0; i < end; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (end < text.size()) out += "...";
  return out;
}

std::string asciiLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

Check readBool(const toml::node& n, bool* out) {
  const auto* v = n.as_boolean();
  if (v == nullptr) return wrongType("true or false", n);
  *out = v->get();
  return std::nullopt;
}

Check readString(const toml::node& n, std::string* out) {
  const auto* v = n.as_string();
  if (v == nullptr) return wrongType("a string", n);
  for (char c : v->get()) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return Problem{quoted(v->get()) + " contains a control character"};
  }
  *out = v->get();
  return std::nullopt;
}

Check readInteger(const toml::node& n, int64_t lo, int64_t hi, int64_t* out) {
  const auto* v = n.as_integer();
  if (v == nullptr) return wrongType("an integer", n);
  if (v->get() < lo || v->get() > hi) {
    return Problem{std::to_string(v->get()) + " is out of range " + rangeText(lo, hi, false)};
  }
  *out = v->get();
  return std::nullopt;
}

Check readDuration(const toml::node& n, int64_t lo, int64_t hi, int64_t* out) {
  int64_t seconds = 0;
  std::string shown;
  if (const auto* i = n.as_integer()) {
    seconds = i->get();
    shown = std::to_string(seconds);
  } else if (const auto* s = n.as_string()) {
    auto parsed = parseDuration(s->get());
    if (!parsed) return Problem{parsed.error().message()};
    seconds = *parsed;
    shown = quoted(s->get());
  } else {
    return wrongType("a duration (seconds, or a string such as \"30s\")", n);
  }
  if (seconds < lo || seconds > hi) {
    return Problem{shown + " is out of range " + rangeText(lo, hi, true)};
  }
  *out = seconds;
  return std::nullopt;
}

Check readPath(const toml::node& n, bool allow_empty, std::string* out) {
  std::string path;
  if (Check c = readString(n, &path)) return c;
  if (path.empty() && allow_empty) {
    *out = path;
    return std::nullopt;
  }
  if (path.empty() || path.front() != '/') {
    return Problem{quoted(path) + " is not an absolute path"};
  }
  *out = path;
  return std::nullopt;
}

Check readStringList(const toml::node& n, bool allow_empty,
                     const std::function<std::string(std::string_view)>& check,
                     std::vector<std::string>* out) {
  const auto* list = n.as_array();
  if (list == nullptr) return wrongType("a list of strings", n);
  if (list->empty() && !allow_empty) return Problem{"the list is empty"};
  std::vector<std::string> values;
  std::set<std::string> seen;
  for (const toml::node& element : *list) {
    const auto* s = element.as_string();
    if (s == nullptr) {
      Problem p = wrongType("a string", element);
      p.at = &element;
      return p;
    }
    if (std::string what = check(s->get()); !what.empty()) return Problem{what, &element};
    if (!seen.insert(s->get()).second) {
      return Problem{quoted(s->get()) + " is listed twice", &element};
    }
    values.push_back(s->get());
  }
  *out = std::move(values);
  return std::nullopt;
}

Check readNetworks(const toml::node& n, std::vector<net::Network>* out) {
  std::vector<net::Network> networks;
  std::vector<std::string> texts;
  const auto check = [&networks](std::string_view text) -> std::string {
    auto parsed = net::parseNetwork(text);
    if (!parsed) return quoted(text) + ": " + parsed.error().message();
    networks.push_back(*parsed);
    return "";
  };
  if (Check p = readStringList(n, true, check, &texts)) return p;
  *out = std::move(networks);
  return std::nullopt;
}

Check readServerMap(const toml::node& n, std::map<std::string, ServerAddress, std::less<>>* out,
                    uint16_t default_port) {
  const auto* table = n.as_table();
  if (table == nullptr) {
    return wrongType("a table, as in { \"example.org\" = \"mx.example.org:6211\" }", n);
  }
  std::map<std::string, ServerAddress, std::less<>> servers;
  for (const auto& [key, value] : *table) {
    const std::string lower = asciiLower(key.str());
    const std::string_view bare = std::string_view(lower).substr(lower.starts_with('.') ? 1 : 0);
    if (Status s = smtp::checkDomain(bare); !s) {
      return Problem{quoted(key.str()) + " is not a domain name: " + s.error().message(), &value};
    }
    const auto* text = value.as_string();
    if (text == nullptr) {
      Problem p = wrongType("a \"HOST[:PORT]\" string", value);
      p.at = &value;
      return p;
    }
    auto address = parseServerAddress(text->get(), default_port);
    if (!address) return Problem{address.error().message(), &value};
    if (!servers.emplace(smtp::domainKey(lower), *address).second) {
      return Problem{quoted(key.str()) + " is listed twice (names are compared without case)",
                     &value};
    }
  }
  *out = std::move(servers);
  return std::nullopt;
}

Check readPinMap(const toml::node& n,
                 std::map<std::string, std::vector<std::string>, std::less<>>* out) {
  const auto* table = n.as_table();
  if (table == nullptr) {
    return wrongType("a table, as in { \"example.org\" = \"FINGERPRINT\" }", n);
  }
  const auto checkPin = [](std::string_view pin) -> std::string {
    constexpr size_t kFingerprintLength = 52;  // base32 of SHA-256, no padding
    if (pin.size() != kFingerprintLength) {
      return quoted(pin) + " is not a key fingerprint (52 base32 characters, as mtepctl prints)";
    }
    for (char c : pin) {
      const char l = c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
      if (!((l >= 'a' && l <= 'z') || (l >= '2' && l <= '7'))) {
        return quoted(pin) + " is not a key fingerprint (base32: a-z and 2-7)";
      }
    }
    return "";
  };
  std::map<std::string, std::vector<std::string>, std::less<>> pins;
  for (const auto& [key, value] : *table) {
    const std::string lower = asciiLower(key.str());
    const std::string_view bare = std::string_view(lower).substr(lower.starts_with('.') ? 1 : 0);
    if (Status s = smtp::checkDomain(bare); !s) {
      return Problem{quoted(key.str()) + " is not a domain name: " + s.error().message(), &value};
    }
    std::vector<std::string> list;
    if (const auto* text = value.as_string()) {
      if (std::string what = checkPin(text->get()); !what.empty()) return Problem{what, &value};
      list.push_back(text->get());
    } else if (value.is_array()) {
      if (Check p = readStringList(value, false, checkPin, &list)) {
        if (p->at == nullptr) p->at = &value;  // "the list is empty": this entry's line
        return p;
      }
    } else {
      Problem p = wrongType("a \"FINGERPRINT\" string or a list of them", value);
      p.at = &value;
      return p;
    }
    for (std::string& pin : list) pin = asciiLower(pin);
    if (!pins.emplace(lower, std::move(list)).second) {
      return Problem{quoted(key.str()) + " is listed twice (names are compared without case)",
                     &value};
    }
  }
  *out = std::move(pins);
  return std::nullopt;
}

Check readMilterSocket(const toml::node& n, std::string* out) {
  std::string text;
  if (Check c = readString(n, &text)) return c;
  const auto bad = [&](std::string_view why) {
    return Problem{quoted(text) + ": " + std::string(why)};
  };
  if (text.starts_with("unix:") || text.starts_with("local:")) {
    const std::string_view path = std::string_view(text).substr(text.find(':') + 1);
    if (path.empty() || path.front() != '/') return bad("the socket path must be absolute");
    if (path.size() > 100) return bad("the socket path is longer than 100 bytes");
  } else if (text.starts_with("inet:") || text.starts_with("inet6:")) {
    const bool v6 = text.starts_with("inet6:");
    const std::string_view rest = std::string_view(text).substr(v6 ? 6 : 5);
    const size_t at = rest.find('@');
    auto port = parsePort(rest.substr(0, at));
    if (!port) return bad("expected inet:PORT@ADDRESS: " + port.error().message());
    if (at != std::string_view::npos) {
      const std::string addr(rest.substr(at + 1));
      unsigned char buf[16];
      if (::inet_pton(v6 ? AF_INET6 : AF_INET, addr.c_str(), buf) != 1) {
        return bad(v6 ? "not a numeric IPv6 address after @"
                      : "not a numeric IPv4 address after @");
      }
    }
  } else {
    return bad("expected inet:PORT@ADDRESS, inet6:PORT@ADDRESS or unix:/PATH");
  }
  *out = std::move(text);
  return std::nullopt;
}

Check readProxy(const toml::node& n, ProxyAddress* out) {
  std::string text;
  if (Check p = readString(n, &text)) return p;
  if (text.empty()) {
    *out = ProxyAddress{};
    return std::nullopt;
  }
  auto parsed = parseListenAddress(text);
  if (!parsed) return Problem{parsed.error().message()};
  if (parsed->port == 0) return Problem{quoted(text) + ": the port must not be 0"};
  *out = ProxyAddress{parsed->host, parsed->port};
  return std::nullopt;
}

Check readListen(const toml::node& n, std::vector<ListenAddress>* out, bool allow_empty) {
  const auto* list = n.as_array();
  if (list == nullptr) {
    return wrongType("a list of \"ADDR:PORT\" strings, as in [\"127.0.0.1:6211\"]", n);
  }
  if (list->empty() && !allow_empty) {
    return Problem{"the list is empty; give at least one \"ADDR:PORT\""};
  }
  std::vector<ListenAddress> addresses;
  std::set<std::string> seen;
  for (const toml::node& element : *list) {
    const auto* s = element.as_string();
    if (s == nullptr) {
      Problem p = wrongType("an \"ADDR:PORT\" string", element);
      p.at = &element;
      return p;
    }
    auto parsed = parseListenAddress(s->get());
    if (!parsed) return Problem{parsed.error().message(), &element};
    if (!seen.insert(parsed->toString()).second) {
      return Problem{quoted(s->get()) + " is listed twice", &element};
    }
    addresses.push_back(std::move(*parsed));
  }
  *out = std::move(addresses);
  return std::nullopt;
}

Check readListenNotOnPort25(const toml::node& n, std::string_view why,
                            std::vector<ListenAddress>* out) {
  std::vector<ListenAddress> addresses;
  if (Check p = readListen(n, &addresses, true)) return p;
  const auto* list = n.as_array();
  for (size_t i = 0; i < addresses.size(); ++i) {
    if (addresses[i].port == 25) {
      const toml::node* at = list != nullptr && i < list->size() ? list->get(i) : nullptr;
      return Problem{quoted(addresses[i].toString()) + ": " + std::string(why), at};
    }
  }
  *out = std::move(addresses);
  return std::nullopt;
}

Check readTokenServerListen(const toml::node& n, std::vector<ListenAddress>* out) {
  return readListenNotOnPort25(n,
                               "the token server never listens on port 25 (the MX's port); "
                               "use 465 (implicit TLS) or 587 (STARTTLS)",
                               out);
}

}  // namespace detail
}  // namespace mtep::config

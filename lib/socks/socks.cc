#include "socks/socks.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <utility>

namespace mtep::socks {
namespace {

constexpr size_t kConnectReplyHead = 4;  // VER REP RSV ATYP

uint8_t byteAt(const std::string& s, size_t i) { return static_cast<uint8_t>(s[i]); }

std::string num(unsigned v) { return std::to_string(v); }

// The IPv6 text inside optional brackets.
std::string_view unbracket(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

bool parseV4(std::string_view host, in_addr* out) {
  if (host.size() >= INET_ADDRSTRLEN) return false;
  const std::string s(host);
  return inet_pton(AF_INET, s.c_str(), out) == 1;
}

bool parseV6(std::string_view host, in6_addr* out) {
  host = unbracket(host);
  if (host.size() >= INET6_ADDRSTRLEN) return false;
  const std::string s(host);
  return inet_pton(AF_INET6, s.c_str(), out) == 1;
}

void appendPort(uint16_t port, std::string* out) {
  out->push_back(static_cast<char>(port >> 8));
  out->push_back(static_cast<char>(port & 0xff));
}

std::string encodeConnect(const Request& r) {
  std::string m{static_cast<char>(kVersion), 0x01, 0x00};  // CONNECT, RSV
  in_addr v4{};
  in6_addr v6{};
  if (parseV4(r.host, &v4)) {
    m.push_back(static_cast<char>(AddressType::kIpv4));
    m.append(reinterpret_cast<const char*>(&v4), sizeof v4);
  } else if (parseV6(r.host, &v6)) {
    m.push_back(static_cast<char>(AddressType::kIpv6));
    m.append(reinterpret_cast<const char*>(&v6), sizeof v6);
  } else {
    m.push_back(static_cast<char>(AddressType::kDomain));
    m.push_back(static_cast<char>(r.host.size()));
    m.append(r.host);
  }
  appendPort(r.port, &m);
  return m;
}

std::string encodeAuth(const Credentials& c) {
  std::string m{static_cast<char>(kAuthVersion)};
  m.push_back(static_cast<char>(c.username.size()));
  m.append(c.username);
  m.push_back(static_cast<char>(c.password.size()));
  m.append(c.password);
  return m;
}

std::string methodsOffered(bool with_userpass) {
  return with_userpass ? "no authentication, username/password" : "no authentication";
}

}  // namespace

const char* replyText(uint8_t code) noexcept {
  switch (code) {
    case 0x00:
      return "succeeded";
    case 0x01:
      return "general SOCKS server failure";
    case 0x02:
      return "connection not allowed by ruleset";
    case 0x03:
      return "network unreachable";
    case 0x04:
      return "host unreachable";
    case 0x05:
      return "connection refused";
    case 0x06:
      return "TTL expired";
    case 0x07:
      return "command not supported";
    case 0x08:
      return "address type not supported";
    // Tor's extended errors (SOCKS extensions, ExtendedErrors).
    case 0xf0:
      return "onion service descriptor cannot be found";
    case 0xf1:
      return "onion service descriptor is invalid";
    case 0xf2:
      return "onion service introduction failed";
    case 0xf3:
      return "onion service rendezvous failed";
    case 0xf4:
      return "onion service client authorization missing";
    case 0xf5:
      return "onion service client authorization wrong";
    case 0xf6:
      return "onion address is invalid";
    case 0xf7:
      return "onion service introduction timed out";
    default:
      return "unassigned reply code";
  }
}

bool replyMeansPeerNoAnswer(uint8_t code) noexcept {
  switch (code) {
    case 0x03:
    case 0x04:
    case 0x05:
    case 0x06:
    case 0xf0:
    case 0xf2:
    case 0xf3:
    case 0xf7:
      return true;
    default:
      return false;
  }
}

bool isNumericHost(std::string_view host) {
  in_addr v4{};
  in6_addr v6{};
  return parseV4(host, &v4) || parseV6(host, &v6);
}

Result<Client> Client::create(Request request) {
  if (request.port == 0) return Error(ErrorKind::kInvalid, "SOCKS5 request for port 0");
  if (!isNumericHost(request.host)) {
    if (request.host.empty()) return Error(ErrorKind::kInvalid, "SOCKS5 request for an empty name");
    if (request.host.size() > kMaxField) {
      return Error(ErrorKind::kInvalid, "name too long for SOCKS5 (" +
                                            num(static_cast<unsigned>(request.host.size())) +
                                            " bytes, at most 255)");
    }
    for (char ch : request.host) {
      const auto c = static_cast<unsigned char>(ch);
      if (c <= 0x20 || c == 0x7f) {
        return Error(ErrorKind::kInvalid, "control byte or space in a SOCKS5 name");
      }
    }
  }
  if (request.credentials) {
    const Credentials& c = *request.credentials;
    if (c.username.empty() || c.username.size() > kMaxField) {
      return Error(ErrorKind::kInvalid, "SOCKS5 username must be 1 to 255 bytes");
    }
    if (c.password.size() > kMaxField) {
      return Error(ErrorKind::kInvalid, "SOCKS5 password must be at most 255 bytes");
    }
  }
  Client c;
  c.request_ = std::move(request);
  if (c.request_.credentials) {
    c.greeting_ = {static_cast<char>(kVersion), 0x02, static_cast<char>(Method::kNoAuth),
                   static_cast<char>(Method::kUserPass)};
  } else {
    c.greeting_ = {static_cast<char>(kVersion), 0x01, static_cast<char>(Method::kNoAuth)};
  }
  c.connect_request_ = encodeConnect(c.request_);
  return c;
}

State Client::fail(Failure f, std::string text) {
  phase_ = Phase::kError;
  failure_ = f;
  error_text_ = std::move(text);
  buf_.clear();
  return State::kError;
}

Blame Client::blame() const noexcept {
  switch (failure_) {
    case Failure::kNone:
      return Blame::kNone;
    case Failure::kReply:
      return replyMeansPeerNoAnswer(reply_code_) ? Blame::kPeer : Blame::kProxy;
    case Failure::kProtocol:
    case Failure::kNoMethod:
    case Failure::kAuthRejected:
      break;
  }
  return Blame::kProxy;
}

size_t Client::connectReplyLength() const noexcept {
  if (buf_.size() < kConnectReplyHead + 1) return kConnectReplyHead + 1;
  switch (static_cast<AddressType>(byteAt(buf_, 3))) {
    case AddressType::kIpv4:
      return kConnectReplyHead + 4 + 2;
    case AddressType::kIpv6:
      return kConnectReplyHead + 16 + 2;
    case AddressType::kDomain:
      return kConnectReplyHead + 1 + byteAt(buf_, 4) + 2;
  }
  return kConnectReplyHead + 1;  // unreachable: checked when ATYP arrived
}

size_t Client::wanted() const noexcept {
  switch (phase_) {
    case Phase::kMethodReply:
    case Phase::kAuthReply:
      return 2 - buf_.size();
    case Phase::kConnectReply:
      return connectReplyLength() - buf_.size();
    case Phase::kDone:
    case Phase::kError:
      break;
  }
  return 0;
}

State Client::feed(std::string_view in, size_t* consumed, std::string* out) {
  *consumed = 0;
  if (phase_ == Phase::kDone) return State::kDone;
  if (phase_ == Phase::kError) return State::kError;
  while (*consumed < in.size()) {
    buf_.push_back(in[*consumed]);
    ++*consumed;
    State s = State::kNeedMore;
    switch (phase_) {
      case Phase::kMethodReply:
        s = onMethodReply(out);
        break;
      case Phase::kAuthReply:
        s = onAuthReply(out);
        break;
      case Phase::kConnectReply:
        s = onConnectReply();
        break;
      case Phase::kDone:
      case Phase::kError:
        break;
    }
    if (s != State::kNeedMore) return s;
  }
  return State::kNeedMore;
}

State Client::onMethodReply(std::string* out) {
  if (buf_.size() == 1) {
    if (byteAt(buf_, 0) != kVersion) {
      return fail(Failure::kProtocol,
                  "proxy broke SOCKS5: version " + num(byteAt(buf_, 0)) + " in the method reply");
    }
    return State::kNeedMore;
  }
  const uint8_t m = byteAt(buf_, 1);
  buf_.clear();
  const bool userpass = request_.credentials.has_value();
  if (m == static_cast<uint8_t>(Method::kNoAcceptable)) {
    return fail(Failure::kNoMethod,
                "proxy accepts none of the methods offered (" + methodsOffered(userpass) + ")");
  }
  if (m == static_cast<uint8_t>(Method::kNoAuth)) {
    method_ = Method::kNoAuth;
    out->append(connect_request_);
    phase_ = Phase::kConnectReply;
    return State::kSend;
  }
  if (m == static_cast<uint8_t>(Method::kUserPass) && userpass) {
    method_ = Method::kUserPass;
    out->append(encodeAuth(*request_.credentials));
    phase_ = Phase::kAuthReply;
    return State::kSend;
  }
  return fail(Failure::kProtocol, "proxy broke SOCKS5: it chose method " + num(m) +
                                      ", which was not offered (" + methodsOffered(userpass) + ")");
}

State Client::onAuthReply(std::string* out) {
  if (buf_.size() == 1) {
    const uint8_t v = byteAt(buf_, 0);
    if (v != kAuthVersion && v != kVersion) {
      return fail(Failure::kProtocol,
                  "proxy broke SOCKS5: version " + num(v) + " in the authentication reply");
    }
    return State::kNeedMore;
  }
  const uint8_t status = byteAt(buf_, 1);
  buf_.clear();
  if (status != 0) {
    return fail(Failure::kAuthRejected,
                "proxy refused the username/password (status " + num(status) + ")");
  }
  out->append(connect_request_);
  phase_ = Phase::kConnectReply;
  return State::kSend;
}

State Client::onConnectReply() {
  const size_t n = buf_.size();
  if (n == 1) {
    if (byteAt(buf_, 0) != kVersion) {
      return fail(Failure::kProtocol,
                  "proxy broke SOCKS5: version " + num(byteAt(buf_, 0)) + " in the connect reply");
    }
    return State::kNeedMore;
  }
  if (n == 2) {
    reply_code_ = byteAt(buf_, 1);
    if (reply_code_ != 0) {
      return fail(Failure::kReply,
                  "proxy replied " + num(reply_code_) + " (" + replyText(reply_code_) + ")");
    }
    return State::kNeedMore;
  }
  // n == 3: RSV, which RFC 1928 says is 0; other values are tolerated.
  if (n == kConnectReplyHead) {
    const uint8_t t = byteAt(buf_, 3);
    if (t != static_cast<uint8_t>(AddressType::kIpv4) &&
        t != static_cast<uint8_t>(AddressType::kIpv6) &&
        t != static_cast<uint8_t>(AddressType::kDomain)) {
      return fail(Failure::kProtocol,
                  "proxy broke SOCKS5: unknown address type " + num(t) + " in the connect reply");
    }
    return State::kNeedMore;
  }
  if (n == kConnectReplyHead + 1 && byteAt(buf_, 3) == static_cast<uint8_t>(AddressType::kDomain) &&
      byteAt(buf_, 4) == 0) {
    return fail(Failure::kProtocol, "proxy broke SOCKS5: empty bound name in the connect reply");
  }
  if (n < connectReplyLength()) return State::kNeedMore;

  const auto type = static_cast<AddressType>(byteAt(buf_, 3));
  bound_.type = type;
  const char* addr = buf_.data() + kConnectReplyHead;
  char text[INET6_ADDRSTRLEN] = {};
  size_t addr_len = 0;
  switch (type) {
    case AddressType::kIpv4:
      addr_len = 4;
      inet_ntop(AF_INET, addr, text, sizeof text);
      bound_.address = text;
      break;
    case AddressType::kIpv6:
      addr_len = 16;
      inet_ntop(AF_INET6, addr, text, sizeof text);
      bound_.address = text;
      break;
    case AddressType::kDomain:
      addr_len = 1 + byteAt(buf_, 4);
      bound_.address.assign(addr + 1, addr_len - 1);
      break;
  }
  const size_t p = kConnectReplyHead + addr_len;
  bound_.port = static_cast<uint16_t>((byteAt(buf_, p) << 8) | byteAt(buf_, p + 1));
  buf_.clear();
  phase_ = Phase::kDone;
  return State::kDone;
}

}  // namespace mtep::socks

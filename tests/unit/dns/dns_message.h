#pragma once
// NAME
//   dns_message.h - builds DNS messages byte by byte for the parser tests,
//   the fake name server and the fuzzer's round trip
// DESCRIPTION
//   No compression unless written by hand with pointer(); names are given
//   dotted ("mx.alpha.test", "" for the root).

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mtep::dns::testing {

inline std::string u16(uint16_t v) {
  return std::string{static_cast<char>(v >> 8), static_cast<char>(v & 0xFF)};
}

inline std::string u32(uint32_t v) { return u16(static_cast<uint16_t>(v >> 16)) + u16(v & 0xFFFF); }

// Uncompressed wire form of a dotted name.
inline std::string wireName(std::string_view dotted) {
  std::string out;
  while (!dotted.empty()) {
    const size_t dot = dotted.find('.');
    const std::string_view label = dotted.substr(0, dot);
    out.push_back(static_cast<char>(label.size()));
    out.append(label);
    if (dot == std::string_view::npos) break;
    dotted.remove_prefix(dot + 1);
  }
  out.push_back('\0');
  return out;
}

// A compression pointer to `offset`.
inline std::string pointer(uint16_t offset) { return u16(static_cast<uint16_t>(0xC000 | offset)); }

inline std::string srvData(uint16_t priority, uint16_t weight, uint16_t port,
                           std::string_view target) {
  return u16(priority) + u16(weight) + u16(port) + wireName(target);
}

inline std::string mxData(uint16_t preference, std::string_view exchange) {
  return u16(preference) + wireName(exchange);
}

inline std::string addressData(const char* numeric) {
  unsigned char buf[16];
  if (::inet_pton(AF_INET, numeric, buf) == 1) return std::string(reinterpret_cast<char*>(buf), 4);
  if (::inet_pton(AF_INET6, numeric, buf) == 1) {
    return std::string(reinterpret_cast<char*>(buf), 16);
  }
  return {};
}

struct Record {
  std::string owner;  // wire form (wireName() or hand-made with pointers)
  uint16_t type = 1;
  std::string data;  // rdata, wire form
  uint16_t rclass = 1;
  uint32_t ttl = 300;
};

// A response: header, one question, the answer records.
struct Message {
  uint16_t id = 0x1234;
  uint16_t flags = 0x8180;  // QR, RD, RA, NOERROR
  std::string qname = wireName("alpha.test");
  uint16_t qtype = 1;
  std::vector<Record> answers;

  Message& rcode(int rc) {
    flags = static_cast<uint16_t>((flags & 0xFFF0) | rc);
    return *this;
  }
  Message& add(std::string owner_wire, uint16_t type, std::string data) {
    answers.push_back(Record{std::move(owner_wire), type, std::move(data)});
    return *this;
  }
  std::string header(uint16_t ancount) const {
    return u16(id) + u16(flags) + u16(1) + u16(ancount) + u16(0) + u16(0);
  }
  std::string question() const { return qname + u16(qtype) + u16(1); }
  static std::string record(const Record& r) {
    return r.owner + u16(r.type) + u16(r.rclass) + u32(r.ttl) +
           u16(static_cast<uint16_t>(r.data.size())) + r.data;
  }
  std::string build() const {
    std::string out = header(static_cast<uint16_t>(answers.size())) + question();
    for (const Record& r : answers) out += record(r);
    return out;
  }
};

// Offset of the question name in a built Message: the target for pointers.
inline constexpr uint16_t kQuestionNameOffset = 12;

}  // namespace mtep::dns::testing

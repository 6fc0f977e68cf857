#include "dns/answer.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <array>

namespace mtep::dns {
namespace {

constexpr size_t kHeaderSize = 12;
constexpr size_t kMaxWireName = 255;
constexpr int kRcodeNxDomain = 3;

Error malformed(const std::string& what, size_t offset) {
  return Error(ErrorKind::kProtocol,
               "malformed DNS answer: " + what + " at offset " + std::to_string(offset));
}

uint16_t get16(std::string_view m, size_t at) {
  return static_cast<uint16_t>((static_cast<unsigned char>(m[at]) << 8) |
                               static_cast<unsigned char>(m[at + 1]));
}

bool usableLabelByte(unsigned char c) { return c > 0x20 && c < 0x7f && c != '.' && c != '\\'; }

char lower(unsigned char c) {
  return static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

// A name read from the message: where the bytes after it start, the name in
// lower case without the trailing dot ("" for the root), and whether every
// label was made of usable host name bytes.
struct Name {
  size_t end = 0;
  std::string text;
  bool usable = true;
};

// Reads the (possibly compressed) name at `pos`. A pointer must point
// before the start of the run of labels it ends, so every jump goes
// strictly backwards and the walk terminates.
Result<Name> readName(std::string_view m, size_t pos) {
  Name name;
  size_t cur = pos;
  size_t segment_start = pos;
  bool jumped = false;
  size_t wire = 0;
  for (;;) {
    if (cur >= m.size()) return malformed("name runs past the end", cur);
    const auto len = static_cast<unsigned char>(m[cur]);
    if ((len & 0xC0) == 0xC0) {
      if (cur + 1 >= m.size()) return malformed("compression pointer cut short", cur);
      const size_t target = get16(m, cur) & 0x3FFF;
      if (target >= segment_start) return malformed("compression pointer not backwards", cur);
      if (!jumped) name.end = cur + 2;
      jumped = true;
      cur = target;
      segment_start = target;
      continue;
    }
    if ((len & 0xC0) != 0) return malformed("unsupported label type", cur);
    wire += 1 + len;
    if (wire > kMaxWireName) return malformed("name longer than 255 octets", cur);
    if (len == 0) {
      if (!jumped) name.end = cur + 1;
      return name;
    }
    if (cur + 1 + len > m.size()) return malformed("label runs past the end", cur);
    if (!name.text.empty()) name.text.push_back('.');
    for (size_t i = cur + 1; i <= cur + len; ++i) {
      const auto c = static_cast<unsigned char>(m[i]);
      if (!usableLabelByte(c)) name.usable = false;
      name.text.push_back(lower(c));
    }
    cur += 1 + len;
  }
}

// Reads a name that must end exactly at `rdata_end` (the rest of an MX or
// SRV record's data).
Result<Name> readTargetName(std::string_view m, size_t pos, size_t rdata_end) {
  auto name = readName(m, pos);
  if (!name) return name;
  if (name->end != rdata_end) return malformed("name does not fill the record data", pos);
  return name;
}

Result<std::string> addressText(std::string_view rdata, int family) {
  std::array<unsigned char, 16> raw{};
  for (size_t i = 0; i < rdata.size(); ++i) raw[i] = static_cast<unsigned char>(rdata[i]);
  char text[INET6_ADDRSTRLEN];
  if (::inet_ntop(family, raw.data(), text, sizeof text) == nullptr) {
    return Error(ErrorKind::kInternal, "inet_ntop failed");
  }
  return std::string(text);
}

// Adds the record of the wanted type whose data is m[rdata, rdata_end).
Status takeRecord(std::string_view m, uint16_t qtype, size_t rdata, size_t rdata_end, Answer* out) {
  const size_t rdlength = rdata_end - rdata;
  switch (qtype) {
    case kTypeA:
    case kTypeAaaa: {
      const size_t want = qtype == kTypeA ? 4 : 16;
      if (rdlength != want) {
        return malformed(std::string(qtype == kTypeA ? "A" : "AAAA") + " record of " +
                             std::to_string(rdlength) + " bytes",
                         rdata);
      }
      auto text = addressText(m.substr(rdata, rdlength), qtype == kTypeA ? AF_INET : AF_INET6);
      if (!text) return std::move(text).error();
      out->addresses.push_back(std::move(text).value());
      return okStatus();
    }
    case kTypeMx: {
      if (rdlength < 3) return malformed("MX record too short", rdata);
      auto name = readTargetName(m, rdata + 2, rdata_end);
      if (!name) return std::move(name).error();
      if (!name->usable) {
        ++out->skipped;
        return okStatus();
      }
      out->mx.push_back(MxRecord{get16(m, rdata), std::move(name->text)});
      return okStatus();
    }
    case kTypeSrv: {
      if (rdlength < 7) return malformed("SRV record too short", rdata);
      auto name = readTargetName(m, rdata + 6, rdata_end);
      if (!name) return std::move(name).error();
      if (!name->usable) {
        ++out->skipped;
        return okStatus();
      }
      out->srv.push_back(SrvRecord{get16(m, rdata), get16(m, rdata + 2), get16(m, rdata + 4),
                                   std::move(name->text)});
      return okStatus();
    }
    default:
      return Error(ErrorKind::kInvalid, "unsupported query type " + std::to_string(qtype));
  }
}

}  // namespace

Result<Answer> parseAnswer(std::string_view m, uint16_t qtype) {
  if (qtype != kTypeA && qtype != kTypeAaaa && qtype != kTypeMx && qtype != kTypeSrv) {
    return Error(ErrorKind::kInvalid, "unsupported query type " + std::to_string(qtype));
  }
  if (m.size() < kHeaderSize) return malformed("message shorter than its header", 0);
  const uint16_t flags = get16(m, 2);
  if ((flags & 0x8000) == 0) return malformed("not a response", 2);
  const int rcode = flags & 0x000F;
  if (rcode == kRcodeNxDomain) return Error(ErrorKind::kNotFound, "NXDOMAIN");
  if (rcode != 0) return Error(ErrorKind::kTemporary, "DNS rcode " + std::to_string(rcode));
  if ((flags & 0x0200) != 0) return Error(ErrorKind::kTemporary, "truncated DNS answer");
  const uint16_t qdcount = get16(m, 4);
  const uint16_t ancount = get16(m, 6);

  size_t pos = kHeaderSize;
  for (uint16_t i = 0; i < qdcount; ++i) {
    auto name = readName(m, pos);
    if (!name) return std::move(name).error();
    pos = name->end;
    if (pos + 4 > m.size()) return malformed("question cut short", pos);
    pos += 4;
  }

  Answer answer;
  for (uint16_t i = 0; i < ancount; ++i) {
    auto owner = readName(m, pos);
    if (!owner) return std::move(owner).error();
    pos = owner->end;
    if (pos + 10 > m.size()) return malformed("record header cut short", pos);
    const uint16_t type = get16(m, pos);
    const uint16_t rclass = get16(m, pos + 2);
    const uint16_t rdlength = get16(m, pos + 8);
    const size_t rdata = pos + 10;
    if (rdata + rdlength > m.size()) return malformed("record data cut short", rdata);
    pos = rdata + rdlength;
    if (type != qtype || rclass != kClassIn) continue;
    // The names in SRV and MX data may point anywhere before them, but must
    // end inside the record.
    if (auto st = takeRecord(m.substr(0, pos), qtype, rdata, pos, &answer); !st) {
      return std::move(st).error();
    }
  }
  return answer;
}

}  // namespace mtep::dns

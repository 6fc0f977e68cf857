#pragma once
// NAME
//   answer.h - parses a DNS response message into SRV, MX, A or AAAA records
// SUMMARY
//   auto a = parseAnswer(bytes, kTypeSrv);   // bytes as res_nquery returned them
//   if (a) for (const SrvRecord& r : a->srv) ...
// DESCRIPTION
//   Pure: bytes in, records or an error out; no I/O, so it is unit-tested
//   with hand-built messages and fuzzed (tests/fuzz/dns/).
//   The header's rcode decides first: NXDOMAIN is kNotFound, any other
//   non-zero rcode and a set TC (truncated) bit are kTemporary. Then the
//   question section is skipped and every answer record walked; records of
//   another type (a CNAME on the way, an RRSIG) or class are skipped, as
//   are SRV/MX records whose target is not a usable host name (a label
//   holding '.', '\', a space or a byte outside printable ASCII). Owner
//   names are not matched against the question: the recursive server
//   followed any CNAME chain, and res_nquery already checked that the
//   answer belongs to the query. Records keep the message's order.
//   Names are decoded with compression; a pointer must point before the
//   place it is read from (so no loops), labels use the 00 form only, and a
//   name may not exceed 255 octets on the wire. Anything malformed (a
//   message or record cut short, a bad pointer, an A record whose data is
//   not 4 bytes, a name running past its record's data) is kProtocol, with
//   the offset in the message.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dns/resolver.h"
#include "util/result.h"

namespace mtep::dns {

inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeMx = 15;
inline constexpr uint16_t kTypeAaaa = 28;
inline constexpr uint16_t kTypeSrv = 33;
inline constexpr uint16_t kClassIn = 1;

struct Answer {
  std::vector<SrvRecord> srv;          // qtype kTypeSrv
  std::vector<MxRecord> mx;            // qtype kTypeMx
  std::vector<std::string> addresses;  // qtype kTypeA or kTypeAaaa, numeric text
  size_t skipped = 0;                  // records of the wanted type with an unusable name
};

// `qtype` is one of the four kType constants above (others: kInvalid).
Result<Answer> parseAnswer(std::string_view message, uint16_t qtype);

}  // namespace mtep::dns

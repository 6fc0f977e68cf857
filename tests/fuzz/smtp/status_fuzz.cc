// libFuzzer target for smtp::parseEnhancedStatus and smtp::Reply::toString.
// The first byte picks allow_missing_class and the implied class. A parsed
// code must be exactly the canonical text of the bytes consumed (RFC 3463
// allows no leading zeros, so there is one spelling per code).

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "smtp/status.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mtep::smtp;
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const bool allow_missing = (flags & 1) != 0;
  const uint8_t implied = static_cast<uint8_t>((flags >> 1) & 7);
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);

  size_t consumed = 0;
  auto r = parseEnhancedStatus(in, &consumed, allow_missing, implied);
  if (r.ok()) {
    check(consumed <= in.size());
    check(consumed == in.size() || in[consumed] == ' ');
    check(r->cls == 2 || r->cls == 4 || r->cls == 5);
    check(r->subject <= 999 && r->detail <= 999);
    const std::string text = r->toString();
    std::string_view used = in.substr(0, consumed);
    if (!used.empty() && used.front() == '.') {
      check(allow_missing && r->cls == implied);
      check(used == std::string_view(text).substr(1));
    } else {
      check(used == text);
    }
    size_t again_consumed = 0;
    auto again = parseEnhancedStatus(text, &again_consumed);
    check(again.ok() && *again == *r && again_consumed == text.size());
  } else {
    check(consumed == 0);
    check(!r.error().message().empty());
  }

  Reply reply{static_cast<uint16_t>(200 + (flags % 4) * 100), std::nullopt, std::string(in)};
  if (r.ok()) reply.enhanced = *r;
  std::string line = reply.toString();
  check(line.find_first_of(std::string("\r\n\0", 3)) == std::string::npos);
  return 0;
}

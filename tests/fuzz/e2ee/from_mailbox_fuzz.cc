// e2ee::fromMailbox() on arbitrary From: header values never crashes; a
// refusal says why; an address it returns is one line, re-reads with
// smtp::parseMailbox to the same text, and reads back the same from "<...>".
// Input: the whole input is the header value.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "e2ee/e2ee.h"
#include "smtp/address.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace e2ee = mtep::e2ee;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto got = e2ee::fromMailbox(in);
  if (!got.ok()) {
    if (got.error().message().empty()) __builtin_trap();
    return 0;
  }
  const std::string& address = *got;
  if (address.empty() || address.find_first_of("\r\n") != std::string::npos) __builtin_trap();
  auto box = mtep::smtp::parseMailbox(address);
  if (!box.ok() || box->toString() != address) __builtin_trap();
  // A '>' in a quoted local part ends "<...>" early: refused, by design.
  if (address.find('>') == std::string::npos) {
    auto again = e2ee::fromMailbox("Name <" + address + "> (comment)");
    if (!again.ok() || *again != address) __builtin_trap();
  }
  return 0;
}

// RFC 4648 base32 (lower case, no padding) for overlay names and key
// fingerprints; see overlay.h.
#include <cstdint>
#include <string>
#include <string_view>

#include "overlay/overlay.h"

namespace mtep::overlay {
namespace {

constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

// The 5-bit value of a base32 digit (either case), or -1.
int digitValue(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

std::string describeByte(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u > 0x20 && u < 0x7f) return std::string(1, c);
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("\\x") + kHex[u >> 4] + kHex[u & 0xf];
}

}  // namespace

std::string base32Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 8 + 4) / 5);
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : bytes) {
    acc = (acc << 8) | static_cast<unsigned char>(ch);
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(kAlphabet[(acc >> bits) & 0x1f]);
    }
    acc &= (1u << bits) - 1;  // keep only the bits not yet written
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (5 - bits)) & 0x1f]);
  return out;
}

Result<std::string> base32Decode(std::string_view text) {
  // Lengths 1, 3 and 6 (mod 8) cannot come from whole bytes.
  const size_t rem = text.size() % 8;
  if (rem == 1 || rem == 3 || rem == 6) {
    return Error(ErrorKind::kInvalid, "base32: " + std::to_string(text.size()) +
                                          " characters is not a whole number of bytes");
  }
  std::string out;
  out.reserve(text.size() * 5 / 8);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = digitValue(c);
    if (v < 0) {
      return Error(ErrorKind::kInvalid, "base32: " + describeByte(c) + " is not a base32 digit");
    }
    acc = (acc << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0) {
    return Error(ErrorKind::kInvalid, "base32: the last character leaves non-zero spare bits");
  }
  return out;
}

}  // namespace mtep::overlay

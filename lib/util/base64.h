#pragma once
// NAME
//   base64.h - base64 and base64url (RFC 4648) and hex, strict decoders;
//   small ASCII text helpers
// DESCRIPTION
//   Decoders refuse any character outside the alphabet, wrong padding and
//   non-canonical trailing bits; they return std::nullopt on error.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mtep {

std::string base64Encode(const uint8_t* data, size_t len, bool url_safe, bool pad);
std::optional<std::vector<uint8_t>> base64Decode(std::string_view text, bool url_safe);
std::string hexEncode(const uint8_t* data, size_t len);
std::optional<std::vector<uint8_t>> hexDecode(std::string_view text);

// ASCII lower-casing (non-ASCII bytes untouched).
std::string asciiLower(std::string_view s);
bool asciiIEquals(std::string_view a, std::string_view b);
// For logs and replies built from peer or library text: the first `max`
// bytes, each one outside printable ASCII (0x20..0x7e) replaced by '?'.
std::string printableAscii(std::string_view s, size_t max = std::string_view::npos);

}  // namespace mtep

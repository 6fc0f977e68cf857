#pragma once
// NAME
//   fuzz_slices.h - deterministic slicing and checks for the parser fuzzers
// DESCRIPTION
//   The corpus holds raw protocol bytes; how an input is sliced and which
//   limits apply are derived from a hash of the input, so every corpus file
//   is a plain example of the protocol and every run is reproducible.
//   FUZZ_CHECK aborts with a message, which libFuzzer reports as a crash.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace mtep::fuzz {

#define FUZZ_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

inline uint64_t hashBytes(std::string_view in) {  // FNV-1a, 64 bit
  uint64_t h = 14695981039346656037ull;
  for (const char c : in) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

// Pieces of 1 to about a quarter of the input, from a xorshift seeded by `seed`.
inline std::vector<std::string_view> slices(std::string_view in, uint64_t seed) {
  std::vector<std::string_view> out;
  uint64_t x = seed | 1;
  const size_t span = in.size() / 4 + 1;
  size_t pos = 0;
  while (pos < in.size()) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    size_t n = 1 + static_cast<size_t>(x % span);
    if (n > in.size() - pos) n = in.size() - pos;
    out.push_back(in.substr(pos, n));
    pos += n;
  }
  return out;
}

inline std::string_view asView(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace mtep::fuzz

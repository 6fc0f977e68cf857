#pragma once
// NAME
//   slicing.h - the ways a parser test feeds its input
// DESCRIPTION
//   Every parser case runs whole, one byte at a time, and split at random
//   points drawn from a seeded RNG (the seed is in the slicing's name, so a
//   failure can be replayed). Used by the netstring and mtep unit tests.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace mtep::testing {

struct Slicing {
  std::string name;                      // "whole", "bytewise", "random seed=N"
  std::vector<std::string_view> pieces;  // views into the caller's input
};

inline std::vector<Slicing> allSlicings(std::string_view in, uint32_t seed = 20221007,
                                        int random_runs = 16) {
  std::vector<Slicing> out;
  out.push_back({"whole", {in}});
  Slicing bytes{"bytewise", {}};
  for (size_t i = 0; i < in.size(); ++i) bytes.pieces.push_back(in.substr(i, 1));
  out.push_back(bytes);
  for (int run = 0; run < random_runs; ++run) {
    const uint32_t s = seed + static_cast<uint32_t>(run);
    std::mt19937 rng(s);
    Slicing r{"random seed=" + std::to_string(s), {}};
    size_t pos = 0;
    while (pos < in.size()) {
      const size_t left = in.size() - pos;
      std::uniform_int_distribution<size_t> len(
          1, std::max<size_t>(1, std::min(left, in.size() / 3 + 1)));
      const size_t n = std::min(left, len(rng));
      r.pieces.push_back(in.substr(pos, n));
      pos += n;
    }
    out.push_back(r);
  }
  return out;
}

}  // namespace mtep::testing

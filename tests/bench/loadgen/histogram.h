#pragma once
// NAME
//   histogram.h - log-linear latency histogram for mtep-load
// SUMMARY
//   LatencyHistogram h; h.record(micros); h.percentile(0.99);
// DESCRIPTION
//   Values below 64 are exact; above, each power of two is split into 64
//   buckets, so a percentile is within about 1.6 % of the true value. Fixed
//   size (about 2,000 buckets), no allocation while recording.

#include <array>
#include <bit>
#include <cstdint>

namespace mtep::load {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 6;
  static constexpr uint64_t kSub = 1u << kSubBits;
  static constexpr int kMaxExponent = 40;

  void record(uint64_t v) {
    ++counts_[index(v)];
    ++total_;
    if (v > max_) max_ = v;
  }
  uint64_t count() const { return total_; }
  uint64_t max() const { return max_; }

  // The smallest bucket value below which at least fraction q of samples lie.
  uint64_t percentile(double q) const {
    if (total_ == 0) return 0;
    auto want = static_cast<uint64_t>(q * static_cast<double>(total_));
    if (want >= total_) want = total_ - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen > want) return upperBound(i);
    }
    return max_;
  }

 private:
  static size_t index(uint64_t v) {
    if (v < kSub) return static_cast<size_t>(v);
    int e = static_cast<int>(std::bit_width(v)) - 1;  // >= kSubBits
    if (e > kMaxExponent) {
      e = kMaxExponent;
      v = (uint64_t{1} << (e + 1)) - 1;
    }
    uint64_t sub = (v >> (e - kSubBits)) & (kSub - 1);
    return static_cast<size_t>(kSub + static_cast<uint64_t>(e - kSubBits) * kSub + sub);
  }
  static uint64_t upperBound(size_t i) {
    if (i < kSub) return i;
    uint64_t e = (i - kSub) / kSub + kSubBits;
    uint64_t sub = (i - kSub) % kSub;
    return ((kSub + sub + 1) << (e - kSubBits)) - 1;
  }

  std::array<uint64_t, kSub + (kMaxExponent - kSubBits + 1) * kSub> counts_{};
  uint64_t total_ = 0;
  uint64_t max_ = 0;
};

}  // namespace mtep::load

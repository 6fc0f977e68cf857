#pragma once
// Stamps minted by the hashcash 1.22 tool (hashcash -m -b N -t DATE -u -r R)
// and a few made by hand, with the leading zero bits of their SHA-1.
#include <cstdint>

namespace mtep::pow::testdata {

inline constexpr int64_t kDay = 86400;
inline constexpr int64_t k261101 = 1793491200;  // 2026-11-01T00:00:00Z, "261101"

// Value 18, claims 16.
inline constexpr char kTool16[] = "1:16:261101:bob@beta.test::KClOIxUA3aA7JIcI:000000IU";
// Value 20, claims 20.
inline constexpr char kTool20[] = "1:20:261101:bob@beta.test::CfFVCeE+dc9gOTPD:00000OIW";
// kTool20 with the counter's last character changed: value 1.
inline constexpr char kTool20Altered[] = "1:20:261101:bob@beta.test::CfFVCeE+dc9gOTPD:00000OIX";
// -z 12: date 261101120000; value 13, claims 12.
inline constexpr char kTool12Seconds[] =
    "1:12:261101120000:alice@alpha.test::MTKyr6OLCFSYBU3r:"
    "00000000000000000000000000000000000000000bH";
// -x 'a=1;b': an extension; value 10, claims 10.
inline constexpr char kToolExt10[] =
    "1:10:261101:carol@beta.test:a=1;b:KBjb4vlVONqqOImD:"
    "0000000000000000000000000000000000000000000Wl";
// By hand: claims 4, value 12.
inline constexpr char kClaims4Has12[] = "1:4:261101:bob@beta.test::c29tZXJhbmQ:2c4";
// By hand: empty RAND, COUNTER "a:c4" (the tool reads both); value 8.
inline constexpr char kColonCounter8[] = "1:8:261101:bob@beta.test:::a:c4";

}  // namespace mtep::pow::testdata

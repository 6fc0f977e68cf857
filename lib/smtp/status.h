#pragma once
// NAME
//   status.h - SMTP enhanced status codes (RFC 3463) and replies as types
// SUMMARY
//   EnhancedStatus s{5, 7, 8}; s.toString() == "5.7.8"
//   parseEnhancedStatus("D.7.8" minus the letter) accepts ".7.8" with
//   allow_missing_class when the class comes from elsewhere (MTEP).
// DESCRIPTION
//   class is 2, 4 or 5; subject and detail are 0..999, written with 1 to 3
//   digits and no leading zero ("5.07.1" is refused: RFC 3463 section 2 says
//   each sub-code MUST be expressed without leading zero digits).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.h"

namespace mtep::smtp {

struct EnhancedStatus {
  uint8_t cls = 0;       // 2 success, 4 persistent transient, 5 permanent
  uint16_t subject = 0;  // 0..999
  uint16_t detail = 0;   // 0..999
  std::string toString() const;
  friend bool operator==(const EnhancedStatus&, const EnhancedStatus&) = default;
};

// Parses a code at the start of `in` ("5.7.8", or ".7.8" when
// allow_missing_class; then the class is `implied_class`). On success
// *consumed (may be null) is the number of bytes used; the code must be followed by the end
// of `in` or a space. Errors are ErrorKind::kInvalid with a message that
// says what is wrong; *consumed is then left unchanged. implied_class must be
// 2, 4 or 5 when allow_missing_class is set (otherwise kInternal).
Result<EnhancedStatus> parseEnhancedStatus(std::string_view in, size_t* consumed,
                                           bool allow_missing_class = false,
                                           uint8_t implied_class = 0);

// Common codes used by the suite, named for what they mean.
namespace esc {
inline constexpr EnhancedStatus kOk{2, 0, 0};
inline constexpr EnhancedStatus kQuitOk{2, 3, 0};             // MTEP CYA
inline constexpr EnhancedStatus kSyntax{5, 5, 2};             // syntax error
inline constexpr EnhancedStatus kUnknownCommand{5, 5, 1};     // invalid command
inline constexpr EnhancedStatus kBadArguments{5, 5, 4};       // invalid arguments
inline constexpr EnhancedStatus kTooBig{5, 3, 4};             // message too big for system
inline constexpr EnhancedStatus kNotAccepting{4, 3, 2};       // system not accepting
inline constexpr EnhancedStatus kTempSystem{4, 3, 0};         // other system status
inline constexpr EnhancedStatus kTimeout{4, 4, 2};            // bad connection / timeout
inline constexpr EnhancedStatus kAuthCredentials{5, 7, 8};    // bad credentials
inline constexpr EnhancedStatus kNotAuthorized{5, 7, 1};      // delivery not authorized
inline constexpr EnhancedStatus kReverseDnsFail{5, 7, 25};    // used for MTEP failure
inline constexpr EnhancedStatus kTempReverseDns{4, 7, 25};
}  // namespace esc

// An SMTP/LMTP reply: basic code, optional enhanced code, text.
struct Reply {
  uint16_t code = 0;                        // 200..599
  std::optional<EnhancedStatus> enhanced;   // absent when the peer sent none
  std::string text;
  // "550 5.7.25 text" (single line). "550 text" without an enhanced code,
  // "550 5.7.25" or "550" without text. Text should not contain CR/LF; any
  // CR, LF or NUL is replaced by a space so the reply stays one line.
  std::string toString() const;
};

}  // namespace mtep::smtp

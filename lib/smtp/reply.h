#pragma once
// NAME
//   reply.h - parses SMTP/LMTP server replies (RFC 5321 4.2), I/O-free
// SUMMARY
//   ReplyParser p;                       // limits default to safe values
//   size_t used = 0;
//   switch (p.feed(bytes, &used)) { case ReplyState::kMessage: use p.reply(); ... }
// DESCRIPTION
//   A reply is one or more lines "NNN-text" ending with "NNN text" (or a
//   bare "NNN"), each ended by CRLF (a bare LF is accepted). Every line must
//   carry the same three-digit code, 200..599 (1xx and 6xx+ are refused).
//   The enhanced status (RFC 2034) is read from the first line when it
//   starts "C.S.D " with C equal to the code's first digit; it is then
//   removed from that line's text (other lines keep theirs). Parser
//   contract as everywhere in lib/: feed() consumes input up to and
//   including the reply's last LF (kMessage) or all of it (kNeedMore); on
//   kError the message says what is wrong and the parser stays in error
//   until reset(). Limits: line length (CRLF included), lines per reply.
//   After kMessage the next feed() starts a new reply.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/status.h"

namespace mtep::smtp {

struct ReplyLimits {
  size_t max_line = 2048;  // bytes per line, CRLF included (RFC 5321: 512)
  size_t max_lines = 200;  // lines per reply (EHLO answers are the longest)
};

struct ParsedReply {
  uint16_t code = 0;                      // 200..599
  std::optional<EnhancedStatus> enhanced; // from the first line, when present
  std::vector<std::string> lines;         // texts without code, separator and CRLF
  // Single-line form for logs and for passing on: "550 5.1.1 first line".
  Reply toReply() const;
  // EHLO keywords: the upper-cased first word of every line but the first.
  bool hasKeyword(std::string_view keyword) const;
  // The rest of the keyword's line ("SIZE 1000" -> "1000"), or nullopt.
  std::optional<std::string> keywordParams(std::string_view keyword) const;
};

enum class ReplyState { kNeedMore, kMessage, kError };

class ReplyParser {
 public:
  explicit ReplyParser(ReplyLimits limits = {}) : limits_(limits) {}
  ReplyState feed(std::string_view in, size_t* used);
  const ParsedReply& reply() const { return reply_; }
  const std::string& error() const { return error_; }
  void reset();

 private:
  ReplyState fail(std::string why);
  ReplyState takeLine(std::string_view line);

  ReplyLimits limits_;
  ParsedReply reply_;
  std::string line_;   // the line being read
  std::string error_;
  bool failed_ = false;
  bool done_ = false;  // reply_ complete; the next feed starts anew
};

}  // namespace mtep::smtp

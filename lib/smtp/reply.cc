// ReplyParser: SMTP replies (RFC 5321 4.2) line by line; see reply.h.

#include "smtp/reply.h"

#include <utility>

namespace mtep::smtp {
namespace {

char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - ('a' - 'A')) : c; }

bool equalsUpper(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (upper(a[i]) != upper(b[i])) return false;
  }
  return true;
}

// The first word of an EHLO line and what follows it (spaces skipped).
std::pair<std::string_view, std::string_view> splitKeyword(std::string_view line) {
  const size_t space = line.find(' ');
  if (space == std::string_view::npos) return {line, {}};
  std::string_view rest = line.substr(space);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  return {line.substr(0, space), rest};
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

Reply ParsedReply::toReply() const {
  return Reply{code, enhanced, lines.empty() ? std::string() : lines.front()};
}

bool ParsedReply::hasKeyword(std::string_view keyword) const {
  return keywordParams(keyword).has_value();
}

std::optional<std::string> ParsedReply::keywordParams(std::string_view keyword) const {
  for (size_t i = 1; i < lines.size(); ++i) {
    auto [word, rest] = splitKeyword(lines[i]);
    if (equalsUpper(word, keyword)) return std::string(rest);
  }
  return std::nullopt;
}

void ReplyParser::reset() {
  reply_ = ParsedReply{};
  line_.clear();
  error_.clear();
  failed_ = false;
  done_ = false;
}

ReplyState ReplyParser::fail(std::string why) {
  failed_ = true;
  error_ = std::move(why);
  return ReplyState::kError;
}

ReplyState ReplyParser::feed(std::string_view in, size_t* used) {
  *used = 0;
  if (failed_) return ReplyState::kError;
  if (done_ && !in.empty()) {
    reply_ = ParsedReply{};
    done_ = false;
  }
  while (*used < in.size()) {
    const std::string_view rest = in.substr(*used);
    const size_t lf = rest.find('\n');
    const size_t take = lf == std::string_view::npos ? rest.size() : lf;
    // The line so far plus the LF still to come must fit.
    if (line_.size() + take + 1 > limits_.max_line) {
      *used += take;
      return fail("reply line longer than " + std::to_string(limits_.max_line) + " bytes");
    }
    line_.append(rest.substr(0, take));
    if (lf == std::string_view::npos) {
      *used = in.size();
      return ReplyState::kNeedMore;
    }
    *used += take + 1;
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    std::string line = std::move(line_);
    line_.clear();
    const ReplyState state = takeLine(line);
    if (state != ReplyState::kNeedMore) return state;
  }
  return ReplyState::kNeedMore;
}

ReplyState ReplyParser::takeLine(std::string_view line) {
  if (line.size() < 3 || !isDigit(line[0]) || !isDigit(line[1]) || !isDigit(line[2])) {
    return fail("reply line does not start with a three-digit code");
  }
  const auto code = static_cast<uint16_t>((line[0] - '0') * 100 + (line[1] - '0') * 10 +
                                          (line[2] - '0'));
  if (code < 200 || code > 599) {
    return fail("reply code " + std::string(line.substr(0, 3)) + " is not 200..599");
  }
  if (!reply_.lines.empty() && code != reply_.code) {
    return fail("reply code changes from " + std::to_string(reply_.code) + " to " +
                std::to_string(code) + " within one reply");
  }
  bool last = true;
  if (line.size() > 3) {
    if (line[3] == '-') {
      last = false;
    } else if (line[3] != ' ') {
      return fail("reply code " + std::to_string(code) + " is not followed by a space or '-'");
    }
  }
  std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view();
  for (const char c : text) {
    if (c == '\r' || c == '\0') return fail("reply text contains a bare CR or a NUL");
  }
  if (reply_.lines.size() >= limits_.max_lines) {
    return fail("reply has more than " + std::to_string(limits_.max_lines) + " lines");
  }
  if (reply_.lines.empty()) {
    reply_.code = code;
    if (!text.empty() && text.front() == static_cast<char>('0' + code / 100)) {
      size_t consumed = 0;
      auto enhanced = parseEnhancedStatus(text, &consumed);
      if (enhanced.ok()) {
        reply_.enhanced = *enhanced;
        text.remove_prefix(consumed);
        if (!text.empty()) text.remove_prefix(1);  // the space after the code
      }
    }
  }
  reply_.lines.emplace_back(text);
  if (!last) return ReplyState::kNeedMore;
  done_ = true;
  return ReplyState::kMessage;
}

}  // namespace mtep::smtp

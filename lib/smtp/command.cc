// NAME
//   command.cc - SMTP command lines and DATA for servers, I/O-free
// DESCRIPTION
//   See command.h. Every reader keeps at most one line (bounded by its
//   limit) and, for DATA, the message (bounded by max_size).

#include "smtp/command.h"

#include <algorithm>

namespace mtep::smtp {
namespace {

constexpr size_t kMaxVerb = 16;

bool isAsciiLetter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool equalsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (upper(a[i]) != upper(b[i])) return false;
  }
  return true;
}

std::string_view trimTrailingSpaces(std::string_view s) {
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

}  // namespace

// --- LineReader ------------------------------------------------------------

void LineReader::reset() {
  line_.clear();
  skipping_ = false;
  done_ = false;
}

LineState LineReader::feed(std::string_view in, size_t* used) {
  *used = 0;
  if (done_) {
    line_.clear();
    done_ = false;
  }
  const size_t lf = in.find('\n');
  if (lf == std::string_view::npos) {
    *used = in.size();
    if (skipping_) return LineState::kNeedMore;
    // Without its LF the line is already line_ + in + 1 bytes long.
    if (line_.size() + in.size() + 1 > limits_.max_line) {
      line_.clear();
      line_.shrink_to_fit();
      skipping_ = true;
    } else {
      line_.append(in);
    }
    return LineState::kNeedMore;
  }
  *used = lf + 1;
  if (skipping_ || line_.size() + lf + 1 > limits_.max_line) {
    skipping_ = false;
    line_.clear();
    return LineState::kTooLong;
  }
  line_.append(in.substr(0, lf));
  if (!line_.empty() && line_.back() == '\r') line_.pop_back();
  done_ = true;
  return LineState::kLine;
}

// --- commands ----------------------------------------------------------------

Result<Command> parseCommand(std::string_view line) {
  for (const char c : line) {
    if (c == '\0' || c == '\r' || c == '\n') {
      return Error(ErrorKind::kInvalid, "syntax error: control character in command line");
    }
  }
  const size_t space = line.find(' ');
  std::string_view verb = line.substr(0, space);
  if (verb.empty() || verb.size() > kMaxVerb ||
      !std::all_of(verb.begin(), verb.end(), isAsciiLetter)) {
    return Error(ErrorKind::kInvalid, "syntax error");
  }
  Command command;
  command.verb.reserve(verb.size());
  for (const char c : verb) command.verb.push_back(upper(c));
  if (space != std::string_view::npos) {
    command.args = std::string(trimTrailingSpaces(line.substr(space + 1)));
  }
  return command;
}

Result<PathArg> splitPathArg(std::string_view args, std::string_view prefix) {
  if (args.size() < prefix.size() || !equalsNoCase(args.substr(0, prefix.size()), prefix)) {
    return Error(ErrorKind::kInvalid, "syntax error: expected " + std::string(prefix));
  }
  args.remove_prefix(prefix.size());
  if (!args.empty() && args.front() == ' ') args.remove_prefix(1);
  if (args.empty() || args.front() != '<') {
    return Error(ErrorKind::kInvalid, "syntax error: the path must be in angle brackets");
  }
  // Find the closing '>', skipping quoted strings ("a>b"@example.org) and
  // backslash escapes inside them.
  size_t i = 1;
  bool quoted = false;
  for (; i < args.size(); ++i) {
    const char c = args[i];
    if (quoted) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == '>') {
      break;
    } else if (c == '<') {
      return Error(ErrorKind::kInvalid, "syntax error: '<' inside the path");
    }
  }
  if (i >= args.size()) return Error(ErrorKind::kInvalid, "syntax error: missing '>'");
  PathArg out;
  out.path = std::string(args.substr(1, i - 1));
  std::string_view rest = args.substr(i + 1);
  if (!rest.empty()) {
    if (rest.front() != ' ') {
      return Error(ErrorKind::kInvalid, "syntax error: text after the path");
    }
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    out.params = std::string(trimTrailingSpaces(rest));
  }
  return out;
}

// --- DataReader --------------------------------------------------------------

void DataReader::reset() {
  message_.clear();
  line_.clear();
  line_size_ = 0;
  too_big_ = false;
  line_too_long_ = false;
  done_ = false;
}

DataState DataReader::feed(std::string_view in, size_t* used) {
  *used = 0;
  if (done_) reset();
  size_t pos = 0;
  while (pos < in.size()) {
    const size_t lf = in.find('\n', pos);
    const size_t end = lf == std::string_view::npos ? in.size() : lf;
    const std::string_view piece = in.substr(pos, end - pos);
    line_size_ += piece.size();
    // line_ is only needed up to max_line; an over-long line is dropped.
    if (line_size_ + (lf == std::string_view::npos ? 0 : 1) > limits_.max_line) {
      line_too_long_ = true;
      line_.clear();
    } else {
      line_.append(piece);
    }
    if (lf == std::string_view::npos) {
      pos = in.size();
      break;
    }
    pos = lf + 1;
    // A whole line: without its CR, "." ends the message.
    std::string_view line = line_;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const bool long_line = line_size_ + 1 > limits_.max_line;
    line_size_ = 0;
    if (!long_line && line == ".") {
      line_.clear();
      *used = pos;
      done_ = true;
      if (line_too_long_) return DataState::kLineTooLong;
      if (too_big_) return DataState::kTooBig;
      return DataState::kMessage;
    }
    if (!long_line && !too_big_ && !line_too_long_) {
      if (!line.empty() && line.front() == '.') line.remove_prefix(1);
      if (message_.size() + line.size() + 2 > limits_.max_size) {
        too_big_ = true;
        message_.clear();
        message_.shrink_to_fit();
      } else {
        message_.append(line);
        message_.append("\r\n");
      }
    }
    line_.clear();
  }
  *used = pos;
  return DataState::kNeedMore;
}

}  // namespace mtep::smtp

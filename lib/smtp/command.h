#pragma once
// NAME
//   command.h - the server side of SMTP: command lines and DATA, I/O-free
// SUMMARY
//   LineReader r({.max_line = 2048});
//   switch (r.feed(bytes, &used)) { case LineState::kLine: parseCommand(r.line()) ... }
//   DataReader d({.max_size = 50 << 20});  // after "354": until CRLF.CRLF
// DESCRIPTION
//   LineReader: one command line at a time, ended by CRLF (a bare LF is
//   accepted; a bare CR inside is kept and refused by parseCommand). A line
//   longer than max_line (CRLF included) is kTooLong: the reader skips to
//   the end of that line (without buffering it) and then reports it once,
//   so the session answers "500 5.5.6 Line too long" and goes on, as
//   Postfix does. feed() consumes up to and including the LF (kLine,
//   kTooLong) or all of its input (kNeedMore).
//   parseCommand: the verb is the first word, upper-cased (ASCII letters
//   only, 1..16 of them, else kInvalid "syntax error"); args is the rest
//   after one space, trailing spaces removed. NUL, CR, or bytes outside
//   printable ASCII in the verb are kInvalid. Args may hold UTF-8.
//   Path helpers: "MAIL FROM:<path> params" and "RCPT TO:<path> params" are
//   split by splitPathArg (case-insensitive "FROM:"/"TO:", optional space
//   after the colon as many clients send it; kInvalid otherwise).
//   DataReader: the message after "354": lines ending CRLF; a line "."
//   ends it; leading dots are unstuffed (RFC 5321 4.5.2). Bare LF line ends
//   are accepted and stored as CRLF. Over max_size: it keeps reading to the
//   end (discarding) and then reports kTooBig, so the reply 552 5.3.4
//   comes at the right time. message() is valid after kMessage.
//   Every reader has reset(), and reports at most one result per call.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.h"

namespace mtep::smtp {

struct LineLimits {
  size_t max_line = 2048;  // bytes, CRLF included
};

enum class LineState { kNeedMore, kLine, kTooLong };

class LineReader {
 public:
  explicit LineReader(LineLimits limits = {}) : limits_(limits) {}
  LineState feed(std::string_view in, size_t* used);
  // After kLine: the line without its CRLF (or LF).
  const std::string& line() const { return line_; }
  void reset();

 private:
  LineLimits limits_;
  std::string line_;
  bool skipping_ = false;  // inside an over-long line
  bool done_ = false;      // line_ holds a whole line
};

struct Command {
  std::string verb;  // upper case: "EHLO", "MAIL", "STARTTLS"
  std::string args;  // after the first space, trailing spaces removed
};
Result<Command> parseCommand(std::string_view line);

struct PathArg {
  std::string path;    // inside the angle brackets, "" for "<>"
  std::string params;  // ESMTP parameters after the path, as written
};
// `args` of MAIL or RCPT; `prefix` is "FROM:" or "TO:".
Result<PathArg> splitPathArg(std::string_view args, std::string_view prefix);

struct DataLimits {
  size_t max_size = 50 << 20;  // bytes of message, after unstuffing
  size_t max_line = 1000000;   // bytes per line; RFC 5321 says 1000, real mail breaks it
};

enum class DataState { kNeedMore, kMessage, kTooBig, kLineTooLong };

class DataReader {
 public:
  explicit DataReader(DataLimits limits = {}) : limits_(limits) {}
  DataState feed(std::string_view in, size_t* used);
  // After kMessage: the message, CRLF line ends, unstuffed, without the ".".
  const std::string& message() const { return message_; }
  std::string takeMessage() { return std::move(message_); }
  void reset();

 private:
  DataLimits limits_;
  std::string message_;
  std::string line_;  // current line, unstuffed lazily
  size_t line_size_ = 0;
  bool too_big_ = false;
  bool line_too_long_ = false;
  bool done_ = false;
};

}  // namespace mtep::smtp

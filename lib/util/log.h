#pragma once
// NAME
//   log.h - syslog logging, facility mail, with an optional stderr copy
// SUMMARY
//   log::open("mtepd", true); log::info("NOQUEUE: action=%s reason=%s", a, r);
// DESCRIPTION
//   One line per decision. Formats are printf-style and checked by the
//   compiler. Thread-safe (syslog(3) is; the stderr copy is written with a
//   single write(2) per line). Lines longer than 2 KiB are truncated with
//   "..." so a hostile value cannot flood the log. While /dev/log is missing
//   (no syslog daemon) lines go only to the stderr copy; /dev/log is looked
//   for again every 10 seconds.

#include <cstdarg>

namespace mtep::log {

enum class Level { kDebug, kInfo, kNotice, kWarning, kError };

// ident: daemon name; to_stderr: also copy each line to stderr (foreground).
void open(const char* ident, bool to_stderr);
void setMinLevel(Level level);
// Parses "debug", "info", "notice", "warning", "error"; false if unknown.
bool parseLevel(const char* name, Level* out);

void write(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void vwrite(Level level, const char* fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define MTEP_LOG_FN(name, lvl)                                              \
  inline void name(const char* fmt, ...) __attribute__((format(printf, 1, 2))); \
  inline void name(const char* fmt, ...) {                                  \
    va_list ap;                                                             \
    va_start(ap, fmt);                                                      \
    vwrite(lvl, fmt, ap);                                                   \
    va_end(ap);                                                             \
  }
MTEP_LOG_FN(debug, Level::kDebug)
MTEP_LOG_FN(info, Level::kInfo)
MTEP_LOG_FN(notice, Level::kNotice)
MTEP_LOG_FN(warning, Level::kWarning)
MTEP_LOG_FN(error, Level::kError)
#undef MTEP_LOG_FN

}  // namespace mtep::log

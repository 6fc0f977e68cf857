#include "util/log.h"

#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace mtep::log {
namespace {

std::atomic<bool> g_stderr{false};
std::atomic<int> g_min{static_cast<int>(Level::kInfo)};
const char* g_ident = "mtep";

// glibc's syslog(3) retries a failing connect on every call when no syslog
// daemon listens on /dev/log, which costs several system calls per line.
// So /dev/log is looked at once every kSyslogRecheck seconds, and syslog()
// is skipped while it is missing (the stderr copy, if any, still goes out).
constexpr time_t kSyslogRecheck = 10;
std::atomic<time_t> g_syslog_checked{0};
std::atomic<bool> g_syslog_present{true};

bool syslogPresent() {
  const time_t now = ::time(nullptr);
  if (now - g_syslog_checked.load(std::memory_order_relaxed) >= kSyslogRecheck) {
    struct stat st;
    g_syslog_present.store(::stat("/dev/log", &st) == 0, std::memory_order_relaxed);
    g_syslog_checked.store(now, std::memory_order_relaxed);
  }
  return g_syslog_present.load(std::memory_order_relaxed);
}

int syslogPriority(Level level) {
  switch (level) {
    case Level::kDebug: return LOG_DEBUG;
    case Level::kInfo: return LOG_INFO;
    case Level::kNotice: return LOG_NOTICE;
    case Level::kWarning: return LOG_WARNING;
    case Level::kError: return LOG_ERR;
  }
  return LOG_INFO;
}

const char* levelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kNotice: return "notice";
    case Level::kWarning: return "warning";
    case Level::kError: return "error";
  }
  return "info";
}

}  // namespace

void open(const char* ident, bool to_stderr) {
  g_ident = ident;
  g_stderr = to_stderr;
  ::openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void setMinLevel(Level level) { g_min = static_cast<int>(level); }

bool parseLevel(const char* name, Level* out) {
  static constexpr Level kAll[] = {Level::kDebug, Level::kInfo, Level::kNotice, Level::kWarning,
                                   Level::kError};
  for (Level l : kAll) {
    if (std::strcmp(name, levelName(l)) == 0) {
      *out = l;
      return true;
    }
  }
  return false;
}

void vwrite(Level level, const char* fmt, va_list ap) {
  if (static_cast<int>(level) < g_min.load()) return;
  char line[2048];
  int n = std::vsnprintf(line, sizeof line, fmt, ap);
  if (n < 0) return;
  if (static_cast<size_t>(n) >= sizeof line) std::memcpy(line + sizeof line - 4, "...", 4);
  // Control characters from peers never reach the log as such.
  for (char* p = line; *p != '\0'; ++p) {
    if (static_cast<unsigned char>(*p) < 0x20 || *p == 0x7f) *p = '?';
  }
  if (syslogPresent()) ::syslog(syslogPriority(level), "%s", line);
  if (g_stderr.load()) {
    char out[2200];
    int m = std::snprintf(out, sizeof out, "%s[%d]: %s: %s\n", g_ident, static_cast<int>(::getpid()),
                          levelName(level), line);
    if (m > 0) {
      size_t len = static_cast<size_t>(m) < sizeof out ? static_cast<size_t>(m) : sizeof out - 1;
      ssize_t ignored = ::write(STDERR_FILENO, out, len);
      (void)ignored;
    }
  }
}

void write(Level level, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vwrite(level, fmt, ap);
  va_end(ap);
}

}  // namespace mtep::log

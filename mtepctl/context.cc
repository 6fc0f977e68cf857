#include "context.h"

#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <iterator>
#include <limits>

#include "store/open.h"
#include "sys/privileges.h"

namespace mtep::ctl {

void printError(const char* fmt, ...) {
  std::fputs("mtepctl: ", stderr);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
}

int exitCodeFor(const Error& error) {
  switch (error.kind()) {
    case ErrorKind::kInvalid:
    case ErrorKind::kLimit:
      return kExitNo;
    case ErrorKind::kProtocol:
    case ErrorKind::kTemporary:
    case ErrorKind::kNotFound:
    case ErrorKind::kConfig:
    case ErrorKind::kInternal:
      return kExitTrouble;
  }
  return kExitTrouble;
}

int failed(const Error& error) {
  printError("%s", error.message().c_str());
  return exitCodeFor(error);
}

int usage(const Error& error) {
  printError("%s", error.message().c_str());
  return kExitUsage;
}

config::ConfigPtr prepare(const GlobalOptions& options) {
  auto cfg = config::loadFile(options.config_path);
  if (!cfg) {
    printError("%s", cfg.error().message().c_str());
    return nullptr;
  }
  const config::Config& c = **cfg;
  if (Status s = sys::prepareStateDir(c.global.state_dir, c.global.user); !s) {
    printError("%s", s.error().message().c_str());  // names the directory
    return nullptr;
  }
  if (Status s = sys::dropPrivileges(c.global.user); !s) {
    printError("cannot drop privileges: %s", s.error().message().c_str());
    return nullptr;
  }
  return *cfg;
}

std::unique_ptr<store::Store> openStore(const GlobalOptions& options) {
  config::ConfigPtr cfg = prepare(options);
  if (!cfg) return nullptr;
  auto st = store::open(cfg->store, SystemClock::instance());
  if (!st) {
    printError("store: %s", st.error().message().c_str());
    return nullptr;
  }
  return std::move(*st);
}

Result<token::KeyRing> loadRing(const config::Config& cfg, bool create) {
  auto ring = token::KeyRing::load(cfg.tokens.key_file, {.create = create},
                                   SystemClock::instance());
  if (!ring) printError("%s", ring.error().message().c_str());
  return ring;
}

std::string formatTime(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return std::to_string(unix_seconds);
  char buf[32];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

std::string formatAge(int64_t seconds) {
  if (seconds < 0) return "-" + formatAge(-seconds);
  struct Unit {
    int64_t size;
    char name;
  };
  static constexpr Unit kUnits[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
  for (size_t i = 0; i < std::size(kUnits); ++i) {
    if (seconds < kUnits[i].size && i + 1 < std::size(kUnits)) continue;
    std::string out = std::to_string(seconds / kUnits[i].size) + kUnits[i].name;
    const int64_t rest = seconds % kUnits[i].size;
    if (i + 1 < std::size(kUnits) && rest / kUnits[i + 1].size > 0) {
      out += std::to_string(rest / kUnits[i + 1].size) + kUnits[i + 1].name;
    }
    return out;
  }
  return "0s";
}

Result<int64_t> parseDuration(std::string_view text) {
  const std::string shown(text);
  const bool digits_only =
      !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
  // A bare number is seconds; anything else is the config file's form.
  auto seconds = digits_only ? config::parseDuration(shown + "s") : config::parseDuration(text);
  if (!seconds) {
    return Error(ErrorKind::kInvalid,
                 "\"" + shown + "\" is not a duration (seconds, or a number with s, m, h or d)");
  }
  if (*seconds <= 0) return Error(ErrorKind::kInvalid, "a duration must be more than zero");
  return *seconds;
}

}  // namespace mtep::ctl

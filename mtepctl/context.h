#pragma once
// NAME
//   context.h - what every mtepctl command shares: exit codes, config
//   loading, privilege drop, file locations, time and duration text
// DESCRIPTION
//   Commands that touch the key file or the store call prepare() first: it
//   reads the config (as root, before anything else), prepares the state
//   directory and drops to the configured user, so files mtepctl creates are
//   owned by the daemon's user. Errors are printed by printError() on stderr
//   as "mtepctl: ...".

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "store/store.h"
#include "token/token.h"
#include "util/clock.h"
#include "util/result.h"

namespace mtep::ctl {

// Exit codes, documented in mtepctl(1).
inline constexpr int kExitOk = 0;       // done; token valid; server said K
inline constexpr int kExitNo = 1;       // a definite no: bad config, invalid token, D, refused
inline constexpr int kExitTrouble = 2;  // could not answer: store, key file, network, Z or I
inline constexpr int kExitUsage = 64;   // bad command line (EX_USAGE)

struct GlobalOptions {
  std::string config_path;  // -c FILE
};

// Prints "mtepctl: <message>\n" on stderr.
void printError(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Maps an error to an exit code: kTemporary/kInternal/kNotFound -> 2, others -> 1.
int exitCodeFor(const Error& error);
// printError() of the error's message, then exitCodeFor(error).
int failed(const Error& error);
// printError() of the error's message, then kExitUsage.
int usage(const Error& error);

// Loads the config, prepares the state directory and drops privileges.
// On failure the error is printed and nullptr returned.
config::ConfigPtr prepare(const GlobalOptions& options);

// prepare(), then opens the config's store; nullptr (the error printed) on failure.
std::unique_ptr<store::Store> openStore(const GlobalOptions& options);

// Loads the key ring from [tokens] key_file (creating it when `create`);
// an error is printed.
Result<token::KeyRing> loadRing(const config::Config& cfg, bool create);

// "2026-03-01T12:00:00Z"
std::string formatTime(int64_t unix_seconds);
// "45s", "12m", "3h20m", "7d4h"
std::string formatAge(int64_t seconds);
// A positive count of seconds, or a number with a unit s, m, h, d: "90", "12h", "7d".
Result<int64_t> parseDuration(std::string_view text);

}  // namespace mtep::ctl

// mtepctl hashcash mint | check | speed
#include <algorithm>
#include <cstdio>
#include <thread>

#include "commands.h"
#include "pow/pow.h"
#include "store/open.h"
#include "util/base64.h"

namespace mtep::ctl {
namespace {

// The domain a resource names: after the last '@', else the whole text.
std::string domainOf(const std::string& resource) {
  const size_t at = resource.rfind('@');
  return at == std::string::npos ? resource : resource.substr(at + 1);
}

}  // namespace

int hashcashMint(const GlobalOptions& global, const HashcashMintOptions& options) {
  auto cfg = config::loadFile(global.config_path);
  if (!cfg) {
    printError("%s", cfg.error().message().c_str());
    return kExitTrouble;
  }
  const config::Config& c = **cfg;
  const int64_t now = SystemClock::instance().now();
  pow::MintOptions mint;
  mint.algorithm =
      options.algorithm == "argon2id" ? pow::Algorithm::kArgon2id : pow::Algorithm::kHashcashSha1;
  mint.resource = asciiLower(options.resource);  // as the hashcash tool mints
  mint.now = now;
  mint.bits =
      options.bits >= 0
          ? options.bits
          : pow::requiredBits(pow::policyFor(c.pow, c.policyFor(domainOf(options.resource)), now),
                              mint.algorithm);
  mint.threads = c.pow.mint_threads;
  mint.budget_ms = c.pow.mint_budget * 1000;
  mint.memory_kib = c.pow.argon2id_memory;
  auto minted = pow::mint(mint);
  if (!minted) {
    printError("cannot mint: %s", minted.error().message().c_str());
    return exitCodeFor(minted.error());
  }
  std::printf("%s\n", minted->stamp.c_str());
  return kExitOk;
}

int hashcashCheck(const GlobalOptions& global, const HashcashCheckOptions& options) {
  // With --spend the store is written: read the config as root, then drop
  // privileges like every command that touches the state directory.
  config::ConfigPtr cfg;
  if (options.spend) {
    cfg = prepare(global);
    if (!cfg) return kExitHashcashTrouble;
  } else {
    auto loaded = config::loadFile(global.config_path);
    if (!loaded) {
      printError("%s", loaded.error().message().c_str());
      return kExitHashcashTrouble;
    }
    cfg = *loaded;
  }
  const Clock& clock = SystemClock::instance();
  const int64_t now = clock.now();
  pow::StampPolicy policy =
      pow::policyFor(cfg->pow, cfg->policyFor(domainOf(options.resource)), now);
  policy.hashcash_bits = policy.argon2id_bits = options.bits;
  const pow::CheckResult result = pow::checkStamp(options.stamp, options.resource, policy, now);
  if (result.verdict == pow::Verdict::kTemporary) {
    printError("cannot check: %s", result.reason.c_str());
    return kExitHashcashTrouble;
  }
  if (result.verdict != pow::Verdict::kValid) {
    printError("invalid: %s: %s", pow::verdictName(result.verdict), result.reason.c_str());
    return kExitNo;
  }
  if (options.spend) {
    auto st = store::open(cfg->store, clock);
    if (!st) {
      printError("store: %s", st.error().message().c_str());
      return kExitHashcashTrouble;
    }
    const pow::Verdict v = pow::spend(**st, result, options.stamp);
    if (v == pow::Verdict::kSpent) {
      printError("spent: this stamp was already used");
      return kExitHashcashSpent;
    }
    if (v != pow::Verdict::kValid) {
      printError("store: cannot record the stamp as spent");
      return kExitHashcashTrouble;
    }
  }
  std::printf("valid: %s stamp of %d bits%s\n", pow::algorithmName(result.algorithm), result.bits,
              options.spend ? (", spent until " + formatTime(result.expires_at)).c_str() : "");
  return kExitOk;
}

int hashcashSpeed(unsigned threads, int seconds) {
  const unsigned n = threads != 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
  const double rate = pow::hashcashTriesPerSecond(n, static_cast<int64_t>(seconds) * 1000);
  std::printf("%.0f tries/s on %u thread%s (hashcash v1, SHA-1, %s)\n", rate, n, n == 1 ? "" : "s",
              pow::hashcashMintPath());
  return kExitOk;
}

}  // namespace mtep::ctl

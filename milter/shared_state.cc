// NAME
//   shared_state.cc - config snapshot, authserv-id and the connection gate
// DESCRIPTION
//   See shared_state.h.

#include "shared_state.h"

#include <unistd.h>

#include <chrono>
#include <utility>

namespace mtep::milterd {

std::string authservIdFor(const config::Config& cfg) {
  if (!cfg.milter.authserv_id.empty()) return cfg.milter.authserv_id;
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) == 0 && name[0] != '\0') return name;
  return "localhost";
}

SharedState::SharedState(config::ConfigPtr config, std::string authserv_id,
                         milter::TokenVerifier& verifier, milter::TokenMinter& minter,
                         milter::StampChecker& stamp_checker, milter::StampMinter& stamp_minter,
                         milter::KeyFetcher& key_fetcher)
    : config_(std::move(config)),
      authserv_id_(std::move(authserv_id)),
      verifier_(verifier),
      minter_(minter),
      stamp_checker_(stamp_checker),
      stamp_minter_(stamp_minter),
      key_fetcher_(key_fetcher) {}

milter::SessionEnv SharedState::sessionEnv() const {
  milter::SessionEnv env;
  {
    std::lock_guard<std::mutex> lock(mu_);
    env.config = config_;
    env.authserv_id = authserv_id_;
  }
  env.verifier = &verifier_;
  env.minter = &minter_;
  env.stamp_checker = &stamp_checker_;
  env.stamp_minter = &stamp_minter_;
  env.key_fetcher = &key_fetcher_;
  env.submission_tokens = submission_tokens_;
  return env;
}

config::ConfigPtr SharedState::config() const {
  std::lock_guard<std::mutex> lock(mu_);
  return config_;
}

void SharedState::replace(config::ConfigPtr config, std::string authserv_id) {
  std::lock_guard<std::mutex> lock(mu_);
  config_ = std::move(config);
  authserv_id_ = std::move(authserv_id);
}

bool CallGate::enter() {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return false;
  ++running_;
  return true;
}

void CallGate::leave() {
  std::lock_guard<std::mutex> lock(mu_);
  if (running_ > 0 && --running_ == 0) cv_.notify_all();
}

int CallGate::closeAndDrain(int64_t seconds) {
  std::unique_lock<std::mutex> lock(mu_);
  closed_ = true;
  cv_.wait_for(lock, std::chrono::seconds(seconds), [this] { return running_ == 0; });
  return running_;
}

}  // namespace mtep::milterd

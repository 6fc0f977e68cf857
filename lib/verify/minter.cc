#include "verify/minter.h"

#include <utility>

#include "util/log.h"

namespace mtep::verify {

Result<std::unique_ptr<RingMinter>> RingMinter::create(const std::string& key_file,
                                                       const Clock& clock) {
  // The file's identity before reading it: a change in between then only
  // costs one extra reload.
  token::KeyFileWatch watch(key_file);
  const token::KeyFileWatch::Stamp before = watch.stamp();
  auto ring = token::KeyRing::load(key_file, token::KeyRingOptions{}, clock);
  if (!ring) return std::move(ring).error();
  watch.loaded(before);
  auto shared = std::make_shared<const token::KeyRing>(std::move(ring).value());
  return std::unique_ptr<RingMinter>(
      new RingMinter(key_file, clock, std::move(shared), std::move(watch)));
}

RingMinter::RingMinter(std::string key_file, const Clock& clock,
                       std::shared_ptr<const token::KeyRing> ring, token::KeyFileWatch watch)
    : key_file_(std::move(key_file)),
      clock_(clock),
      ring_(std::move(ring)),
      watch_(std::move(watch)),
      last_check_(clock.now()) {}

std::shared_ptr<const token::KeyRing> RingMinter::current() {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_.now();
  if (now == last_check_) return ring_;
  last_check_ = now;
  // Until a load succeeds, every check tries again (key_watch.h).
  const token::KeyFileWatch::Outcome outcome = watch_.reload([this]() -> Status {
    auto ring = token::KeyRing::load(key_file_, token::KeyRingOptions{}, clock_);
    if (!ring) return std::move(ring).error();
    ring_ = std::make_shared<const token::KeyRing>(std::move(ring).value());
    return okStatus();
  });
  if (outcome == token::KeyFileWatch::Outcome::kFailed) {
    log::warning(
        "NOQUEUE: token key file %s changed but cannot be used, keeping the old keys and "
        "trying again every second: %s",
        key_file_.c_str(), watch_.lastError().c_str());
  } else if (outcome == token::KeyFileWatch::Outcome::kLoaded) {
    log::info("NOQUEUE: token keys reloaded from %s, current key id %u", key_file_.c_str(),
              ring_->current().id);
  }
  return ring_;
}

Result<std::string> RingMinter::mint(std::string_view sender_canonical,
                                     std::string_view recipient_domain, int64_t ttl) {
  if (sender_canonical.empty()) return Error(ErrorKind::kInvalid, "no sender to mint a token for");
  if (recipient_domain.empty()) {
    return Error(ErrorKind::kInvalid, "no recipient domain to mint a token for");
  }
  const std::shared_ptr<const token::KeyRing> ring = current();
  return token::mint(*ring, sender_canonical, recipient_domain, clock_.now(), ttl);
}

}  // namespace mtep::verify

// NAME
//   deferred_minter.cc - RingMinter once the key file exists
// DESCRIPTION
//   See deferred_minter.h.

#include "deferred_minter.h"

#include <utility>

#include "util/log.h"

namespace mtep::milterd {

DeferredMinter::DeferredMinter(std::string key_file, const Clock& clock)
    : key_file_(std::move(key_file)), clock_(clock) {}

Status DeferredMinter::load() {
  std::lock_guard<std::mutex> lock(mu_);
  if (minter_) return okStatus();
  auto created = verify::RingMinter::create(key_file_, clock_);
  next_try_ = clock_.now() + kRetrySeconds;
  if (!created) {
    last_error_ = created.error().message();
    return std::move(created).error();
  }
  minter_ = std::move(*created);
  return okStatus();
}

verify::RingMinter* DeferredMinter::current() {
  std::lock_guard<std::mutex> lock(mu_);
  if (minter_) return minter_.get();
  const int64_t now = clock_.now();
  if (now < next_try_) return nullptr;
  next_try_ = now + kRetrySeconds;
  auto created = verify::RingMinter::create(key_file_, clock_);
  if (!created) {
    last_error_ = created.error().message();
    return nullptr;
  }
  minter_ = std::move(*created);
  log::notice("token keys loaded from %s: outbound tokens are minted again", key_file_.c_str());
  return minter_.get();
}

Result<std::string> DeferredMinter::mint(std::string_view sender_canonical,
                                         std::string_view recipient_domain, int64_t ttl) {
  verify::RingMinter* minter = current();
  if (minter == nullptr) {
    std::string why;
    {
      std::lock_guard<std::mutex> lock(mu_);
      why = last_error_;
    }
    return Error(ErrorKind::kTemporary, "no token keys (" + why + ")");
  }
  return minter->mint(sender_canonical, recipient_domain, ttl);
}

Result<std::shared_ptr<const token::KeyRing>> DeferredMinter::ring() {
  verify::RingMinter* minter = current();
  if (minter == nullptr) {
    std::lock_guard<std::mutex> lock(mu_);
    return Error(ErrorKind::kTemporary, "no token keys (" + last_error_ + ")");
  }
  return minter->ring();
}

}  // namespace mtep::milterd

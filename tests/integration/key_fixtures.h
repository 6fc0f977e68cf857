#pragma once
// NAME
//   key_fixtures.h - fixed hashes and public keys for the key-service
//   integration tests (mtepd_keys_test.cc, mtepd_redis_loop_test.cc)
// SUMMARY
//   e2ee::Hash h = hashOf(1);            // 32 bytes of 1
//   e2ee::PublicKey k = keyOf(7);        // the key of the seed of 32 bytes of 7

#include <gtest/gtest.h>

#include <cstdint>

#include "e2ee/e2ee.h"

namespace mtep::itest {

inline e2ee::Hash hashOf(uint8_t fill) {
  e2ee::Hash h;
  h.fill(fill);
  return h;
}

inline e2ee::PublicKey keyOf(uint8_t seed_fill) {
  e2ee::Seed seed;
  seed.fill(seed_fill);
  auto pair = e2ee::keyPairFromSeed(seed);
  EXPECT_TRUE(pair.ok());
  return pair.ok() ? pair->pub : e2ee::PublicKey{};
}

}  // namespace mtep::itest

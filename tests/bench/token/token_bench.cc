// Token mint/verify throughput, and the HMAC strategies token.cc chose
// between (a per-key pre-keyed EVP_MAC_CTX duplicated per MAC, against
// OpenSSL's one-shot HMAC() and a fresh context per MAC).
#include <benchmark/benchmark.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>

#include "token/token.h"

namespace mtep::token {
namespace {

constexpr char kSender[] = "alice@example.org";
constexpr int64_t kNow = 1'700'000'000;

const KeyRing& ring() {
  static const KeyRing r = [] {
    auto k = KeyRing::generateKey(1, kNow);
    return KeyRing::fromKeys({*k});
  }();
  return r;
}

void BM_Mint(benchmark::State& state) {
  for (auto _ : state) {
    auto t = mint(ring(), kSender, "beta.test", kNow, 86400);
    benchmark::DoNotOptimize(t);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Mint);

void BM_VerifyWithSender(benchmark::State& state) {
  const std::string t = *mint(ring(), kSender, "beta.test", kNow, 86400);
  for (auto _ : state) {
    auto v = verify(ring(), t, kSender, true, kNow);
    if (v.outcome != Outcome::kValid) state.SkipWithError("token did not verify");
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyWithSender);

void BM_VerifyWithSenderAndDomain(benchmark::State& state) {
  const std::string t = *mint(ring(), kSender, "beta.test", kNow, 86400);
  for (auto _ : state) {
    auto v = verify(ring(), t, Binding::of(kSender, "beta.test"), kNow);
    if (v.outcome != Outcome::kValid) state.SkipWithError("token did not verify");
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyWithSenderAndDomain);

void BM_VerifyWithoutSender(benchmark::State& state) {
  const std::string t = *mint(ring(), kSender, "beta.test", kNow, 86400);
  for (auto _ : state) {
    auto v = verify(ring(), t, "", false, kNow);
    if (v.outcome != Outcome::kValid) state.SkipWithError("token did not verify");
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyWithoutSender);

void BM_VerifyForged(benchmark::State& state) {
  std::string t = *mint(ring(), kSender, "beta.test", kNow, 86400);
  t[40] = t[40] == 'A' ? 'B' : 'A';
  for (auto _ : state) {
    auto v = verify(ring(), t, kSender, true, kNow);
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyForged);

// ---- HMAC strategies (one 40-byte MAC, as for tag_sender) ----

const std::array<uint8_t, 32> kKey{1, 2, 3};
const std::array<uint8_t, 40> kMsg{4, 5, 6};

EVP_MAC_CTX* keyedContext() {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  EVP_MAC_init(ctx, kKey.data(), kKey.size(), params);
  EVP_MAC_free(mac);
  return ctx;
}

void BM_HmacDupPrekeyed(benchmark::State& state) {
  EVP_MAC_CTX* tmpl = keyedContext();
  std::array<uint8_t, 32> out;
  for (auto _ : state) {
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(tmpl);
    EVP_MAC_update(ctx, kMsg.data(), kMsg.size());
    size_t len = 0;
    EVP_MAC_final(ctx, out.data(), &len, out.size());
    EVP_MAC_CTX_free(ctx);
    benchmark::DoNotOptimize(out);
  }
  EVP_MAC_CTX_free(tmpl);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HmacDupPrekeyed);

void BM_HmacOneShot(benchmark::State& state) {
  std::array<uint8_t, 32> out;
  for (auto _ : state) {
    unsigned len = 0;
    HMAC(EVP_sha256(), kKey.data(), static_cast<int>(kKey.size()), kMsg.data(), kMsg.size(),
         out.data(), &len);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HmacOneShot);

void BM_HmacFreshContext(benchmark::State& state) {
  std::array<uint8_t, 32> out;
  for (auto _ : state) {
    EVP_MAC_CTX* ctx = keyedContext();
    EVP_MAC_update(ctx, kMsg.data(), kMsg.size());
    size_t len = 0;
    EVP_MAC_final(ctx, out.data(), &len, out.size());
    EVP_MAC_CTX_free(ctx);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HmacFreshContext);

}  // namespace
}  // namespace mtep::token

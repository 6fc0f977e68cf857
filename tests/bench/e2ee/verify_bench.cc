// Sender-signature checks in-process: a 10 KiB signed message through
// e2ee::canonicalForm and ed25519 verification (what mtep-milter does per
// checked message once the key is known), its parts alone, and the bare
// ed25519 verify for comparison with `openssl speed ed25519`.
// The milter Session path (headers and body in libmilter's pieces, a
// cached key) is tests/bench/milter/signature_bench.cc.
#include <benchmark/benchmark.h>

#include <string>

#include "e2ee/e2ee.h"

namespace mtep::e2ee {
namespace {

// A typical message of `body_bytes` body: five signed headers, a few
// others, text lines of 72 characters with CRLF.
std::string messageOf(size_t body_bytes) {
  std::string m =
      "From: Alice Example <alice@alpha.test>\r\n"
      "To: bob@beta.test\r\n"
      "Subject: quarterly figures, second draft\r\n"
      "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
      "Message-ID: <20261123100000.1234@alpha.test>\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "\r\n";
  const std::string line =
      "Lorem ipsum dolor sit amet,  consectetur adipiscing elit, sed do eiusmod\r\n";
  std::string body;
  while (body.size() + line.size() <= body_bytes) body += line;
  body.append(body_bytes - body.size(), 'x');
  return m + body + "\r\n";
}

struct Fixture {
  KeyPair key;
  std::string message;
  std::string signature;  // "ed25519 <hex>"
};

const Fixture& fixture() {
  static const Fixture f = [] {
    Fixture x;
    Seed seed{};
    seed.fill(42);
    x.key = *keyPairFromSeed(seed);
    x.message = messageOf(10 * 1024);
    x.signature = "ed25519 " + *signMessage(x.message, x.key.seed);
    return x;
  }();
  return f;
}

void BM_CanonicalForm10KiB(benchmark::State& state) {
  const Fixture& f = fixture();
  for (auto _ : state) {
    std::string c = canonicalForm(f.message);
    benchmark::DoNotOptimize(c);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * f.message.size()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CanonicalForm10KiB);

// canonicalForm + parse the signature + ed25519 verify: one checked message.
void BM_VerifyMessage10KiB(benchmark::State& state) {
  const Fixture& f = fixture();
  for (auto _ : state) {
    auto ok = verifyMessage(f.message, f.signature, f.key.pub);
    if (!ok.ok() || !*ok) state.SkipWithError("signature did not verify");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyMessage10KiB);

// The same message with one byte of the body changed: a failing check
// costs the same (no early exit).
void BM_VerifyAlteredMessage10KiB(benchmark::State& state) {
  const Fixture& f = fixture();
  std::string altered = f.message;
  altered[altered.size() - 10] = 'y';
  for (auto _ : state) {
    auto ok = verifyMessage(altered, f.signature, f.key.pub);
    if (!ok.ok() || *ok) state.SkipWithError("altered message verified");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyAlteredMessage10KiB);

// ed25519 alone over the canonical bytes (already computed): the ceiling.
void BM_Ed25519VerifyOnly(benchmark::State& state) {
  const Fixture& f = fixture();
  const std::string bytes = canonicalForm(f.message);
  const Signature sig = *parseSignature(f.signature);
  for (auto _ : state) {
    auto ok = verifyBytes(bytes, sig, f.key.pub);
    if (!ok.ok() || !*ok) state.SkipWithError("signature did not verify");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Ed25519VerifyOnly);

void BM_Ed25519VerifyOnly64Bytes(benchmark::State& state) {
  const Fixture& f = fixture();
  const std::string bytes(64, 'm');
  const Signature sig = *signBytes(bytes, f.key.seed);
  for (auto _ : state) {
    auto ok = verifyBytes(bytes, sig, f.key.pub);
    if (!ok.ok() || !*ok) state.SkipWithError("signature did not verify");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Ed25519VerifyOnly64Bytes);

}  // namespace
}  // namespace mtep::e2ee

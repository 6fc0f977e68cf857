// mtep-milter's Session checking a sender signature, without libmilter: a
// 10 KiB signed message fed as libmilter delivers it (MAIL, RCPT, header
// values, the body in one piece), the key answered from a cache (a fake
// KeyFetcher that says cached), the verdict and the Authentication-Results
// header. The per-message cost of the milter path once the key is known
// (the one info log line per decision is switched off).
#include <benchmark/benchmark.h>

#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "e2ee/e2ee.h"
#include "milter/key_fetcher.h"
#include "milter/session.h"
#include "util/log.h"

namespace mtep::milter {
namespace {

class CachedKey final : public KeyFetcher {
 public:
  explicit CachedKey(const e2ee::PublicKey& key) {
    answer_.kind = KeyKind::kFound;
    answer_.key = key;
    answer_.server = "mx.alpha.test:25";
    answer_.cached = true;
  }
  KeyOutcome fetch(const KeyQuery&) override { return answer_; }

 private:
  KeyOutcome answer_;
};

class NoActions final : public Actions {
 public:
  Status addHeader(std::string_view, std::string_view) override { return okStatus(); }
  Status insertHeader(std::string_view, std::string_view value) override {
    last = std::string(value);
    return okStatus();
  }
  Status deleteHeader(std::string_view, int) override { return okStatus(); }
  std::string last;
};

struct Fixture {
  config::ConfigPtr config;
  e2ee::KeyPair key;
  std::vector<std::pair<std::string, std::string>> headers;  // as libmilter gives them
  std::string body;
};

const Fixture& fixture() {
  static const Fixture f = [] {
    Fixture x;
    x.config = *config::loadString(
        "[milter]\nauthserv_id = \"mx.beta.test\"\n"
        "[domain.\"beta.test\"]\ncheck_signatures = true\nreject_bad_signatures = true\n",
        "bench.conf");
    e2ee::Seed seed{};
    seed.fill(42);
    x.key = *e2ee::keyPairFromSeed(seed);
    x.headers = {{"From", "Alice Example <alice@alpha.test>"},
                 {"To", "bob@beta.test"},
                 {"Subject", "quarterly figures, second draft"},
                 {"Date", "Mon, 23 Nov 2026 10:00:00 +0000"},
                 {"Message-ID", "<20261123100000.1234@alpha.test>"},
                 {"MIME-Version", "1.0"},
                 {"Content-Type", "text/plain; charset=utf-8"}};
    const std::string line =
        "Lorem ipsum dolor sit amet,  consectetur adipiscing elit, sed do eiusmod\r\n";
    while (x.body.size() + line.size() <= 10 * 1024) x.body += line;
    std::string message;
    for (const auto& [n, v] : x.headers) message += n + ": " + v + "\r\n";
    message += "\r\n" + x.body;
    x.headers.emplace_back("X-Sender-Signature",
                           "ed25519 " + *e2ee::signMessage(message, x.key.seed));
    return x;
  }();
  return f;
}

void BM_SessionSignedMessage10KiB(benchmark::State& state) {
  const Fixture& f = fixture();
  log::setMinLevel(log::Level::kWarning);  // the decision line would flood the output
  CachedKey fetcher(f.key.pub);
  NoActions actions;
  SessionEnv env;
  env.config = f.config;
  env.authserv_id = "mx.beta.test";
  env.key_fetcher = &fetcher;
  Session s(std::move(env));
  s.connect({"client.example", "203.0.113.9"});
  for (auto _ : state) {
    s.mailFrom("<alice@alpha.test>", "", "BENCH");
    s.rcpt("<bob@beta.test>");
    for (const auto& [n, v] : f.headers) s.header(n, v);
    s.body(f.body);
    Decision d = s.endOfMessage(actions, "BENCH");
    if (d.step != Step::kContinue || actions.last.find("=pass") == std::string::npos) {
      state.SkipWithError("the signature did not pass");
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SessionSignedMessage10KiB);

}  // namespace
}  // namespace mtep::milter

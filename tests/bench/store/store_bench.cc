// SQLite store: revocation lookups and double-spend records per second.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "store/store.h"

namespace mtep::store {
namespace {

namespace fs = std::filesystem;

constexpr int kRevoked = 10000;

// A fresh database in a temporary directory, removed on destruction.
class Db {
 public:
  Db() {
    std::string tmpl = (fs::temp_directory_path() / "mtep-bench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir_ = tmpl;
    auto st = openSqlite({.path = dir_ + "/mtep.db"}, clock_);
    if (!st) std::abort();
    store_ = std::move(*st);
  }
  ~Db() {
    store_.reset();
    fs::remove_all(dir_);
  }
  Store& store() { return *store_; }
  int64_t now() const { return clock_.now(); }

 private:
  std::string dir_;
  FakeClock clock_;
  std::unique_ptr<Store> store_;
};

std::string revocationId(int i) { return "00000001-" + std::to_string(1'000'000'000 + i); }

void BM_IsTokenRevoked(benchmark::State& state) {
  Db db;
  for (int i = 0; i < kRevoked; ++i) {
    if (!db.store().revokeToken(revocationId(2 * i), db.now() + 3600).ok()) std::abort();
  }
  const bool hit = state.range(0) != 0;
  int i = 0;
  for (auto _ : state) {
    auto r = db.store().isTokenRevoked(revocationId(2 * (i++ % kRevoked) + (hit ? 0 : 1)));
    if (!r || *r != hit) state.SkipWithError("unexpected lookup result");
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(hit ? "revoked" : "not revoked");
}
BENCHMARK(BM_IsTokenRevoked)->Arg(0)->Arg(1);

void BM_RecordOnceNew(benchmark::State& state) {
  Db db;
  int64_t i = 0;
  for (auto _ : state) {
    auto r = db.store().recordOnce("hashcash", "stamp-" + std::to_string(i++), db.now() + 3600);
    if (!r || !*r) state.SkipWithError("record failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RecordOnceNew);

void BM_RecordOnceDuplicate(benchmark::State& state) {
  Db db;
  if (!*db.store().recordOnce("hashcash", "stamp", db.now() + 3600)) std::abort();
  for (auto _ : state) {
    auto r = db.store().recordOnce("hashcash", "stamp", db.now() + 3600);
    if (!r || *r) state.SkipWithError("duplicate was recorded");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RecordOnceDuplicate);

}  // namespace
}  // namespace mtep::store

// PinBook on a real SqliteStore in a temp dir: fingerprint labels, trust on
// first use, pinned and changed keys, list/forget/add, and store failures.
#include "overlay/pins.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <memory>
#include <string>

#include "overlay/overlay.h"
#include "store/sqlite_store.h"

namespace mtep::overlay {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kHost = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion";
// Two different full fingerprints (base32 of SHA-256 of "spki" and "other").
constexpr std::string_view kFp = "n7xmzdawyvkr3h7lh227o7rnu5z362f5t344kkjhz2zmq3swrevq";
constexpr std::string_view kOtherFp = "3euyuegrwbzvqn64jpmf3ldedmhtz3zhur7f2u5fj4xt6wzpz75a";

class PinBookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mtep-pins-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto st = store::openSqlite({.path = dir_ + "/mtep.db"}, clock_);
    ASSERT_TRUE(st.ok()) << st.error().message();
    store_ = std::move(*st);
    pins_ = std::make_unique<PinBook>(*store_, clock_);
  }
  void TearDown() override {
    pins_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  PinCheck checkOk(std::string_view label, std::string_view fp, bool tofu = true,
                   std::string_view host = kHost) {
    auto r = pins_->check(host, label, fp, tofu);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? *r : PinCheck{};
  }

  std::string storedPin(std::string_view host = kHost) {
    auto v = store_->getValue("tlspin", host);
    return v.ok() ? *v : "(none: " + v.error().message() + ")";
  }

  std::string dir_;
  FakeClock clock_{1'700'000'000};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<PinBook> pins_;
};

TEST(PinBookSetup, SecondFingerprintIsWellFormedAndDifferent) {
  EXPECT_EQ(kOtherFp.size(), 52u);
  EXPECT_NE(kFp, kOtherFp);
  EXPECT_FALSE(fingerprintMatches(kOtherFp.substr(0, 16), kFp));
}

TEST_F(PinBookTest, MatchingLabelIsAcceptedAndPinsTheFullKey) {
  const PinCheck c = checkOk(kFp.substr(0, 16), kFp);
  EXPECT_EQ(c.verdict, PinVerdict::kMatchedLabel) << c.detail;
  EXPECT_TRUE(pinAccepted(c.verdict));
  EXPECT_EQ(storedPin(), std::string(kFp) + " 1700000000");
  // Later mail without the label is held to the same key.
  clock_.advance(3600);
  EXPECT_EQ(checkOk("", kFp).verdict, PinVerdict::kPinned);
  EXPECT_EQ(checkOk("", kOtherFp).verdict, PinVerdict::kChanged);
}

TEST_F(PinBookTest, MismatchingLabelIsRefusedAndPinsNothing) {
  const PinCheck c = checkOk(kOtherFp.substr(0, 20), kFp);
  EXPECT_EQ(c.verdict, PinVerdict::kMismatch);
  EXPECT_FALSE(pinAccepted(c.verdict));
  EXPECT_NE(c.detail.find("does not match"), std::string::npos) << c.detail;
  EXPECT_NE(c.detail.find(kHost), std::string::npos) << c.detail;
  EXPECT_EQ(store_->getValue("tlspin", kHost).ok(), false);
}

TEST_F(PinBookTest, MismatchingLabelIsRefusedEvenWhenThePinMatches) {
  ASSERT_EQ(checkOk("", kFp).verdict, PinVerdict::kFirstUse);
  EXPECT_EQ(checkOk(kOtherFp.substr(0, 16), kFp).verdict, PinVerdict::kMismatch);
}

TEST_F(PinBookTest, MatchingLabelReplacesADifferentPin) {
  ASSERT_EQ(checkOk("", kOtherFp).verdict, PinVerdict::kFirstUse);
  clock_.advance(100);
  const PinCheck c = checkOk(kFp.substr(0, 30), kFp);
  EXPECT_EQ(c.verdict, PinVerdict::kMatchedLabel) << c.detail;
  EXPECT_EQ(storedPin(), std::string(kFp) + " 1700000100");
}

TEST_F(PinBookTest, MatchingLabelKeepsAnEqualPinsFirstSeen) {
  ASSERT_EQ(checkOk("", kFp).verdict, PinVerdict::kFirstUse);
  clock_.advance(100);
  EXPECT_EQ(checkOk(kFp, kFp).verdict, PinVerdict::kMatchedLabel);
  EXPECT_EQ(storedPin(), std::string(kFp) + " 1700000000");
}

TEST_F(PinBookTest, FirstUseWithTofuRecordsTheKey) {
  const PinCheck c = checkOk("", kFp);
  EXPECT_EQ(c.verdict, PinVerdict::kFirstUse);
  EXPECT_TRUE(pinAccepted(c.verdict));
  EXPECT_EQ(storedPin(), std::string(kFp) + " 1700000000");
  EXPECT_EQ(checkOk("", kFp).verdict, PinVerdict::kPinned);
}

TEST_F(PinBookTest, ChangedKeyIsRefusedWithTheDateAndTheForgetCommand) {
  ASSERT_EQ(checkOk("", kFp).verdict, PinVerdict::kFirstUse);
  clock_.advance(86400);
  const PinCheck c = checkOk("", kOtherFp);
  EXPECT_EQ(c.verdict, PinVerdict::kChanged);
  EXPECT_FALSE(pinAccepted(c.verdict));
  EXPECT_NE(c.detail.find("changed since 2023-11-14 22:13:20 UTC"), std::string::npos)
      << c.detail;
  EXPECT_NE(c.detail.find("mtepctl pin forget " + std::string(kHost)), std::string::npos)
      << c.detail;
  // The pin stays as it was.
  EXPECT_EQ(storedPin(), std::string(kFp) + " 1700000000");
}

TEST_F(PinBookTest, WithoutTofuAnUnpinnedKeyIsRefusedAndNotRecorded) {
  const PinCheck c = checkOk("", kFp, /*tofu=*/false);
  EXPECT_EQ(c.verdict, PinVerdict::kUnpinned);
  EXPECT_FALSE(pinAccepted(c.verdict));
  EXPECT_FALSE(store_->getValue("tlspin", kHost).ok());
}

TEST_F(PinBookTest, WithoutTofuAnExistingPinStillCounts) {
  ASSERT_TRUE(pins_->add(kHost, kFp).ok());
  EXPECT_EQ(checkOk("", kFp, false).verdict, PinVerdict::kPinned);
  EXPECT_EQ(checkOk("", kOtherFp, false).verdict, PinVerdict::kChanged);
}

TEST_F(PinBookTest, HostsAndFingerprintsAreComparedInLowerCase) {
  std::string upper_host(kHost), upper_fp(kFp);
  for (char& c : upper_host) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (char& c : upper_fp) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(checkOk("", upper_fp, true, upper_host).verdict, PinVerdict::kFirstUse);
  EXPECT_EQ(storedPin(kHost), std::string(kFp) + " 1700000000");
  EXPECT_EQ(checkOk("", kFp).verdict, PinVerdict::kPinned);
}

TEST_F(PinBookTest, AMalformedServerFingerprintIsAnError) {
  auto r = pins_->check(kHost, "", "", true);
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(store_->getValue("tlspin", kHost).ok());
}

TEST_F(PinBookTest, AnUnreadablePinIsTemporaryAndNamesTheForgetCommand) {
  ASSERT_TRUE(store_->putValue("tlspin", kHost, "garbage", 0).ok());
  auto r = pins_->check(kHost, "", kFp, true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTemporary);
  EXPECT_NE(r.error().message().find("mtepctl pin forget"), std::string::npos);
}

TEST_F(PinBookTest, ListShowsEveryPinOrderedByHost) {
  clock_.set(1'700'000'000);
  ASSERT_EQ(checkOk("", kFp, true, "b.onion").verdict, PinVerdict::kFirstUse);
  clock_.set(1'700'000'500);
  ASSERT_EQ(checkOk("", kOtherFp, true, "a.onion").verdict, PinVerdict::kFirstUse);
  ASSERT_TRUE(store_->putValue("other-ns", "c.onion", "x", 0).ok());
  auto l = pins_->list();
  ASSERT_TRUE(l.ok()) << l.error().message();
  ASSERT_EQ(l->size(), 2u);
  EXPECT_EQ((*l)[0].host, "a.onion");
  EXPECT_EQ((*l)[0].fingerprint, kOtherFp);
  EXPECT_EQ((*l)[0].first_seen, 1'700'000'500);
  EXPECT_EQ((*l)[1].host, "b.onion");
  EXPECT_EQ((*l)[1].fingerprint, kFp);
  EXPECT_EQ((*l)[1].first_seen, 1'700'000'000);
}

TEST_F(PinBookTest, ForgetRemovesAPinSoTheNextKeyIsFirstUseAgain) {
  ASSERT_EQ(checkOk("", kFp).verdict, PinVerdict::kFirstUse);
  auto f = pins_->forget(kHost);
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(*f);
  EXPECT_FALSE(*pins_->forget(kHost));
  EXPECT_EQ(checkOk("", kOtherFp).verdict, PinVerdict::kFirstUse);
  EXPECT_TRUE(pins_->list()->size() == 1);
}

TEST_F(PinBookTest, AddPinsByHandAndRefusesAMalformedFingerprint) {
  ASSERT_TRUE(pins_->add("X.ONION", std::string(kFp)).ok());
  EXPECT_EQ(storedPin("x.onion"), std::string(kFp) + " 1700000000");
  Status bad = pins_->add("x.onion", kFp.substr(0, 51));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind(), ErrorKind::kInvalid);
  EXPECT_FALSE(pins_->add("x.onion", std::string(51, 'a') + "1").ok());
  EXPECT_FALSE(pins_->add("", kFp).ok());
}

TEST(PinVerdictName, NamesEveryVerdict) {
  EXPECT_STREQ(pinVerdictName(PinVerdict::kMatchedLabel), "label-match");
  EXPECT_STREQ(pinVerdictName(PinVerdict::kPinned), "pinned");
  EXPECT_STREQ(pinVerdictName(PinVerdict::kFirstUse), "first-use");
  EXPECT_STREQ(pinVerdictName(PinVerdict::kMismatch), "mismatch");
  EXPECT_STREQ(pinVerdictName(PinVerdict::kChanged), "changed");
  EXPECT_STREQ(pinVerdictName(PinVerdict::kUnpinned), "unpinned");
}

// A store whose every call fails as a busy database would.
class FailingStore final : public store::Store {
 public:
  const char* backendName() const override { return "failing"; }
  Status revokeToken(std::string_view, int64_t) override { return down(); }
  Result<bool> isTokenRevoked(std::string_view) override { return down(); }
  Result<bool> recordOnce(std::string_view, std::string_view, int64_t) override { return down(); }
  Status putValue(std::string_view, std::string_view, std::string_view, int64_t) override {
    return down();
  }
  Result<std::string> getValue(std::string_view, std::string_view) override {
    if (get_not_found) return Error(ErrorKind::kNotFound, "absent");
    return down();
  }
  Result<bool> eraseValue(std::string_view, std::string_view) override { return down(); }
  Result<std::vector<std::pair<std::string, std::string>>> listValues(std::string_view,
                                                                      size_t) override {
    return down();
  }
  Result<uint64_t> purgeExpired() override { return down(); }

  bool get_not_found = false;  // reads succeed (nothing pinned); writes fail

 private:
  static Error down() { return Error(ErrorKind::kInternal, "database is locked"); }
};

TEST(PinBookStoreFailure, ReadFailureIsTemporaryForEveryKindOfCheck) {
  FailingStore st;
  FakeClock clock;
  PinBook pins(st, clock);
  for (bool tofu : {true, false}) {
    for (std::string_view label : {std::string_view(), kFp.substr(0, 16)}) {
      auto r = pins.check(kHost, label, kFp, tofu);
      ASSERT_FALSE(r.ok()) << "label '" << label << "' tofu " << tofu;
      EXPECT_EQ(r.error().kind(), ErrorKind::kTemporary);
      EXPECT_NE(r.error().message().find("database is locked"), std::string::npos);
    }
  }
}

TEST(PinBookStoreFailure, WriteFailureOnFirstUseOrLabelMatchIsTemporary) {
  FailingStore st;
  st.get_not_found = true;
  FakeClock clock;
  PinBook pins(st, clock);
  auto first = pins.check(kHost, "", kFp, true);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().kind(), ErrorKind::kTemporary);
  auto label = pins.check(kHost, kFp.substr(0, 16), kFp, true);
  ASSERT_FALSE(label.ok());
  EXPECT_EQ(label.error().kind(), ErrorKind::kTemporary);
  // No write needed: decided without the store's write side.
  auto unpinned = pins.check(kHost, "", kFp, false);
  ASSERT_TRUE(unpinned.ok());
  EXPECT_EQ(unpinned->verdict, PinVerdict::kUnpinned);
}

TEST(PinBookStoreFailure, ListForgetAndAddAreTemporary) {
  FailingStore st;
  FakeClock clock;
  PinBook pins(st, clock);
  auto l = pins.list();
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().kind(), ErrorKind::kTemporary);
  auto f = pins.forget(kHost);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().kind(), ErrorKind::kTemporary);
  Status a = pins.add(kHost, kFp);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().kind(), ErrorKind::kTemporary);
}

}  // namespace
}  // namespace mtep::overlay

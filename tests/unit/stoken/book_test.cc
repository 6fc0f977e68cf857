// TokenBook on a real SqliteStore in a temp dir: generate, check, revoke,
// the temporary -> permanent exchange, refresh, held tokens, list; and a
// store that fails (never valid).
#include "stoken/book.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "store/sqlite_store.h"

namespace mtep::stoken {
namespace {

namespace fs = std::filesystem;

constexpr char kAlice[] = "alice@alpha.test";
constexpr char kBob[] = "bob@beta.test";
constexpr int64_t kDay = 86400;

token::Key keyOf(uint32_t id, uint8_t fill) {
  token::Key k;
  k.id = id;
  k.secret.fill(fill);
  return k;
}

class BookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mtep-stoken-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto st = store::openSqlite({.path = dir_ + "/mtep.db"}, clock_);
    ASSERT_TRUE(st.ok()) << st.error().message();
    store_ = std::move(*st);
    book_ = std::make_unique<TokenBook>(*store_, ring_, clock_, limits_);
  }
  void TearDown() override {
    book_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  std::string gen(Kind kind, std::string_view remote = kAlice, std::string_view local = kBob) {
    auto t = book_->generate(kind, remote, local);
    EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message());
    return t.ok() ? *t : std::string();
  }

  FakeClock clock_;
  token::KeyRing ring_ = token::KeyRing::fromKeys({keyOf(1, 0x42)});
  BookLimits limits_{7 * kDay, 365 * kDay, 30 * kDay};
  std::string dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<TokenBook> book_;
};

TEST_F(BookTest, TemporaryIsValidForItsPairOnly) {
  const std::string t = gen(Kind::kTemporary);
  Checked c = book_->check(t, kAlice, kBob);
  EXPECT_EQ(c.outcome, Outcome::kValid);
  EXPECT_EQ(c.kind, Kind::kTemporary);
  EXPECT_EQ(book_->check(t, "mallory@alpha.test", kBob).outcome, Outcome::kWrongRemote);
  EXPECT_EQ(book_->check(t, kAlice, "carol@beta.test").outcome, Outcome::kBadMac);
}

TEST_F(BookTest, TemporaryExpires) {
  const std::string t = gen(Kind::kTemporary);
  clock_.advance(7 * kDay);
  EXPECT_EQ(book_->check(t, kAlice, kBob).outcome, Outcome::kExpired);
}

TEST_F(BookTest, PermanentIsReturnedAsIsWhileLive) {
  const std::string p = gen(Kind::kPermanent);
  clock_.advance(10);
  EXPECT_EQ(gen(Kind::kPermanent), p);
  EXPECT_EQ(book_->check(p, kAlice, kBob).outcome, Outcome::kValid);
  EXPECT_EQ(book_->check(p, kAlice, kBob).kind, Kind::kPermanent);
}

TEST_F(BookTest, PermanentNotStoredIsNotCurrent) {
  // Minted with our key but never stored (or replaced): the store is the truth.
  auto p = mint(Kind::kPermanent, ring_, kAlice, kBob, clock_.now());
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(book_->check(*p, kAlice, kBob).outcome, Outcome::kNotCurrent);
}

TEST_F(BookTest, PermanentExpiresWithoutDeliveries) {
  const std::string p = gen(Kind::kPermanent);
  clock_.advance(365 * kDay);
  EXPECT_EQ(book_->check(p, kAlice, kBob).outcome, Outcome::kNotCurrent);
}

TEST_F(BookTest, RevokeKillsTemporariesIssuedBeforeAndThePermanent) {
  const std::string t = gen(Kind::kTemporary);
  const std::string p = gen(Kind::kPermanent);
  clock_.advance(5);
  ASSERT_TRUE(book_->revoke(kAlice, kBob).ok());
  EXPECT_EQ(book_->check(t, kAlice, kBob).outcome, Outcome::kRevoked);
  EXPECT_EQ(book_->check(p, kAlice, kBob).outcome, Outcome::kNotCurrent);
  // A temporary generated in the same second as the revocation lives.
  const std::string after = gen(Kind::kTemporary);
  EXPECT_EQ(book_->check(after, kAlice, kBob).outcome, Outcome::kValid);
  // A new permanent replaces the revoked one.
  const std::string p2 = gen(Kind::kPermanent);
  EXPECT_NE(p2, p);
  EXPECT_EQ(book_->check(p2, kAlice, kBob).outcome, Outcome::kValid);
  EXPECT_EQ(book_->check(p, kAlice, kBob).outcome, Outcome::kNotCurrent);
}

TEST_F(BookTest, PermanentGeneratedInTheSecondOfItsRevocationIsANewOne) {
  const std::string p = gen(Kind::kPermanent);
  ASSERT_TRUE(book_->revoke(kAlice, kBob).ok());
  const std::string p2 = gen(Kind::kPermanent);
  EXPECT_NE(p2, p);
  EXPECT_EQ(book_->check(p, kAlice, kBob).outcome, Outcome::kNotCurrent);
  EXPECT_EQ(book_->check(p2, kAlice, kBob).outcome, Outcome::kValid);
}

TEST_F(BookTest, RevokeTouchesOnlyItsPair) {
  const std::string other = gen(Kind::kTemporary, "carol@alpha.test", kBob);
  ASSERT_TRUE(book_->revoke(kAlice, kBob).ok());
  EXPECT_EQ(book_->check(other, "carol@alpha.test", kBob).outcome, Outcome::kValid);
}

TEST_F(BookTest, RevokeWithNothingToRevokeSucceeds) {
  EXPECT_TRUE(book_->revoke(kAlice, kBob).ok());
  EXPECT_TRUE(book_->revoke(kAlice, kBob).ok());
}

TEST_F(BookTest, BadAddressesNameTheSide) {
  auto r = book_->generate(Kind::kTemporary, "nope", kBob);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kInvalid);
  EXPECT_EQ(r.error().message().rfind("remote", 0), 0u);
  auto l = book_->generate(Kind::kPermanent, kAlice, "a b");
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().message().rfind("local", 0), 0u);
}

TEST_F(BookTest, DeliveryByTemporaryGivesThePermanent) {
  const std::string t = gen(Kind::kTemporary);
  auto p = book_->afterDelivery(t, Kind::kTemporary, kAlice, kBob);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p->has_value());
  EXPECT_EQ(book_->check(**p, kAlice, kBob).outcome, Outcome::kValid);
  EXPECT_EQ(book_->check(**p, kAlice, kBob).kind, Kind::kPermanent);
  // Again with a temporary: the same permanent.
  auto again = book_->afterDelivery(t, Kind::kTemporary, kAlice, kBob);
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ(**again, **p);
}

TEST_F(BookTest, DeliveryByPermanentRefreshesAfterTheRefreshTime) {
  const std::string p = gen(Kind::kPermanent);
  clock_.advance(364 * kDay);
  auto r = book_->afterDelivery(p, Kind::kPermanent, kAlice, kBob);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  clock_.advance(2 * kDay);  // past the first year: alive because refreshed
  EXPECT_EQ(book_->check(p, kAlice, kBob).outcome, Outcome::kValid);
}

TEST_F(BookTest, DeliveryByPermanentBeforeRefreshTimeDoesNotExtend) {
  const std::string p = gen(Kind::kPermanent);
  clock_.advance(10 * kDay);
  ASSERT_TRUE(book_->afterDelivery(p, Kind::kPermanent, kAlice, kBob).ok());
  clock_.advance(355 * kDay);  // 365 days after minting, no refresh happened
  EXPECT_EQ(book_->check(p, kAlice, kBob).outcome, Outcome::kNotCurrent);
}

TEST_F(BookTest, DeliveryByPermanentOfARotatedKeyGivesANewPermanent) {
  const std::string p = gen(Kind::kPermanent);
  const token::KeyRing rotated = token::KeyRing::fromKeys({keyOf(1, 0x42), keyOf(2, 0x43)});
  TokenBook book(*store_, rotated, clock_, limits_);
  EXPECT_EQ(book.check(p, kAlice, kBob).outcome, Outcome::kValid);
  auto r = book.afterDelivery(p, Kind::kPermanent, kAlice, kBob);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_value());
  EXPECT_NE(**r, p);
  EXPECT_EQ(decode(**r)->key_id, 2u);
  EXPECT_EQ(book.check(**r, kAlice, kBob).outcome, Outcome::kValid);
  EXPECT_EQ(book.check(p, kAlice, kBob).outcome, Outcome::kNotCurrent);
}

TEST_F(BookTest, HeldTemporaryNeverReplacesHeldPermanent) {
  auto none = book_->held(kAlice, kBob);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().kind(), ErrorKind::kNotFound);
  ASSERT_TRUE(book_->hold(kAlice, kBob, "temp-1", Kind::kTemporary).ok());
  EXPECT_EQ(book_->held(kAlice, kBob)->token, "temp-1");
  auto perm = book_->hold(kAlice, kBob, "perm-1", Kind::kPermanent);
  ASSERT_TRUE(perm.ok());
  EXPECT_TRUE(*perm);
  auto temp = book_->hold(kAlice, kBob, "temp-2", Kind::kTemporary);
  ASSERT_TRUE(temp.ok());
  EXPECT_FALSE(*temp);
  auto h = book_->held("ALICE@alpha.test", "bob@Beta.Test");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->token, "perm-1");
  EXPECT_EQ(h->kind, Kind::kPermanent);
  // A newer permanent replaces the held permanent (the 2.1.13 case).
  ASSERT_TRUE(book_->hold(kAlice, kBob, "perm-2", Kind::kPermanent).ok());
  EXPECT_EQ(book_->held(kAlice, kBob)->token, "perm-2");
  auto dropped = book_->dropHeld(kAlice, kBob);
  ASSERT_TRUE(dropped.ok());
  EXPECT_TRUE(*dropped);
  EXPECT_FALSE(book_->held(kAlice, kBob).ok());
}

TEST_F(BookTest, HeldTemporaryExpires) {
  ASSERT_TRUE(book_->hold(kAlice, kBob, "temp-1", Kind::kTemporary).ok());
  clock_.advance(7 * kDay + 1);
  EXPECT_EQ(book_->held(kAlice, kBob).error().kind(), ErrorKind::kNotFound);
}

TEST_F(BookTest, HoldRefusesWhatCouldNotBeSentBack) {
  for (const std::string& bad : {std::string(), std::string("a b"), std::string("a=b"),
                                 std::string(300, 'x'), std::string("a\r\nRCPT")}) {
    auto r = book_->hold(kAlice, kBob, bad, Kind::kTemporary);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().kind(), ErrorKind::kInvalid);
  }
}

TEST_F(BookTest, ListShowsIssuedAndHeldWithoutTokens) {
  const std::string p = gen(Kind::kPermanent);             // bob's, for alice
  (void)gen(Kind::kPermanent, kAlice, "carol@beta.test");  // carol's
  ASSERT_TRUE(book_->hold(kBob, "dave@delta.test", "held-token", Kind::kTemporary).ok());
  auto all = book_->list("", 100);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);
  auto bobs = book_->list("Bob@beta.test", 100);
  ASSERT_TRUE(bobs.ok());
  ASSERT_EQ(bobs->size(), 2u);
  EXPECT_EQ((*bobs)[0].what, BookEntry::What::kIssued);
  EXPECT_EQ((*bobs)[0].remote, kAlice);
  EXPECT_EQ((*bobs)[0].token_id, tokenLogId(p));
  EXPECT_EQ((*bobs)[1].what, BookEntry::What::kHeld);
  EXPECT_EQ((*bobs)[1].remote, "dave@delta.test");
  auto one = book_->list("", 1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
}

// A store that fails every call: nothing is ever valid.
class DownStore final : public store::Store {
 public:
  const char* backendName() const override { return "down"; }
  Status revokeToken(std::string_view, int64_t) override { return down(); }
  Result<bool> isTokenRevoked(std::string_view) override { return down(); }
  Result<bool> recordOnce(std::string_view, std::string_view, int64_t) override { return down(); }
  Status putValue(std::string_view, std::string_view, std::string_view, int64_t) override {
    return down();
  }
  Result<std::string> getValue(std::string_view, std::string_view) override { return down(); }
  Result<bool> eraseValue(std::string_view, std::string_view) override { return down(); }
  Result<std::vector<std::pair<std::string, std::string>>> listValues(std::string_view,
                                                                      size_t) override {
    return down();
  }
  Result<uint64_t> purgeExpired() override { return down(); }

 private:
  static Error down() { return Error(ErrorKind::kTemporary, "database is locked"); }
};

TEST(BookStoreDown, CheckIsTemporaryNeverValid) {
  DownStore st;
  FakeClock clock;
  const token::KeyRing ring = token::KeyRing::fromKeys({keyOf(1, 0x42)});
  TokenBook book(st, ring, clock, {});
  for (Kind kind : {Kind::kTemporary, Kind::kPermanent}) {
    auto t = mint(kind, ring, kAlice, kBob, clock.now());
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(book.check(*t, kAlice, kBob).outcome, Outcome::kTemporary) << kindName(kind);
  }
  // A forged token is still refused for what it is, without the store.
  EXPECT_EQ(book.check(std::string(52, 'A'), kAlice, kBob).outcome, Outcome::kMalformed);
}

TEST(BookStoreDown, EveryWriteIsTemporary) {
  DownStore st;
  FakeClock clock;
  const token::KeyRing ring = token::KeyRing::fromKeys({keyOf(1, 0x42)});
  TokenBook book(st, ring, clock, {});
  EXPECT_EQ(book.generate(Kind::kTemporary, kAlice, kBob).error().kind(), ErrorKind::kTemporary);
  EXPECT_EQ(book.generate(Kind::kPermanent, kAlice, kBob).error().kind(), ErrorKind::kTemporary);
  EXPECT_EQ(book.revoke(kAlice, kBob).error().kind(), ErrorKind::kTemporary);
  EXPECT_EQ(book.hold(kBob, kAlice, "tok", Kind::kPermanent).error().kind(), ErrorKind::kTemporary);
  EXPECT_EQ(book.held(kBob, kAlice).error().kind(), ErrorKind::kTemporary);
  EXPECT_EQ(book.list("", 10).error().kind(), ErrorKind::kTemporary);
}

// A damaged entry never makes a token valid.
TEST_F(BookTest, DamagedPermanentEntryIsNotValid) {
  const std::string p = gen(Kind::kPermanent);
  std::string key = std::string(kBob) + '\0' + kAlice;
  ASSERT_TRUE(store_->putValue(kPermanentNamespace, key, p, clock_.now() + kDay).ok());
  EXPECT_EQ(book_->check(p, kAlice, kBob).outcome, Outcome::kTemporary);
}

}  // namespace
}  // namespace mtep::stoken

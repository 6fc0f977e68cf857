// UserBook on a real SqliteStore in a temp dir: add, find (any case),
// passwords, keys, salt resets, removal, names refused, damaged records,
// and a store that fails.
#include "e2ee/users.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "store/sqlite_store.h"

namespace mtep::e2ee {
namespace {

namespace fs = std::filesystem;

Hash hashOf(uint8_t fill) {
  Hash h;
  h.fill(fill);
  return h;
}

PublicKey keyOf(uint8_t seed_fill) {
  Seed seed;
  seed.fill(seed_fill);
  auto pair = keyPairFromSeed(seed);
  EXPECT_TRUE(pair.ok());
  return pair.ok() ? pair->pub : PublicKey{};
}

class UserBookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mtep-users-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto st = store::openSqlite({.path = dir_ + "/mtep.db"}, clock_);
    ASSERT_TRUE(st.ok()) << st.error().message();
    store_ = std::move(*st);
    users_ = std::make_unique<UserBook>(*store_, clock_);
  }
  void TearDown() override {
    users_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  FakeClock clock_{1'700'000'000};
  std::string dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<UserBook> users_;
};

TEST_F(UserBookTest, AddedUserIsFoundInAnyCaseWithAVerifierNotTheHash) {
  ASSERT_TRUE(users_->add("Alice@Alpha.Test", hashOf(7)).ok());
  auto u = users_->find("ALICE@alpha.test");
  ASSERT_TRUE(u.ok()) << u.error().message();
  EXPECT_EQ(u->name, "alice@alpha.test");
  EXPECT_EQ(u->created, 1'700'000'000);
  EXPECT_FALSE(u->pubkey.has_value());
  EXPECT_EQ(u->salt.size(), kNewSaltBytes);
  EXPECT_TRUE(checkVerifier(u->verifier, hashOf(7)));
  EXPECT_FALSE(checkVerifier(u->verifier, hashOf(8)));
  // The stored value holds neither the hash nor its hex.
  auto raw = store_->getValue(kUserNamespace, "alice@alpha.test");
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->find(std::string(64, '0').replace(0, 2, "07")), std::string::npos);
  EXPECT_EQ(raw->find("0707070707070707"), std::string::npos);
  EXPECT_TRUE(raw->starts_with("v1 v1:"));
}

TEST_F(UserBookTest, AddingTwiceIsRefusedAndKeepsTheFirst) {
  ASSERT_TRUE(users_->add("bob", hashOf(1)).ok());
  auto again = users_->add("BOB", hashOf(2));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind(), ErrorKind::kInvalid);
  EXPECT_NE(again.error().message().find("exists"), std::string::npos);
  EXPECT_TRUE(checkVerifier(users_->find("bob")->verifier, hashOf(1)));
}

TEST_F(UserBookTest, UnknownUsersAreNotFoundEverywhere) {
  EXPECT_EQ(users_->find("nobody").error().kind(), ErrorKind::kNotFound);
  EXPECT_EQ(users_->setPassword("nobody", hashOf(1)).error().kind(), ErrorKind::kNotFound);
  EXPECT_EQ(users_->setPublicKey("nobody", keyOf(1)).error().kind(), ErrorKind::kNotFound);
  EXPECT_EQ(users_->resetSalt("nobody").error().kind(), ErrorKind::kNotFound);
  auto removed = users_->remove("nobody");
  ASSERT_TRUE(removed.ok());
  EXPECT_FALSE(*removed);
}

TEST_F(UserBookTest, PasswordChangeKeepsSaltAndKey) {
  ASSERT_TRUE(users_->add("carol", hashOf(1)).ok());
  ASSERT_TRUE(users_->setPublicKey("carol", keyOf(3)).ok());
  const auto before = *users_->find("carol");
  ASSERT_TRUE(users_->setPassword("carol", hashOf(2)).ok());
  const auto after = *users_->find("carol");
  EXPECT_TRUE(checkVerifier(after.verifier, hashOf(2)));
  EXPECT_FALSE(checkVerifier(after.verifier, hashOf(1)));
  EXPECT_EQ(after.salt, before.salt);
  ASSERT_TRUE(after.pubkey.has_value());
  EXPECT_EQ(*after.pubkey, keyOf(3));
}

TEST_F(UserBookTest, SaltResetGivesANewSaltAndWithdrawsTheKey) {
  ASSERT_TRUE(users_->add("dave", hashOf(1)).ok());
  ASSERT_TRUE(users_->setPublicKey("dave", keyOf(4)).ok());
  const std::string old_salt = users_->find("dave")->salt;
  auto fresh = users_->resetSalt("dave");
  ASSERT_TRUE(fresh.ok());
  EXPECT_NE(*fresh, old_salt);
  const auto u = *users_->find("dave");
  EXPECT_EQ(u.salt, *fresh);
  EXPECT_FALSE(u.pubkey.has_value());
  EXPECT_TRUE(checkVerifier(u.verifier, hashOf(1)));
}

TEST_F(UserBookTest, RemoveAndList) {
  ASSERT_TRUE(users_->add("b@x.test", hashOf(1)).ok());
  ASSERT_TRUE(users_->add("a@x.test", hashOf(1)).ok());
  auto all = users_->list();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "a@x.test");
  auto removed = users_->remove("A@X.TEST");
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(*removed);
  EXPECT_EQ(users_->list()->size(), 1u);
  EXPECT_EQ(users_->find("a@x.test").error().kind(), ErrorKind::kNotFound);
}

TEST_F(UserBookTest, BadNamesAreRefusedBeforeTheStore) {
  for (std::string_view bad : {std::string_view(""), std::string_view("a b"),
                               std::string_view("a\"b"), std::string_view("tab\there"),
                               std::string_view("nul\0x", 5)}) {
    EXPECT_EQ(users_->add(bad, hashOf(1)).error().kind(), ErrorKind::kInvalid) << bad;
    EXPECT_EQ(users_->find(bad).error().kind(), ErrorKind::kInvalid) << bad;
  }
  EXPECT_EQ(users_->add(std::string(kMaxUsername + 1, 'a'), hashOf(1)).error().kind(),
            ErrorKind::kInvalid);
  EXPECT_TRUE(users_->add(std::string(kMaxUsername, 'a'), hashOf(1)).ok());
}

TEST_F(UserBookTest, DamagedRecordIsInternalAndNotEchoed) {
  ASSERT_TRUE(store_->putValue(kUserNamespace, "eve", "v1 secret-looking junk", 0).ok());
  auto u = users_->find("eve");
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error().kind(), ErrorKind::kInternal);
  EXPECT_EQ(u.error().message().find("secret"), std::string::npos);
  EXPECT_EQ(users_->list().error().kind(), ErrorKind::kInternal);
}

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
  static Error down() { return Error(ErrorKind::kInternal, "database is locked"); }
};

TEST(UserBookStoreDown, EveryOperationIsTemporary) {
  DownStore st;
  FakeClock clock;
  UserBook users(st, clock);
  EXPECT_EQ(users.find("a").error().kind(), ErrorKind::kTemporary);
  EXPECT_EQ(users.add("a", hashOf(1)).error().kind(), ErrorKind::kTemporary);
  EXPECT_EQ(users.remove("a").error().kind(), ErrorKind::kTemporary);
  EXPECT_EQ(users.resetSalt("a").error().kind(), ErrorKind::kTemporary);
  EXPECT_EQ(users.list().error().kind(), ErrorKind::kTemporary);
  EXPECT_NE(users.find("a").error().message().find("database is locked"), std::string::npos);
}

}  // namespace
}  // namespace mtep::e2ee

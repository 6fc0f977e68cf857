// Tests for verify::RingMinter with a FakeClock and a key file in a temp
// dir: minted tokens verify with the file's key, a rotation is picked up
// once the clock has moved a second, a bad or missing file keeps the old
// keys, and a repaired file is picked up again.

#include "verify/minter.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

namespace mtep::verify {
namespace {

namespace fs = std::filesystem;

constexpr char kSender[] = "alice@alpha.test";

class RingMinterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mtep-minter-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/token.keys";
  }
  void TearDown() override { fs::remove_all(dir_); }

  token::KeyRing makeFile() {
    auto ring = token::KeyRing::load(path_, {.create = true}, clock_);
    EXPECT_TRUE(ring.ok()) << ring.error().message();
    return std::move(ring).value();
  }
  void writeFile(const std::string& content) {
    {
      std::ofstream f(path_, std::ios::trunc);
      f << content;
    }
    ASSERT_EQ(::chmod(path_.c_str(), 0600), 0);
  }
  std::unique_ptr<RingMinter> minter() {
    auto m = RingMinter::create(path_, clock_);
    EXPECT_TRUE(m.ok()) << m.error().message();
    return m.ok() ? std::move(m).value() : nullptr;
  }
  // The key id a minted token names (0 when minting failed).
  static uint32_t keyIdOf(const Result<std::string>& tok) {
    if (!tok.ok()) return 0;
    auto info = token::decode(*tok);
    return info.ok() ? info->key_id : 0;
  }
  token::Outcome check(const token::KeyRing& ring, const Result<std::string>& tok) {
    if (!tok.ok()) return token::Outcome::kMalformed;
    return token::verify(ring, *tok, kSender, true, clock_.now()).outcome;
  }

  std::string dir_;
  std::string path_;
  FakeClock clock_;
};

TEST_F(RingMinterTest, MissingFileIsAConfigErrorAndIsNotCreated) {
  auto m = RingMinter::create(path_, clock_);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind(), ErrorKind::kConfig);
  EXPECT_FALSE(fs::exists(path_));
}

TEST_F(RingMinterTest, MintedTokenVerifiesWithTheFilesKey) {
  const token::KeyRing ring = makeFile();
  auto m = minter();
  ASSERT_NE(m, nullptr);
  auto tok = m->mint(kSender, "beta.test", 3600);
  ASSERT_TRUE(tok.ok()) << tok.error().message();
  EXPECT_EQ(tok->size(), token::kTokenTextLength);
  EXPECT_EQ(check(ring, tok), token::Outcome::kValid);
  EXPECT_EQ(token::verify(ring, *tok, "bob@alpha.test", true, clock_.now()).outcome,
            token::Outcome::kSenderMismatch);
  auto info = token::decode(*tok);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->expires, clock_.now() + 3600);
}

TEST_F(RingMinterTest, MintedTokenIsBoundToItsRecipientDomain) {
  const token::KeyRing ring = makeFile();
  auto m = minter();
  ASSERT_NE(m, nullptr);
  auto tok = m->mint(kSender, "beta.test", 3600);
  ASSERT_TRUE(tok.ok()) << tok.error().message();
  EXPECT_EQ(token::verify(ring, *tok, token::Binding::of(kSender, "beta.test"), clock_.now())
                .outcome,
            token::Outcome::kValid);
  EXPECT_EQ(token::verify(ring, *tok, token::Binding::of(kSender, "gamma.test"), clock_.now())
                .outcome,
            token::Outcome::kRecipientMismatch);
}

TEST_F(RingMinterTest, EmptyRecipientDomainIsInvalid) {
  makeFile();
  auto m = minter();
  ASSERT_NE(m, nullptr);
  auto tok = m->mint(kSender, "", 3600);
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.error().kind(), ErrorKind::kInvalid);
}

TEST_F(RingMinterTest, EmptySenderIsInvalid) {
  makeFile();
  auto m = minter();
  ASSERT_NE(m, nullptr);
  auto tok = m->mint("", "beta.test", 3600);
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.error().kind(), ErrorKind::kInvalid);
}

TEST_F(RingMinterTest, NonPositiveTtlIsInvalid) {
  makeFile();
  auto m = minter();
  ASSERT_NE(m, nullptr);
  auto tok = m->mint(kSender, "beta.test", 0);
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.error().kind(), ErrorKind::kInvalid);
}

TEST_F(RingMinterTest, RotationIsPickedUpOnceTheClockMovesASecond) {
  makeFile();
  auto m = minter();
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(keyIdOf(m->mint(kSender, "beta.test", 3600)), 1u);
  auto rotated = token::KeyRing::rotate(path_, {}, clock_);
  ASSERT_TRUE(rotated.ok()) << rotated.error().message();
  ASSERT_EQ(rotated->current().id, 2u);
  // Same clock second: the file is not looked at again.
  EXPECT_EQ(keyIdOf(m->mint(kSender, "beta.test", 3600)), 1u);
  clock_.advance(1);
  auto tok = m->mint(kSender, "beta.test", 3600);
  EXPECT_EQ(keyIdOf(tok), 2u);
  EXPECT_EQ(check(*rotated, tok), token::Outcome::kValid);
}

TEST_F(RingMinterTest, BadFileKeepsTheOldKeysUntilRepaired) {
  const token::KeyRing ring = makeFile();
  auto m = minter();
  ASSERT_NE(m, nullptr);
  writeFile("this is not a key file\n");
  clock_.advance(1);
  auto tok = m->mint(kSender, "beta.test", 3600);
  EXPECT_EQ(keyIdOf(tok), 1u);
  EXPECT_EQ(check(ring, tok), token::Outcome::kValid);
  clock_.advance(1);
  EXPECT_EQ(keyIdOf(m->mint(kSender, "beta.test", 3600)), 1u);  // unchanged bad file: retried, still bad
  writeFile("7 1700000000 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
  clock_.advance(1);
  EXPECT_EQ(keyIdOf(m->mint(kSender, "beta.test", 3600)), 7u);
}

// A rotated file renamed into place with mode 0644 cannot be loaded; the
// admin's chmod 600 changes neither its inode, size nor mtime. The failed
// load must be retried until it works, or the milter mints with the old
// key while mtepd (which retries) has moved on.
TEST_F(RingMinterTest, FailedReloadAfterARotationIsRetriedUntilTheNewRingIsUsed) {
  makeFile();
  auto m = minter();
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(keyIdOf(m->mint(kSender, "beta.test", 3600)), 1u);
  const std::string next = dir_ + "/token.keys.new";
  fs::copy_file(path_, next);
  auto rotated = token::KeyRing::rotate(next, {}, clock_);
  ASSERT_TRUE(rotated.ok()) << rotated.error().message();
  ASSERT_EQ(rotated->current().id, 2u);
  ASSERT_EQ(::chmod(next.c_str(), 0644), 0);
  ASSERT_EQ(::rename(next.c_str(), path_.c_str()), 0);
  clock_.advance(1);
  EXPECT_EQ(keyIdOf(m->mint(kSender, "beta.test", 3600)), 1u);  // mode 0644: refused, old ring kept
  ASSERT_EQ(::chmod(path_.c_str(), 0600), 0);
  clock_.advance(1);
  auto tok = m->mint(kSender, "beta.test", 3600);
  EXPECT_EQ(keyIdOf(tok), 2u);
  EXPECT_EQ(check(*rotated, tok), token::Outcome::kValid);
}

TEST_F(RingMinterTest, MissingFileKeepsTheOldKeysAndItsReturnIsPickedUp) {
  const token::KeyRing ring = makeFile();
  auto m = minter();
  ASSERT_NE(m, nullptr);
  const std::string aside = dir_ + "/aside";
  ASSERT_EQ(::rename(path_.c_str(), aside.c_str()), 0);
  clock_.advance(1);
  EXPECT_EQ(check(ring, m->mint(kSender, "beta.test", 3600)), token::Outcome::kValid);
  auto rotated = token::KeyRing::rotate(aside, {}, clock_);
  ASSERT_TRUE(rotated.ok()) << rotated.error().message();
  ASSERT_EQ(::rename(aside.c_str(), path_.c_str()), 0);
  clock_.advance(1);
  EXPECT_EQ(keyIdOf(m->mint(kSender, "beta.test", 3600)), 2u);
}

TEST_F(RingMinterTest, MissingFileKeepsTheOldKeys) {
  const token::KeyRing ring = makeFile();
  auto m = minter();
  ASSERT_NE(m, nullptr);
  fs::remove(path_);
  clock_.advance(1);
  auto tok = m->mint(kSender, "beta.test", 3600);
  EXPECT_EQ(check(ring, tok), token::Outcome::kValid);
}

TEST_F(RingMinterTest, ConcurrentMintsAllVerify) {
  const token::KeyRing ring = makeFile();
  auto m = minter();
  ASSERT_NE(m, nullptr);
  constexpr int kThreads = 4;
  constexpr int kEach = 50;
  std::vector<std::vector<std::string>> tokens(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&m, &tokens, i] {
      for (int j = 0; j < kEach; ++j) {
        auto tok = m->mint(kSender, "beta.test", 3600);
        if (tok.ok()) tokens[static_cast<size_t>(i)].push_back(*tok);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& list : tokens) {
    ASSERT_EQ(list.size(), static_cast<size_t>(kEach));
    for (const std::string& tok : list) {
      EXPECT_EQ(token::verify(ring, tok, kSender, true, clock_.now()).outcome,
                token::Outcome::kValid);
    }
  }
}

}  // namespace
}  // namespace mtep::verify

// Key files: creation, permissions, malformed lines, rotation and retirement.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "token/token.h"

namespace mtep::token {
namespace {

namespace fs = std::filesystem;

constexpr char kHex64[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mtep-keys-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/token.keys";
  }
  void TearDown() override { fs::remove_all(dir_); }

  void writeFile(const std::string& content, mode_t mode = 0600) {
    {
      std::ofstream f(path_, std::ios::trunc);
      f << content;
    }
    ASSERT_EQ(::chmod(path_.c_str(), mode), 0);
  }
  mode_t modeOf(const std::string& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0);
    return st.st_mode & 07777;
  }

  std::string dir_;
  std::string path_;
  FakeClock clock_;
};

TEST_F(KeyFileTest, MissingFileWithoutCreateIsConfigError) {
  auto r = KeyRing::load(path_, {}, clock_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kConfig);
  EXPECT_NE(r.error().message().find(path_), std::string::npos) << r.error().message();
}

TEST_F(KeyFileTest, CreateMakesMode0600FileWithOneKey) {
  auto r = KeyRing::load(path_, {.create = true}, clock_);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->keys().size(), 1u);
  EXPECT_EQ(r->current().id, 1u);
  EXPECT_EQ(r->current().created, clock_.now());
  EXPECT_EQ(modeOf(path_), 0600u);
  // Loading again reads the same key back.
  auto again = KeyRing::load(path_, {}, clock_);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(again->current().secret, r->current().secret);
}

TEST_F(KeyFileTest, CreatedKeysAreRandom) {
  auto a = KeyRing::load(path_, {.create = true}, clock_);
  ASSERT_TRUE(a.ok());
  fs::remove(path_);
  auto b = KeyRing::load(path_, {.create = true}, clock_);
  ASSERT_TRUE(b.ok());
  EXPECT_NE(a->current().secret, b->current().secret);
}

TEST_F(KeyFileTest, CreateKeepsAnExistingFile) {
  writeFile(std::string("5 1600000000 ") + kHex64 + "\n");
  auto r = KeyRing::load(path_, {.create = true}, clock_);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->current().id, 5u);
}

TEST_F(KeyFileTest, RefusesFileOpenToGroupOrOthers) {
  for (mode_t mode : {0640, 0604, 0660, 0644, 0601, 0620}) {
    writeFile(std::string("1 1600000000 ") + kHex64 + "\n", mode);
    auto r = KeyRing::load(path_, {}, clock_);
    ASSERT_FALSE(r.ok()) << std::oct << mode;
    EXPECT_EQ(r.error().kind(), ErrorKind::kConfig);
    EXPECT_NE(r.error().message().find("chmod 600 " + path_), std::string::npos)
        << r.error().message();
  }
  writeFile(std::string("1 1600000000 ") + kHex64 + "\n", 0400);
  EXPECT_TRUE(KeyRing::load(path_, {}, clock_).ok());
}

TEST_F(KeyFileTest, ReadsCommentsBlankLinesAndCrLf) {
  writeFile(std::string("# keys\r\n\r\n  \t\n2 1600000000 ") + kHex64 +
            "\r\n# between\n1\t1500000000\t" + kHex64 + "  \n");
  auto r = KeyRing::load(path_, {}, clock_);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->keys().size(), 2u);
  EXPECT_EQ(r->keys()[0].id, 1u);
  EXPECT_EQ(r->keys()[0].created, 1'500'000'000);
  EXPECT_EQ(r->current().id, 2u);
  EXPECT_EQ(r->current().secret[1], 0x11);
}

TEST_F(KeyFileTest, MalformedLinesNameFileAndLine) {
  const std::string good = std::string("1 1600000000 ") + kHex64 + "\n";
  struct Case {
    std::string content;
    int line;  // 0: no line number expected
  };
  const std::vector<Case> cases = {
      {"# only a comment\n", 0},
      {"", 0},
      {"1 1600000000\n", 1},
      {good + "2 1600000000 " + kHex64 + " extra\n", 2},
      {"x 1600000000 " + std::string(kHex64) + "\n", 1},
      {"-1 1600000000 " + std::string(kHex64) + "\n", 1},
      {"4294967296 1600000000 " + std::string(kHex64) + "\n", 1},
      {"# c\n1 -5 " + std::string(kHex64) + "\n", 2},
      {"1 16e8 " + std::string(kHex64) + "\n", 1},
      {"1 1600000000 " + std::string(kHex64).substr(2) + "\n", 1},
      {"1 1600000000 " + std::string(kHex64) + "00\n", 1},
      {"1 1600000000 zz" + std::string(kHex64).substr(2) + "\n", 1},
      {good + "\n" + good, 3},
  };
  for (const Case& c : cases) {
    writeFile(c.content);
    auto r = KeyRing::load(path_, {}, clock_);
    ASSERT_FALSE(r.ok()) << c.content;
    EXPECT_EQ(r.error().kind(), ErrorKind::kConfig);
    std::string want = c.line > 0 ? path_ + ":" + std::to_string(c.line) + ": " : path_ + ": ";
    EXPECT_EQ(r.error().message().rfind(want, 0), 0u)
        << "got: " << r.error().message() << "\nwant prefix: " << want;
    // Never echo the secret.
    EXPECT_EQ(r.error().message().find("8899aabb"), std::string::npos);
  }
}

TEST_F(KeyFileTest, RotateAddsKeyAndOldTokensStillVerify) {
  auto first = KeyRing::load(path_, {.create = true}, clock_);
  ASSERT_TRUE(first.ok());
  auto old_token = mint(*first, "a@b.example", "c.example", clock_.now(), 86400);
  ASSERT_TRUE(old_token.ok());

  clock_.advance(3600);
  auto second = KeyRing::rotate(path_, {}, clock_);
  ASSERT_TRUE(second.ok()) << second.error().message();
  ASSERT_EQ(second->keys().size(), 2u);
  EXPECT_EQ(second->current().id, 2u);
  EXPECT_EQ(second->current().created, clock_.now());
  EXPECT_EQ(modeOf(path_), 0600u);
  EXPECT_EQ(verify(*second, *old_token, "a@b.example", true, clock_.now()).outcome,
            Outcome::kValid);
  auto new_token = mint(*second, "a@b.example", "c.example", clock_.now(), 86400);
  ASSERT_TRUE(new_token.ok());
  EXPECT_EQ(decode(*new_token)->key_id, 2u);

  // What rotate() returned is what is on disk.
  auto reread = KeyRing::load(path_, {}, clock_);
  ASSERT_TRUE(reread.ok());
  ASSERT_EQ(reread->keys().size(), 2u);
  EXPECT_EQ(reread->current().secret, second->current().secret);
  EXPECT_EQ(reread->keys()[0].secret, first->current().secret);
}

TEST_F(KeyFileTest, RotateOfAMissingFileCreatesExactlyOneKey) {
  auto created = KeyRing::rotate(path_, {.create = true}, clock_);
  ASSERT_TRUE(created.ok()) << created.error().message();
  ASSERT_EQ(created->keys().size(), 1u);
  EXPECT_EQ(created->current().id, 1u);
  auto reread = KeyRing::load(path_, {}, clock_);
  ASSERT_TRUE(reread.ok());
  EXPECT_EQ(reread->keys().size(), 1u);
  // The next rotation adds the second key.
  auto next = KeyRing::rotate(path_, {.create = true}, clock_);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->keys().size(), 2u);
}

TEST_F(KeyFileTest, RotateRetiresKeysSupersededLongerThanRetireAfter) {
  const KeyRingOptions opts{.create = true, .retire_after = 1000};
  auto k1 = KeyRing::load(path_, opts, clock_);
  ASSERT_TRUE(k1.ok());
  auto t1 = mint(*k1, "a@b.example", "c.example", clock_.now(), 500);
  ASSERT_TRUE(t1.ok());

  clock_.advance(100);
  auto k2 = KeyRing::rotate(path_, opts, clock_);  // key 1 superseded now
  ASSERT_TRUE(k2.ok());
  clock_.advance(1000);
  auto k3 = KeyRing::rotate(path_, opts, clock_);  // exactly retire_after: kept
  ASSERT_TRUE(k3.ok());
  ASSERT_EQ(k3->keys().size(), 3u);
  EXPECT_NE(k3->find(1), nullptr);

  clock_.advance(1);
  auto k4 = KeyRing::rotate(path_, opts, clock_);  // key 1 retired, key 2 not yet
  ASSERT_TRUE(k4.ok());
  std::vector<uint32_t> ids;
  for (const Key& k : k4->keys()) ids.push_back(k.id);
  EXPECT_EQ(ids, (std::vector<uint32_t>{2, 3, 4}));
  EXPECT_EQ(verify(*k4, *t1, "a@b.example", true, clock_.now()).outcome, Outcome::kUnknownKey);
}

TEST_F(KeyFileTest, RotateWithZeroRetireAfterKeepsEveryKey) {
  ASSERT_TRUE(KeyRing::load(path_, {.create = true}, clock_).ok());
  for (int i = 0; i < 5; ++i) {
    clock_.advance(1'000'000);
    ASSERT_TRUE(KeyRing::rotate(path_, {}, clock_).ok());
  }
  auto r = KeyRing::load(path_, {}, clock_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->keys().size(), 6u);
  EXPECT_EQ(r->current().id, 6u);
}

TEST_F(KeyFileTest, RotateLeavesNoTemporaryFiles) {
  ASSERT_TRUE(KeyRing::load(path_, {.create = true}, clock_).ok());
  ASSERT_TRUE(KeyRing::rotate(path_, {}, clock_).ok());
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"token.keys", "token.keys.lock"}));
}

TEST_F(KeyFileTest, ConcurrentRotationsLoseNoKey) {
  ASSERT_TRUE(KeyRing::load(path_, {.create = true}, clock_).ok());
  constexpr int kPerProcess = 25;
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    for (int i = 0; i < kPerProcess; ++i) {
      if (!KeyRing::rotate(path_, {}, clock_).ok()) ::_exit(1);
    }
    ::_exit(0);
  }
  for (int i = 0; i < kPerProcess; ++i) ASSERT_TRUE(KeyRing::rotate(path_, {}, clock_).ok());
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto r = KeyRing::load(path_, {}, clock_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->keys().size(), 1u + 2 * kPerProcess);
  EXPECT_EQ(r->current().id, 1u + 2 * kPerProcess);
}

TEST_F(KeyFileTest, RotateRefusesABadFileAndLeavesIt) {
  writeFile("garbage\n");
  auto r = KeyRing::rotate(path_, {}, clock_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kConfig);
  std::ifstream f(path_);
  std::string content((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "garbage\n");
}

TEST_F(KeyFileTest, RotateRefusesWhenIdsAreExhausted) {
  writeFile(std::string("4294967295 1600000000 ") + kHex64 + "\n");
  auto r = KeyRing::rotate(path_, {}, clock_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kConfig);
}

}  // namespace
}  // namespace mtep::token

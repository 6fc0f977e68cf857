// KeyFileWatch: a load is attempted when the file differs from the one
// last loaded successfully; a failed load is retried at every call until
// one succeeds, and reported as news (kFailed) only once per file state
// and error.
#include "token/key_watch.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace mtep::token {
namespace {

namespace fs = std::filesystem;
using WatchOutcome = KeyFileWatch::Outcome;

class KeyWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mtep-watch-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/token.keys";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Replaces the file by rename, as `mtepctl key rotate` does.
  void replaceWith(const std::string& content) {
    const std::string tmp = dir_ + "/next";
    {
      std::ofstream f(tmp, std::ios::trunc);
      f << content;
    }
    ASSERT_EQ(::rename(tmp.c_str(), path_.c_str()), 0);
  }
  // A loader that fails while `fail_` is set and counts its calls.
  WatchOutcome reload(KeyFileWatch& w) {
    return w.reload([this]() -> Status {
      ++calls_;
      if (fail_) return Error(ErrorKind::kConfig, "bad key file");
      return okStatus();
    });
  }

  std::string dir_;
  std::string path_;
  bool fail_ = false;
  int calls_ = 0;
};

TEST_F(KeyWatchTest, NothingLoadedYetMeansTheFirstCallLoads) {
  replaceWith("one");
  KeyFileWatch w(path_);
  EXPECT_EQ(reload(w), WatchOutcome::kLoaded);
  EXPECT_EQ(reload(w), WatchOutcome::kUnchanged);
  EXPECT_EQ(calls_, 1);
}

TEST_F(KeyWatchTest, UnchangedFileIsNotLoadedAgain) {
  replaceWith("one");
  KeyFileWatch w(path_);
  w.loaded(w.stamp());
  EXPECT_EQ(reload(w), WatchOutcome::kUnchanged);
  EXPECT_EQ(reload(w), WatchOutcome::kUnchanged);
  EXPECT_EQ(calls_, 0);
}

TEST_F(KeyWatchTest, FailedLoadIsRetriedAtEveryCallUntilItSucceeds) {
  replaceWith("one");
  KeyFileWatch w(path_);
  w.loaded(w.stamp());
  replaceWith("two");
  fail_ = true;
  EXPECT_EQ(reload(w), WatchOutcome::kFailed);
  EXPECT_EQ(w.lastError(), "bad key file");
  // The file does not change again (think chmod 600 after the rename):
  // it is still tried, and the repeated failure is no news.
  EXPECT_EQ(reload(w), WatchOutcome::kStillFailing);
  EXPECT_EQ(reload(w), WatchOutcome::kStillFailing);
  EXPECT_EQ(calls_, 3);
  fail_ = false;
  EXPECT_EQ(reload(w), WatchOutcome::kLoaded);
  EXPECT_EQ(w.lastError(), "");
  EXPECT_EQ(reload(w), WatchOutcome::kUnchanged);
  EXPECT_EQ(calls_, 4);
}

TEST_F(KeyWatchTest, ANewFailureOnADifferentFileIsNewsAgain) {
  replaceWith("one");
  KeyFileWatch w(path_);
  w.loaded(w.stamp());
  fail_ = true;
  replaceWith("two");
  EXPECT_EQ(reload(w), WatchOutcome::kFailed);
  replaceWith("three!");
  EXPECT_EQ(reload(w), WatchOutcome::kFailed);
  EXPECT_EQ(reload(w), WatchOutcome::kStillFailing);
}

TEST_F(KeyWatchTest, MissingFileIsAFailureThatIsRetried) {
  replaceWith("one");
  KeyFileWatch w(path_);
  w.loaded(w.stamp());
  ASSERT_EQ(::unlink(path_.c_str()), 0);
  fail_ = true;
  EXPECT_EQ(reload(w), WatchOutcome::kFailed);
  EXPECT_EQ(reload(w), WatchOutcome::kStillFailing);
  fail_ = false;
  replaceWith("two");
  EXPECT_EQ(reload(w), WatchOutcome::kLoaded);
}

TEST_F(KeyWatchTest, IdentityIsTakenBeforeTheLoadReadsTheFile) {
  // The file changes while the loader reads it: the change is seen at the
  // next call, not lost.
  replaceWith("one");
  KeyFileWatch w(path_);
  w.loaded(w.stamp());
  replaceWith("two");
  EXPECT_EQ(w.reload([this]() -> Status {
    replaceWith("three, written during the load");
    return okStatus();
  }),
            WatchOutcome::kLoaded);
  EXPECT_EQ(reload(w), WatchOutcome::kLoaded);
  EXPECT_EQ(reload(w), WatchOutcome::kUnchanged);
}

TEST_F(KeyWatchTest, NewPathCountsAsNotLoaded) {
  replaceWith("one");
  KeyFileWatch w(path_);
  w.loaded(w.stamp());
  w.setPath(path_);
  EXPECT_EQ(reload(w), WatchOutcome::kLoaded);
}

}  // namespace
}  // namespace mtep::token

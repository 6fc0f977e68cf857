// sys::shareSocketFile: the socket this process bound gets the owner and
// mode asked for; whatever else stands at the path (a symlink, a regular
// file, a socket linked in from elsewhere) is refused and left as it was.
// Root is not needed: the ids asked for are then this process's own.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "sys/privileges.h"
#include "util/unique_fd.h"

namespace mtep::sys {
namespace {

class SocketFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mtep-sock-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/milter.sock";
    uid_ = ::geteuid();
    gid_ = ::getegid();
    if (uid_ == 0) {
      const passwd* pw = ::getpwnam("nobody");  // test only, single-threaded
      if (pw != nullptr) {
        uid_ = pw->pw_uid;
        gid_ = pw->pw_gid;
      }
    }
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // A listening unix socket bound at `path` (kept open by the fixture).
  void bindAt(const std::string& path) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(fd.valid());
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    ASSERT_LT(path.size(), sizeof sa.sun_path);
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa), 0)
        << std::strerror(errno);
    ASSERT_EQ(::listen(fd.get(), 1), 0);
    fds_.push_back(std::move(fd));
  }
  static struct stat lstatOf(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st;
  }
  void expectRefused(const Status& s) {
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().kind(), ErrorKind::kConfig);
    EXPECT_NE(s.error().message().find(path_), std::string::npos) << s.error().message();
  }

  std::string dir_;
  std::string path_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  std::vector<UniqueFd> fds_;
};

TEST_F(SocketFile, TheBoundSocketGetsTheOwnerAndModeAskedFor) {
  bindAt(path_);
  Status s = shareSocketFile(path_, uid_, gid_, 0660);
  ASSERT_TRUE(s.ok()) << s.error().message();
  const struct stat st = lstatOf(path_);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_uid, uid_);
  EXPECT_EQ(st.st_gid, gid_);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
}

// The attack: between libmilter's bind() and the chown, the socket's name
// is replaced by a symlink to a file root owns. chown(path)/chmod(path)
// followed it.
TEST_F(SocketFile, SymlinkToAFileIsRefusedAndItsTargetKeepsOwnerAndMode) {
  const std::string target = dir_ + "/shadow";
  std::ofstream(target) << "secret\n";
  ASSERT_EQ(::chmod(target.c_str(), 0600), 0);
  const struct stat before = lstatOf(target);
  ASSERT_EQ(::symlink(target.c_str(), path_.c_str()), 0);
  expectRefused(shareSocketFile(path_, uid_, gid_, 0660));
  const struct stat after = lstatOf(target);
  EXPECT_EQ(after.st_uid, before.st_uid);
  EXPECT_EQ(after.st_gid, before.st_gid);
  EXPECT_EQ(after.st_mode & 07777, 0600u);
}

TEST_F(SocketFile, SymlinkToAnotherSocketIsRefused) {
  const std::string other = dir_ + "/other.sock";
  bindAt(other);
  ASSERT_EQ(::chmod(other.c_str(), 0600), 0);
  ASSERT_EQ(::symlink(other.c_str(), path_.c_str()), 0);
  expectRefused(shareSocketFile(path_, uid_, gid_, 0660));
  EXPECT_EQ(lstatOf(other).st_mode & 07777, 0600u);
}

TEST_F(SocketFile, SocketHardLinkedFromElsewhereIsRefused) {
  const std::string other = dir_ + "/other.sock";
  bindAt(other);
  ASSERT_EQ(::chmod(other.c_str(), 0600), 0);
  ASSERT_EQ(::link(other.c_str(), path_.c_str()), 0);
  expectRefused(shareSocketFile(path_, uid_, gid_, 0660));
  EXPECT_EQ(lstatOf(other).st_mode & 07777, 0600u);
}

TEST_F(SocketFile, RegularFileIsRefusedAndUnchanged) {
  std::ofstream(path_) << "not a socket\n";
  ASSERT_EQ(::chmod(path_.c_str(), 0600), 0);
  expectRefused(shareSocketFile(path_, uid_, gid_, 0660));
  EXPECT_EQ(lstatOf(path_).st_mode & 07777, 0600u);
}

TEST_F(SocketFile, MissingSocketIsAnErrorNamingIt) {
  expectRefused(shareSocketFile(path_, uid_, gid_, 0660));
}

}  // namespace
}  // namespace mtep::sys

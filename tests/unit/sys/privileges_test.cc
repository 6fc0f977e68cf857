// dropPrivileges and prepareStateDir. Whatever can change this process's
// ids runs in a forked child, so the test binary itself stays root.
#include "sys/privileges.h"

#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace mtep::sys {
namespace {

constexpr const char* kUnprivileged = "nobody";
constexpr const char* kMissingUser = "mtep-test-no-such-user";
constexpr gid_t kStrayGroup = 4242;  // a group "nobody" is not in

struct Ids {
  uid_t uid;
  gid_t gid;
};

bool lookup(const char* name, Ids* out) {
  const passwd* pw = ::getpwnam(name);  // test only, single-threaded
  if (pw == nullptr) return false;
  *out = {pw->pw_uid, pw->pw_gid};
  return true;
}

// Runs `body` in a child process; returns "" if it passed, else what failed.
std::string inChild(const std::function<std::string()>& body) {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    ::close(fds[0]);
    const std::string failure = body();
    const ssize_t n = ::write(fds[1], failure.data(), failure.size());
    ::_exit(n == static_cast<ssize_t>(failure.size()) && failure.empty() ? 0 : 1);
  }
  ::close(fds[1]);
  std::string failure;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) failure.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return "waitpid failed";
  if (!WIFEXITED(status)) return "child died: " + failure;
  if (WEXITSTATUS(status) != 0 && failure.empty()) return "child exited non-zero";
  return failure;
}

std::string ids() {
  return "uid=" + std::to_string(::getuid()) + " euid=" + std::to_string(::geteuid()) +
         " gid=" + std::to_string(::getgid()) + " egid=" + std::to_string(::getegid());
}

class Privileges : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    if (!lookup(kUnprivileged, &nobody_)) GTEST_SKIP() << "no user " << kUnprivileged;
    char tmpl[] = "/tmp/mtep-priv-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    ASSERT_EQ(::chmod(base_.c_str(), 0755), 0);  // reachable after dropping root
  }
  void TearDown() override {
    if (!base_.empty()) {
      const std::string cmd = "rm -rf '" + base_ + "'";
      EXPECT_EQ(std::system(cmd.c_str()), 0);
    }
  }
  Ids nobody_{};
  std::string base_;
};

TEST_F(Privileges, DropSwitchesEveryIdAndRootCannotBeRegained) {
  const Ids want = nobody_;
  EXPECT_EQ(inChild([want]() -> std::string {
              // Give root supplementary groups that the drop must shed.
              const gid_t extra[] = {0, kStrayGroup};
              if (::setgroups(2, extra) != 0) return "setgroups failed";
              Status s = dropPrivileges(kUnprivileged);
              if (!s) return "dropPrivileges: " + s.error().message();
              if (::getuid() != want.uid || ::geteuid() != want.uid) return "uid: " + ids();
              if (::getgid() != want.gid || ::getegid() != want.gid) return "gid: " + ids();
              uid_t r, e, saved;
              if (::getresuid(&r, &e, &saved) != 0 || saved != want.uid) return "saved uid kept";
              if (::setuid(0) != -1) return "setuid(0) succeeded";
              if (::seteuid(0) != -1) return "seteuid(0) succeeded";
              if (::setgid(0) != -1) return "setgid(0) succeeded";
              std::vector<gid_t> groups(256);
              const int n = ::getgroups(static_cast<int>(groups.size()), groups.data());
              if (n < 0) return "getgroups failed";
              for (int i = 0; i < n; ++i) {
                const gid_t g = groups[static_cast<size_t>(i)];
                if (g == 0 || g == kStrayGroup) return "kept group " + std::to_string(g);
              }
              return "";
            }),
            "");
}

TEST_F(Privileges, UnknownUserIsAConfigErrorNamingItAndChangesNothing) {
  EXPECT_EQ(inChild([]() -> std::string {
              Status s = dropPrivileges(kMissingUser);
              if (s) return "dropped to a user that does not exist";
              if (s.error().kind() != ErrorKind::kConfig) return "kind is not kConfig";
              if (s.error().message().find(kMissingUser) == std::string::npos) {
                return "message does not name the user: " + s.error().message();
              }
              if (::getuid() != 0 || ::geteuid() != 0) return "ids changed: " + ids();
              return "";
            }),
            "");
}

TEST_F(Privileges, RootAsTargetUserIsRefused) {
  EXPECT_EQ(inChild([]() -> std::string {
              Status s = dropPrivileges("root");
              if (s) return "accepted root as the unprivileged user";
              if (s.error().kind() != ErrorKind::kConfig) return "kind is not kConfig";
              return "";
            }),
            "");
}

TEST_F(Privileges, EmptyUserAndNotBeingRootAreNoOps) {
  const Ids want = nobody_;
  EXPECT_EQ(inChild([want]() -> std::string {
              Status s = dropPrivileges("");
              if (!s) return "empty user: " + s.error().message();
              if (::geteuid() != 0) return "empty user changed ids: " + ids();
              if (!dropPrivileges(kUnprivileged)) return "first drop failed";
              // Not root any more: nothing to do, whatever the name.
              if (Status again = dropPrivileges(kMissingUser); !again) {
                return "not root, unknown user: " + again.error().message();
              }
              if (Status again = dropPrivileges("root"); !again) {
                return "not root, root: " + again.error().message();
              }
              if (::getuid() != want.uid || ::geteuid() != want.uid) return "ids moved: " + ids();
              return "";
            }),
            "");
}

TEST_F(Privileges, PrepareStateDirCreatesItForTheUserWithMode0750) {
  const std::string dir = base_ + "/state";
  ASSERT_TRUE(prepareStateDir(dir, kUnprivileged).ok());
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(st.st_uid, nobody_.uid);
  EXPECT_EQ(st.st_gid, nobody_.gid);
  // The user can now write there once root is dropped.
  EXPECT_EQ(inChild([dir]() -> std::string {
              if (!dropPrivileges(kUnprivileged)) return "drop failed";
              const std::string file = dir + "/probe";
              FILE* f = std::fopen(file.c_str(), "w");
              if (f == nullptr) return "cannot write there: " + std::string(std::strerror(errno));
              std::fclose(f);
              return "";
            }),
            "");
}

TEST_F(Privileges, PrepareStateDirFixesAnExistingDirectory) {
  const std::string dir = base_ + "/state";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
  ASSERT_TRUE(prepareStateDir(dir, kUnprivileged).ok());
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(st.st_uid, nobody_.uid);
}

TEST_F(Privileges, PrepareStateDirWithoutUserKeepsRootOwnership) {
  const std::string dir = base_ + "/state";
  ASSERT_TRUE(prepareStateDir(dir, "").ok());
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
}

TEST_F(Privileges, PrepareStateDirRefusesASymlink) {
  const std::string target = base_ + "/target";
  const std::string link = base_ + "/link";
  ASSERT_EQ(::mkdir(target.c_str(), 0700), 0);
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  Status s = prepareStateDir(link, kUnprivileged);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind(), ErrorKind::kConfig);
  EXPECT_NE(s.error().message().find(link), std::string::npos) << s.error().message();
  struct stat st {};
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u) << "the symlink target was given away";
  EXPECT_EQ(st.st_mode & 07777, 0700u);
}

TEST_F(Privileges, PrepareStateDirFailsWithoutParentOrWithUnknownUser) {
  Status missing = prepareStateDir(base_ + "/no/such/state", kUnprivileged);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kConfig);
  EXPECT_NE(missing.error().message().find(base_ + "/no/such/state"), std::string::npos);

  Status unknown = prepareStateDir(base_ + "/state", kMissingUser);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().kind(), ErrorKind::kConfig);
  EXPECT_NE(unknown.error().message().find(kMissingUser), std::string::npos);
}

TEST_F(Privileges, PrepareStateDirAsNonRootOnlyChecks) {
  const std::string file = base_ + "/file";
  FILE* f = std::fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  ASSERT_EQ(::chmod(base_.c_str(), 0777), 0);  // the child could create here: it must not
  const std::string base = base_;
  EXPECT_EQ(inChild([base, file]() -> std::string {
              if (!dropPrivileges(kUnprivileged)) return "drop failed";
              if (Status s = prepareStateDir(base, kUnprivileged); !s) {
                return "existing dir refused: " + s.error().message();
              }
              const std::string missing = base + "/missing";
              Status s = prepareStateDir(missing, kUnprivileged);
              if (s) return "missing dir accepted";
              if (s.error().kind() != ErrorKind::kConfig) return "missing: kind is not kConfig";
              struct stat st {};
              if (::stat(missing.c_str(), &st) == 0) return "created the missing dir";
              Status not_dir = prepareStateDir(file, kUnprivileged);
              if (not_dir) return "a regular file was accepted";
              if (not_dir.error().message().find("not a directory") == std::string::npos) {
                return "file: " + not_dir.error().message();
              }
              return "";
            }),
            "");
}

}  // namespace
}  // namespace mtep::sys

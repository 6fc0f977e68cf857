#include "redis_harness.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

namespace mtep::itest {
namespace {
constexpr const char* kServer = "/usr/bin/redis-server";
constexpr const char* kCli = "/usr/bin/redis-cli";
}  // namespace

RedisServer::RedisServer() : port_(freeLoopbackPort()) {}

RedisServer::~RedisServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGCONT);
    kill();
  }
}

bool RedisServer::available() { return ::access(kServer, X_OK) == 0 && ::access(kCli, X_OK) == 0; }

::testing::AssertionResult RedisServer::start(const std::vector<std::string>& extra) {
  if (!available()) return ::testing::AssertionFailure() << kServer << " is not installed";
  last_extra_ = extra;
  std::vector<std::string> args{kServer,      "--port",     std::to_string(port_),
                                "--bind",     "127.0.0.1",  "--dir",
                                dir(),        "--save",     "",
                                "--appendonly", "no",       "--unixsocket",
                                socketPath(), "--unixsocketperm", "700",
                                "--logfile",  dir() + "/redis.log"};
  if (!sentinel_conf_.empty()) args.insert(args.begin() + 1, {sentinel_conf_, "--sentinel"});
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  const std::string out = dir() + "/redis.out";
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  const int rc = ::posix_spawn(&pid_, kServer, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return ::testing::AssertionFailure() << "posix_spawn redis-server: " << rc;
  // Answers PING (with or without a password: NOAUTH is an answer too).
  for (int i = 0; i < 200; ++i) {
    RunResult r = cli({"PING"});
    if (r.exit_code == 0 && (r.out.find("PONG") != std::string::npos ||
                             r.out.find("NOAUTH") != std::string::npos ||
                             r.err.find("NOAUTH") != std::string::npos)) {
      return ::testing::AssertionSuccess();
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return ::testing::AssertionFailure() << "redis-server exited: " << readFile(out)
                                           << readFile(dir() + "/redis.log");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return ::testing::AssertionFailure() << "redis-server did not answer on port " << port_;
}

::testing::AssertionResult RedisServer::startSentinel(const std::string& conf) {
  sentinel_conf_ = dir() + "/sentinel.conf";
  {
    std::ofstream out(sentinel_conf_, std::ios::trunc);
    out << conf;
    if (!out) return ::testing::AssertionFailure() << "cannot write " << sentinel_conf_;
  }
  return start();
}

void RedisServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGCONT);
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 200; ++i) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  kill();
}

void RedisServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void RedisServer::pause() {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void RedisServer::resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

RunResult RedisServer::cli(const std::vector<std::string>& args, const std::string& password) const {
  std::vector<std::string> all{kCli, "-p", std::to_string(port_)};
  if (!password.empty()) {
    all.push_back("--no-auth-warning");
    all.push_back("-a");
    all.push_back(password);
  }
  all.insert(all.end(), args.begin(), args.end());
  return runProgram(all, dir());
}

}  // namespace mtep::itest

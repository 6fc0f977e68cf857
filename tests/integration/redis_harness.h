#pragma once
// NAME
//   redis_harness.h - a real redis-server on loopback for integration tests
// SUMMARY
//   RedisServer r;                        // not started
//   ASSERT_TRUE(r.start({"--requirepass", "s3cret"}));
//   r.cli({"CONFIG", "SET", "maxmemory", "1"});   // redis-cli against it
//   r.pause(); r.resume(); r.stop(); r.start(...again, same port...)
//   RedisServer s; s.startSentinel("sentinel monitor m 127.0.0.1 6379 1\n");
// DESCRIPTION
//   Runs /usr/bin/redis-server in the foreground as a child, with its own
//   temporary directory, a free loopback port (kept across restarts), a
//   unix socket in that directory, no persistence unless asked
//   (--save "" --appendonly no) and the extra arguments given. start()
//   waits until it answers PING. startSentinel() runs the same binary in
//   sentinel mode (redis-server sentinel.conf --sentinel) with `conf`
//   written to a sentinel.conf of its own (Sentinel rewrites it). The
//   destructor kills it. available() is
//   false when redis-server is not installed (tests then fail: the test
//   command installs it).

#include <sys/types.h>

#include <string>
#include <vector>

#include "harness.h"
#include "run_program.h"

namespace mtep::itest {

class RedisServer {
 public:
  RedisServer();
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  static bool available();
  ::testing::AssertionResult start(const std::vector<std::string>& extra = {});
  ::testing::AssertionResult startSentinel(const std::string& conf);
  void stop();     // SIGTERM, then SIGKILL; waits
  void kill();     // SIGKILL at once (a crash)
  void pause();    // SIGSTOP: a Redis that accepts connections but never answers
  void resume();   // SIGCONT

  uint16_t port() const { return port_; }
  const std::string& dir() const { return dir_.path(); }
  std::string socketPath() const { return dir() + "/redis.sock"; }
  pid_t pid() const { return pid_; }
  // redis-cli -p PORT [auth] ARGS...; password: as given to start.
  RunResult cli(const std::vector<std::string>& args, const std::string& password = "") const;

 private:
  TempDir dir_;
  uint16_t port_;
  pid_t pid_ = -1;
  std::vector<std::string> last_extra_;
  std::string sentinel_conf_;  // "" = a plain server
};

}  // namespace mtep::itest

#pragma once
// NAME
//   run_program.h - running a program to completion in an integration test
// SUMMARY
//   RunResult r = runProgram({"/path/to/tool", "arg"}, scratch_dir);
//   RunResult r = runProgram({"tool", "-x"}, scratch_dir, "text on stdin");
//   std::string s = readFile(path);
// DESCRIPTION
//   runProgram() starts args[0] (looked up in PATH when it has no '/'), waits
//   for it, and returns its exit code and everything it wrote to stdout and
//   stderr. The output goes through files in `scratch` (run.in, run.out,
//   run.err, overwritten by the next run), so a chatty program cannot block
//   on a full pipe. stdin is `input` when there is any, else /dev/null.
//   Shared by mtepctl_test.cc and pow_run.h.

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace mtep::itest {

struct RunResult {
  int exit_code = -1;  // -1 when it did not exit normally or did not start
  std::string out;     // everything it wrote to stdout
  std::string err;     // everything it wrote to stderr; why it did not start
};

// The whole file; empty when it cannot be read.
inline std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline RunResult runProgram(const std::vector<std::string>& args,
                            const std::filesystem::path& scratch, const std::string& input = "") {
  RunResult r;
  if (args.empty()) {
    r.err = "nothing to run";
    return r;
  }
  const auto in_path = scratch / "run.in", out_path = scratch / "run.out",
             err_path = scratch / "run.err";
  if (!input.empty()) {
    std::ofstream in(in_path, std::ios::binary | std::ios::trunc);
    in << input;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, input.empty() ? "/dev/null" : in_path.c_str(),
                                   O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    r.err = "cannot start " + args[0];
    return r;
  }
  int status = 0;
  pid_t waited = 0;
  do {
    waited = waitpid(pid, &status, 0);
  } while (waited < 0 && errno == EINTR);
  if (waited == pid && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  r.out = readFile(out_path);
  r.err = readFile(err_path);
  return r;
}

// Starts `args` in the background, stdin from /dev/null, stdout and stderr
// into `log_path` (truncated); its pid, or -1 when it cannot start. The
// caller stops and reaps it.
inline pid_t spawnLogged(const std::vector<std::string>& args, const std::string& log_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

}  // namespace mtep::itest

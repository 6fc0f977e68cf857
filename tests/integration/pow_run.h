#pragma once
// Running a program for the proof-of-work integration tests (the hashcash
// and argon2 tools, mtepctl): arguments, optional stdin text, exit code and
// output, in a scratch directory.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "integration/run_program.h"

namespace mtep::powtest {

using itest::readFile;
using itest::RunResult;

// Runs args[0] (looked up in PATH when it has no '/') with `input` on stdin.
inline RunResult run(const std::vector<std::string>& args, const std::filesystem::path& scratch,
                     const std::string& input = "") {
  return itest::runProgram(args, scratch, input);
}

// True when `name` is an executable in PATH.
inline bool inPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty() && ::access((dir + "/" + name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

inline std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// A fresh scratch directory, removed by the destructor.
class Scratch {
 public:
  Scratch() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mtep-powtest-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~Scratch() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace mtep::powtest

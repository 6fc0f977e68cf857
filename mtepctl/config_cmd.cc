// mtepctl config check | sample | reference
#include <cstdio>

#include "commands.h"

namespace mtep::ctl {

int configCheck(const GlobalOptions& global) {
  auto cfg = config::loadFile(global.config_path);
  if (!cfg) {
    printError("%s", cfg.error().message().c_str());
    return kExitNo;
  }
  std::printf("%s: OK\n", global.config_path.c_str());
  return kExitOk;
}

int configSample() {
  const std::string text = config::sampleConfig();
  std::fwrite(text.data(), 1, text.size(), stdout);
  return kExitOk;
}

int configReference() {
  const std::string text = config::referenceRoff();
  std::fwrite(text.data(), 1, text.size(), stdout);
  return kExitOk;
}

}  // namespace mtep::ctl

// NAME
//   reloader.cc - the SIGUSR1 thread and the configuration swap
// DESCRIPTION
//   See reloader.h.

#include "reloader.h"

#include <pthread.h>

#include <csignal>
#include <exception>

#include "config/config.h"
#include "util/log.h"

namespace mtep::milterd {

namespace {

sigset_t daemonSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);
  return set;
}

void warnFixed(const char* key, const std::string& was, const std::string& now) {
  if (was == now) return;
  log::warning("reload: %s changed from \"%s\" to \"%s\"; it takes effect after a restart", key,
               was.c_str(), now.c_str());
}

}  // namespace

void blockDaemonSignals() {
  sigset_t set = daemonSignals();
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void Reloader::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void Reloader::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  ::pthread_kill(thread_.native_handle(), SIGUSR1);
  thread_.join();
}

void Reloader::run() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  while (!stopping_) {
    int sig = 0;
    if (::sigwait(&set, &sig) != 0) continue;
    if (stopping_) break;
    try {
      reload();
    } catch (const std::exception& e) {
      log::error("reload failed, keeping the running configuration: internal error: %s", e.what());
    } catch (...) {
      log::error("reload failed, keeping the running configuration: internal error");
    }
  }
}

bool Reloader::reload() {
  auto loaded = config::loadFile(config_path_);
  if (!loaded) {
    log::error("reload failed, keeping the running configuration: %s",
               loaded.error().message().c_str());
    return false;
  }
  config::ConfigPtr next = std::move(*loaded);
  const config::ConfigPtr running = shared_.config();
  if (running) {
    warnFixed("[milter] socket", running->milter.socket, next->milter.socket);
    warnFixed("[milter] pid_file", running->milter.pid_file, next->milter.pid_file);
    warnFixed("[global] user", running->global.user, next->global.user);
    warnFixed("[tokens] key_file", running->tokens.key_file, next->tokens.key_file);
  }
  log::Level level;
  if (log::parseLevel(next->log.level.c_str(), &level)) log::setMinLevel(level);
  std::string authserv_id = authservIdFor(*next);
  verifier_.setConfig(next);
  key_fetcher_.setConfig(next);
  shared_.replace(next, authserv_id);
  log::notice("configuration reloaded from %s (authserv_id %s)", config_path_.c_str(),
              authserv_id.c_str());
  return true;
}

}  // namespace mtep::milterd

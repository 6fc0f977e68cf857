// Checks of the user-key commands' option combinations; see e2ee_options.h.
#include "e2ee_options.h"

namespace mtep::ctl {
namespace {

Status invalid(std::string message) { return Error(ErrorKind::kInvalid, std::move(message)); }

Status checkServerOptions(const ServerOptions& s) {
  if (!s.server.empty()) {
    auto parsed = parseServer(s.server);
    if (!parsed) return std::move(parsed).error();
  }
  if (!s.tls_fingerprint.empty() && s.server.empty()) {
    return invalid("--tls-fingerprint needs --server");
  }
  if (!s.tls_fingerprint.empty() && !s.ca_file.empty()) {
    return invalid("--tls-fingerprint and --ca-file exclude each other (a pin needs no CA)");
  }
  if (s.timeout_seconds <= 0 || s.timeout_seconds > 3600) {
    return invalid("--timeout must be 1 to 3600 seconds");
  }
  return {};
}

Status checkFile(const std::string& file) {
  if (file.empty()) return invalid("no message file given (FILE, or - for standard input)");
  return {};
}

}  // namespace

Result<config::ServerAddress> parseServer(const std::string& text) {
  auto a = config::parseServerAddress(text, kKeyServerPort);
  if (!a) {
    return Error(ErrorKind::kInvalid, "--server \"" + text + "\" is not HOST, HOST:PORT or "
                                      "[IPV6]:PORT: " + a.error().message());
  }
  return a;
}

Status checkPasswordFd(int fd, const std::string& file) {
  if (fd == -1) return {};
  if (fd < 0) return invalid("--password-fd must be a descriptor number");
  if (fd == 1 || fd == 2) return invalid("--password-fd cannot be standard output or error");
  if (fd == 0 && file == "-") {
    return invalid("--password-fd 0 and a message on standard input cannot share it");
  }
  return {};
}

Status checkKeyDerive(const KeyDeriveOptions& o) {
  if (o.user.empty()) return invalid("no user given");
  if (o.server.server.empty() == o.salt.empty()) {
    return invalid("give either --server (the salt is asked for) or --salt (offline)");
  }
  if (o.force && o.out.empty()) return invalid("--force only applies to --out");
  if (Status s = checkServerOptions(o.server); !s) return s;
  return checkPasswordFd(o.password_fd, "");
}

Status checkKeyPublish(const KeyPublishOptions& o) {
  if (o.user.empty()) return invalid("no user given");
  if (o.server.server.empty()) return invalid("--server is needed");
  if (Status s = checkServerOptions(o.server); !s) return s;
  return checkPasswordFd(o.password_fd, "");
}

Status checkSign(const SignOptions& o) {
  if (Status s = checkFile(o.file); !s) return s;
  const bool derive = !o.server.server.empty() || !o.user.empty();
  if (o.key_file.empty() == !derive) {
    return invalid("give either --key-file or --server with --user");
  }
  if (derive && (o.server.server.empty() || o.user.empty())) {
    return invalid("deriving the key needs both --server and --user");
  }
  if (!o.key_file.empty() && o.password_fd != -1) {
    return invalid("--password-fd is for --server and --user, not --key-file");
  }
  if (Status s = checkServerOptions(o.server); !s) return s;
  return checkPasswordFd(o.password_fd, o.file);
}

Status checkVerify(const VerifyOptions& o) {
  if (Status s = checkFile(o.file); !s) return s;
  if (!o.key.empty() && !o.server.server.empty()) return invalid("give --key or --server, not both");
  return checkServerOptions(o.server);
}

Status checkEncrypt(const EncryptOptions& o) {
  if (Status s = checkFile(o.file); !s) return s;
  if (o.to.empty() == o.key.empty()) return invalid("give either --to ADDR or --key KEY");
  if (!o.key.empty() && !o.server.server.empty()) return invalid("--server goes with --to, not --key");
  return checkServerOptions(o.server);
}

Status checkDecrypt(const DecryptOptions& o) {
  if (Status s = checkFile(o.file); !s) return s;
  if (o.key_file.empty()) return invalid("--key-file is needed");
  return {};
}

}  // namespace mtep::ctl

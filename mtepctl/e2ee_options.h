#pragma once
// NAME
//   e2ee_options.h - the options of mtepctl's user-key commands (user, key
//   derive|publish, salt reset, sign, verify, encrypt, decrypt) and the
//   checks of their combinations
// DESCRIPTION
//   main.cc fills these from the command line; each check*() returns
//   kInvalid with a message for the user when the combination makes no
//   sense (the command then exits kExitUsage). Passwords are never
//   options: they come from the terminal or --password-fd.
// SEE ALSO
//   commands.h, mtepctl(1)

#include <string>

#include "config/config.h"
#include "util/result.h"

namespace mtep::ctl {

inline constexpr uint16_t kKeyServerPort = 25;  // --server HOST without a port

struct ServerOptions {
  std::string server;           // --server HOST[:PORT]; "" = none given
  std::string tls_fingerprint;  // --tls-fingerprint: the server key must start with it
  std::string ca_file;          // --ca-file: trusted CAs instead of [milter] tls_ca_file / the system store
  int timeout_seconds = 60;     // the whole session with the key server
};

struct UserOptions {
  std::string name;      // user name (a mail address or a bare name)
  int password_fd = -1;  // --password-fd; -1 = the terminal
};

struct KeyDeriveOptions {
  ServerOptions server;
  std::string salt;  // --salt B64: offline, no server
  std::string out;   // --out FILE: the private seed is written there
  bool force = false;  // --force: --out may overwrite
  std::string user;
  int password_fd = -1;
};

// key publish and salt reset.
struct KeyPublishOptions {
  ServerOptions server;
  std::string user;
  int password_fd = -1;
};

struct SignOptions {
  std::string key_file;  // --key-file: a seed written by key derive --out
  ServerOptions server;  // or derive now: --server and --user
  std::string user;
  int password_fd = -1;
  std::string file;  // "-" = standard input
};

struct VerifyOptions {
  std::string key;       // --key: any form e2ee::parsePublicKey reads
  ServerOptions server;  // --server; neither: the From domain's mail servers
  std::string file;
};

struct EncryptOptions {
  std::string to;        // --to ADDR: its key asked with PUBKEY
  std::string key;       // --key KEY instead
  ServerOptions server;  // with --to; none: the recipient domain's mail servers
  std::string file;
};

struct DecryptOptions {
  std::string key_file;
  std::string file;
};

// --server parsed (default port 25); kInvalid naming the text when bad.
Result<config::ServerAddress> parseServer(const std::string& text);
// --password-fd: -1 (terminal) or a descriptor that is not stdout or
// stderr, nor stdin when the message is read from stdin ("-").
Status checkPasswordFd(int fd, const std::string& file);

Status checkKeyDerive(const KeyDeriveOptions& o);  // exactly one of --server, --salt
Status checkKeyPublish(const KeyPublishOptions& o);  // --server needed
Status checkSign(const SignOptions& o);      // --key-file, or --server with --user
Status checkVerify(const VerifyOptions& o);  // not both --key and --server
Status checkEncrypt(const EncryptOptions& o);  // exactly one of --to, --key
Status checkDecrypt(const DecryptOptions& o);  // --key-file needed

}  // namespace mtep::ctl

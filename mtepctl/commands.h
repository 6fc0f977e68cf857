#pragma once
// NAME
//   commands.h - the mtepctl commands, one function each
// DESCRIPTION
//   main.cc parses the command line (CLI11 lives only there) and calls one
//   of these; each prints its result on stdout, its errors on stderr as
//   "mtepctl: ...", and returns the process exit code (context.h).

#include <string>

#include "context.h"

namespace mtep::ctl {

// config check: "FILE: OK" and 0, or the error naming file and line and 1.
int configCheck(const GlobalOptions& global);
// config sample: the commented sample configuration (contrib/mtep.conf).
int configSample();
// config reference: the KEYS section of mtep.conf(5), in roff.
int configReference();

struct MintOptions {
  std::string sender;  // envelope sender, as smtp::parsePath accepts it
  std::string ttl;     // seconds or duration; empty = the domain's token_ttl
};
int tokenMint(const GlobalOptions& global, const MintOptions& options);
// 0 valid, 1 invalid (the reason is printed), 2 could not answer.
int tokenVerify(const GlobalOptions& global, const std::string& token, const std::string& sender);
int tokenRevoke(const GlobalOptions& global, const std::string& token);

int keyRotate(const GlobalOptions& global);
int keyList(const GlobalOptions& global);

struct QueryOptions {
  std::string target;  // HOST, HOST:PORT, [V6]:PORT
  std::string token;
  std::string sender;     // optional
  std::string recipient;  // optional
  int timeout_seconds = 15;
};
// 0 for K, 1 for D, 2 for Z, I and errors.
int query(const QueryOptions& options);

}  // namespace mtep::ctl

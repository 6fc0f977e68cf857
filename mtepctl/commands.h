#pragma once
// NAME
//   commands.h - the mtepctl commands, one function each
// DESCRIPTION
//   main.cc parses the command line (CLI11 lives only there) and calls one
//   of these; each prints its result on stdout, its errors on stderr as
//   "mtepctl: ...", and returns the process exit code (context.h).

#include <string>
#include <vector>

#include "context.h"
#include "e2ee_options.h"

namespace mtep::ctl {

// config check: "FILE: OK" and 0, or the error naming file and line and 1.
int configCheck(const GlobalOptions& global);
// config sample: the commented sample configuration (contrib/mtep.conf).
int configSample();
// config reference: the KEYS section of mtep.conf(5), in roff.
int configReference();

struct MintOptions {
  std::string sender;            // envelope sender, as smtp::parsePath accepts it
  std::string recipient_domain;  // the domain the token is for ("beta.test", "[192.0.2.1]")
  std::string ttl;               // seconds or duration; empty = the domain's token_ttl
};
int tokenMint(const GlobalOptions& global, const MintOptions& options);
// 0 valid, 1 invalid (the reason is printed), 2 could not answer.
// `recipient_domain` "" checks no domain: a token bound to one is then
// "invalid" (the domain is needed), an older token is checked as before.
int tokenVerify(const GlobalOptions& global, const std::string& token, const std::string& sender,
                const std::string& recipient_domain);
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
// Uses [outbound] from the config file (its defaults when the file is missing).
int query(const GlobalOptions& global, const QueryOptions& options);

// hashcash: proof-of-work stamps (lib/pow).
struct HashcashMintOptions {
  std::string resource;                // the recipient address the stamp is for
  int bits = -1;                       // -1 = what the resource's domain requires today
  std::string algorithm = "hashcash";  // "hashcash" (v1, SHA-1) or "argon2id"
};
// Prints the stamp. 0 minted, 1 bad arguments, 2 out of [pow] mint_budget.
int hashcashMint(const GlobalOptions& global, const HashcashMintOptions& options);

struct HashcashCheckOptions {
  std::string stamp;
  std::string resource;
  int bits = 20;       // required of either algorithm
  bool spend = false;  // record it in the store (a second spend is refused)
};
// Exit codes of hashcash check (mtepctl(1)): 0 valid, 1 invalid (kExitNo),
// 2 already spent, 3 could not answer (config, store).
inline constexpr int kExitHashcashSpent = 2;
inline constexpr int kExitHashcashTrouble = 3;
int hashcashCheck(const GlobalOptions& global, const HashcashCheckOptions& options);
// Prints hashcash v1 tries per second on `threads` threads (0 = every core).
int hashcashSpeed(unsigned threads, int seconds);

// address check: overlay::explain() lines; 0 valid, 1 invalid.
int addressCheck(const std::string& address);
// address fingerprint: the 52-character SPKI fingerprint of a PEM
// certificate (transport::spkiFingerprintOfPemFile); 1 when unreadable.
int addressFingerprint(const std::string& cert_file);

// pin list | forget | add: TLS key pins of overlay peers (overlay/pins.h).
int pinList(const GlobalOptions& global);
// 0 removed, 1 no pin for HOST, 2 store trouble.
int pinForget(const GlobalOptions& global, const std::string& host);
// 0 pinned, 1 bad host or fingerprint, 2 store trouble.
int pinAdd(const GlobalOptions& global, const std::string& host, const std::string& fingerprint);

// user add | passwd | del | list: users of mtepd's key service, directly in
// the store of the config (e2ee::UserBook). add and passwd read the
// password (twice from a terminal). 0 done, 1 no such user / exists / bad
// name or password, 2 store trouble.
int userAdd(const GlobalOptions& global, const UserOptions& options);
int userPasswd(const GlobalOptions& global, const UserOptions& options);
int userDel(const GlobalOptions& global, const std::string& name);
int userList(const GlobalOptions& global);

// stoken gen | revoke | list: submission tokens (lib/stoken) in the store
// of the config. gen prints the token (PERM: the stored one when it
// exists); the local address's domain must have accept_submission_tokens.
// revoke kills the pair's temporaries issued until now and its permanent.
// list prints "issued|held KIND local=A remote=B id=ID" lines, never a
// token. 0 done, 1 bad address or domain not accepting tokens, 2 store or
// key file trouble, 64 a kind other than PERM or TEMP.
int stokenGen(const GlobalOptions& global, const std::string& kind, const std::string& remote,
              const std::string& local);
int stokenRevoke(const GlobalOptions& global, const std::string& remote, const std::string& local);
int stokenList(const GlobalOptions& global, const std::string& local);

// key derive | publish, salt reset: a user's ed25519 key from the password
// and the salt mtepd keeps (mtepctl(1) "USER KEYS"). 0 done, 1 refused
// (wrong password, bad arguments), 2 could not answer, 64 bad combination.
int keyDerive(const GlobalOptions& global, const KeyDeriveOptions& options);
int keyPublish(const GlobalOptions& global, const KeyPublishOptions& options);
int saltReset(const GlobalOptions& global, const KeyPublishOptions& options);

// sign: the message with X-Sender-Signature and X-Sender-Pubkey on stdout.
int signMessage(const GlobalOptions& global, const SignOptions& options);
// verify: prints pass, fail or none; 0 pass, 1 fail or none, 3 could not decide.
inline constexpr int kExitVerifyUndecided = 3;
int verifyMessage(const GlobalOptions& global, const VerifyOptions& options);
// encrypt | decrypt: the body sealed to a key (X-Sender-Encrypted: yes), and back.
int encryptMessage(const GlobalOptions& global, const EncryptOptions& options);
int decryptMessage(const GlobalOptions& global, const DecryptOptions& options);

// mmtp send | receive: an MMTP client (doc/mmtp.md). send: FROM to TO with
// a stamp minted here (difficulty: --difficulty, else TO's domain's
// mmtp_difficulty / [mmtp] difficulty), the body from --file or stdin;
// prints "sent ID". receive: --user's own mailbox (RECEIVE, every page;
// RECEIVE_FILTERED with --tag; CHECK with --check), one packet a line
// (JSON). 0 OK, 1 the server refused (its message printed), 2 could not
// connect or the server said "temporary", 64 bad arguments.
struct MmtpOptions {
  ServerOptions server;  // --server HOST[:PORT] (8026, or 8025 with --plain)
  bool plain = false;    // --plain: no TLS (no login possible)
  std::string user;      // --user: log in (data.auth) as this key-service user
  int password_fd = -1;
  std::string from, to, subject, file = "-";
  int difficulty = -1;
  bool check = false;
  std::vector<std::string> tags;  // --tag CATEGORY=VALUE
};
int mmtpSend(const GlobalOptions& global, const MmtpOptions& options);
int mmtpReceive(const GlobalOptions& global, const MmtpOptions& options);

// store migrate --to redis: copies the live entries of the SQLite file
// [store] path names (revocations, spends, every namespace's values, each
// with its absolute expiry) into the Redis the redis_ keys name, whatever
// [store] backend says. Spends already in Redis stay (SET NX); a
// revocation keeps the later expiry; values are replaced. Running it
// again changes nothing more. --dry-run prints each entry and writes
// nothing. Prints counts per kind. 0 done, 2 the SQLite file or Redis
// failed (the message names which entry), 64 a target other than redis.
struct StoreMigrateOptions {
  std::string to;           // --to: "redis"
  std::string from_config;  // --from-config FILE: this config instead of -c
  bool dry_run = false;
};
int storeMigrate(const GlobalOptions& global, const StoreMigrateOptions& options);
// store check: names the configured store (store::describe), then
// `count` round trips of put, get, erase and a recordOnce made twice
// under the private namespace kStoreCheckNamespace; prints min, median
// and max. 0 it answers, 2 it does not (the message names the store).
struct StoreCheckOptions {
  int count = 10;
};
inline constexpr const char* kStoreCheckNamespace = "mtepctl-check";
int storeCheck(const GlobalOptions& global, const StoreCheckOptions& options);

}  // namespace mtep::ctl

// NAME
//   mtepctl - manage MTEP tokens, keys and configuration
// SUMMARY
//   mtepctl [-c FILE] config check | config sample | config reference
//   mtepctl [-c FILE] token mint --sender ADDR --recipient-domain DOMAIN [--ttl DURATION]
//   mtepctl [-c FILE] token verify TOKEN --sender ADDR [--recipient-domain DOMAIN]
//   mtepctl [-c FILE] token revoke TOKEN
//   mtepctl [-c FILE] key rotate | key list
//   mtepctl query HOST[:PORT] TOKEN [--sender ADDR] [--recipient ADDR]
//   mtepctl [-c FILE] hashcash mint [--bits N] [--algorithm hashcash|argon2id] RESOURCE
//   mtepctl [-c FILE] hashcash check --bits N --resource R [--spend] STAMP
//   mtepctl hashcash speed [--threads N] [--seconds S]
//   mtepctl address check ADDR | address fingerprint CERT.pem
//   mtepctl [-c FILE] pin list | pin forget HOST | pin add HOST FINGERPRINT
//   mtepctl [-c FILE] user add|passwd NAME [--password-fd N] | user del NAME | user list
//   mtepctl [-c FILE] stoken gen PERM|TEMP REMOTE LOCAL | stoken revoke REMOTE LOCAL
//   mtepctl [-c FILE] stoken list [LOCAL]
//   mtepctl [-c FILE] mmtp send --server HOST[:PORT] [--user U] FROM TO [--subject S] < BODY
//   mtepctl [-c FILE] mmtp receive --server HOST[:PORT] --user U [--tag C=V]... [--check]
//   mtepctl [-c FILE] store migrate --to redis [--from-config FILE] [--dry-run]
//   mtepctl [-c FILE] store check [--count N]
//   mtepctl key derive (--server HOST[:PORT] | --salt B64) [--out FILE [--force]] USER
//   mtepctl key publish --server HOST[:PORT] USER | salt reset --server HOST[:PORT] USER
//   mtepctl sign (--key-file F | --server HOST[:PORT] --user USER) FILE|-
//   mtepctl verify [--key KEY | --server HOST[:PORT]] FILE|-
//   mtepctl encrypt (--to ADDR [--server HOST[:PORT]] | --key KEY) FILE|-
//   mtepctl decrypt --key-file F FILE|-
// DESCRIPTION
//   This file only parses the command line (CLI11 is kept in this one
//   translation unit); the commands live in *_cmd.cc. Exit codes: 0 done or
//   yes, 1 a definite no, 2 could not answer, 64 bad command line.
// SECURITY
//   As root, commands that touch the key file or the store read the config,
//   prepare the state directory and drop to global.user first (context.cc).
//   No command prints a key secret.
// SEE ALSO
//   mtepctl(1), mtep.conf(5), mtepd(8)

#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <string>

#include "build_info.h"
#include "commands.h"
#include "util/log.h"

namespace {

using namespace mtep::ctl;

int run(int argc, char** argv) {
  CLI::App app{"mtepctl - manage MTEP tokens, keys and configuration", "mtepctl"};
  app.set_version_flag("--version", std::string("mtepctl ") + mtep::kVersion);
  app.require_subcommand(1);
  app.fallthrough();  // -c and -f may also follow the command

  GlobalOptions global;
  global.config_path = mtep::kDefaultConfigPath;
  app.add_option("-c,--config", global.config_path, "configuration file")
      ->option_text("FILE")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
      ->capture_default_str();
  bool foreground = false;  // -f: mtepctl always runs in the foreground
  app.add_flag("-f", foreground, "accepted for uniformity with mtepd; no effect");

  std::function<int()> action;

  CLI::App* config = app.add_subcommand("config", "check or print the configuration");
  config->require_subcommand(1);
  config->add_subcommand("check", "check the configuration file")->callback([&] {
    action = [&] { return configCheck(global); };
  });
  config->add_subcommand("sample", "print a sample configuration with every default")
      ->callback([&] { action = [] { return configSample(); }; });
  config->add_subcommand("reference", "print the KEYS section of mtep.conf(5) in roff")
      ->callback([&] { action = [] { return configReference(); }; });

  CLI::App* token = app.add_subcommand("token", "mint, verify or revoke tokens");
  token->require_subcommand(1);
  MintOptions mint;
  CLI::App* mint_cmd = token->add_subcommand(
      "mint", "mint a token for an envelope sender and a recipient domain");
  mint_cmd->add_option("--sender", mint.sender, "envelope sender the token is bound to")
      ->option_text("ADDR")
      ->required();
  mint_cmd
      ->add_option("--recipient-domain", mint.recipient_domain,
                   "recipient domain the token is bound to (one token per domain)")
      ->option_text("DOMAIN")
      ->required();
  mint_cmd->add_option("--ttl", mint.ttl, "lifetime: seconds or 30m, 12h, 7d")
      ->option_text("DURATION");
  mint_cmd->callback([&] { action = [&] { return tokenMint(global, mint); }; });

  std::string token_text;
  std::string verify_sender;
  std::string verify_domain;
  CLI::App* verify_cmd =
      token->add_subcommand("verify", "check a token for a sender and a recipient domain");
  verify_cmd->add_option("TOKEN", token_text, "the token")->required();
  verify_cmd->add_option("--sender", verify_sender, "envelope sender of the message")
      ->option_text("ADDR")
      ->required();
  verify_cmd
      ->add_option("--recipient-domain", verify_domain,
                   "recipient domain of the message (needed for tokens bound to one)")
      ->option_text("DOMAIN");
  verify_cmd->callback([&] {
    action = [&] { return tokenVerify(global, token_text, verify_sender, verify_domain); };
  });

  CLI::App* revoke_cmd = token->add_subcommand("revoke", "revoke a token until it expires");
  revoke_cmd->add_option("TOKEN", token_text, "the token")->required();
  revoke_cmd->callback([&] { action = [&] { return tokenRevoke(global, token_text); }; });

  CLI::App* key = app.add_subcommand(
      "key", "token keys (rotate, list) and user keys (derive, publish)");
  key->require_subcommand(1);
  key->add_subcommand("rotate", "add a new current key and drop retired ones")->callback([&] {
    action = [&] { return keyRotate(global); };
  });
  key->add_subcommand("list", "list key ids and ages (never the secrets)")->callback([&] {
    action = [&] { return keyList(global); };
  });

  // User keys (lib/e2ee): the key server's options, the password's descriptor.
  auto serverOptions = [](CLI::App* cmd, ServerOptions& s, bool required) {
    CLI::Option* o = cmd->add_option("--server", s.server, "key server (mtepd smtp_listen), port 25 by default")
                         ->option_text("HOST[:PORT]");
    if (required) o->required();
    cmd->add_option("--tls-fingerprint", s.tls_fingerprint,
                    "the server's TLS key fingerprint must start with this (instead of a CA)")
        ->option_text("FP");
    cmd->add_option("--ca-file", s.ca_file,
                    "PEM file of the CAs to trust for the server's certificate (default: [milter] "
                    "tls_ca_file, else the system store)")
        ->option_text("FILE");
    cmd->add_option("--timeout", s.timeout_seconds, "whole session with the server, seconds")
        ->option_text("SECONDS")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str();
  };
  auto passwordFd = [](CLI::App* cmd, int& fd) {
    cmd->add_option("--password-fd", fd, "read the password (one line) from this descriptor")
        ->option_text("N")
        ->check(CLI::Range(0, 1 << 20));
  };

  KeyDeriveOptions derive;
  CLI::App* derive_cmd =
      key->add_subcommand("derive", "derive a user's key from the password and the salt");
  derive_cmd->add_option("USER", derive.user, "user name at the key server")->required();
  serverOptions(derive_cmd, derive.server, false);
  derive_cmd->add_option("--salt", derive.salt, "the salt (base64), offline")->option_text("B64");
  derive_cmd->add_option("--out", derive.out, "write the private key here (mode 0600)")
      ->option_text("FILE");
  derive_cmd->add_flag("--force", derive.force, "--out may replace an existing file");
  passwordFd(derive_cmd, derive.password_fd);
  derive_cmd->callback([&] { action = [&] { return keyDerive(global, derive); }; });

  KeyPublishOptions publish;
  CLI::App* publish_cmd =
      key->add_subcommand("publish", "derive a user's key and publish it (SETPUBKEY)");
  publish_cmd->add_option("USER", publish.user, "user name at the key server")->required();
  serverOptions(publish_cmd, publish.server, true);
  passwordFd(publish_cmd, publish.password_fd);
  publish_cmd->callback([&] { action = [&] { return keyPublish(global, publish); }; });

  CLI::App* salt = app.add_subcommand("salt", "reset a user's key salt");
  salt->require_subcommand(1);
  KeyPublishOptions reset;
  CLI::App* reset_cmd = salt->add_subcommand(
      "reset", "new salt (RSTSALT), new key published; old signatures stop verifying");
  reset_cmd->add_option("USER", reset.user, "user name at the key server")->required();
  serverOptions(reset_cmd, reset.server, true);
  passwordFd(reset_cmd, reset.password_fd);
  reset_cmd->callback([&] { action = [&] { return saltReset(global, reset); }; });

  CLI::App* user = app.add_subcommand("user", "users of mtepd's key service (the store)");
  user->require_subcommand(1);
  UserOptions user_options;
  CLI::App* user_add_cmd = user->add_subcommand("add", "add a user; asks for the password");
  user_add_cmd->add_option("NAME", user_options.name, "user name (usually the mail address)")
      ->required();
  passwordFd(user_add_cmd, user_options.password_fd);
  user_add_cmd->callback([&] { action = [&] { return userAdd(global, user_options); }; });
  CLI::App* user_passwd_cmd = user->add_subcommand("passwd", "set a user's password");
  user_passwd_cmd->add_option("NAME", user_options.name, "user name")->required();
  passwordFd(user_passwd_cmd, user_options.password_fd);
  user_passwd_cmd->callback([&] { action = [&] { return userPasswd(global, user_options); }; });
  CLI::App* user_del_cmd = user->add_subcommand("del", "remove a user and the published key");
  user_del_cmd->add_option("NAME", user_options.name, "user name")->required();
  user_del_cmd->callback([&] { action = [&] { return userDel(global, user_options.name); }; });
  user->add_subcommand("list", "list users, creation times and published keys")
      ->callback([&] { action = [&] { return userList(global); }; });

  SignOptions sign;
  CLI::App* sign_cmd =
      app.add_subcommand("sign", "add X-Sender-Signature and X-Sender-Pubkey to a message");
  sign_cmd->add_option("FILE", sign.file, "the message, - for standard input")->required();
  sign_cmd->add_option("--key-file", sign.key_file, "private key from key derive --out")
      ->option_text("F");
  serverOptions(sign_cmd, sign.server, false);
  sign_cmd->add_option("--user", sign.user, "derive the key now: user name at --server")
      ->option_text("USER");
  passwordFd(sign_cmd, sign.password_fd);
  sign_cmd->callback([&] { action = [&] { return signMessage(global, sign); }; });

  VerifyOptions verify;
  CLI::App* verify_cmd2 = app.add_subcommand(
      "verify", "check X-Sender-Signature against the From address's published key");
  verify_cmd2->add_option("FILE", verify.file, "the message, - for standard input")->required();
  verify_cmd2->add_option("--key", verify.key, "check against this key, ask no server")
      ->option_text("KEY");
  serverOptions(verify_cmd2, verify.server, false);
  verify_cmd2->callback([&] { action = [&] { return verifyMessage(global, verify); }; });

  EncryptOptions encrypt;
  CLI::App* encrypt_cmd =
      app.add_subcommand("encrypt", "seal a message's body to a recipient's key");
  encrypt_cmd->add_option("FILE", encrypt.file, "the message, - for standard input")->required();
  encrypt_cmd->add_option("--to", encrypt.to, "recipient whose key PUBKEY returns")
      ->option_text("ADDR");
  encrypt_cmd->add_option("--key", encrypt.key, "recipient's key, ask no server")
      ->option_text("KEY");
  serverOptions(encrypt_cmd, encrypt.server, false);
  encrypt_cmd->callback([&] { action = [&] { return encryptMessage(global, encrypt); }; });

  DecryptOptions decrypt;
  CLI::App* decrypt_cmd = app.add_subcommand("decrypt", "open a body sealed by encrypt");
  decrypt_cmd->add_option("FILE", decrypt.file, "the message, - for standard input")->required();
  decrypt_cmd->add_option("--key-file", decrypt.key_file, "private key from key derive --out")
      ->option_text("F")
      ->required();
  decrypt_cmd->callback([&] { action = [&] { return decryptMessage(global, decrypt); }; });

  QueryOptions query_options;
  CLI::App* query_cmd = app.add_subcommand("query", "ask an MTEP server about a token");
  query_cmd->add_option("HOST", query_options.target, "HOST, HOST:PORT or [IPV6]:PORT")->required();
  query_cmd->add_option("TOKEN", query_options.token, "the token")->required();
  query_cmd->add_option("--sender", query_options.sender, "envelope sender to send")
      ->option_text("ADDR");
  query_cmd->add_option("--recipient", query_options.recipient, "recipient to send")
      ->option_text("ADDR");
  query_cmd->add_option("--timeout", query_options.timeout_seconds, "whole exchange, seconds")
      ->option_text("SECONDS")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  query_cmd->callback([&] { action = [&] { return query(global, query_options); }; });

  CLI::App* hashcash = app.add_subcommand("hashcash", "mint, check or time proof-of-work stamps");
  hashcash->require_subcommand(1);
  HashcashMintOptions hc_mint;
  CLI::App* hc_mint_cmd = hashcash->add_subcommand("mint", "mint a stamp for a recipient");
  hc_mint_cmd->add_option("RESOURCE", hc_mint.resource, "recipient address")->required();
  hc_mint_cmd->add_option("--bits", hc_mint.bits, "bits (default: what the domain requires)")
      ->option_text("N")
      ->check(CLI::Range(0, 160));
  hc_mint_cmd->add_option("--algorithm", hc_mint.algorithm, "hashcash (SHA-1) or argon2id")
      ->check(CLI::IsMember({"hashcash", "argon2id"}))
      ->capture_default_str();
  hc_mint_cmd->callback([&] { action = [&] { return hashcashMint(global, hc_mint); }; });
  HashcashCheckOptions hc_check;
  CLI::App* hc_check_cmd = hashcash->add_subcommand("check", "check (and spend) a stamp");
  hc_check_cmd->add_option("STAMP", hc_check.stamp, "the stamp")->required();
  hc_check_cmd->add_option("--bits", hc_check.bits, "bits required")
      ->option_text("N")
      ->required()
      ->check(CLI::Range(0, 160));
  hc_check_cmd->add_option("--resource", hc_check.resource, "recipient the stamp must be for")
      ->option_text("R")
      ->required();
  hc_check_cmd->add_flag("--spend", hc_check.spend, "record it as spent in the store");
  hc_check_cmd->callback([&] { action = [&] { return hashcashCheck(global, hc_check); }; });
  unsigned hc_threads = 0;
  int hc_seconds = 2;
  CLI::App* hc_speed_cmd = hashcash->add_subcommand("speed", "hashcash v1 tries per second");
  hc_speed_cmd->add_option("--threads", hc_threads, "threads (0 = every core)")
      ->check(CLI::Range(0, 4096))
      ->capture_default_str();
  hc_speed_cmd->add_option("--seconds", hc_seconds, "how long to measure")
      ->check(CLI::Range(1, 60))
      ->capture_default_str();
  hc_speed_cmd->callback([&] { action = [&] { return hashcashSpeed(hc_threads, hc_seconds); }; });

  CLI::App* address = app.add_subcommand("address", "explain overlay addresses and key fingerprints");
  address->require_subcommand(1);
  std::string address_arg;
  CLI::App* address_check_cmd =
      address->add_subcommand("check", "explain an address or domain (.onion, .i2p, SMTorP)");
  address_check_cmd->add_option("ADDR", address_arg, "user@domain or domain")->required();
  address_check_cmd->callback([&] { action = [&] { return addressCheck(address_arg); }; });
  CLI::App* address_fp_cmd =
      address->add_subcommand("fingerprint", "the SMTorP fingerprint of a PEM certificate");
  address_fp_cmd->add_option("CERT", address_arg, "PEM certificate file")->required();
  address_fp_cmd->callback([&] { action = [&] { return addressFingerprint(address_arg); }; });

  CLI::App* pin = app.add_subcommand("pin", "list, forget or add TLS key pins of overlay peers");
  pin->require_subcommand(1);
  std::string pin_host;
  std::string pin_fingerprint;
  pin->add_subcommand("list", "list pinned hosts, fingerprints and first-seen times")
      ->callback([&] { action = [&] { return pinList(global); }; });
  CLI::App* pin_forget_cmd = pin->add_subcommand("forget", "forget the pin of a host");
  pin_forget_cmd->add_option("HOST", pin_host, "the pinned host")->required();
  pin_forget_cmd->callback([&] { action = [&] { return pinForget(global, pin_host); }; });
  CLI::App* pin_add_cmd = pin->add_subcommand("add", "pin a host to a key fingerprint by hand");
  pin_add_cmd->add_option("HOST", pin_host, "the host (.onion, .i2p)")->required();
  pin_add_cmd->add_option("FINGERPRINT", pin_fingerprint, "52 base32 characters")->required();
  pin_add_cmd->callback([&] { action = [&] { return pinAdd(global, pin_host, pin_fingerprint); }; });

  CLI::App* stoken = app.add_subcommand("stoken", "submission tokens (STOKEN) of local users");
  stoken->require_subcommand(1);
  std::string stoken_kind;
  std::string stoken_remote;
  std::string stoken_local;
  CLI::App* stoken_gen_cmd = stoken->add_subcommand(
      "gen", "print a token that lets REMOTE send to LOCAL (PERM: the stored one if any)");
  stoken_gen_cmd->add_option("KIND", stoken_kind, "PERM or TEMP")->required();
  stoken_gen_cmd->add_option("REMOTE", stoken_remote, "who may use it (MAIL FROM)")->required();
  stoken_gen_cmd->add_option("LOCAL", stoken_local, "our user it is for (RCPT TO)")->required();
  stoken_gen_cmd->callback([&] {
    action = [&] { return stokenGen(global, stoken_kind, stoken_remote, stoken_local); };
  });
  CLI::App* stoken_revoke_cmd =
      stoken->add_subcommand("revoke", "revoke every token of REMOTE for LOCAL");
  stoken_revoke_cmd->add_option("REMOTE", stoken_remote, "who was given them")->required();
  stoken_revoke_cmd->add_option("LOCAL", stoken_local, "our user they are for")->required();
  stoken_revoke_cmd->callback(
      [&] { action = [&] { return stokenRevoke(global, stoken_remote, stoken_local); }; });
  CLI::App* stoken_list_cmd =
      stoken->add_subcommand("list", "list permanent tokens issued and tokens held");
  stoken_list_cmd->add_option("LOCAL", stoken_local, "only this user's");
  stoken_list_cmd->callback([&] { action = [&] { return stokenList(global, stoken_local); }; });

  CLI::App* mmtp = app.add_subcommand("mmtp", "an MMTP client: send, and receive one's mailbox");
  mmtp->require_subcommand(1);
  MmtpOptions mm;
  auto mmtpServer = [&](CLI::App* cmd) {
    cmd->add_option("--server", mm.server.server, "MMTP server, port 8026 (TLS) by default")
        ->option_text("HOST[:PORT]")
        ->required();
    cmd->add_flag("--plain", mm.plain, "no TLS (port 8025 by default); no login then");
    cmd->add_option("--tls-fingerprint", mm.server.tls_fingerprint,
                    "trust the server's TLS key by this fingerprint (52 base32 characters)")
        ->option_text("FP");
    cmd->add_option("--ca-file", mm.server.ca_file,
                    "PEM file of the CAs to trust (default: [mmtp] tls_ca_file, else the system "
                    "store)")
        ->option_text("FILE");
    cmd->add_option("--timeout", mm.server.timeout_seconds, "each step, seconds")
        ->option_text("SECONDS")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str();
    passwordFd(cmd, mm.password_fd);
  };
  CLI::App* mmtp_send_cmd = mmtp->add_subcommand("send", "SEND a message (body on stdin)");
  mmtpServer(mmtp_send_cmd);
  mmtp_send_cmd->add_option("FROM", mm.from, "sender, (name)%(domain) or name@domain")->required();
  mmtp_send_cmd->add_option("TO", mm.to, "recipient")->required();
  mmtp_send_cmd->add_option("--subject", mm.subject, "the subject")->option_text("TEXT");
  mmtp_send_cmd->add_option("--file", mm.file, "the body from this file ('-': stdin)")
      ->option_text("FILE");
  mmtp_send_cmd->add_option("--user", mm.user,
                            "log in as this user (needed to send as a user of the server's site)")
      ->option_text("USER");
  mmtp_send_cmd->add_option("--difficulty", mm.difficulty, "stamp zero hex digits")
      ->option_text("N")
      ->check(CLI::Range(0, 8));
  mmtp_send_cmd->callback([&] { action = [&] { return mmtpSend(global, mm); }; });
  CLI::App* mmtp_recv_cmd =
      mmtp->add_subcommand("receive", "RECEIVE one's own mailbox (removes what it prints)");
  mmtpServer(mmtp_recv_cmd);
  mmtp_recv_cmd->add_option("--user", mm.user, "the mailbox's owner, name@domain")->required();
  mmtp_recv_cmd->add_option("--tag", mm.tags, "only messages with this tag (RECEIVE_FILTERED)")
      ->option_text("CATEGORY=VALUE");
  mmtp_recv_cmd->add_flag("--check", mm.check, "count only (CHECK), remove nothing");
  mmtp_recv_cmd->callback([&] { action = [&] { return mmtpReceive(global, mm); }; });

  CLI::App* store_app = app.add_subcommand("store", "migrate or check the state store");
  store_app->require_subcommand(1);
  StoreMigrateOptions migrate;
  CLI::App* migrate_cmd = store_app->add_subcommand(
      "migrate", "copy the SQLite store's entries into the Redis the redis_ keys name");
  migrate_cmd->add_option("--to", migrate.to, "the target backend")
      ->option_text("redis")
      ->required()
      ->check(CLI::IsMember({"redis"}));
  migrate_cmd
      ->add_option("--from-config", migrate.from_config,
                   "read [store] (path and redis_ keys) from this file instead of -c")
      ->option_text("FILE");
  migrate_cmd->add_flag("--dry-run", migrate.dry_run, "print what would be copied, write nothing");
  migrate_cmd->callback([&] { action = [&] { return storeMigrate(global, migrate); }; });
  StoreCheckOptions store_check;
  CLI::App* store_check_cmd = store_app->add_subcommand(
      "check", "say which store is configured and time write, read, erase and spend round trips");
  store_check_cmd->add_option("--count", store_check.count, "round trips to time")
      ->option_text("N")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  store_check_cmd->callback([&] { action = [&] { return storeCheck(global, store_check); }; });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    printError("%s", e.what());
    std::fputs("Run 'mtepctl --help' for usage.\n", stderr);
    return kExitUsage;
  }
  if (!action) {
    printError("no command given");
    return kExitUsage;
  }
  mtep::log::open("mtepctl", false);
  return action();
}

}  // namespace

int main(int argc, char** argv) {
  int rc = run(argc, argv);
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    printError("cannot write to standard output");
    if (rc == kExitOk) rc = kExitTrouble;
  }
  return rc;
}

// mtepctl key derive | key publish | salt reset: a user's ed25519 key,
// derived from the password and the salt the key server keeps
// (Argon2id, lib/e2ee/e2ee.h), published with SETPUBKEY.
#include <openssl/crypto.h>

#include <cstdio>
#include <string>

#include "commands.h"
#include "e2ee_session.h"

namespace mtep::ctl {
namespace {


void printKey(const std::string& user, const e2ee::PublicKey& pub) {
  std::printf("openssh: %s %s\n", e2ee::formatOpensshText(pub).c_str(), user.c_str());
  std::printf("raw:     %s\n", e2ee::formatRaw(pub).c_str());
}

// A password, wiped when this goes away.
struct Password {
  std::string text;
  ~Password() {
    if (!text.empty()) OPENSSL_cleanse(text.data(), text.size());
  }
};

Result<config::ConfigPtr> configOrPrint(const GlobalOptions& global) {
  auto cfg = optionalConfig(global);
  if (!cfg) printError("%s", cfg.error().message().c_str());
  return cfg;
}

// SETPUBKEY, then PUBKEY for the user to see that the server hands out
// what was derived (a bare user name is not an address: not checked).
Status publish(e2ee::KeyClient& client, const std::string& user, const e2ee::PublicKey& pub) {
  if (Status s = client.setPublicKey(pub); !s) return s;
  if (user.find('@') == std::string::npos) return {};
  auto served = client.pubkey(user);
  if (!served) return Error(served.error().kind(), "published, but PUBKEY " + user +
                                                       " failed: " + served.error().message());
  if (*served != pub) {
    return Error(ErrorKind::kInvalid, "published, but PUBKEY " + user +
                                          " answers another key: " + e2ee::formatRaw(*served));
  }
  return {};
}

// Connects, asks the password, logs in and derives (GETSALT or RSTSALT).
struct Derived {
  std::unique_ptr<e2ee::KeyClient> client;
  e2ee::KeyPair pair;
  std::string server;
};
Result<Derived> connectAndDerive(const config::Config& cfg, const ServerOptions& server,
                                 const std::string& user, int password_fd, bool reset) {
  auto at = parseServer(server.server);
  if (!at) return std::move(at).error();
  Password pw;
  auto typed = readPassword(password_fd, "Password for " + user + ": ", false);
  if (!typed) return std::move(typed).error();
  pw.text = std::move(*typed);
  auto client = openKeyServer(cfg, *at, server, user);
  if (!client) return std::move(client).error();
  auto pair = loginAndDerive(**client, user, pw.text, reset, nullptr);
  if (!pair) return std::move(pair).error();
  return Derived{std::move(*client), *pair, at->toString()};
}

}  // namespace

int keyDerive(const GlobalOptions& global, const KeyDeriveOptions& o) {
  if (Status s = checkKeyDerive(o); !s) return usage(s.error());
  auto cfg = configOrPrint(global);
  if (!cfg) return kExitTrouble;
  e2ee::KeyPair pair;
  std::string from;
  if (!o.salt.empty()) {
    auto salt = e2ee::parseSalt(o.salt);
    if (!salt) {
      printError("--salt: %s", salt.error().message().c_str());
      return kExitUsage;
    }
    Password pw;
    auto typed = readPassword(o.password_fd, "Password for " + o.user + ": ", false);
    if (!typed) return failed(typed.error());
    pw.text = std::move(*typed);
    auto derived = e2ee::deriveKey(pw.text, *salt);
    if (!derived) return failed(derived.error());
    pair = *derived;
    from = "the salt given";
  } else {
    auto d = connectAndDerive(**cfg, o.server, o.user, o.password_fd, false);
    if (!d) return failed(d.error());
    d->client->quit();
    pair = d->pair;
    from = "the salt of " + d->server;
  }
  if (!o.out.empty()) {
    if (Status s = writeKeyFile(o.out, o.user, pair, o.force); !s) return failed(s.error());
  }
  OPENSSL_cleanse(pair.seed.data(), pair.seed.size());
  std::printf("public key of %s (from %s):\n", o.user.c_str(), from.c_str());
  printKey(o.user, pair.pub);
  if (!o.out.empty()) std::printf("private key written to %s (keep it secret)\n", o.out.c_str());
  return kExitOk;
}

int keyPublish(const GlobalOptions& global, const KeyPublishOptions& o) {
  if (Status s = checkKeyPublish(o); !s) return usage(s.error());
  auto cfg = configOrPrint(global);
  if (!cfg) return kExitTrouble;
  auto d = connectAndDerive(**cfg, o.server, o.user, o.password_fd, false);
  if (!d) return failed(d.error());
  OPENSSL_cleanse(d->pair.seed.data(), d->pair.seed.size());
  if (Status s = publish(*d->client, o.user, d->pair.pub); !s) return failed(s.error());
  d->client->quit();
  std::printf("published the key of %s at %s:\n", o.user.c_str(), d->server.c_str());
  printKey(o.user, d->pair.pub);
  return kExitOk;
}

int saltReset(const GlobalOptions& global, const KeyPublishOptions& o) {
  if (Status s = checkKeyPublish(o); !s) return usage(s.error());
  auto cfg = configOrPrint(global);
  if (!cfg) return kExitTrouble;
  auto d = connectAndDerive(**cfg, o.server, o.user, o.password_fd, true);
  if (!d) {
    printError("%s", d.error().message().c_str());
    printError("if the salt was reset, no key is published now: run 'mtepctl key publish'");
    return exitCodeFor(d.error());
  }
  OPENSSL_cleanse(d->pair.seed.data(), d->pair.seed.size());
  if (Status s = publish(*d->client, o.user, d->pair.pub); !s) {
    printError("%s", s.error().message().c_str());
    printError("the salt was reset and the old key withdrawn; run 'mtepctl key publish'");
    return exitCodeFor(s.error());
  }
  d->client->quit();
  std::printf("new salt at %s; new key of %s published:\n", d->server.c_str(), o.user.c_str());
  printKey(o.user, d->pair.pub);
  std::printf("signatures made with the old key no longer verify; key files made by\n"
              "'key derive --out' before now hold the old key: derive them again\n");
  return kExitOk;
}

}  // namespace mtep::ctl

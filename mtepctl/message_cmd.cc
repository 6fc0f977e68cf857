// mtepctl sign | verify | encrypt | decrypt: a user's messages, read from
// FILE or standard input, written to standard output.
#include <openssl/crypto.h>

#include <cstdio>
#include <optional>
#include <string>

#include "commands.h"
#include "e2ee/seal.h"
#include "e2ee_message.h"
#include "e2ee_session.h"
#include "util/base64.h"

namespace mtep::ctl {
namespace {

// The key of --key, or nullopt after saying what is wrong with it.
std::optional<e2ee::PublicKey> keyOption(const std::string& text) {
  auto k = e2ee::parsePublicKey(text);
  if (!k) {
    printError("--key: %s", k.error().message().c_str());
    return std::nullopt;
  }
  return *k;
}


// The signing key: from --key-file, or derived from the server's salt.
Result<e2ee::KeyPair> signingKey(const GlobalOptions& global, const SignOptions& o) {
  if (!o.key_file.empty()) return readKeyFile(o.key_file);
  auto cfg = optionalConfig(global);
  if (!cfg) return std::move(cfg).error();
  auto at = parseServer(o.server.server);
  if (!at) return std::move(at).error();
  auto password = readPassword(o.password_fd, "Password for " + o.user + ": ", false);
  if (!password) return std::move(password).error();
  auto client = openKeyServer(**cfg, *at, o.server, o.user);
  if (!client) {
    OPENSSL_cleanse(password->data(), password->size());
    return std::move(client).error();
  }
  auto pair = loginAndDerive(**client, o.user, *password, false, nullptr);
  OPENSSL_cleanse(password->data(), password->size());
  (*client)->quit();
  return pair;
}

}  // namespace

int signMessage(const GlobalOptions& global, const SignOptions& o) {
  if (Status s = checkSign(o); !s) return usage(s.error());
  auto message = readMessage(o.file);
  if (!message) return failed(message.error());
  auto pair = signingKey(global, o);
  if (!pair) return failed(pair.error());
  auto sig = e2ee::signMessage(*message, pair->seed);
  OPENSSL_cleanse(pair->seed.data(), pair->seed.size());
  if (!sig) return failed(sig.error());
  const std::string sig_value = "ed25519 " + *sig;
  const std::string out =
      withHeaders(*message, {{std::string(e2ee::kHeaderSignature), sig_value},
                             {std::string(e2ee::kHeaderPubkey),
                              "ed25519 " + e2ee::formatOpensshBlob(pair->pub)}});
  // The added fields are not signed; check that the result verifies anyway.
  auto check = e2ee::verifyMessage(out, sig_value, pair->pub);
  if (!check || !*check) {
    printError("internal error: the signed message does not verify");
    return kExitTrouble;
  }
  if (Status s = writeOut(out); !s) return failed(s.error());
  return kExitOk;
}

int verifyMessage(const GlobalOptions& global, const VerifyOptions& o) {
  if (Status s = checkVerify(o); !s) return usage(s.error());
  auto message = readMessage(o.file);
  if (!message) {
    printError("%s", message.error().message().c_str());
    return kExitVerifyUndecided;
  }
  auto sig = firstHeader(*message, e2ee::kHeaderSignature);
  if (!sig) {
    std::printf("none: the message has no %s field\n", std::string(e2ee::kHeaderSignature).c_str());
    return kExitNo;
  }
  auto from = fromAddress(*message);
  if (!from) {
    std::printf("fail: %s\n", from.error().message().c_str());
    return kExitNo;
  }
  e2ee::PublicKey key{};
  std::string source;
  if (!o.key.empty()) {
    auto k = keyOption(o.key);
    if (!k) return kExitUsage;
    key = *k;
    source = "the key given";
  } else {
    auto cfg = optionalConfig(global);
    if (!cfg) {
      printError("%s", cfg.error().message().c_str());
      return kExitVerifyUndecided;
    }
    auto found = lookUpKey(**cfg, o.server, *from);
    if (!found && found.error().kind() == ErrorKind::kNotFound) {
      std::printf("none: no key published for %s (%s)\n", from->c_str(),
                  found.error().message().c_str());
      return kExitNo;
    }
    if (!found) {
      printError("%s", found.error().message().c_str());
      return kExitVerifyUndecided;
    }
    key = found->key;
    source = "the key of " + found->server;
  }
  auto ok = e2ee::verifyMessage(*message, *sig, key);
  if (!ok) {
    std::printf("fail: %s: %s\n", std::string(e2ee::kHeaderSignature).c_str(),
                ok.error().message().c_str());
    return kExitNo;
  }
  if (!*ok) {
    std::printf("fail: the signature of %s does not match %s\n", from->c_str(), source.c_str());
    return kExitNo;
  }
  std::printf("pass: signed by %s (%s)\n", from->c_str(), source.c_str());
  return kExitOk;
}

int encryptMessage(const GlobalOptions& global, const EncryptOptions& o) {
  if (Status s = checkEncrypt(o); !s) return usage(s.error());
  auto message = readMessage(o.file);
  if (!message) return failed(message.error());
  e2ee::PublicKey key{};
  if (!o.key.empty()) {
    auto k = keyOption(o.key);
    if (!k) return kExitUsage;
    key = *k;
  } else {
    auto cfg = optionalConfig(global);
    if (!cfg) return failed(cfg.error());
    auto found = lookUpKey(**cfg, o.server, o.to);
    if (!found) return failed(found.error());
    key = found->key;
  }
  const MessageParts parts = splitMessage(*message);
  auto armor = e2ee::sealToKey(parts.body, key);
  if (!armor) return failed(armor.error());
  const std::string out = withHeaders(withBody(*message, withLineEnding(*armor, parts.eol)),
                                      {{std::string(e2ee::kHeaderEncrypted), "yes"}});
  if (Status s = writeOut(out); !s) return failed(s.error());
  return kExitOk;
}

int decryptMessage(const GlobalOptions& /*global*/, const DecryptOptions& o) {
  if (Status s = checkDecrypt(o); !s) return usage(s.error());
  auto message = readMessage(o.file);
  if (!message) return failed(message.error());
  auto marked = firstHeader(*message, e2ee::kHeaderEncrypted);
  if (!marked || !asciiIEquals(*marked, "yes")) {
    printError("the message has no \"%s: yes\" field", std::string(e2ee::kHeaderEncrypted).c_str());
    return kExitNo;
  }
  auto pair = readKeyFile(o.key_file);
  if (!pair) return failed(pair.error());
  auto body = e2ee::openSealed(splitMessage(*message).body, pair->seed);
  OPENSSL_cleanse(pair->seed.data(), pair->seed.size());
  if (!body) return failed(body.error());
  const std::string out = withoutHeader(withBody(*message, *body), e2ee::kHeaderEncrypted);
  if (Status s = writeOut(out); !s) return failed(s.error());
  return kExitOk;
}

}  // namespace mtep::ctl

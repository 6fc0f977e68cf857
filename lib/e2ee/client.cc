// Blocking client of the draft's key service over ESMTP + STARTTLS; see client.h.
#include "e2ee/client.h"

#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include "overlay/overlay.h"
#include "transport/stream.h"
#include "transport/tls.h"
#include "util/base64.h"

namespace mtep::e2ee {
namespace {

// The first line of a reply, printable ASCII, for messages.
std::string quoteReply(const smtp::ParsedReply& r) {
  const std::string text = r.toReply().toString();
  return "\"" + printableAscii(text, 160) + (text.size() > 160 ? "...\"" : "\"");
}

// "WORD REST" from a reply's first line after the code and any enhanced
// code; returns REST when WORD matches (case-insensitive), else nullopt.
std::optional<std::string> afterWord(const smtp::ParsedReply& r, std::string_view word) {
  if (r.lines.empty()) return std::nullopt;
  std::string_view line = r.lines.front();
  if (r.enhanced) {
    const size_t sp = line.find(' ');
    line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  }
  if (line.size() <= word.size() || line[word.size()] != ' ' ||
      !asciiIEquals(line.substr(0, word.size()), word)) {
    return std::nullopt;
  }
  return std::string(line.substr(word.size() + 1));
}

}  // namespace

Result<std::unique_ptr<KeyClient>> KeyClient::open(const std::string& host, uint16_t port,
                                                   const KeyClientOptions& options) {
  if (options.connect_timeout_ms <= 0 || options.read_timeout_ms <= 0 ||
      options.total_timeout_ms <= 0 || port == 0) {
    return Error(ErrorKind::kConfig, "key client timeouts and port must be positive");
  }
  const std::string where = transport::hostPort(host, port);
  transport::DialOptions dial = options.dial;
  dial.connect_timeout_ms = options.connect_timeout_ms;
  dial.timeouts.read_timeout_ms = options.read_timeout_ms;
  dial.timeouts.deadline =
      transport::SteadyClock::now() + std::chrono::milliseconds(options.total_timeout_ms);
  transport::NameResolver& resolver =
      options.resolver != nullptr ? *options.resolver : transport::systemResolver();
  auto stream = transport::dial(host, port, dial, resolver);
  if (!stream) return Error(ErrorKind::kTemporary, stream.error().message());

  std::unique_ptr<KeyClient> c(new KeyClient(smtp::SmtpClient(std::move(*stream)), where));
  auto greeting = c->smtp_.greeting();
  if (!greeting) return std::move(greeting).error();
  if (greeting->code != 220) {
    return Error(ErrorKind::kTemporary, where + " greeted with " + quoteReply(*greeting));
  }
  auto hello = [&]() -> Status {
    auto ehlo = c->smtp_.ehlo(options.helo_name);
    if (!ehlo) return std::move(ehlo).error();
    if (ehlo->code != 250) {
      return Error(ErrorKind::kTemporary, where + " refused EHLO: " + quoteReply(*ehlo));
    }
    return {};
  };
  if (Status s = hello(); !s) return std::move(s).error();
  if (!c->smtp_.capabilities().hasKeyword("STARTTLS")) {
    c->smtp_.quit();
    return Error(ErrorKind::kTemporary,
                 where + " offers no STARTTLS (the key service is TLS-only)");
  }
  auto tls = c->smtp_.startTls(
      {.server_name = options.tls.name.empty() ? host : options.tls.name, .trust = options.tls});
  if (!tls) return Error(ErrorKind::kTemporary, where + ": " + tls.error().message());
  c->fingerprint_ = tls->fingerprint;
  c->tls_protocol_ = tls->protocol;
  if (!options.expect_fingerprint.empty() &&
      !overlay::fingerprintMatches(options.expect_fingerprint, c->fingerprint_)) {
    return Error(ErrorKind::kInvalid, where + " has key " + c->fingerprint_ +
                                          ", not the expected " + options.expect_fingerprint);
  }
  if (Status s = hello(); !s) return std::move(s).error();
  return c;
}

bool KeyClient::offersHashedPass() const {
  const auto params = smtp_.capabilities().keywordParams("AUTH");
  if (!params) return false;
  std::string_view rest = *params;
  while (!rest.empty()) {
    const size_t sp = rest.find(' ');
    if (asciiIEquals(rest.substr(0, sp), "HASHEDPASS")) return true;
    if (sp == std::string_view::npos) break;
    rest.remove_prefix(sp + 1);
  }
  return false;
}

Result<smtp::ParsedReply> KeyClient::ask(std::string_view line) {
  auto r = smtp_.command(line);
  if (!r) return Error(r.error().kind(), where_ + ": " + r.error().message());
  return r;
}

Error KeyClient::replyError(const smtp::ParsedReply& r, std::string_view what) const {
  const ErrorKind kind = r.code >= 400 && r.code < 500 ? ErrorKind::kTemporary : ErrorKind::kInvalid;
  return Error(kind, where_ + " answered " + std::string(what) + " with " + quoteReply(r));
}

Result<PublicKey> KeyClient::pubkey(std::string_view address) {
  auto r = ask("PUBKEY " + std::string(address));
  if (!r) return std::move(r).error();
  if (r->code == 220) {
    auto text = afterWord(*r, "ed25519");
    if (!text) return Error(ErrorKind::kProtocol, where_ + ": PUBKEY reply " + quoteReply(*r) +
                                                      " has no \"ed25519 KEY\"");
    auto key = parsePublicKey(*text);
    if (!key) {
      return Error(ErrorKind::kProtocol,
                   where_ + ": PUBKEY reply carries a bad key: " + key.error().message());
    }
    return *key;
  }
  if (r->code == 550) {
    return Error(ErrorKind::kNotFound, where_ + " has no key: " + quoteReply(*r));
  }
  if (r->code == 500 || r->code == 502) {
    return Error(ErrorKind::kNotFound, where_ + " has no key service: " + quoteReply(*r));
  }
  if (r->code == 530) {
    return Error(ErrorKind::kTemporary, where_ + " wants more for PUBKEY: " + quoteReply(*r));
  }
  return replyError(*r, "PUBKEY");
}

Status KeyClient::login(std::string_view username, const Hash& hash) {
  auto r = ask("AUTH HASHEDPASS " + formatHashedPassAuth(username, hash));
  if (!r) return std::move(r).error();
  if (r->code == 235) return {};
  if (r->code == 535) {
    return Error(ErrorKind::kInvalid, where_ + ": user name or password wrong (" +
                                          quoteReply(*r) + ")");
  }
  return replyError(*r, "AUTH HASHEDPASS");
}

Result<std::string> KeyClient::saltReply(std::string_view command) {
  auto r = ask(command);
  if (!r) return std::move(r).error();
  if (r->code != 220) return replyError(*r, command);
  auto text = afterWord(*r, "SALT");
  if (!text) {
    return Error(ErrorKind::kProtocol,
                 where_ + ": " + std::string(command) + " reply " + quoteReply(*r) +
                     " has no \"SALT B64\"");
  }
  auto salt = parseSalt(*text);
  if (!salt) {
    return Error(ErrorKind::kProtocol,
                 where_ + ": " + std::string(command) + " gave a bad salt: " +
                     salt.error().message());
  }
  return salt;
}

Result<std::string> KeyClient::getSalt() { return saltReply("GETSALT"); }
Result<std::string> KeyClient::resetSalt() { return saltReply("RSTSALT"); }

Status KeyClient::setPublicKey(const PublicKey& pub) {
  auto r = ask("SETPUBKEY " + formatRaw(pub));
  if (!r) return std::move(r).error();
  if (r->code == 250) return {};
  return replyError(*r, "SETPUBKEY");
}

}  // namespace mtep::e2ee

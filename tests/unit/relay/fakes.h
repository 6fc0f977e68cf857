#pragma once
// Fakes for the relay's seams: a scripted SMTP peer (PeerLink), a factory
// that hands it out or fails to dial, and an in-memory pin book with
// PinBook's rules (lib/overlay/pins.h).

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "overlay/overlay.h"
#include "relay/next_hop.h"

namespace mtep::relay::testing {

// As ReplyParser would give it: a leading "C.S.D " of the first line
// becomes the enhanced code.
inline smtp::ParsedReply reply(uint16_t code, std::vector<std::string> lines = {"ok"}) {
  smtp::ParsedReply r;
  r.code = code;
  r.lines = std::move(lines);
  size_t used = 0;
  if (!r.lines.empty()) {
    auto status = smtp::parseEnhancedStatus(r.lines[0], &used);
    if (status && status->cls == code / 100) {
      r.enhanced = *status;
      r.lines[0].erase(0, std::min(used + 1, r.lines[0].size()));
    }
  }
  return r;
}

// What the fake peer does, and what it saw.
struct PeerScript {
  // Behaviour.
  uint16_t greeting = 220;
  bool offer_starttls = true;
  bool offer_size = true;
  bool offer_8bitmime = true;
  bool tls_fails = false;
  std::string fingerprint = "tm2gaqn4tjevotvsmznsvuvaup47tthe4qxv2hzg324kevvvszva";
  uint16_t mail_code = 250;
  std::map<std::string, smtp::ParsedReply> rcpt_replies;  // by mailbox; default 250
  uint16_t data_code = 354;
  smtp::ParsedReply final_reply = reply(250, {"2.0.0 Ok: queued as 4ABC"});
  std::string drop_at;  // a command verb ("RCPT", "MAIL", ...) at which the link breaks
  // When set, the message goes here instead, with the deadline NextHop set
  // (a real socket in tests that need one).
  std::function<Result<smtp::ParsedReply>(std::string_view, SteadyClock::time_point)> send_hook;
  // Observations.
  std::vector<std::string> commands;  // every command line, in order ("STARTTLS" included)
  std::vector<std::string> messages;  // every message received after 354
  int quits = 0;
  int links_destroyed = 0;
};

class FakeLink final : public PeerLink {
 public:
  explicit FakeLink(PeerScript& s) : s_(s) {}
  ~FakeLink() override { ++s_.links_destroyed; }

  Result<smtp::ParsedReply> greeting() override { return reply(s_.greeting, {"fake ESMTP"}); }
  Result<smtp::ParsedReply> ehlo(std::string_view name) override {
    s_.commands.push_back("EHLO " + std::string(name));
    smtp::ParsedReply r = reply(250, {"peer.onion"});
    if (s_.offer_starttls && !tls_) r.lines.push_back("STARTTLS");
    if (s_.offer_size) r.lines.push_back("SIZE 10240000");
    if (s_.offer_8bitmime) r.lines.push_back("8BITMIME");
    caps_ = r;
    return r;
  }
  const smtp::ParsedReply& capabilities() const override { return caps_; }
  Result<std::string> startTls(const std::string& /*server_name*/) override {
    s_.commands.push_back("STARTTLS");
    if (s_.tls_fails) return Error(ErrorKind::kTemporary, "handshake failed: no shared cipher");
    tls_ = true;
    caps_ = {};
    return s_.fingerprint;
  }
  Result<smtp::ParsedReply> command(std::string_view line) override {
    std::string l(line);
    s_.commands.push_back(l);
    std::string verb = l.substr(0, l.find_first_of(" :"));
    if (!s_.drop_at.empty() && verb == s_.drop_at) {
      return Error(ErrorKind::kTemporary, "connection closed by peer.onion:25");
    }
    if (verb == "MAIL") return reply(s_.mail_code);
    if (verb == "RCPT") {
      std::string box = l.substr(l.find('<') + 1);
      box.pop_back();
      auto it = s_.rcpt_replies.find(box);
      return it == s_.rcpt_replies.end() ? reply(250, {"2.1.5 Ok"}) : it->second;
    }
    if (verb == "DATA") return reply(s_.data_code, {"go ahead"});
    return reply(250);
  }
  Result<smtp::ParsedReply> message(std::string_view message) override {
    if (s_.send_hook) return s_.send_hook(message, deadline_);
    s_.messages.emplace_back(message);
    if (s_.drop_at == "MESSAGE") return Error(ErrorKind::kTemporary, "read timeout");
    return s_.final_reply;
  }
  void setDeadline(SteadyClock::time_point deadline) override { deadline_ = deadline; }
  void quit() override { ++s_.quits; }

 private:
  PeerScript& s_;
  smtp::ParsedReply caps_;
  bool tls_ = false;
  SteadyClock::time_point deadline_ = SteadyClock::time_point::max();
};

class FakeLinks final : public LinkFactory {
 public:
  explicit FakeLinks(PeerScript& s) : s_(s) {}
  Result<std::unique_ptr<PeerLink>> connect(const std::string& host, uint16_t port,
                                            SteadyClock::time_point /*deadline*/,
                                            transport::DialFailure* why) override {
    dialed.push_back(host + ":" + std::to_string(port));
    if (fail) {
      if (why) *why = transport::DialFailure::kProxy;
      return Error(ErrorKind::kTemporary, "SOCKS proxy 127.0.0.1:9050: connection refused");
    }
    return std::unique_ptr<PeerLink>(std::make_unique<FakeLink>(s_));
  }
  bool fail = false;
  std::vector<std::string> dialed;

 private:
  PeerScript& s_;
};

// PinBook's rules over a map.
class FakePins final : public PinChecker {
 public:
  Result<overlay::PinCheck> check(std::string_view host, std::string_view label,
                                  std::string_view fp, bool tofu) override {
    ++calls;
    if (store_down) return Error(ErrorKind::kTemporary, "store: database is locked");
    overlay::PinCheck c;
    std::string h(host);
    if (!label.empty()) {
      if (fp.substr(0, label.size()) != label) {
        c.verdict = overlay::PinVerdict::kMismatch;
        return c;
      }
      pins[h] = std::string(fp);
      c.verdict = overlay::PinVerdict::kMatchedLabel;
      return c;
    }
    auto it = pins.find(h);
    if (it != pins.end()) {
      c.verdict = it->second == fp ? overlay::PinVerdict::kPinned : overlay::PinVerdict::kChanged;
      if (c.verdict == overlay::PinVerdict::kChanged) c.detail = "pinned " + it->second;
      return c;
    }
    if (!tofu) {
      c.verdict = overlay::PinVerdict::kUnpinned;
      return c;
    }
    pins[h] = std::string(fp);
    c.verdict = overlay::PinVerdict::kFirstUse;
    return c;
  }
  std::map<std::string, std::string> pins;
  bool store_down = false;
  int calls = 0;
};

// Valid v3 onion names (checksums computed with SHA3-256) and key
// fingerprints for the tests.
inline const std::string kOnionA = "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dyp3kead.onion";
inline const std::string kOnionB = "eaqseizeeutcokbjfivsyljof4ydcmrtgq2tmnzyhe5dwpb5hy74yhqd.onion";
inline const std::string kKeyOne = "tm2gaqn4tjevotvsmznsvuvaup47tthe4qxv2hzg324kevvvszva";
inline const std::string kKeyTwo = "zdpvcru4gcfftp55jcr6bposfdfjellagibv6xxw4swul5dtvhzq";

}  // namespace mtep::relay::testing

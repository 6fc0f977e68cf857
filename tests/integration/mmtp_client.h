#pragma once
// NAME
//   mmtp_client.h - the MMTP reference client's bytes, for the tests of
//   mtepd's MMTP gateway; and a tiny SMTP sink standing in for the MTA
// SUMMARY
//   auto c = MmtpClient::connect(port, /*tls=*/true);
//   std::optional<std::string> greeting = c->readOnce();
//   Json packet = createMessagePacket("(alice)%(alpha.test)", "(bob)%(beta.test)", "Hi", "Hello",
//   5); Json reply = c->ask(request("SEND", {{"packet", packet}}));   // one write, one read
//   SmtpSink sink;  ... sink.mails() ...
// DESCRIPTION
//   Written from the reference's CLIENT/client.js and protocol.js (read,
//   not copied), independent of lib/mmtp, so that a bug in the gateway's
//   JSON, hash or stamp code cannot hide behind the same bug here:
//   - a request is JSON.stringify(request), written in one write; the
//     client waits for its reply, which it takes from ONE read and
//     JSON.parse()s (ask());
//   - createMessagePacket(): meta {type, messageId (16 random bytes, hex),
//     timestamp (Date.now()), hashcashToken {token, counter}, encrypted
//     false, signed false, tags {}}, sender, recipient, content {subject,
//     body}, verification {messageHash = hex SHA-256 of
//     JSON.stringify(content)}; keys in that order (nlohmann's
//     ordered_json keeps them; its compact dump() is JSON.stringify for
//     the texts used here);
//   - generateHashCash(): "1:D:TS:SENDER:RECIPIENT:TS::COUNTER:" with
//     COUNTER counted up from 0 until the hex SHA-256 starts with D zeros.
//   TLS as the reference client does it: no certificate check
//   (verifyTLS false by default). Reads time out after 15 s.
//   SmtpSink accepts SMTP connections one after the other on a loopback
//   port in a thread, answers RCPT with a chosen code and records each
//   message it took.

#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace mtep::itest {

using Json = nlohmann::ordered_json;

std::string sha256Hex(std::string_view data);
int64_t nowMs();

// JSON.stringify for the values the tests build (ASCII and UTF-8 text,
// integers, booleans, objects in insertion order).
std::string stringify(const Json& v);
// JSON.parse, without exceptions: is_discarded() when not JSON.
Json parse(std::string_view text);

struct HashCash {
  std::string token;
  uint64_t counter = 0;
};
// protocol.js generateHashCash(sender, recipient, timestamp) at `difficulty`.
HashCash generateHashCash(std::string_view sender, std::string_view recipient, int64_t timestamp,
                          int difficulty);
// protocol.js createMessagePacket(from, to, subject, body, 'SEND', {tags: {}}).
Json createMessagePacket(const std::string& from, const std::string& to, const std::string& subject,
                         const std::string& body, int difficulty, int64_t timestamp = 0);
// {"action": action, "data": data}
Json request(std::string_view action, Json data = Json::object());

class MmtpClient {
 public:
  // Connects to 127.0.0.1:port (TLS: handshake done, no certificate check).
  static std::unique_ptr<MmtpClient> connect(uint16_t port, bool tls);
  ~MmtpClient();
  MmtpClient(const MmtpClient&) = delete;
  MmtpClient& operator=(const MmtpClient&) = delete;

  // Writes all of `bytes` with one write call (SSL_write: one call).
  bool write(std::string_view bytes);
  // One read: the bytes it returned (nullopt on EOF, error or timeout).
  std::optional<std::string> readOnce();
  // Up to and including the next '\n' (replies are one JSON value + "\n").
  std::optional<std::string> readLine();
  // True when the server closes the connection (EOF or reset) before
  // anything but what *rest receives arrives (15 s at most).
  bool waitClosed(std::string* rest = nullptr);

  // The reference client's request: JSON.stringify(request) in one write,
  // the reply from one read, JSON.parse'd (discarded when it is not one
  // whole JSON value).
  Json ask(const Json& req);
  // The same, but the reply read up to its "\n" (replies over one read).
  Json call(const Json& req);
  Json callRaw(std::string_view bytes);

  int fd() const { return fd_; }

 private:
  MmtpClient() = default;
  int readSome(char* buf, size_t n);
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string pending_;
};

class SmtpSink {
 public:
  struct Mail {
    std::string mail_from;  // the MAIL FROM line's argument, as sent
    std::string rcpt_to;
    std::string data;  // the message, CRLF line ends, dot-unstuffed, without the final "."
  };
  SmtpSink();
  ~SmtpSink();
  uint16_t port() const { return port_; }
  void setRcptCode(int code) { rcpt_code_ = code; }
  // Closes the listener: connections are refused from now on.
  void stop();
  std::vector<Mail> mails() const;

 private:
  void run();
  void session(int fd);
  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> rcpt_code_{250};
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<Mail> mails_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace mtep::itest

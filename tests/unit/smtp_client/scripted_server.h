#pragma once
// NAME
//   scripted_server.h - a one-connection SMTP(+TLS, +MTEP) server thread
//   that plays a script, for the tests of SMTP and MTEP clients
// SUMMARY
//   ScriptedServer s({send("220 hi\r\n"), line(), send("250 ok\r\n"), tls(), line()}, &creds);
//   ... client talks to 127.0.0.1:s.port() ...
//   s.join(); s.received() == {"EHLO x", ...}
// DESCRIPTION
//   Steps run in order: send text, read one line (recorded without CRLF),
//   read a DATA body up to and including the line "." (recorded raw, CRLFs
//   and the final ".\r\n" included),
//   read one netstring, request() (recorded as its payload, CR/LF before it skipped),
//   switch to TLS as server (credentials given at construction), wait for
//   the client to close, or close. A read that meets EOF ends the script
//   (recorded as "<eof>"). TLS goes through OpenSSL's socket BIO in this
//   thread, whose SIGPIPE is blocked.

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cctype>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "unit/transport/tls_test_util.h"

namespace mtep::testing {

struct Step {
  enum Kind { kSend, kLine, kBody, kNetstring, kTls, kWaitClose, kClose } kind;
  std::string text;
};
inline Step send(std::string text) { return {Step::kSend, std::move(text)}; }
inline Step line() { return {Step::kLine, {}}; }
inline Step body() { return {Step::kBody, {}}; }
inline Step request() { return {Step::kNetstring, {}}; }
inline Step tls() { return {Step::kTls, {}}; }
inline Step waitClose() { return {Step::kWaitClose, {}}; }
inline Step hangUp() { return {Step::kClose, {}}; }

class ScriptedServer {
 public:
  explicit ScriptedServer(std::vector<Step> script, const Credentials* creds = nullptr)
      : script_(std::move(script)) {
    if (creds != nullptr) ctx_ = serverContext(*creds);
    listener_ = listenLoopback(&port_);
    thread_ = std::thread([this] { run(); });
  }
  ~ScriptedServer() { join(); }
  uint16_t port() const { return port_; }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  // What the client sent, one entry per line/netstring step (after join()).
  const std::vector<std::string>& received() const { return received_; }
  bool tlsDone() const { return tls_done_; }

 private:
  // One byte; false on EOF or error.
  bool readByte(char* c) {
    if (ssl_) return SSL_read(ssl_.get(), c, 1) == 1;
    return ::recv(conn_.get(), c, 1, 0) == 1;
  }
  void write(const std::string& text) {
    if (ssl_) {
      SSL_write(ssl_.get(), text.data(), static_cast<int>(text.size()));
    } else {
      sendText(conn_.get(), text);
    }
  }
  bool readLine(std::string* out) {
    char c = 0;
    while (readByte(&c)) {
      if (c == '\n') {
        if (!out->empty() && out->back() == '\r') out->pop_back();
        return true;
      }
      out->push_back(c);
    }
    return false;
  }
  bool readBody(std::string* out) {
    char c = 0;
    size_t line_start = 0;
    while (readByte(&c)) {
      out->push_back(c);
      if (c != '\n') continue;
      if (out->compare(line_start, std::string::npos, ".\r\n") == 0) return true;
      line_start = out->size();
    }
    return false;
  }
  bool readNetstring(std::string* out) {
    char c = 0;
    std::string digits;
    for (;;) {
      if (!readByte(&c)) return false;
      if (c == '\r' || c == '\n') continue;
      if (c == ':') break;
      if (!std::isdigit(static_cast<unsigned char>(c)) || digits.size() > 6) return false;
      digits.push_back(c);
    }
    if (digits.empty()) return false;
    const size_t len = std::stoul(digits);
    for (size_t i = 0; i < len; ++i) {
      if (!readByte(&c)) return false;
      out->push_back(c);
    }
    return readByte(&c) && c == ',';
  }

  void run() {
    blockSigpipeInThisThread();
    conn_ = UniqueFd(::accept(listener_.get(), nullptr, nullptr));
    if (!conn_.valid()) return;
    for (const Step& step : script_) {
      std::string got;
      switch (step.kind) {
        case Step::kSend:
          write(step.text);
          break;
        case Step::kLine:
          if (!readLine(&got)) {
            received_.push_back("<eof>");
            return finish();
          }
          received_.push_back(got);
          break;
        case Step::kBody:
          if (!readBody(&got)) {
            received_.push_back("<eof>");
            return finish();
          }
          received_.push_back(got);
          break;
        case Step::kNetstring:
          if (!readNetstring(&got)) {
            received_.push_back("<eof>");
            return finish();
          }
          received_.push_back(got);
          break;
        case Step::kTls:
          ssl_.reset(SSL_new(ctx_.get()));
          SSL_set_fd(ssl_.get(), conn_.get());
          if (SSL_accept(ssl_.get()) != 1) {
            received_.push_back("<tls failed>");
            ERR_clear_error();
            ssl_.reset();
            return finish();
          }
          tls_done_ = true;
          break;
        case Step::kWaitClose: {
          char c = 0;
          while (readByte(&c)) {
          }
          break;
        }
        case Step::kClose:
          return finish();
      }
    }
    finish();
  }

  void finish() {
    if (ssl_) SSL_shutdown(ssl_.get());
    ERR_clear_error();
    ssl_.reset();
    conn_.reset();
  }

  std::vector<Step> script_;
  CtxPtr ctx_;
  UniqueFd listener_;
  UniqueFd conn_;
  SslPtr ssl_;
  uint16_t port_ = 0;
  std::vector<std::string> received_;
  bool tls_done_ = false;
  std::thread thread_;
};

}  // namespace mtep::testing

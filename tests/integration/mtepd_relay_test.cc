// NAME
//   mtepd_relay_test.cc - the real mtepd's onion relay against a next hop
//   that reads too slowly
// DESCRIPTION
//   mtepd runs with onion_relay and relay_send_timeout = 2s; its SOCKS5
//   proxy is tests/tools/fake-next-hop, which is also the next hop (SOCKS,
//   then SMTP with STARTTLS on one connection whose receive buffer is
//   small). The test is the MTA: the first message (16 MiB) goes to a
//   connection that reads it at about 1 MiB/s (each wait short, the whole
//   message some 15 seconds, and never answered) and gets 451 4.4.2 while
//   sending, once the send timeout passes (without one: after the whole
//   message, at the reply's read timeout); the next message, on the same MTA
//   connection, is delivered (250) through a new next-hop connection.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "mtepd_harness.h"
#include "run_program.h"

namespace mtep::itest {
namespace {

// fake-next-hop as a child process; stopped (SIGTERM) by the destructor.
class NextHopProcess {
 public:
  NextHopProcess(const std::string& dir, const std::string& cert, const std::string& key,
                 int slow_first)
      : port_file_(dir + "/next-hop.port"), out_(dir + "/next-hop.out") {
    std::vector<std::string> args = {FAKE_NEXT_HOP_PATH, "--port-file", port_file_,
                                     "--cert", cert, "--key", key,
                                     "--slow-first", std::to_string(slow_first)};
    pid_ = spawnLogged(args, out_);
  }
  ~NextHopProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  NextHopProcess(const NextHopProcess&) = delete;
  NextHopProcess& operator=(const NextHopProcess&) = delete;

  // The port, once it listens; 0 when it did not start within 10 s.
  uint16_t waitPort() const {
    for (int i = 0; i < 500 && pid_ > 0; ++i) {
      const std::string text = readFile(port_file_);
      if (!text.empty()) return static_cast<uint16_t>(std::stoi(text));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return 0;
  }
  std::string output() const { return readFile(out_); }

 private:
  std::string port_file_, out_;
  pid_t pid_ = -1;
};

// A valid v3 onion name (checksum and version right; the key is random).
std::string makeOnion(const std::string& dir) {
  RunResult r = runProgram(
      {"python3", "-c",
       "import base64, hashlib, os\n"
       "pk = os.urandom(32)\n"
       "chk = hashlib.sha3_256(b'.onion checksum' + pk + b'\\x03').digest()[:2]\n"
       "print(base64.b32encode(pk + chk + b'\\x03').decode().lower() + '.onion')\n"},
      dir);
  return r.exit_code == 0 && r.out.size() > 1 ? r.out.substr(0, r.out.size() - 1) : "";
}

// The last line of an SMTP reply ("250 ..."), or "(none)".
std::string readReply(Client& c, int timeout_ms = 20000) {
  for (;;) {
    auto line = c.readUntil("\r\n", timeout_ms);
    if (!line) return "(none)";
    if (line->size() < 4 || (*line)[3] != '-') return *line;
  }
}

TEST(OnionRelay, NextHopReadingTooSlowlyGets451AtTheSendTimeoutAndTheNextMessageGoesThrough) {
  const uint16_t relay_port = freeLoopbackPort();
  Mtepd d(DaemonSettings{});
  const std::string cert = d.dir() + "/next.pem";
  const std::string key = d.dir() + "/next.key";
  RunResult made = runProgram({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                               "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=next", "-days",
                               "2", "-keyout", key, "-out", cert},
                              d.dir());
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string onion = makeOnion(d.dir());
  ASSERT_FALSE(onion.empty());
  NextHopProcess hop(d.dir(), cert, key, /*slow_first=*/1);
  const uint16_t hop_port = hop.waitPort();
  ASSERT_NE(hop_port, 0) << hop.output();

  std::string text = readFile(d.configPath());
  const size_t eol = text.find('\n', text.find("idle_timeout"));
  text.insert(eol + 1, "onion_relay = [\"127.0.0.1:" + std::to_string(relay_port) +
                           "\"]\nhostname = \"relay.test\"\nrelay_send_timeout = \"2s\"\n");
  text += "\n[outbound]\nonion_proxy = \"127.0.0.1:" + std::to_string(hop_port) +
          "\"\nproxy_timeout = \"5s\"\nsmtp_timeout = \"5s\"\ntrust_on_first_use = true\n";
  d.writeConfigText(text);
  ASSERT_TRUE(d.start());

  auto c = Client::connect(relay_port);
  ASSERT_TRUE(c);
  ASSERT_TRUE(startsWith(readReply(*c), "220 "));
  c->send("EHLO mta.test\r\n");
  ASSERT_TRUE(startsWith(readReply(*c), "250 "));

  // 1: the next hop reads the message too slowly.
  c->send("MAIL FROM:<alice@send.test>\r\n");
  ASSERT_TRUE(startsWith(readReply(*c), "250 "));
  c->send("RCPT TO:<bob@" + onion + ">\r\n");
  const std::string rcpt = readReply(*c);
  ASSERT_TRUE(startsWith(rcpt, "250 ")) << rcpt << "\n" << d.logText() << hop.output();
  c->send("DATA\r\n");
  ASSERT_TRUE(startsWith(readReply(*c), "354 "));
  const std::string line = std::string(998, 'x') + "\r\n";
  std::string chunk;
  for (int i = 0; i < 1024; ++i) chunk += line;  // about 1 MiB
  for (int i = 0; i < 16; ++i) ASSERT_TRUE(c->send(chunk));
  c->send(".\r\n");
  const std::string first = readReply(*c, 60000);
  EXPECT_TRUE(startsWith(first, "451 4.4.2 ")) << first;
  // Cut while sending (the whole message would have gone, then the reply
  // waited for: "... reading from").
  EXPECT_NE(first.find("deadline expired sending to"), std::string::npos) << first;
  EXPECT_NE(hop.output().find("slow 1"), std::string::npos) << hop.output();

  // 2: the next message, same MTA connection, a new next-hop connection.
  c->send("MAIL FROM:<alice@send.test>\r\n");
  ASSERT_TRUE(startsWith(readReply(*c), "250 "));
  c->send("RCPT TO:<carol@" + onion + ">\r\n");
  ASSERT_TRUE(startsWith(readReply(*c), "250 "));
  c->send("DATA\r\n");
  ASSERT_TRUE(startsWith(readReply(*c), "354 "));
  c->send("Subject: next\r\n\r\nbody\r\n.\r\n");
  const std::string second = readReply(*c);
  EXPECT_TRUE(startsWith(second, "250 ")) << second;
  EXPECT_NE(hop.output().find("queued 2 "), std::string::npos) << hop.output();
  c->send("QUIT\r\n");
  EXPECT_TRUE(startsWith(readReply(*c), "221 "));
}

}  // namespace
}  // namespace mtep::itest

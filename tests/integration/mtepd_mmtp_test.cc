// NAME
//   mtepd_mmtp_test.cc - the real mtepd's MMTP gateway ([mmtp] listen, plain,
//   and tls_listen, implicit TLS) against the reference client's bytes and
//   against attackers
// DESCRIPTION
//   mtepd runs on loopback with both MMTP listeners, a certificate made by
//   `openssl req`, users added to its store with lib/e2ee's UserBook (login
//   hashes from e2ee::hashedPass), three domains (beta.test: mailboxes,
//   stamps of 2 digits; ref.test: mailboxes, the default difficulty 5;
//   mta.test: handed to the MTA, a small SMTP sink thread here) and senders
//   at alpha.test (not served here: no login needed to send from it).
//   The client (mmtp_client.h) writes what the reference client writes, one
//   request at a time, and reads each reply in one read. Checked: the
//   greetings byte for byte; the reference client's flow at difficulty 5;
//   every action and error text, plain and TLS; framing (two requests in
//   one write, one in ten writes, a 200 KB SEND over TLS); limits (a 10 MB
//   value, depth 10,000, 1,000 connections from one address, a peer that
//   trickles a request); bad stamps (too few zeros, another recipient,
//   replayed also across connections, stale, future); bad hashes (also
//   with meta.encrypted true); non-JSON; owners' mailboxes over TLS across
//   a restart; SENDs handed to the MTA (250, 550, 451, no MTA). Each
//   refusal is a clear ERROR, and the connection and the daemon go on.
//   No timing assertions: pauses only make separate TCP segments or let
//   an idle timeout run out.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "e2ee/e2ee.h"
#include "e2ee/users.h"
#include "mmtp_client.h"
#include "mtepd_harness.h"
#include "run_program.h"
#include "store/sqlite_store.h"
#include "util/clock.h"

namespace mtep::itest {
namespace {

constexpr std::string_view kGreetingPlain =
    R"({"status":"OK","message":"MMTP Server Ready","features":{"tls":true,"pgp":true}})"
    "\n";
constexpr std::string_view kGreetingTls =
    R"J({"status":"OK","message":"MMTP Server Ready (Secure Connection)","features":{"tls":true,"pgp":true}})J"
    "\n";
constexpr std::string_view kNotJson =
    R"({"status":"ERROR","message":"Invalid request format. Must be valid JSON."})"
    "\n";
constexpr std::string_view kUnknownAction = R"({"status":"ERROR","message":"Unknown action"})"
                                            "\n";
constexpr std::string_view kRateLimited =
    R"({"status":"ERROR","message":"Rate limit exceeded. Try again later."})"
    "\n";
constexpr std::string_view kStampFailed = "HashCash verification failed - potential spam";
constexpr std::string_view kIntegrityFailed = "Message integrity check failed";

const std::string kAlice = "(alice)%(alpha.test)";  // a sender elsewhere
const std::string kBob = "(bob)%(beta.test)";
const std::string kCarol = "(carol)%(beta.test)";
const std::string kRefBob = "(bob)%(ref.test)";
const std::string kDave = "(dave)%(mta.test)";

// The login hash of a user (Argon2id, 64 MiB: computed once per user).
const e2ee::Hash& hashOf(const std::string& user) {
  static std::map<std::string, e2ee::Hash> cache;
  auto it = cache.find(user);
  if (it == cache.end()) {
    auto h = e2ee::hashedPass(user, "password of " + user);
    EXPECT_TRUE(h.ok());
    it = cache.emplace(user, h.ok() ? *h : e2ee::Hash{}).first;
  }
  return it->second;
}

std::string authOf(const std::string& user) {
  return e2ee::formatHashedPassAuth(user, hashOf(user));
}

std::string wrongAuthOf(const std::string& user) {
  e2ee::Hash h = hashOf(user);
  h[0] ^= 1;
  return e2ee::formatHashedPassAuth(user, h);
}

std::string messageOf(const Json& reply) {
  const auto it = reply.find("message");
  return it != reply.end() && it->is_string() ? it->get<std::string>() : "";
}

std::vector<std::string> keysOf(const Json& j) {
  std::vector<std::string> keys;
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) keys.push_back(k);
  }
  return keys;
}

// An ERROR reply with this message, and no "temporary" unless asked.
::testing::AssertionResult isError(const Json& reply, std::string_view message,
                                   bool temporary = false) {
  if (!reply.is_object() || reply.value("status", "") != "ERROR" || messageOf(reply) != message ||
      reply.contains("temporary") != temporary || (temporary && reply["temporary"] != true)) {
    return ::testing::AssertionFailure()
           << "got " << (reply.is_discarded() ? "<no JSON reply>" : reply.dump())
           << ", want ERROR \"" << message << "\"" << (temporary ? " temporary" : "");
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult isOk(const Json& reply) {
  if (!reply.is_object() || reply.value("status", "") != "OK") {
    return ::testing::AssertionFailure()
           << "got " << (reply.is_discarded() ? "<no JSON reply>" : reply.dump()) << ", want OK";
  }
  return ::testing::AssertionSuccess();
}

bool isHex32(const Json& v) {
  if (!v.is_string()) return false;
  const std::string& s = v.get_ref<const std::string&>();
  return s.size() == 32 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// An ASCII-armored OpenPGP block: a v4 Ed25519 key packet (tag 6 public,
// 5 secret) and a user id, as gpg writes them (the body is not checked).
std::string keyBlock(int tag) {
  std::string key;
  key += '\x04';                              // version 4
  key += std::string("\x65\x00\x00\x00", 4);  // creation time
  key += '\x16';                              // EdDSA
  key += std::string("\x09\x2b\x06\x01\x04\x01\xda\x47\x0f\x01", 10);
  key += std::string("\x01\x07\x40", 3);
  key += std::string(32, '\x11');
  std::string packets;
  packets += static_cast<char>(0xc0 | tag);
  packets += static_cast<char>(key.size());
  packets += key;
  const std::string uid = "bob <bob@beta.test>";
  packets += static_cast<char>(0xcd);
  packets += static_cast<char>(uid.size());
  packets += uid;
  return "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n" + base64(packets) +
         "\n-----END PGP PUBLIC KEY BLOCK-----\n";
}

// A public key block of about `size` bytes of armor (one big key packet).
std::string bigKeyBlock(size_t size) {
  const size_t body = size / 4 * 3 - 600;
  std::string packets;
  packets += static_cast<char>(0xc6);  // new format, tag 6
  packets += static_cast<char>(0xff);  // four-octet length
  for (int shift = 24; shift >= 0; shift -= 8) {
    packets += static_cast<char>((body >> shift) & 0xff);
  }
  packets += '\x04';
  packets += std::string(body - 1, '\x5a');
  std::string b64 = base64(packets);
  std::string lines;
  for (size_t i = 0; i < b64.size(); i += 64) lines += b64.substr(i, 64) + "\n";
  return "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n" + lines +
         "-----END PGP PUBLIC KEY BLOCK-----\n";
}

// The daemon's peak resident memory (kB), from /proc.
long peakRssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

class MmtpGateway : public ::testing::Test {
 protected:
  // mtepd with both MMTP listeners; `mmtp` joins [mmtp].
  // start() for a test that measures the daemon's peak RSS: under ASan,
  // without its quarantine, which holds every freed buffer (the bytes a
  // request passed through), so that RSS is what the daemon really holds.
  void startForMemory() {
    if (!kAddressSanitizer) {
      start();
      return;
    }
    const char* was = std::getenv("ASAN_OPTIONS");
    const std::string before = was ? was : "";
    ::setenv("ASAN_OPTIONS", (before + ":quarantine_size_mb=0").c_str(), 1);
    start();
    ::setenv("ASAN_OPTIONS", before.c_str(), 1);
  }

  void start(const std::string& mmtp = "") {
    plain_port_ = freeLoopbackPort();
    tls_port_ = freeLoopbackPort();
    d_ = std::make_unique<Mtepd>(DaemonSettings{});
    const std::string cert = d_->dir() + "/cert.pem";
    const std::string key = d_->dir() + "/key.pem";
    RunResult r = runProgram(
        {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-subj", "/CN=mx.beta.test", "-days", "2", "-keyout", key, "-out", cert},
        d_->dir());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // The harness's [mtepd] section ends with idle_timeout; these keys join it.
    std::string text = readFile(d_->configPath());
    const size_t eol = text.find('\n', text.find("idle_timeout"));
    text.insert(eol + 1, "hostname = \"mx.beta.test\"\ntls_cert_file = \"" + cert +
                             "\"\ntls_key_file = \"" + key + "\"\n");
    text += "\n[mmtp]\nlisten = [\"127.0.0.1:" + std::to_string(plain_port_) +
            "\"]\ntls_listen = [\"127.0.0.1:" + std::to_string(tls_port_) +
            "\"]\ninject_to = \"127.0.0.1:" + std::to_string(sink_.port()) + "\"\n" + mmtp +
            "\n[domain.\"beta.test\"]\nmmtp_delivery = \"mailbox\"\nmmtp_difficulty = 2\n"
            "\n[domain.\"ref.test\"]\nmmtp_delivery = \"mailbox\"\n"
            "\n[domain.\"mta.test\"]\nmmtp_delivery = \"mta\"\nmmtp_difficulty = 2\n";
    d_->writeConfigText(text);
    ASSERT_TRUE(d_->start());
    for (const char* user : {"bob@beta.test", "carol@beta.test", "bob@ref.test"}) {
      ASSERT_TRUE(addUser(user));
    }
  }

  // Stops mtepd and starts it again on the same files.
  void restart() {
    d_->signal(SIGTERM);
    ASSERT_TRUE(d_->waitExit(10000).has_value());
    // start() waits for ": ready" in the log: begin a new one.
    const std::string log = d_->dir() + "/mtepd.log";
    std::rename(log.c_str(), (log + ".1").c_str());
    ASSERT_TRUE(d_->start());
  }

  ::testing::AssertionResult addUser(const std::string& name) {
    auto st = store::openSqlite({.path = d_->dbPath()}, SystemClock::instance());
    if (!st) return ::testing::AssertionFailure() << "store: " << st.error().message();
    e2ee::UserBook users(**st, SystemClock::instance());
    Status s = users.add(name, hashOf(name));
    if (!s) return ::testing::AssertionFailure() << "add: " << s.error().message();
    return ::testing::AssertionSuccess();
  }

  // A connection whose greeting was read (and checked).
  std::unique_ptr<MmtpClient> open(bool tls) {
    auto c = MmtpClient::connect(tls ? tls_port_ : plain_port_, tls);
    EXPECT_TRUE(c) << "cannot connect";
    if (!c) return c;
    const auto greeting = c->readOnce();
    EXPECT_EQ(greeting.value_or("<none>"), tls ? kGreetingTls : kGreetingPlain);
    return c;
  }

  // A packet from `from` to `to` stamped at `difficulty`, as the reference
  // client builds it. Each at a millisecond of its own unless `ts` is
  // given: two packets from one sender to one recipient in the same
  // millisecond carry the same stamp (it has no random part), and the
  // second is a replay.
  static Json packet(const std::string& from, const std::string& to, int difficulty = 2,
                     const std::string& subject = "Hello", const std::string& body = "Hi there",
                     int64_t ts = 0) {
    static int64_t last = 0;
    if (ts == 0) ts = last = std::max(nowMs(), last + 1);
    return createMessagePacket(from, to, subject, body, difficulty, ts);
  }
  static Json sendOf(const Json& p, const std::string& auth = "") {
    Json data;
    data["packet"] = p;
    if (!auth.empty()) data["auth"] = auth;
    return request("SEND", data);
  }
  static Json forEmail(std::string_view action, const std::string& email,
                       const std::string& auth = "", Json extra = Json::object()) {
    Json data;
    data["email"] = email;
    for (auto& [k, v] : extra.items()) data[k] = v;
    if (!auth.empty()) data["auth"] = auth;
    return request(action, data);
  }

  // Still serving: a new connection on each listener is greeted and answered.
  ::testing::AssertionResult stillServing() {
    for (bool tls : {false, true}) {
      auto c = MmtpClient::connect(tls ? tls_port_ : plain_port_, tls);
      if (!c) return ::testing::AssertionFailure() << "cannot connect (tls " << tls << ")";
      const auto g = c->readOnce();
      if (g.value_or("") != (tls ? kGreetingTls : kGreetingPlain)) {
        return ::testing::AssertionFailure() << "greeting " << g.value_or("<none>");
      }
      const Json r = c->ask(request("GET_TAG_CATEGORIES"));
      if (!isOk(r)) return isOk(r);
    }
    return ::testing::AssertionSuccess();
  }

  SmtpSink sink_;
  std::unique_ptr<Mtepd> d_;
  uint16_t plain_port_ = 0;
  uint16_t tls_port_ = 0;
};

// --- the wire ----------------------------------------------------------------

TEST_F(MmtpGateway, GreetsPlainAndTlsWithTheReferenceTextsByteForByte) {
  start();
  for (bool tls : {false, true}) {
    auto c = MmtpClient::connect(tls ? tls_port_ : plain_port_, tls);
    ASSERT_TRUE(c);
    const auto g = c->readOnce();  // the reference client: one 'data' event
    EXPECT_EQ(g.value_or("<none>"), tls ? kGreetingTls : kGreetingPlain);
    // What the reference client looks for.
    const Json j = parse(g.value_or(""));
    EXPECT_EQ(j.value("status", ""), "OK");
    EXPECT_NE(messageOf(j).find("MMTP Server Ready"), std::string::npos);
  }
}

TEST_F(MmtpGateway, TheTestClientHashesAsJavaScriptDoes) {
  // The vector from the reference (node): a check of this file's client.
  Json content;
  content["subject"] = "Hi";
  content["body"] = "Hello";
  EXPECT_EQ(sha256Hex(stringify(content)),
            "51d4eaa38f7bdb2e1beb88a5eaf9fb63d2fdb146f415b270d3eddbc89df42199");
  EXPECT_EQ(sha256Hex("1:4:1796397065662:(alice)%(example.com):(bob)%(example.com):1796397065662::"
                      "21014:")
                .substr(0, 8),
            "00009f2a");
  const HashCash h =
      generateHashCash("(alice)%(example.com)", "(bob)%(example.com)", 1796397065662, 4);
  EXPECT_EQ(h.counter, 21014u);
}

TEST_F(MmtpGateway, ReferenceClientFlowAtTheDefaultDifficultyPasses) {
  start();
  // ref.test has no mmtp_difficulty: [mmtp] difficulty, default 5, which
  // the reference client mints by default. Its default is TLS; plain too.
  std::vector<std::string> ids;
  std::vector<Json> sent;
  for (bool tls : {true, false}) {
    auto c = open(tls);
    ASSERT_TRUE(c);
    const Json p = packet(kAlice, kRefBob, 5, "Hello over " + std::string(tls ? "TLS" : "TCP"),
                          "Sent as client.js sends it.");
    const Json reply = c->ask(sendOf(p));
    ASSERT_TRUE(isOk(reply));
    EXPECT_EQ(keysOf(reply),
              (std::vector<std::string>{"status", "message", "messageId", "encrypted", "signed"}));
    EXPECT_EQ(messageOf(reply), "Message delivered successfully");
    EXPECT_TRUE(isHex32(reply["messageId"])) << reply;
    EXPECT_NE(reply["messageId"], p["meta"]["messageId"]);  // the server's id
    EXPECT_EQ(reply["encrypted"], false);
    EXPECT_EQ(reply["signed"], false);
    ids.push_back(reply["messageId"].get<std::string>());
    sent.push_back(p);
    // The rest of what the reference client can ask, without a login.
    EXPECT_TRUE(isError(c->ask(forEmail("CHECK", kRefBob)), "Authentication required"));
    EXPECT_TRUE(isError(c->ask(forEmail("RECEIVE", kRefBob)), "Authentication required"));
    EXPECT_TRUE(isError(c->ask(forEmail("REQUEST_PUBLIC_KEY", kRefBob)),
                        "Public key not found for this email"));
    EXPECT_TRUE(isOk(c->ask(request("GET_TAG_CATEGORIES"))));
  }
  // The owner takes them, over TLS with the login.
  auto c = open(true);
  ASSERT_TRUE(c);
  const Json got = c->call(forEmail("RECEIVE", kRefBob, authOf("bob@ref.test")));
  ASSERT_TRUE(isOk(got));
  EXPECT_EQ(keysOf(got), (std::vector<std::string>{"status", "messages", "count"}));
  ASSERT_EQ(got["count"], 2);
  ASSERT_EQ(got["messages"].size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const Json& m = got["messages"][i];
    EXPECT_EQ(m["sender"], kAlice);
    EXPECT_EQ(m["recipient"], kRefBob);
    EXPECT_EQ(m["content"], sent[i]["content"]);
    EXPECT_EQ(m["verification"], sent[i]["verification"]);
    EXPECT_EQ(m["meta"]["messageId"], ids[i]);
    EXPECT_EQ(m["meta"]["senderMessageId"], sent[i]["meta"]["messageId"]);
    EXPECT_EQ(m["meta"]["hashcashToken"], sent[i]["meta"]["hashcashToken"]);
    EXPECT_EQ(m["meta"]["timestamp"], sent[i]["meta"]["timestamp"]);
  }
  EXPECT_TRUE(d_->waitForLog("SEND from=<(alice)%(alpha.test)> to=<(bob)%(ref.test)> id=" + ids[0] +
                             " result=ok"));
}

TEST_F(MmtpGateway, EveryActionAndErrorTextPlainAndTls) {
  start();
  for (bool tls : {false, true}) {
    SCOPED_TRACE(tls ? "tls_listen" : "listen");
    auto c = open(tls);
    ASSERT_TRUE(c);
    // Fixed replies, byte for byte.
    c->write(stringify(request("GET_TAG_CATEGORIES")));
    EXPECT_EQ(c->readOnce().value_or("<none>"),
              R"({"status":"OK","tagCategories":{"priority":["high","medium","low"],)"
              R"("category":["personal","work","finance","social","promotion","coupon","shop",)"
              R"("notification"],"status":["urgent","important","information",)"
              R"("action_required"],"custom":[]}})"
              "\n");
    for (const std::string& unknown :
         {std::string(R"({"action":"NOPE","data":{}})"), std::string(R"({"action":"send"})"),
          std::string(R"J({"data":{"email":"(bob)%(beta.test)"}})J"),
          std::string(R"({"action":42,"data":{}})"), std::string("{}")}) {
      c->write(unknown);
      EXPECT_EQ(c->readOnce().value_or("<none>"), kUnknownAction) << unknown;
    }
    // Addresses.
    for (const char* action : {"RECEIVE", "CHECK", "RECEIVE_FILTERED", "REQUEST_PUBLIC_KEY"}) {
      EXPECT_TRUE(isError(c->ask(forEmail(action, "bob@beta.test")), "Invalid email format"))
          << action;
      EXPECT_TRUE(isError(c->ask(request(action)), "Invalid email format")) << action;
    }
    EXPECT_TRUE(isError(c->ask(forEmail("REQUEST_PUBLIC_KEY", kCarol)),
                        "Public key not found for this email"));
    // The owner's actions: no login, a login in clear text, the login.
    Json filters;
    filters["tagFilters"]["priority"] = {"high"};
    const std::vector<std::pair<std::string, Json>> owner_actions = {
        {"RECEIVE", Json::object()},
        {"CHECK", Json::object()},
        {"RECEIVE_FILTERED", filters},
        {"REGISTER_KEY", Json{{"publicKey", keyBlock(6)}}}};
    for (const auto& [action, extra] : owner_actions) {
      SCOPED_TRACE(action);
      EXPECT_TRUE(isError(c->ask(forEmail(action, kBob, "", extra)), "Authentication required"));
      const Json with_auth = c->ask(forEmail(action, kBob, authOf("bob@beta.test"), extra));
      if (!tls) {
        EXPECT_TRUE(isError(with_auth, "Authentication requires TLS"));
        continue;
      }
      ASSERT_TRUE(isOk(with_auth));
      if (action == "RECEIVE") {
        EXPECT_EQ(keysOf(with_auth), (std::vector<std::string>{"status", "messages", "count"}));
      } else if (action == "RECEIVE_FILTERED") {
        EXPECT_EQ(keysOf(with_auth),
                  (std::vector<std::string>{"status", "messages", "count", "tagFilters"}));
        EXPECT_EQ(with_auth["tagFilters"], filters["tagFilters"]);
      } else if (action == "CHECK") {
        EXPECT_EQ(keysOf(with_auth),
                  (std::vector<std::string>{"status", "count", "totalCount", "tagCounts"}));
      } else {
        EXPECT_EQ(messageOf(with_auth), "Public key registered successfully");
      }
    }
    // Keys: never a private key; what was registered is what anyone gets.
    if (tls) {
      Json priv{{"publicKey", keyBlock(5)}};
      const Json r = c->ask(forEmail("REGISTER_KEY", kBob, authOf("bob@beta.test"), priv));
      EXPECT_EQ(r.value("status", ""), "ERROR") << r;
      EXPECT_EQ(messageOf(r).rfind("Failed to register key", 0), 0u) << r;
      Json armored_private{{"publicKey",
                            "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxcA=\n"
                            "-----END PGP PRIVATE KEY BLOCK-----\n"}};
      EXPECT_EQ(c->ask(forEmail("REGISTER_KEY", kBob, authOf("bob@beta.test"), armored_private))
                    .value("status", ""),
                "ERROR");
      auto plain = open(false);
      ASSERT_TRUE(plain);
      const Json key = plain->ask(forEmail("REQUEST_PUBLIC_KEY", kBob));
      ASSERT_TRUE(isOk(key));
      EXPECT_EQ(keysOf(key), (std::vector<std::string>{"status", "email", "publicKey"}));
      EXPECT_EQ(key["email"], kBob);
      EXPECT_EQ(key["publicKey"], keyBlock(6));
    }
    // SEND's refusals.
    EXPECT_TRUE(isError(c->ask(request("SEND", Json::object())), "Invalid packet"));
    EXPECT_TRUE(isError(c->ask(sendOf(packet(kAlice, "(x)%(elsewhere.test)"))),
                        "Recipient domain not served here"));
    EXPECT_TRUE(
        isError(c->ask(sendOf(packet(kAlice, "(nobody)%(beta.test)"))), "Unknown recipient"));
    Json bad_address = packet(kAlice, kBob);
    bad_address["recipient"] = "bob@beta.test";
    EXPECT_TRUE(isError(c->ask(sendOf(bad_address)), "Invalid email format"));
    // Our own users' addresses: only their owner sends as them.
    EXPECT_TRUE(isError(c->ask(sendOf(packet(kCarol, kBob))), "Authentication required"));
    const Json as_carol = c->ask(sendOf(packet(kCarol, kBob), authOf("carol@beta.test")));
    if (tls) {
      EXPECT_TRUE(isOk(as_carol));
      EXPECT_TRUE(isError(c->ask(sendOf(packet(kCarol, kBob), authOf("bob@beta.test"))),
                          "Authentication failed"));
    } else {
      EXPECT_TRUE(isError(as_carol, "Authentication requires TLS"));
    }
    EXPECT_TRUE(isOk(c->ask(sendOf(packet(kAlice, kBob)))));
  }
  // Nothing secret in the log.
  const std::string log = d_->logText();
  EXPECT_EQ(log.find(authOf("bob@beta.test")), std::string::npos);
  EXPECT_EQ(log.find(authOf("carol@beta.test")), std::string::npos);
}

// --- framing -----------------------------------------------------------------

TEST_F(MmtpGateway, TwoRequestsInOneWriteAndOneRequestInTenWrites) {
  start();
  for (bool tls : {false, true}) {
    SCOPED_TRACE(tls ? "tls_listen" : "listen");
    auto c = open(tls);
    ASSERT_TRUE(c);
    // Back to back, then separated by a newline.
    for (const std::string sep : {"", "\n", " \r\n\t"}) {
      const Json p1 = packet(kAlice, kBob, 2, "one");
      const Json p2 = packet(kAlice, kBob, 2, "two");
      ASSERT_TRUE(c->write(stringify(sendOf(p1)) + sep + stringify(sendOf(p2)) + sep));
      const Json r1 = parse(c->readLine().value_or(""));
      const Json r2 = parse(c->readLine().value_or(""));
      EXPECT_TRUE(isOk(r1));
      EXPECT_TRUE(isOk(r2));
      EXPECT_NE(r1["messageId"], r2["messageId"]);
    }
    // Two different actions: answered in order.
    ASSERT_TRUE(c->write(stringify(forEmail("REQUEST_PUBLIC_KEY", kBob)) +
                         stringify(request("GET_TAG_CATEGORIES"))));
    EXPECT_TRUE(isError(parse(c->readLine().value_or("")), "Public key not found for this email"));
    EXPECT_TRUE(parse(c->readLine().value_or("")).contains("tagCategories"));
    // One request in ten writes (separate segments: TCP_NODELAY and a pause).
    const std::string whole = stringify(sendOf(packet(kAlice, kBob, 2, "ten")));
    const size_t step = whole.size() / 10 + 1;
    for (size_t at = 0; at < whole.size(); at += step) {
      ASSERT_TRUE(c->write(whole.substr(at, step)));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(isOk(parse(c->readLine().value_or(""))));
  }
  // Six each way and one more: bob has 2*(6+1)+... all of them.
  auto c = open(true);
  ASSERT_TRUE(c);
  const Json got = c->call(forEmail("RECEIVE", kBob, authOf("bob@beta.test")));
  ASSERT_TRUE(isOk(got));
  EXPECT_EQ(got["count"], 14);
}

TEST_F(MmtpGateway, A200KilobyteSendOverTlsArrivesWhole) {
  start();
  std::string body;
  while (body.size() < 200 * 1024) body += "line " + std::to_string(body.size()) + " of the body\n";
  auto c = open(true);
  ASSERT_TRUE(c);
  const Json p = packet(kAlice, kBob, 2, "big", body);
  const std::string bytes = stringify(sendOf(p));
  ASSERT_GT(bytes.size(), 200u * 1024);
  ASSERT_TRUE(c->write(bytes));  // one SSL_write: many TLS records
  const Json reply = parse(c->readLine().value_or(""));
  ASSERT_TRUE(isOk(reply));
  const Json got = c->call(forEmail("RECEIVE", kBob, authOf("bob@beta.test")));
  ASSERT_TRUE(isOk(got));
  ASSERT_EQ(got["count"], 1);
  EXPECT_EQ(got["messages"][0]["content"]["body"], body);
  EXPECT_EQ(got["messages"][0]["meta"]["messageId"], reply["messageId"]);
}

// --- limits ------------------------------------------------------------------

TEST_F(MmtpGateway, TenMegabyteValueIsRefusedSkippedAndNotHeld) {
  startForMemory();
  for (bool tls : {false, true}) {
    SCOPED_TRACE(tls ? "tls_listen" : "listen");
    auto c = open(tls);
    ASSERT_TRUE(c);
    const long before = peakRssKb(d_->pid());
    ASSERT_GT(before, 0);
    const Json p = packet(kAlice, kBob, 2, "huge", std::string(10 << 20, 'x'));
    const Json reply = c->call(sendOf(p));
    EXPECT_TRUE(isError(reply, "Request too large"));
    const long after = peakRssKb(d_->pid());
    // Kept: at most [mmtp] max_request_size (1 MiB) and some buffers.
    EXPECT_LT(after - before, 6 * 1024) << "peak RSS grew from " << before << " kB to " << after;
    // The connection goes on.
    EXPECT_TRUE(isOk(c->ask(sendOf(packet(kAlice, kBob)))));
  }
  EXPECT_TRUE(stillServing());
}

TEST_F(MmtpGateway, TenThousandDeepIsRefusedAndTheConnectionGoesOn) {
  start();
  for (bool tls : {false, true}) {
    SCOPED_TRACE(tls ? "tls_listen" : "listen");
    auto c = open(tls);
    ASSERT_TRUE(c);
    const std::string arrays = std::string(10000, '[') + std::string(10000, ']');
    EXPECT_TRUE(isError(c->callRaw(arrays), "Request nested too deeply"));
    std::string objects;
    for (int i = 0; i < 10000; ++i) objects += R"({"action":)";
    objects += "1";
    objects += std::string(10000, '}');
    EXPECT_TRUE(isError(c->callRaw(objects), "Request nested too deeply"));
    // Deep inside a request that looks right.
    std::string deep = R"({"action":"SEND","data":{"packet":)" + std::string(10000, '[') +
                       std::string(10000, ']') + "}}";
    EXPECT_TRUE(isError(c->callRaw(deep), "Request nested too deeply"));
    EXPECT_TRUE(isOk(c->ask(request("GET_TAG_CATEGORIES"))));
  }
  EXPECT_TRUE(stillServing());
}

TEST_F(MmtpGateway, ThousandConnectionsFromOneAddressAndNoLockout) {
  start();
  // [mmtp] max_connections_per_client is 32: the rest get the reference's
  // text and are closed. Twice over: the reference locks an address out
  // for good after 5 refusals.
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    std::vector<std::unique_ptr<MmtpClient>> open_ones;
    int greeted = 0;
    int refused = 0;
    for (int i = 0; i < 1000; ++i) {
      auto c = MmtpClient::connect(plain_port_, false);
      ASSERT_TRUE(c) << i;
      const auto first = c->readLine();
      if (first.value_or("") == kGreetingPlain) {
        ++greeted;
        open_ones.push_back(std::move(c));
      } else {
        EXPECT_EQ(first.value_or("<none>"), kRateLimited) << i;
        std::string rest;
        EXPECT_TRUE(c->waitClosed(&rest)) << i;
        EXPECT_EQ(rest, "");
        ++refused;
      }
    }
    EXPECT_EQ(greeted, 32);
    EXPECT_EQ(refused, 968);
    // The open ones still work.
    EXPECT_TRUE(isOk(open_ones.front()->ask(request("GET_TAG_CATEGORIES"))));
    EXPECT_TRUE(isOk(open_ones.back()->ask(request("GET_TAG_CATEGORIES"))));
    open_ones.clear();
    // Once mtepd has seen them close, 32 at once are greeted again.
    bool all = false;
    for (int attempt = 0; attempt < 200 && !all; ++attempt) {
      std::vector<std::unique_ptr<MmtpClient>> again;
      all = true;
      for (int i = 0; i < 32 && all; ++i) {
        auto c = MmtpClient::connect(plain_port_, false);
        all = c && c->readLine().value_or("") == kGreetingPlain;
        again.push_back(std::move(c));
      }
      if (!all) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(all) << "the address stays locked out";
  }
  // The last 32 closed just now: wait until one more is greeted.
  for (int attempt = 0; attempt < 200; ++attempt) {
    auto c = MmtpClient::connect(plain_port_, false);
    if (c && c->readLine().value_or("") == kGreetingPlain) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(stillServing());
}

TEST_F(MmtpGateway, PipelinedRequestsToAPeerThatNeverReadsAreNotAnsweredIntoMemory) {
  startForMemory();
  // A 64 KB key (registered by its owner), then clients that pipeline
  // small REQUEST_PUBLIC_KEY requests for it and never read: a thousand
  // times more reply than request. What mtepd holds for them must stay
  // bounded by its output limit, not by what the requests would produce.
  const std::string key = bigKeyBlock(64000);
  {
    auto c = open(true);
    ASSERT_TRUE(c);
    ASSERT_TRUE(isOk(c->call(
        forEmail("REGISTER_KEY", kBob, authOf("bob@beta.test"), Json{{"publicKey", key}}))));
    const Json got = c->call(forEmail("REQUEST_PUBLIC_KEY", kBob));
    ASSERT_TRUE(isOk(got));
    ASSERT_EQ(got["publicKey"], key);
  }
  const long before = peakRssKb(d_->pid());
  std::string burst;
  while (burst.size() < 256 * 1024) burst += stringify(forEmail("REQUEST_PUBLIC_KEY", kBob));
  std::vector<int> fds;
  for (int i = 0; i < 30; ++i) {
    const int fd = connectFrom("127.0.0.1", plain_port_);
    ASSERT_GE(fd, 0);
    int small = 4096;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    // As much as the kernel takes without blocking.
    size_t at = 0;
    while (at < burst.size()) {
      const ssize_t n =
          ::send(fd, burst.data() + at, burst.size() - at, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n <= 0) break;
      at += static_cast<size_t>(n);
    }
    fds.push_back(fd);
  }
  // Let mtepd work through what it read.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const long after = peakRssKb(d_->pid());
  for (int fd : fds) ::close(fd);
  EXPECT_LT(after - before, 64 * 1024)
      << "peak RSS grew from " << before << " kB to " << after << " kB for 30 clients";
  EXPECT_TRUE(stillServing());
}

TEST_F(MmtpGateway, TlsListenerOverTheCapClosesWithoutPlainText) {
  start("max_connections_per_client = 2\n");
  auto a = open(true);
  auto b = open(true);
  ASSERT_TRUE(a && b);
  // A third one from the same address, read as raw bytes: a TLS client
  // must not be sent a JSON text in clear in place of a handshake.
  const int fd = connectFrom("127.0.0.1", tls_port_);
  ASSERT_GE(fd, 0);
  timeval tv{15, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string got;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  EXPECT_EQ(got, "") << "plain text on the TLS listener";
  EXPECT_TRUE(isOk(a->ask(request("GET_TAG_CATEGORIES"))));
}

TEST_F(MmtpGateway, TricklingPeerIsCutOffAtTheIdleTimeout) {
  start("idle_timeout = \"1s\"\n");
  // One byte every 200 ms: a request that never ends within a second of
  // its start must not keep the connection (a slowloris) for ever.
  auto c = open(false);
  ASSERT_TRUE(c);
  const std::string req = stringify(request("GET_TAG_CATEGORIES"));
  bool write_failed = false;
  for (size_t i = 0; i < req.size() && !write_failed; ++i) {
    write_failed = !c->write(req.substr(i, 1));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::string rest;
  EXPECT_TRUE(c->waitClosed(&rest));
  EXPECT_EQ(rest.find("tagCategories"), std::string::npos)
      << "a request trickled over " << req.size() * 200 << " ms was answered: " << rest;
  EXPECT_TRUE(stillServing());
}

// --- stamps and hashes -------------------------------------------------------

// A token for `p` at claimed difficulty `claimed` whose hash has exactly
// `zeros` leading zero digits.
std::string tokenWithZeros(const Json& p, int claimed, int zeros) {
  const std::string ts = std::to_string(p["meta"]["timestamp"].get<int64_t>());
  const std::string prefix = "1:" + std::to_string(claimed) + ":" + ts + ":" +
                             p["sender"].get<std::string>() + ":" +
                             p["recipient"].get<std::string>() + ":" + ts + "::";
  for (uint64_t counter = 0;; ++counter) {
    std::string token = prefix + std::to_string(counter) + ":";
    const std::string h = sha256Hex(token);
    if (h.find_first_not_of('0') == static_cast<size_t>(zeros)) return token;
  }
}

TEST_F(MmtpGateway, BadStampsAreRefusedAndTheConnectionGoesOn) {
  start();
  auto c = open(false);
  ASSERT_TRUE(c);
  auto stamped = [](Json p, const std::string& token) {
    p["meta"]["hashcashToken"]["token"] = token;
    return p;
  };
  const int64_t now = nowMs();
  std::vector<std::pair<std::string, Json>> bad;
  {
    Json p = packet(kAlice, kBob);  // beta.test wants 2 digits
    bad.emplace_back("claims 2, hash has 1 zero", stamped(p, tokenWithZeros(p, 2, 1)));
    bad.emplace_back("claims 2, hash has none", stamped(p, tokenWithZeros(p, 2, 0)));
    bad.emplace_back("claims and has 1", stamped(p, tokenWithZeros(p, 1, 1)));
    bad.emplace_back("claims 5, hash has 1", stamped(p, tokenWithZeros(p, 5, 1)));
  }
  {
    Json p = packet(kAlice, kBob);
    p["meta"]["hashcashToken"] =
        packet(kAlice, kCarol, 2, "x", "y",
               p["meta"]["timestamp"].get<int64_t>())["meta"]["hashcashToken"];
    bad.emplace_back("another recipient's stamp", p);
    p["meta"]["hashcashToken"] =
        packet("(mallory)%(alpha.test)", kBob, 2, "x", "y",
               p["meta"]["timestamp"].get<int64_t>())["meta"]["hashcashToken"];
    bad.emplace_back("another sender's stamp", p);
  }
  {
    Json p = packet(kAlice, kBob, 2, "Hello", "Hi there", now);
    p["meta"]["hashcashToken"] =
        packet(kAlice, kBob, 2, "x", "y", now - 1)["meta"]["hashcashToken"];
    bad.emplace_back("stamp time is not meta.timestamp", p);
  }
  bad.emplace_back("stale: two hours old",
                   packet(kAlice, kBob, 2, "Hello", "Hi there", now - 2 * 3600 * 1000));
  bad.emplace_back("future: two hours ahead",
                   packet(kAlice, kBob, 2, "Hello", "Hi there", now + 2 * 3600 * 1000));
  {
    Json p = packet(kAlice, kBob);
    p["meta"].erase("hashcashToken");
    bad.emplace_back("no stamp", p);
    p["meta"]["hashcashToken"] = "1:2:...";
    bad.emplace_back("stamp not an object", p);
  }
  for (const auto& [why, p] : bad) {
    EXPECT_TRUE(isError(c->ask(sendOf(p)), kStampFailed)) << why;
  }
  // Spent once: again on this connection, on another, with new content.
  const Json good = packet(kAlice, kBob);
  EXPECT_TRUE(isOk(c->ask(sendOf(good))));
  EXPECT_TRUE(isError(c->ask(sendOf(good)), kStampFailed)) << "replayed";
  auto other = open(true);
  ASSERT_TRUE(other);
  EXPECT_TRUE(isError(other->ask(sendOf(good)), kStampFailed)) << "replayed elsewhere";
  Json changed = good;
  changed["content"]["body"] = "Something else";
  changed["verification"]["messageHash"] = sha256Hex(stringify(changed["content"]));
  EXPECT_TRUE(isError(other->ask(sendOf(changed)), kStampFailed)) << "stamp on new content";
  EXPECT_TRUE(d_->waitForLog("reason=\"stamp already spent\""));
  // The connections go on; only the good one reached the mailbox.
  EXPECT_TRUE(isOk(c->ask(sendOf(packet(kAlice, kBob)))));
  const Json got = other->call(forEmail("RECEIVE", kBob, authOf("bob@beta.test")));
  ASSERT_TRUE(isOk(got));
  EXPECT_EQ(got["count"], 2);
}

TEST_F(MmtpGateway, BadHashesAreRefusedAlsoWhenEncrypted) {
  start();
  auto c = open(false);
  ASSERT_TRUE(c);
  {
    Json p = packet(kAlice, kBob);
    p["verification"]["messageHash"] = sha256Hex("something else");
    EXPECT_TRUE(isError(c->ask(sendOf(p)), kIntegrityFailed));
  }
  {
    Json p = packet(kAlice, kBob);
    p["content"]["body"] = "changed on the way";
    EXPECT_TRUE(isError(c->ask(sendOf(p)), kIntegrityFailed));
  }
  {
    // The hash of the same members in another order is not the hash.
    Json p = packet(kAlice, kBob);
    Json swapped;
    swapped["body"] = p["content"]["body"];
    swapped["subject"] = p["content"]["subject"];
    p["content"] = swapped;
    EXPECT_TRUE(isError(c->ask(sendOf(p)), kIntegrityFailed));
  }
  {
    Json p = packet(kAlice, kBob);
    p["verification"].erase("messageHash");
    EXPECT_TRUE(isError(c->ask(sendOf(p)), kIntegrityFailed));
  }
  // meta.encrypted true: the reference skips the check; mtepd does not.
  const std::string armored =
      "-----BEGIN PGP MESSAGE-----\n\nwV4DAAAAAAAAAAASAQdA\n-----END PGP MESSAGE-----\n";
  Json enc = packet(kAlice, kBob);
  enc["meta"]["encrypted"] = true;
  enc["content"] = Json{{"encrypted", armored}};
  enc["verification"]["messageHash"] = sha256Hex("not the content");
  EXPECT_TRUE(isError(c->ask(sendOf(enc)), kIntegrityFailed));
  enc["verification"].erase("messageHash");
  EXPECT_TRUE(isError(c->ask(sendOf(enc)), kIntegrityFailed));
  // With the right hash it goes through (encrypted: true in the reply).
  enc["verification"]["messageHash"] = sha256Hex(stringify(enc["content"]));
  const Json ok = c->ask(sendOf(enc));
  ASSERT_TRUE(isOk(ok));
  EXPECT_EQ(ok["encrypted"], true);
  EXPECT_TRUE(stillServing());
}

TEST_F(MmtpGateway, NonJsonGetsTheReferenceTextAndTheConnectionGoesOn) {
  start();
  for (bool tls : {false, true}) {
    SCOPED_TRACE(tls ? "tls_listen" : "listen");
    auto c = open(tls);
    ASSERT_TRUE(c);
    for (const std::string& junk :
         {std::string("hello\n"), std::string(R"({"action":"SEND",})"),
          std::string(R"({"action":tru})"), std::string("[1,2]"), std::string("[]"),
          std::string("42\n"), std::string("\"text\"\n"), std::string("}\n"),
          std::string("{\"a\":\"\xff\xfe\"}"), std::string("{\"a\":\"\\ud800\"}"),
          std::string("{\"a\":1e400}"),
          std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n", 12)}) {
      c->write(junk);
      EXPECT_EQ(c->readLine().value_or("<none>"), kNotJson) << junk;
    }
    EXPECT_TRUE(isOk(c->ask(request("GET_TAG_CATEGORIES"))));
  }
  EXPECT_TRUE(stillServing());
}

// --- mailboxes ---------------------------------------------------------------

TEST_F(MmtpGateway, OwnersReceiveTheirMailboxOverTlsAndItSurvivesARestart) {
  start();
  {
    auto c = open(false);
    ASSERT_TRUE(c);
    for (const char* subject : {"first", "second"}) {
      EXPECT_TRUE(isOk(c->ask(sendOf(packet(kAlice, kBob, 2, subject)))));
    }
    EXPECT_TRUE(isOk(c->ask(sendOf(packet(kAlice, kCarol, 2, "for carol")))));
  }
  {
    auto c = open(true);
    ASSERT_TRUE(c);
    // Another user, a wrong hash, another user's name in a right login.
    EXPECT_TRUE(isError(c->ask(forEmail("RECEIVE", kBob, authOf("carol@beta.test"))),
                        "Authentication failed"));
    EXPECT_TRUE(isError(c->ask(forEmail("RECEIVE", kBob, wrongAuthOf("bob@beta.test"))),
                        "Authentication failed"));
    EXPECT_TRUE(isError(c->ask(forEmail("CHECK", kBob, wrongAuthOf("bob@beta.test"))),
                        "Authentication failed"));
    EXPECT_TRUE(isError(c->ask(forEmail("RECEIVE_FILTERED", kBob, "not base64!",
                                        Json{{"tagFilters", Json::object()}})),
                        "Authentication failed"));
    const Json check = c->ask(forEmail("CHECK", kBob, authOf("bob@beta.test")));
    ASSERT_TRUE(isOk(check));
    EXPECT_EQ(check["count"], 2);
    EXPECT_EQ(check["totalCount"], 2);
  }
  EXPECT_TRUE(d_->waitForLog("auth=hashedpass user=<bob@beta.test> result=fail"));
  restart();
  auto c = open(true);
  ASSERT_TRUE(c);
  const Json got = c->call(forEmail("RECEIVE", kBob, authOf("bob@beta.test")));
  ASSERT_TRUE(isOk(got));
  ASSERT_EQ(got["count"], 2);
  EXPECT_EQ(got["messages"][0]["content"]["subject"], "first");
  EXPECT_EQ(got["messages"][1]["content"]["subject"], "second");
  // Taken: gone. Carol's stays hers.
  const Json again = c->call(forEmail("RECEIVE", kBob, authOf("bob@beta.test")));
  ASSERT_TRUE(isOk(again));
  EXPECT_EQ(again["count"], 0);
  const Json carol = c->call(forEmail("RECEIVE", kCarol, authOf("carol@beta.test")));
  ASSERT_TRUE(isOk(carol));
  ASSERT_EQ(carol["count"], 1);
  EXPECT_EQ(carol["messages"][0]["content"]["subject"], "for carol");
}

// --- to the MTA ----------------------------------------------------------------

TEST_F(MmtpGateway, SendForAnMtaDomainIsHandedToTheMta) {
  start();
  auto c = open(false);
  ASSERT_TRUE(c);
  Json p = packet(kAlice, kDave, 2, "Hello MTA", "Body line one\nline two");
  p["meta"]["tags"] = Json{{"priority", {"high"}}, {"category", {"work"}}};
  const Json reply = c->ask(sendOf(p));
  ASSERT_TRUE(isOk(reply));
  const std::vector<SmtpSink::Mail> mails = sink_.mails();
  ASSERT_EQ(mails.size(), 1u);
  const SmtpSink::Mail& m = mails[0];
  EXPECT_EQ(m.mail_from.rfind("<alice@alpha.test>", 0), 0u) << m.mail_from;
  EXPECT_EQ(m.rcpt_to.rfind("<dave@mta.test>", 0), 0u) << m.rcpt_to;
  for (const std::string& header :
       {std::string("Authentication-Results: mx.beta.test; x-mmtp-stamp=pass"),
        std::string("From: <alice@alpha.test>\r\n"), std::string("To: <dave@mta.test>\r\n"),
        std::string("Subject: Hello MTA\r\n"),
        "X-MMTP-Id: " + reply["messageId"].get<std::string>() + "\r\n",
        "X-MMTP-Timestamp: " + std::to_string(p["meta"]["timestamp"].get<int64_t>()) + "\r\n",
        std::string("X-MMTP-Type: SEND\r\n"),
        std::string(R"(X-MMTP-Tags: {"priority":["high"],"category":["work"]})")}) {
    EXPECT_NE(m.data.find(header), std::string::npos) << header << "\nin:\n" << m.data;
  }
  // The body, base64 as the header says.
  EXPECT_NE(m.data.find("Qm9keSBsaW5lIG9uZQpsaW5lIHR3bw=="), std::string::npos) << m.data;

  // Pipelined after a SEND that waits for the MTA: answered in order.
  ASSERT_TRUE(c->write(stringify(sendOf(packet(kAlice, kDave))) +
                       stringify(request("GET_TAG_CATEGORIES"))));
  const Json first = parse(c->readLine().value_or(""));
  EXPECT_TRUE(isOk(first));
  EXPECT_TRUE(first.contains("messageId"));
  EXPECT_TRUE(parse(c->readLine().value_or("")).contains("tagCategories"));

  // The MTA refuses for good: an ERROR, not temporary.
  sink_.setRcptCode(550);
  const Json refused = c->ask(sendOf(packet(kAlice, kDave)));
  EXPECT_TRUE(isError(refused, "Message refused by the MTA")) << refused;
  EXPECT_NE(refused.value("reason", "").find("550"), std::string::npos) << refused;
  // For now: temporary.
  sink_.setRcptCode(451);
  EXPECT_TRUE(
      isError(c->ask(sendOf(packet(kAlice, kDave))), "Temporary failure, try again later", true));
  // No MTA at all: temporary.
  sink_.stop();
  EXPECT_TRUE(
      isError(c->ask(sendOf(packet(kAlice, kDave))), "Temporary failure, try again later", true));
  EXPECT_EQ(sink_.mails().size(), 2u);
  EXPECT_TRUE(d_->waitForLog("to=<(dave)%(mta.test)> id=- result=tempfail"));
  EXPECT_TRUE(stillServing());
}

}  // namespace
}  // namespace mtep::itest

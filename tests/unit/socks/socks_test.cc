#include "socks/socks.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "unit/netstring/slicing.h"

namespace mtep::socks {
namespace {

using mtep::testing::allSlicings;
using mtep::testing::Slicing;

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int v : b) s.push_back(static_cast<char>(v));
  return s;
}

const std::string kOnion = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion";
const std::string kNoAuthGreeting = bytes({5, 1, 0});
const std::string kUserPassGreeting = bytes({5, 2, 0, 2});
const std::string kSucceededV4 = bytes({5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90});  // 127.0.0.1:8080

std::string connectName(const std::string& name, uint16_t port) {
  return bytes({5, 1, 0, 3, static_cast<int>(name.size())}) + name +
         bytes({port >> 8, port & 0xff});
}

std::string authRequest(const std::string& user, const std::string& pass) {
  return bytes({1, static_cast<int>(user.size())}) + user + bytes({static_cast<int>(pass.size())}) +
         pass;
}

std::string errorReply(int code) { return bytes({5, code, 0, 1, 0, 0, 0, 0, 0, 0}); }

Request nameRequest(bool with_credentials) {
  Request r{.host = kOnion, .port = 25, .credentials = {}};
  if (with_credentials) r.credentials = Credentials{"mtep", kOnion + ":25"};
  return r;
}

struct Outcome {
  State state = State::kNeedMore;
  std::vector<std::string> sent;  // messages handed out after the greeting
  size_t consumed = 0;            // proxy bytes used in all
  std::optional<Client> client;
};

// Feeds `proxy` in the pieces of `s`, stopping at kDone or kError.
Outcome run(const Request& request, const Slicing& s) {
  Outcome o;
  auto c = Client::create(request);
  EXPECT_TRUE(c.ok());
  if (!c) return o;
  o.client.emplace(std::move(c).value());
  for (std::string_view piece : s.pieces) {
    while (!piece.empty()) {
      size_t used = 999;
      std::string out;
      const State st = o.client->feed(piece, &used, &out);
      EXPECT_LE(used, piece.size());
      o.consumed += used;
      piece.remove_prefix(used);
      if (st == State::kSend) {
        EXPECT_FALSE(out.empty());
        o.sent.push_back(out);
        continue;
      }
      EXPECT_TRUE(out.empty()) << "output only with kSend";
      if (st == State::kDone || st == State::kError) {
        o.state = st;
        return o;
      }
      EXPECT_TRUE(piece.empty()) << "kNeedMore must consume everything";
    }
  }
  o.state = State::kNeedMore;
  return o;
}

struct Case {
  const char* name;
  bool credentials;
  std::string proxy;              // what the proxy sends (may run past the reply)
  std::vector<std::string> sent;  // what the client must send after the greeting
  State state;
  size_t consumed;  // proxy bytes the handshake uses
  Failure failure;
  uint8_t code;
  Blame blame;
  const char* text;  // in errorText()
};

std::vector<Case> cases() {
  const std::string conn = connectName(kOnion, 25);
  const std::string auth = authRequest("mtep", kOnion + ":25");
  const std::string ok_noauth = bytes({5, 0}) + kSucceededV4;
  // clang-format off
  return {
      {"no auth, name as ATYP 3", false, ok_noauth, {conn}, State::kDone, 12, Failure::kNone, 0,
       Blame::kNone, ""},
      {"peer bytes after the reply stay unconsumed", false, ok_noauth + "220 hello\r\n", {conn},
       State::kDone, 12, Failure::kNone, 0, Blame::kNone, ""},
      {"username/password chosen", true, bytes({5, 2, 1, 0}) + kSucceededV4, {auth, conn},
       State::kDone, 14, Failure::kNone, 0, Blame::kNone, ""},
      {"credentials offered, no auth chosen", true, ok_noauth, {conn}, State::kDone, 12,
       Failure::kNone, 0, Blame::kNone, ""},
      {"auth reply version 5 tolerated", true, bytes({5, 2, 5, 0}) + kSucceededV4, {auth, conn},
       State::kDone, 14, Failure::kNone, 0, Blame::kNone, ""},
      {"reserved byte tolerated", false, bytes({5, 0, 5, 0, 9, 1, 10, 0, 0, 1, 0, 80}), {conn},
       State::kDone, 12, Failure::kNone, 0, Blame::kNone, ""},
      {"bound IPv6", false,
       bytes({5, 0, 5, 0, 0, 4, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 25}),
       {conn}, State::kDone, 24, Failure::kNone, 0, Blame::kNone, ""},
      {"bound name", false, bytes({5, 0, 5, 0, 0, 3, 4}) + "exit" + bytes({0, 25}), {conn},
       State::kDone, 2 + 11, Failure::kNone, 0, Blame::kNone, ""},
      {"no acceptable method", false, bytes({5, 0xff}), {}, State::kError, 2, Failure::kNoMethod, 0,
       Blame::kProxy, "none of the methods"},
      {"username/password not offered", false, bytes({5, 2}), {}, State::kError, 2,
       Failure::kProtocol, 0, Blame::kProxy, "method 2, which was not offered"},
      {"GSSAPI chosen", true, bytes({5, 1}), {}, State::kError, 2, Failure::kProtocol, 0,
       Blame::kProxy, "method 1"},
      {"SOCKS4 reply", false, bytes({0, 0x5a, 0, 0}), {}, State::kError, 1, Failure::kProtocol, 0,
       Blame::kProxy, "version 0 in the method reply"},
      {"HTTP garbage", false, "HTTP/1.1 400 Bad Request\r\n", {}, State::kError, 1,
       Failure::kProtocol, 0, Blame::kProxy, "version 72"},
      {"auth rejected", true, bytes({5, 2, 1, 1}), {auth}, State::kError, 4, Failure::kAuthRejected,
       0, Blame::kProxy, "refused the username/password (status 1)"},
      {"auth reply bad version", true, bytes({5, 2, 2, 0}), {auth}, State::kError, 3,
       Failure::kProtocol, 0, Blame::kProxy, "version 2 in the authentication reply"},
      {"connect reply bad version", false, bytes({5, 0, 4, 0, 0, 1}), {conn}, State::kError, 3,
       Failure::kProtocol, 0, Blame::kProxy, "version 4 in the connect reply"},
      {"unknown address type", false, bytes({5, 0, 5, 0, 0, 2, 1, 2, 3}), {conn}, State::kError, 6,
       Failure::kProtocol, 0, Blame::kProxy, "unknown address type 2"},
      {"empty bound name", false, bytes({5, 0, 5, 0, 0, 3, 0, 0, 25}), {conn}, State::kError, 7,
       Failure::kProtocol, 0, Blame::kProxy, "empty bound name"},
      {"truncated connect reply", false, bytes({5, 0, 5, 0, 0, 1, 127, 0}), {conn},
       State::kNeedMore, 8, Failure::kNone, 0, Blame::kNone, ""},
      {"truncated method reply", false, bytes({5}), {}, State::kNeedMore, 1, Failure::kNone, 0,
       Blame::kNone, ""},
      {"error code decided before the address", false, bytes({5, 0, 5, 4}), {conn}, State::kError,
       4, Failure::kReply, 4, Blame::kPeer, "host unreachable"},
      {"general failure", false, bytes({5, 0}) + errorReply(1), {conn}, State::kError, 4,
       Failure::kReply, 1, Blame::kProxy, "proxy replied 1 (general SOCKS server failure)"},
      {"not allowed", false, bytes({5, 0}) + errorReply(2), {conn}, State::kError, 4,
       Failure::kReply, 2, Blame::kProxy, "connection not allowed by ruleset"},
      {"network unreachable", false, bytes({5, 0}) + errorReply(3), {conn}, State::kError, 4,
       Failure::kReply, 3, Blame::kPeer, "network unreachable"},
      {"host unreachable", false, bytes({5, 0}) + errorReply(4), {conn}, State::kError, 4,
       Failure::kReply, 4, Blame::kPeer, "host unreachable"},
      {"connection refused", false, bytes({5, 0}) + errorReply(5), {conn}, State::kError, 4,
       Failure::kReply, 5, Blame::kPeer, "connection refused"},
      {"TTL expired", false, bytes({5, 0}) + errorReply(6), {conn}, State::kError, 4,
       Failure::kReply, 6, Blame::kPeer, "TTL expired"},
      {"command not supported", false, bytes({5, 0}) + errorReply(7), {conn}, State::kError, 4,
       Failure::kReply, 7, Blame::kProxy, "command not supported"},
      {"address type not supported", false, bytes({5, 0}) + errorReply(8), {conn}, State::kError, 4,
       Failure::kReply, 8, Blame::kProxy, "address type not supported"},
      {"unassigned code", false, bytes({5, 0}) + errorReply(9), {conn}, State::kError, 4,
       Failure::kReply, 9, Blame::kProxy, "unassigned reply code"},
      {"tor: descriptor not found", false, bytes({5, 0}) + errorReply(0xf0), {conn}, State::kError,
       4, Failure::kReply, 0xf0, Blame::kPeer, "descriptor cannot be found"},
      {"tor: invalid onion address", false, bytes({5, 0}) + errorReply(0xf6), {conn}, State::kError,
       4, Failure::kReply, 0xf6, Blame::kProxy, "onion address is invalid"},
      {"tor: introduction timed out", false, bytes({5, 0}) + errorReply(0xf7), {conn},
       State::kError, 4, Failure::kReply, 0xf7, Blame::kPeer, "introduction timed out"},
      {"error after auth", true, bytes({5, 2, 1, 0}) + errorReply(5), {auth, conn}, State::kError,
       6, Failure::kReply, 5, Blame::kPeer, "connection refused"},
  };
  // clang-format on
}

TEST(SocksClient, EveryCaseWholeBytewiseAndRandomlySplit) {
  for (const Case& c : cases()) {
    for (const Slicing& s : allSlicings(c.proxy)) {
      SCOPED_TRACE(std::string(c.name) + " / " + s.name);
      Outcome o = run(nameRequest(c.credentials), s);
      ASSERT_TRUE(o.client.has_value());
      EXPECT_EQ(o.state, c.state);
      EXPECT_EQ(o.sent, c.sent);
      EXPECT_EQ(o.consumed, c.consumed);
      EXPECT_EQ(o.client->failure(), c.failure);
      EXPECT_EQ(o.client->replyCode(), c.code);
      EXPECT_EQ(o.client->blame(), c.blame);
      EXPECT_NE(o.client->errorText().find(c.text), std::string::npos)
          << "got \"" << o.client->errorText() << "\", want it to contain \"" << c.text << "\"";
      if (c.state == State::kDone || c.state == State::kError) {
        EXPECT_EQ(o.client->wanted(), 0u);
      }
    }
  }
}

TEST(SocksClient, GreetingOffersUserPassOnlyWithCredentials) {
  EXPECT_EQ(Client::create(nameRequest(false))->greeting(), kNoAuthGreeting);
  EXPECT_EQ(Client::create(nameRequest(true))->greeting(), kUserPassGreeting);
}

std::string firstRequestFor(const std::string& host, uint16_t port) {
  auto c = Client::create({.host = host, .port = port, .credentials = {}});
  EXPECT_TRUE(c.ok()) << host;
  if (!c) return "";
  std::string out;
  size_t used = 0;
  EXPECT_EQ(c->feed(bytes({5, 0}), &used, &out), State::kSend);
  return out;
}

TEST(SocksClient, NumericHostsUseAtyp1And4NamesAtyp3) {
  EXPECT_EQ(firstRequestFor("192.0.2.7", 6211), bytes({5, 1, 0, 1, 192, 0, 2, 7, 0x18, 0x43}));
  const std::string v6 =
      bytes({5, 1, 0, 4, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 25});
  EXPECT_EQ(firstRequestFor("2001:db8::1", 25), v6);
  EXPECT_EQ(firstRequestFor("[2001:db8::1]", 25), v6);
  EXPECT_EQ(firstRequestFor("mx.example.org", 25), connectName("mx.example.org", 25));
  // Looks numeric, is not: goes as a name, never to a resolver.
  EXPECT_EQ(firstRequestFor("192.0.2.300", 25), connectName("192.0.2.300", 25));
  EXPECT_EQ(firstRequestFor(std::string(255, 'a'), 65535),
            connectName(std::string(255, 'a'), 65535));
}

TEST(SocksClient, AuthRequestCarriesUsernameAndPassword) {
  auto c = Client::create({.host = "x.i2p", .port = 25, .credentials = Credentials{"u", ""}});
  ASSERT_TRUE(c.ok());
  std::string out;
  size_t used = 0;
  ASSERT_EQ(c->feed(bytes({5, 2}), &used, &out), State::kSend);
  EXPECT_EQ(out, bytes({1, 1, 'u', 0}));
  EXPECT_EQ(c->method(), Method::kUserPass);
}

TEST(SocksClient, CreateRejectsBadRequests) {
  struct Bad {
    const char* name;
    Request request;
  };
  const std::vector<Bad> bad = {
      {"empty name", {.host = "", .port = 25, .credentials = {}}},
      {"256-byte name", {.host = std::string(256, 'a'), .port = 25, .credentials = {}}},
      {"space in name", {.host = "a b.onion", .port = 25, .credentials = {}}},
      {"NUL in name", {.host = std::string("a\0b.onion", 9), .port = 25, .credentials = {}}},
      {"port 0", {.host = "a.onion", .port = 0, .credentials = {}}},
      {"empty username", {.host = "a.onion", .port = 25, .credentials = Credentials{"", "p"}}},
      {"long username",
       {.host = "a.onion", .port = 25, .credentials = Credentials{std::string(256, 'u'), "p"}}},
      {"long password",
       {.host = "a.onion", .port = 25, .credentials = Credentials{"u", std::string(256, 'p')}}},
  };
  for (const Bad& b : bad) {
    auto c = Client::create(b.request);
    ASSERT_FALSE(c.ok()) << b.name;
    EXPECT_EQ(c.error().kind(), ErrorKind::kInvalid) << b.name;
  }
  EXPECT_TRUE(
      Client::create({.host = "a.onion",
                      .port = 1,
                      .credentials = Credentials{std::string(255, 'u'), std::string(255, 'p')}})
          .ok());
}

TEST(SocksClient, BoundAddressIsDecoded) {
  auto check = [](const std::string& reply, AddressType type, const std::string& addr,
                  uint16_t port) {
    const std::string proxy = bytes({5, 0}) + reply;
    for (const Slicing& s : allSlicings(proxy)) {
      SCOPED_TRACE(addr + " / " + s.name);
      Outcome o = run(nameRequest(false), s);
      ASSERT_EQ(o.state, State::kDone) << o.client->errorText();
      EXPECT_EQ(o.client->bound().type, type);
      EXPECT_EQ(o.client->bound().address, addr);
      EXPECT_EQ(o.client->bound().port, port);
    }
  };
  check(kSucceededV4, AddressType::kIpv4, "127.0.0.1", 8080);
  check(bytes({5, 0, 0, 4, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0}),
        AddressType::kIpv6, "2001:db8::1", 256);
  check(bytes({5, 0, 0, 3, 3}) + "a.b" + bytes({0xff, 0xff}), AddressType::kDomain, "a.b", 65535);
}

// A caller that reads exactly wanted() bytes never takes the peer's data.
TEST(SocksClient, ReadingWantedBytesStopsAtTheEndOfTheReply) {
  const std::vector<std::string> replies = {
      kSucceededV4,
      bytes({5, 0, 0, 3, 200}) + std::string(200, 'n') + bytes({0, 25}),
      bytes({5, 0, 0, 4}) + std::string(16, '\0') + bytes({0, 25}),
  };
  for (const std::string& reply : replies) {
    const std::string proxy = bytes({5, 2, 1, 0}) + reply + "PEERDATA";
    auto c = Client::create(nameRequest(true));
    ASSERT_TRUE(c.ok());
    size_t pos = 0;
    State st = State::kNeedMore;
    while (st != State::kDone) {
      const size_t want = c->wanted();
      ASSERT_GT(want, 0u);
      ASSERT_LE(pos + want, proxy.size() - 8) << "wanted() runs past the reply";
      size_t used = 0;
      std::string out;
      st = c->feed(std::string_view(proxy).substr(pos, want), &used, &out);
      ASSERT_NE(st, State::kError) << c->errorText();
      EXPECT_EQ(used, want);
      pos += used;
    }
    EXPECT_EQ(proxy.substr(pos), "PEERDATA");
    EXPECT_EQ(c->wanted(), 0u);
  }
}

TEST(SocksClient, FeedAfterDoneOrErrorConsumesNothing) {
  auto done = Client::create(nameRequest(false));
  ASSERT_TRUE(done.ok());
  std::string out;
  size_t used = 0;
  ASSERT_EQ(done->feed(bytes({5, 0}), &used, &out), State::kSend);
  ASSERT_EQ(done->feed(kSucceededV4, &used, &out), State::kDone);
  EXPECT_EQ(done->feed("more", &used, &out), State::kDone);
  EXPECT_EQ(used, 0u);

  auto failed = Client::create(nameRequest(false));
  ASSERT_TRUE(failed.ok());
  ASSERT_EQ(failed->feed(bytes({4, 0}), &used, &out), State::kError);
  EXPECT_EQ(used, 1u);
  EXPECT_EQ(failed->feed(bytes({5, 0}), &used, &out), State::kError);
  EXPECT_EQ(used, 0u);
}

TEST(SocksReplyText, NamesEveryAssignedCode) {
  EXPECT_STREQ(replyText(0), "succeeded");
  EXPECT_STREQ(replyText(1), "general SOCKS server failure");
  EXPECT_STREQ(replyText(4), "host unreachable");
  EXPECT_STREQ(replyText(5), "connection refused");
  EXPECT_STREQ(replyText(6), "TTL expired");
  EXPECT_STREQ(replyText(0x42), "unassigned reply code");
  for (int code = 0; code < 256; ++code) {
    const bool peer = code >= 3 && code <= 6;
    const bool tor_peer = code == 0xf0 || code == 0xf2 || code == 0xf3 || code == 0xf7;
    EXPECT_EQ(replyMeansPeerNoAnswer(static_cast<uint8_t>(code)), peer || tor_peer) << code;
  }
}

TEST(SocksNumericHost, RecognisesLiterals) {
  EXPECT_TRUE(isNumericHost("127.0.0.1"));
  EXPECT_TRUE(isNumericHost("::1"));
  EXPECT_TRUE(isNumericHost("[::1]"));
  EXPECT_FALSE(isNumericHost("localhost"));
  EXPECT_FALSE(isNumericHost("1.2.3"));
  EXPECT_FALSE(isNumericHost("[127.0.0.1]"));
  EXPECT_FALSE(isNumericHost(""));
}

}  // namespace
}  // namespace mtep::socks

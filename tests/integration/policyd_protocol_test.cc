// NAME
//   policyd_protocol_test.cc - the real mtep-policyd over the policy protocol
// DESCRIPTION
//   Plain requests get DUNNO, on one persistent connection 1000 times in a
//   row and on 500 connections at once; pipelined and half-closed (Exim's
//   readsocket) requests are answered in order; .onion and other recipients
//   of one message (instance) are not mixed; require_mtep_capable asks the
//   static [milter] mtep_servers map; require_mtep at DATA asks a real
//   mtepd about a real token. In trouble the daemon closes without a reply:
//   an oversized request (10 MB, in pieces), no empty line before
//   idle_timeout, a request that is not smtpd_access_policy, a peer over
//   max_connections; and it serves the next connection as before. A client
//   address over max_connections_per_client is closed without a reply while
//   another address (127.0.0.2) is served; connection_lifetime never cuts a
//   request: one half sent when it passes is answered, then the close.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "mtepd_harness.h"
#include "policyd_harness.h"

namespace mtep::itest {
namespace {

constexpr const char* kCapable =
    "[milter.mtep_servers]\n\"alpha.test\" = \"127.0.0.1:1\"\n\n"
    "[domain.\"capable.test\"]\nrequire_mtep_capable = true\n";

TEST(PolicydProtocol, PlainRequestGetsDunno) {
  Policyd d;
  ASSERT_TRUE(d.start());
  EXPECT_EQ(askPolicy(d.port(), rcptRequest("alice@example.org", "bob@example.net")), "DUNNO");
  EXPECT_TRUE(d.waitForLog("policy: action=dunno")) << d.logText();
  EXPECT_TRUE(d.waitForLog("client=192.0.2.10 instance=1A2B.1")) << d.logText();
}

TEST(PolicydProtocol, OnePersistentConnectionAnswers1000RequestsInARow) {
  Policyd d({.log_level = "info"});
  ASSERT_TRUE(d.start());
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  int dunno = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string instance = "I" + std::to_string(i);
    ASSERT_TRUE(c->send(rcptRequest("alice@example.org", "bob@example.net", instance)));
    auto reply = readAction(*c);
    ASSERT_TRUE(reply) << "request " << i << " got no reply";
    if (*reply == "DUNNO") ++dunno;
  }
  EXPECT_EQ(dunno, 1000);
}

TEST(PolicydProtocol, PipelinedRequestsAreAnsweredInOrder) {
  Policyd d({.extra = kCapable});
  ASSERT_TRUE(d.start());
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  // The first waits for a lookup; the second arrives early and waits too.
  ASSERT_TRUE(c->send(rcptRequest("alice@alpha.test", "bob@capable.test", "P.1") +
                      rcptRequest("carol@example.org", "dave@example.net", "P.2")));
  EXPECT_TRUE(startsWith(readAction(*c), "PREPEND X-MTEP-Policy: capable=yes"));
  EXPECT_EQ(readAction(*c), "DUNNO");
}

TEST(PolicydProtocol, HalfCloseAfterTheRequestStillGetsTheAnswer) {
  Policyd d({.extra = kCapable});
  ASSERT_TRUE(d.start());
  for (const char* sender : {"alice@example.org", "alice@alpha.test"}) {
    auto c = Client::connect(d.port());
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->send(rcptRequest(sender, "bob@capable.test", std::string("H.") + sender)));
    c->shutdownWrite();  // as Exim's ${readsocket} does
    auto reply = readAction(*c);
    EXPECT_TRUE(reply) << sender;
    EXPECT_TRUE(c->waitClosed());
  }
}

TEST(PolicydProtocol, MixedOnionRecipientsOfOneMessageAreRefused) {
  Policyd d({.extra = "[domain_defaults]\nrefuse_mixed_onion = true\n"});
  ASSERT_TRUE(d.start());
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(rcptRequest("alice@example.org", "bob@example.net", "M.1")));
  EXPECT_EQ(readAction(*c), "DUNNO");
  ASSERT_TRUE(c->send(rcptRequest("alice@example.org", "carol@abcdefgh.onion", "M.1")));
  EXPECT_TRUE(startsWith(readAction(*c), "452 4.5.3 ")) << d.logText();
  ASSERT_TRUE(c->send(rcptRequest("alice@example.org", "dave@example.com", "M.1")));
  EXPECT_EQ(readAction(*c), "DUNNO");

  // Another message may go to .onion only; the rule follows the instance
  // across connections.
  EXPECT_EQ(askPolicy(d.port(), rcptRequest("alice@example.org", "carol@abcdefgh.onion", "M.2")),
            "DUNNO");
  auto second = askPolicy(d.port(), rcptRequest("alice@example.org", "bob@example.net", "M.2"));
  EXPECT_TRUE(startsWith(second, "452 4.5.3 ")) << second.value_or("<nothing>");
}

TEST(PolicydProtocol, RequireMtepCapableAsksTheStaticServerMap) {
  Policyd d({.extra = kCapable});
  ASSERT_TRUE(d.start());
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(rcptRequest("alice@alpha.test", "bob@capable.test", "C.1")));
  EXPECT_EQ(readAction(*c), "PREPEND X-MTEP-Policy: capable=yes sender-domain=alpha.test");
  ASSERT_TRUE(c->send(rcptRequest("alice@alpha.test", "carol@capable.test", "C.1")));
  EXPECT_EQ(readAction(*c), "DUNNO") << "the header is added once per message";

  // No static entry, and an .onion name never goes to DNS: not capable.
  ASSERT_TRUE(c->send(rcptRequest("mallory@nomtep.onion", "bob@capable.test", "C.2")));
  EXPECT_TRUE(startsWith(readAction(*c), "550 5.7.25 ")) << d.logText();
  // Domains without the gate do not care.
  ASSERT_TRUE(c->send(rcptRequest("mallory@nomtep.onion", "bob@example.net", "C.3")));
  EXPECT_EQ(readAction(*c), "DUNNO");
  EXPECT_TRUE(d.waitForLog("reply=\"550 5.7.25\"")) << d.logText();
}

TEST(PolicydProtocol, OneLookupServesManyConnectionsAskingAtOnce) {
  Policyd d({.extra = kCapable});
  ASSERT_TRUE(d.start());
  std::vector<Client> clients;
  for (int i = 0; i < 20; ++i) {
    auto c = Client::connect(d.port());
    ASSERT_TRUE(c);
    clients.push_back(std::move(*c));
  }
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(clients[i].send(
        rcptRequest("alice@alpha.test", "bob@capable.test", "S." + std::to_string(i))));
  }
  for (auto& c : clients) EXPECT_TRUE(startsWith(readAction(c), "PREPEND X-MTEP-Policy:"));
  EXPECT_EQ(d.countInLog("lookup mtep-capable alpha.test"), 1u) << d.logText();
}

// Exim's data ACL: the token is checked with the sender domain's mtepd.
TEST(PolicydProtocol, RequireMtepAtDataAsksTheSendersMtepd) {
  Mtepd alpha;
  ASSERT_TRUE(alpha.start());
  Policyd d({.extra = "[milter.mtep_servers]\n\"alpha.test\" = \"127.0.0.1:" +
                      std::to_string(alpha.port()) + "\"\n\n[domain.\"beta.test\"]\nrequire_mtep = true\n"});
  ASSERT_TRUE(d.start());
  auto data = [](const std::string& token, const std::string& instance) {
    return policyRequest({{"request", "smtpd_access_policy"},
                          {"protocol_state", "DATA"},
                          {"sender", "alice@alpha.test"},
                          {"mtep_recipients", "bob@beta.test, carol@beta.test"},
                          {"mtep_token", token},
                          {"mtep_instance", instance}});
  };
  std::string token = alpha.mint("alice@alpha.test");
  auto good = askPolicy(d.port(), data(token, "E.1"));
  EXPECT_TRUE(startsWith(good, "PREPEND X-MTEP-Policy: mtep=pass")) << good.value_or("<nothing>")
                                                                     << "\n" << d.logText();
  std::string forged = alpha.mint("mallory@alpha.test");
  auto bad = askPolicy(d.port(), data(forged, "E.2"));
  EXPECT_TRUE(startsWith(bad, "550 5.7.25 ")) << bad.value_or("<nothing>");
  auto none = askPolicy(d.port(), data("", "E.3"));
  EXPECT_TRUE(startsWith(none, "550 5.7.25 ")) << none.value_or("<nothing>");
}

TEST(PolicydProtocol, FiveHundredConcurrentConnectionsAreAllAnswered) {
  Policyd d({.max_connections = 600, .log_level = "info"});
  ASSERT_TRUE(d.start());
  std::vector<Client> clients;
  clients.reserve(500);
  for (int i = 0; i < 500; ++i) {
    auto c = Client::connect(d.port());
    ASSERT_TRUE(c) << "connection " << i;
    clients.push_back(std::move(*c));
  }
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE(clients[i].send(
        rcptRequest("alice@example.org", "bob@example.net", "K." + std::to_string(i))));
  }
  int dunno = 0;
  for (auto& c : clients) dunno += readAction(c) == "DUNNO" ? 1 : 0;
  EXPECT_EQ(dunno, 500);
}

// --- trouble: close without a reply --------------------------------------

TEST(PolicydProtocol, OversizedRequestIsClosedWithoutAReply) {
  Policyd d;
  ASSERT_TRUE(d.start());
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  std::string piece(64 * 1024, 'x');
  bool sent_all = c->send("request=smtpd_access_policy\nprotocol_state=RCPT\nhuge=");
  size_t sent = 0;
  while (sent_all && sent < 10u * 1024 * 1024) {
    sent_all = c->send(piece);  // fails once the daemon has closed
    sent += piece.size();
  }
  if (sent_all) c->send("\n\n");
  std::string rest;
  EXPECT_TRUE(c->waitClosed(5000, &rest));
  EXPECT_EQ(rest.find("action="), std::string::npos) << rest;
  EXPECT_TRUE(d.waitForLog("request larger than 65536 bytes")) << d.logText();
  EXPECT_TRUE(policydServing(d));
}

TEST(PolicydProtocol, RequestWithoutTheEmptyLineIsClosedAfterIdleTimeout) {
  Policyd d({.idle_timeout = 1});
  ASSERT_TRUE(d.start());
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("request=smtpd_access_policy\nprotocol_state=RCPT\nsender=a@b.example\n"));
  std::string rest;
  EXPECT_TRUE(c->waitClosed(10000, &rest));
  EXPECT_EQ(rest, "");
  EXPECT_TRUE(d.waitForLog("no end of the request within 1 s")) << d.logText();
  EXPECT_TRUE(policydServing(d));
}

TEST(PolicydProtocol, NotAnAccessPolicyRequestIsClosedWithoutAReply) {
  Policyd d;
  ASSERT_TRUE(d.start());
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(policyRequest({{"request", "junk_mail_please"}, {"sender", "a@b.example"}})));
  std::string rest;
  EXPECT_TRUE(c->waitClosed(5000, &rest));
  EXPECT_EQ(rest, "");
  EXPECT_TRUE(d.waitForLog("reason=bad-request")) << d.logText();
  EXPECT_TRUE(policydServing(d));
}

TEST(PolicydProtocol, MalformedLineIsClosedWithoutAReply) {
  Policyd d;
  ASSERT_TRUE(d.start());
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("request=smtpd_access_policy\nthis line has no equals sign\n\n"));
  std::string rest;
  EXPECT_TRUE(c->waitClosed(5000, &rest));
  EXPECT_EQ(rest, "");
  EXPECT_TRUE(policydServing(d));
}

TEST(PolicydProtocol, OverMaxConnectionsIsClosedAtOnceWithoutAReply) {
  Policyd d({.max_connections = 2});
  ASSERT_TRUE(d.start());
  // Two answered connections; start()'s probe may still count for a moment,
  // so the second is tried until it is served.
  std::vector<Client> open;
  for (int attempt = 0; open.size() < 2 && attempt < 100; ++attempt) {
    auto c = Client::connect(d.port());
    ASSERT_TRUE(c);
    if (c->send(rcptRequest("x@example.org", "y@example.net")) && readAction(*c) == "DUNNO") {
      open.push_back(std::move(*c));
    }
  }
  ASSERT_EQ(open.size(), 2u);
  auto over = Client::connect(d.port());
  ASSERT_TRUE(over);
  over->send(rcptRequest("x@example.org", "y@example.net"));
  std::string rest;
  EXPECT_TRUE(over->waitClosed(5000, &rest));
  EXPECT_EQ(rest, "");
  EXPECT_TRUE(d.waitForLog("open = max_connections (policy)")) << d.logText();
  for (auto& c : open) {
    ASSERT_TRUE(c.send(rcptRequest("x@example.org", "y@example.net")));
    EXPECT_EQ(readAction(c), "DUNNO");
  }
}

TEST(PolicydProtocol, MaxRequestsPerConnectionClosesAfterTheLastAnswer) {
  Policyd d({.max_requests = 3});
  ASSERT_TRUE(d.start());
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c->send(rcptRequest("x@example.org", "y@example.net")));
    EXPECT_EQ(readAction(*c), "DUNNO") << i;
  }
  EXPECT_TRUE(c->waitClosed());
}


// Sends `request` on `fd` and reads until the reply's empty line or the
// close: the bytes read, "" when closed without a reply.
std::string askRaw(int fd, const std::string& request) {
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return "(send failed)";
  }
  std::string got;
  char buf[512];
  while (got.find("\n\n") == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) return got + "(timeout)";
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return got;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

TEST(PolicydProtocol, PerClientCapClosesThatAddressOnlyWithoutAReply) {
  Policyd d({.extra = "max_connections_per_client = 2\n"});
  ASSERT_TRUE(d.start());
  const std::string request = rcptRequest("x@example.org", "y@example.net");
  // Two served connections from 127.0.0.1; start()'s probe may still count
  // for a moment, so each is tried until it is served.
  std::vector<int> mine;
  for (int attempt = 0; mine.size() < 2 && attempt < 100; ++attempt) {
    const int fd = connectFrom("127.0.0.1", d.port());
    ASSERT_GE(fd, 0);
    if (askRaw(fd, request) == "action=DUNNO\n\n") {
      mine.push_back(fd);
    } else {
      ::close(fd);
      ::usleep(20 * 1000);
    }
  }
  ASSERT_EQ(mine.size(), 2u);
  const int over = connectFrom("127.0.0.1", d.port());
  ASSERT_GE(over, 0);
  EXPECT_EQ(askRaw(over, request), "");
  ::close(over);
  EXPECT_TRUE(d.waitForLog("open from 127.0.0.1 = max_connections_per_client (policy)"))
      << d.logText();
  const int other = connectFrom("127.0.0.2", d.port());
  ASSERT_GE(other, 0);
  EXPECT_EQ(askRaw(other, request), "action=DUNNO\n\n");
  for (int fd : mine) {
    EXPECT_EQ(askRaw(fd, request), "action=DUNNO\n\n");  // still served
    ::close(fd);
  }
  ::close(other);
}

TEST(PolicydProtocol, ConnectionLifetimeAnswersTheRequestUnderWayThenCloses) {
  Policyd d({.extra = "connection_lifetime = \"1s\"\n"});
  ASSERT_TRUE(d.start());
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  const std::string request = rcptRequest("x@example.org", "y@example.net");
  ASSERT_TRUE(c->send(request));
  EXPECT_EQ(readAction(*c), "DUNNO");
  // Half a request, then the lifetime passes, then the rest.
  const size_t half = request.size() / 2;
  ASSERT_TRUE(c->send(request.substr(0, half)));
  ASSERT_TRUE(d.waitForLog("connect from"));
  ::usleep(2000 * 1000);
  ASSERT_TRUE(c->send(request.substr(half)));
  EXPECT_EQ(readAction(*c), "DUNNO");
  EXPECT_TRUE(c->waitClosed(5000));
  EXPECT_TRUE(d.waitForLog("connection lifetime of 1 s reached")) << d.logText();
}

}  // namespace
}  // namespace mtep::itest

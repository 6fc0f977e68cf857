// NAME
//   stoken_server_test.cc - the token server's pieces without sockets: the
//   message as it is handed to the mailbox server, the per-token rate
// DESCRIPTION
//   tokenMessage(): our Received and Authentication-Results first; every
//   Authentication-Results field claiming our authserv-id removed (folded,
//   other case, quoted), others and the body kept. TokenRate: per_hour uses
//   per window, a new window after an hour, 0 = no limit, bounded memory.
//   The whole server against Dovecot: tests/integration/stoken_server_test.cc.

#include "stoken_server.h"

#include <gtest/gtest.h>

#include <string>

#include "util/clock.h"

namespace mtep::mtepd {
namespace {

constexpr const char* kReceived = "Received: from a.test (192.0.2.1) by mx.beta.test with LMTPSA";
constexpr const char* kOurs = "Authentication-Results: mx.beta.test; stoken=pass (temporary)";

TEST(TokenMessage, OursGoFirstAndForgedOnesWithOurIdAreRemoved) {
  const std::string in =
      "Authentication-Results: mx.beta.test; stoken=pass (forged)\r\n"
      "Subject: hi\r\n"
      "authentication-results:   MX.BETA.TEST;\r\n\tstoken=pass (folded forgery)\r\n"
      "Authentication-Results: (comment) \"mx.beta.test\"; dkim=pass (quoted)\r\n"
      "Authentication-Results: other.test; spf=pass\r\n"
      "Authentication-Results: mx.beta.test.evil; spf=pass\r\n"
      "\r\n"
      "Authentication-Results: mx.beta.test; in the body, kept\r\n";
  const std::string out = tokenMessage(in, kReceived, kOurs, "mx.beta.test");
  EXPECT_EQ(out, std::string(kReceived) + "\r\n" + kOurs +
                     "\r\n"
                     "Subject: hi\r\n"
                     "Authentication-Results: other.test; spf=pass\r\n"
                     "Authentication-Results: mx.beta.test.evil; spf=pass\r\n"
                     "\r\n"
                     "Authentication-Results: mx.beta.test; in the body, kept\r\n");
}

TEST(TokenMessage, NoBodyNoFinalLineEndAndAnEmptyMessage) {
  EXPECT_EQ(tokenMessage("Subject: x\r\n", "R: 1", "A: 2", "id"), "R: 1\r\nA: 2\r\nSubject: x\r\n");
  EXPECT_EQ(tokenMessage("Subject: x", "R: 1", "A: 2", "id"), "R: 1\r\nA: 2\r\nSubject: x");
  EXPECT_EQ(tokenMessage("", "R: 1", "A: 2", "id"), "R: 1\r\nA: 2\r\n");
  // A header that is only a forged field, then the body.
  EXPECT_EQ(
      tokenMessage("Authentication-Results: id; x=pass\r\n\r\nbody\r\n", "R: 1", "A: 2", "id"),
      "R: 1\r\nA: 2\r\n\r\nbody\r\n");
}

TEST(TokenRate, PerHourPerTokenThenANewWindow) {
  FakeClock clock;
  TokenRate rate(clock);
  EXPECT_TRUE(rate.take("t1", 2));
  EXPECT_TRUE(rate.take("t1", 2));
  EXPECT_FALSE(rate.take("t1", 2));
  EXPECT_FALSE(rate.take("t1", 2)) << "a refused use is not counted, and still refused";
  EXPECT_TRUE(rate.take("t2", 2)) << "another token has its own count";
  clock.advance(3599);
  EXPECT_FALSE(rate.take("t1", 2));
  clock.advance(1);
  EXPECT_TRUE(rate.take("t1", 2));
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(rate.take("t3", 0)) << "0 is no limit";
}

TEST(TokenRate, AFullTableDropsTheOldestWindow) {
  FakeClock clock;
  TokenRate rate(clock, 2);
  EXPECT_TRUE(rate.take("a", 1));
  EXPECT_TRUE(rate.take("b", 1));
  EXPECT_FALSE(rate.take("a", 1));
  EXPECT_TRUE(rate.take("c", 1));  // evicts a
  EXPECT_TRUE(rate.take("a", 1));  // a starts again (evicts b)
  EXPECT_FALSE(rate.take("c", 1));
}

}  // namespace
}  // namespace mtep::mtepd

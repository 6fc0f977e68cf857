// NAME
//   policyd_stamps_test.cc - the real mtep-policyd checking stamps for
//   Exim's data ACL while it answers other clients
// DESCRIPTION
//   A DATA request carrying memory-hard Argon2id stamps (64 MiB, 4 passes,
//   unworked: what a hostile sender sends for free) is checked off the
//   event loop: an RCPT request sent on another connection while the check
//   runs gets its answer first. Then: a valid hashcash stamp passes once
//   and its replay is refused as spent (the spend, also off the loop, is
//   recorded in the store).

#include <poll.h>

#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "policyd_harness.h"
#include "pow/pow.h"

namespace mtep::itest {
namespace {

constexpr const char* kStampDomain =
    "[domain.\"beta.test\"]\nrequire_stamp = true\nstamp_bits = 8\n";

std::string today() {
  char buf[16];
  const std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y%m%d", std::gmtime(&t));
  return std::string(buf).substr(2);  // YYMMDD
}

// An Argon2id stamp for `rcpt` at the most memory and passes the default
// bounds allow, claiming the required 4 bits with no work behind it.
std::string unworked(const std::string& rcpt, int n) {
  return "argon2id:1:m=65536,t=4,p=1:4:" + today() + ":" + rcpt + "::c2FsdHNhbHQ:" +
         std::to_string(n);
}

bool readable(const Client& c) {
  pollfd p{c.fd(), POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

TEST(PolicydStamps, AnRcptIsAnsweredWhileADataCheckHashesArgon2idStamps) {
  Policyd d({.extra = kStampDomain});
  ASSERT_TRUE(d.start());
  std::string stamps;
  for (const char* rcpt : {"bob@beta.test", "carol@beta.test"}) {
    for (int n = 0; n < 100; ++n) stamps += unworked(rcpt, n) + " ";
  }
  auto data = Client::connect(d.port());
  ASSERT_TRUE(data);
  ASSERT_TRUE(data->send(policyRequest({{"request", "smtpd_access_policy"},
                                        {"protocol_state", "DATA"},
                                        {"sender", "mallory@evil.test"},
                                        {"mtep_recipients", "bob@beta.test, carol@beta.test"},
                                        {"mtep_stamps", stamps},
                                        {"mtep_instance", "E.1"}})));
  // Give the daemon the DATA request first (ordering, not a time limit).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto rcpt = Client::connect(d.port());
  ASSERT_TRUE(rcpt);
  ASSERT_TRUE(rcpt->send(rcptRequest("alice@alpha.test", "dave@beta.test", "R.1")));
  auto rcpt_answer = readAction(*rcpt, 60000);
  EXPECT_EQ(rcpt_answer.value_or("<nothing>"), "DUNNO");
  EXPECT_FALSE(readable(*data)) << "the DATA answer came before the RCPT answer\n" << d.logText();
  auto data_answer = readAction(*data, 60000);
  ASSERT_TRUE(data_answer) << d.logText();
  // At most two of each recipient's 100 stamps are hashed; whichever way
  // they fall, the DATA request gets a decision.
  EXPECT_TRUE(startsWith(data_answer, "550 5.7.1 ") ||
              startsWith(data_answer, "PREPEND X-MTEP-Policy: stamp=pass"))
      << *data_answer;
}

TEST(PolicydStamps, AStampIsSpentOnceOffTheLoop) {
  Policyd d({.extra = kStampDomain});
  ASSERT_TRUE(d.start());
  pow::MintOptions o;
  o.bits = 8;
  o.resource = "bob@beta.test";
  o.now = std::time(nullptr);
  o.threads = 1;
  auto minted = pow::mint(o);
  ASSERT_TRUE(minted.ok()) << minted.error().message();
  const std::string stamp = minted->stamp;
  const auto ask = [&](const char* instance) {
    return askPolicy(d.port(), policyRequest({{"request", "smtpd_access_policy"},
                                              {"protocol_state", "DATA"},
                                              {"sender", "alice@alpha.test"},
                                              {"mtep_recipients", "bob@beta.test"},
                                              {"mtep_stamps", stamp},
                                              {"mtep_instance", instance}}));
  };
  auto first = ask("E.1");
  EXPECT_TRUE(startsWith(first, "PREPEND X-MTEP-Policy: stamp=pass")) << first.value_or("-")
                                                                     << d.logText();
  auto again = ask("E.2");
  EXPECT_TRUE(startsWith(again, "550 5.7.1 No valid proof-of-work stamp for bob@beta.test (spent"))
      << again.value_or("-");
}

}  // namespace
}  // namespace mtep::itest

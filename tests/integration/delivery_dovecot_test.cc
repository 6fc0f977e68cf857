// smtp::deliver() against a real Dovecot LMTP server (tests/lib/dovecot.sh
// starts it on loopback, its maildirs are read back): two recipients
// delivered, one of two over quota (552 5.2.2 and 250), a parameter Dovecot
// did not advertise (555 5.5.4, unless dropped), Dovecot down (dial), and
// Dovecot failing temporarily (451). Skipped where Dovecot cannot run
// (not root, dovecot-core or dovecot-lmtpd missing). The work directory
// is made by mkdtemp (mode 0700), as a clone under /root would be: the
// deliveries, made as the user nobody, must still reach their maildirs.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "integration/run_program.h"
#include "smtp/delivery.h"

namespace mtep::itest {
namespace {

namespace fs = std::filesystem;
using smtp::DeliveryProtocol;
using smtp::DeliveryRequest;
using smtp::DeliveryResult;
using smtp::DeliveryStep;

class DovecotDelivery : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mtep-delivery-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    work_ = tmpl;
    RunResult why = shell("dv_missing");
    if (why.exit_code == 0) GTEST_SKIP() << why.out;
  }
  void TearDown() override {
    if (started_) (void)shell("dv_load \"$W/dv\" && dv_stop");
    std::error_code ec;
    fs::remove_all(work_, ec);
  }

  // bash with tests/lib/dovecot.sh sourced and W = the work directory.
  RunResult shell(const std::string& script) {
    const std::string full = "W=" + work_.string() + "; source " DOVECOT_SH "; " + script;
    return runProgram({"bash", "-c", full}, work_);
  }
  // Starts Dovecot with `args` (users, --tempfail); returns its port.
  uint16_t start(const std::string& args) {
    RunResult r = shell("dv_start \"$W/dv\" " + args + " && echo $DV_PORT");
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err << readFile(work_ / "dv" / "dovecot.log");
    if (r.exit_code != 0) return 0;
    started_ = true;
    return static_cast<uint16_t>(std::stoi(r.out));
  }
  std::string inDovecot(const std::string& script) {
    RunResult r = shell("dv_load \"$W/dv\" && " + script);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return r.out;
  }
  int count(const std::string& addr) { return std::stoi("0" + inDovecot("dv_count " + addr)); }

  DeliveryRequest request(uint16_t port, std::vector<std::string> rcpts) {
    DeliveryRequest r;
    r.protocol = DeliveryProtocol::kLmtp;
    r.host = "127.0.0.1";
    r.port = port;
    r.hello_name = "client.test";
    r.mail_from = "bob@beta.test";
    for (auto& a : rcpts) r.recipients.push_back({a, ""});
    r.message = message_;
    r.timeouts.command_ms = 10000;
    r.timeouts.data_ms = 20000;
    return r;
  }

  fs::path work_;
  bool started_ = false;
  std::string message_ =
      "From: bob@beta.test\nTo: alice@alpha.test\nSubject: delivery test\n\n.hidden line\nbody\n";
};

TEST_F(DovecotDelivery, TwoRecipientsAreDeliveredAndFoundInTheirMaildirs) {
  const uint16_t port = start("alice@alpha.test carol@alpha.test");
  ASSERT_NE(port, 0);
  DeliveryResult d = smtp::deliver(request(port, {"alice@alpha.test", "carol@alpha.test"}));
  ASSERT_TRUE(d.session_ok) << d.error;
  for (const auto& r : d.recipients) {
    EXPECT_TRUE(r.delivered()) << r.final_reply.toString();
    EXPECT_EQ(r.final_reply.toString().rfind("250 2.0.0 <" + r.address + "> ", 0), 0u)
        << r.final_reply.toString();
  }
  EXPECT_EQ(count("alice@alpha.test"), 1);
  EXPECT_EQ(count("carol@alpha.test"), 1);
  const std::string file = inDovecot("dv_files alice@alpha.test");
  const std::string text = readFile(file);
  EXPECT_NE(text.find("Subject: delivery test"), std::string::npos) << text;
  // Dot-stuffing undone by Dovecot: the line is as written.
  EXPECT_NE(text.find("\n.hidden line\n"), std::string::npos) << text;
}

TEST_F(DovecotDelivery, OneOfTwoOverQuotaGets552AndTheOther250) {
  const uint16_t port = start("alice@alpha.test bob@alpha.test:1K");
  ASSERT_NE(port, 0);
  message_ += std::string(3000, 'y') + "\n";
  DeliveryResult d = smtp::deliver(request(port, {"bob@alpha.test", "alice@alpha.test"}));
  ASSERT_TRUE(d.session_ok) << d.error;
  EXPECT_TRUE(d.recipients[0].rcpt_accepted);
  EXPECT_FALSE(d.recipients[0].delivered());
  EXPECT_EQ(d.recipients[0].final_reply.toString().rfind("552 5.2.2 <bob@alpha.test>", 0), 0u)
      << d.recipients[0].final_reply.toString();
  EXPECT_TRUE(d.recipients[1].delivered()) << d.recipients[1].final_reply.toString();
  EXPECT_EQ(count("bob@alpha.test"), 0);
  EXPECT_EQ(count("alice@alpha.test"), 1);
}

TEST_F(DovecotDelivery, UnadvertisedParameterIs555UnlessDropped) {
  const uint16_t port = start("alice@alpha.test");
  ASSERT_NE(port, 0);
  DeliveryRequest r = request(port, {});
  r.recipients = {{"alice@alpha.test", "STOKEN=abc MYSTOKEN=def"}};
  DeliveryResult d = smtp::deliver(r);
  EXPECT_EQ(d.recipients[0].rcpt_reply.toString().rfind("555 5.5.4", 0), 0u)
      << d.recipients[0].rcpt_reply.toString();
  EXPECT_FALSE(d.recipients[0].delivered());
  EXPECT_EQ(count("alice@alpha.test"), 0);

  r.drop_unadvertised_params = true;
  d = smtp::deliver(r);
  EXPECT_TRUE(d.recipients[0].delivered()) << d.recipients[0].final_reply.toString();
  EXPECT_EQ(d.dropped_params, (std::vector<std::string>{"STOKEN=abc", "MYSTOKEN=def"}));
  EXPECT_EQ(count("alice@alpha.test"), 1);
}

TEST_F(DovecotDelivery, DovecotDownIsADialFailure) {
  const uint16_t port = start("alice@alpha.test");
  ASSERT_NE(port, 0);
  (void)inDovecot("dv_stop");
  started_ = false;
  DeliveryResult d = smtp::deliver(request(port, {"alice@alpha.test"}));
  EXPECT_FALSE(d.session_ok);
  EXPECT_EQ(d.failed_step, DeliveryStep::kDial) << d.error;
  EXPECT_EQ(d.recipients[0].final_reply.code, 451);
  EXPECT_FALSE(d.recipients[0].maybe_delivered);
}

TEST_F(DovecotDelivery, TemporaryFailureIs451ForEveryRecipient) {
  const uint16_t port = start("--tempfail alice@alpha.test carol@alpha.test");
  ASSERT_NE(port, 0);
  DeliveryResult d = smtp::deliver(request(port, {"alice@alpha.test", "carol@alpha.test"}));
  EXPECT_TRUE(d.session_ok) << d.error;
  for (const auto& r : d.recipients) {
    EXPECT_FALSE(r.delivered());
    EXPECT_TRUE(r.final_from_server);
    EXPECT_EQ(r.final_reply.code, 451) << r.final_reply.toString();
  }
}

}  // namespace
}  // namespace mtep::itest

// mtepd/mmtp_bridge.h's decisions (deliverToMmtp) on a fake backend:
// each LMTP reply per recipient and what reached the mailbox or the
// remote server (packets read back with readPacket, stamps checked with
// checkStamp); the remote options; the reply mapping; the loopback check.
#include "mmtp_bridge.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "mmtp/address.h"
#include "mmtp/packet.h"

namespace mtep::mtepd {
namespace {

using mmtp::Json;

const std::string kPin(52, 'a');
constexpr int64_t kNow = 1'800'000'000'000;

config::ConfigPtr testConfig(std::string extra = "") {
  const std::string text =
      "[mmtp]\n"
      "domains = [\"gamma.test\"]\n"
      "servers = { \"delta.test\" = \"mmtp.delta.test:9000\" }\n"
      "tls_pins = { \"delta.test\" = \"" +
      kPin +
      "\" }\n"
      "tls_ca_file = \"/etc/mtep/ca.pem\"\n"
      "difficulty = 2\n"
      "dial_timeout = \"7s\"\n"
      "reply_timeout = \"9s\"\n"
      "mailbox_quota = 17\n" +
      extra +
      "\n[domain.\"beta.test\"]\nmmtp_delivery = \"mailbox\"\n"
      "[domain.\"gamma.test\"]\nmmtp_difficulty = 1\n";
  auto c = config::loadString(text, "test.conf");
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message());
  return c.ok() ? *c : nullptr;
}

struct FakeRemote final : public MmtpRemote {
  explicit FakeRemote(std::deque<Result<Json>>* replies, std::vector<Json>* got, std::string v)
      : replies_(replies), got_(got), via_(std::move(v)) {}
  Result<Json> request(const Json& request) override {
    got_->push_back(request);
    if (replies_->empty()) return Error(ErrorKind::kTemporary, "no more replies scripted");
    Result<Json> r = std::move(replies_->front());
    replies_->pop_front();
    return r;
  }
  std::string via() const override { return via_; }
  std::deque<Result<Json>>* replies_;
  std::vector<Json>* got_;
  std::string via_;
};

class FakeBackend final : public MmtpBridgeBackend {
 public:
  mmtp::AuthResult known(std::string_view user) override {
    asked.push_back(std::string(user));
    if (users_down) return mmtp::AuthResult::kTempfail;
    return users.count(std::string(user)) ? mmtp::AuthResult::kOk : mmtp::AuthResult::kFailed;
  }
  Status store(std::string_view owner, std::string_view id, std::string_view json,
               const mmtp::MailboxLimits& l) override {
    if (store_result != ErrorKind::kInternal) return Error(store_result, "fake store says no");
    stored.push_back({std::string(owner), std::string(id), std::string(json)});
    limits = l;
    return okStatus();
  }
  Result<std::unique_ptr<MmtpRemote>> connect(const config::Config&, std::string_view domain,
                                              mmtp::ClientStep* failed) override {
    connects.push_back(std::string(domain));
    auto f = connect_fails.find(std::string(domain));
    if (f != connect_fails.end()) {
      *failed = f->second;
      return Error(ErrorKind::kTemporary, "fake: cannot reach " + std::string(domain));
    }
    return std::unique_ptr<MmtpRemote>(
        std::make_unique<FakeRemote>(&replies[std::string(domain)], &requests[std::string(domain)],
                                     "mmtp." + std::string(domain) + ":8026"));
  }
  int64_t nowMs() override { return kNow; }

  std::set<std::string> users{"bob@beta.test"};
  bool users_down = false;
  ErrorKind store_result = ErrorKind::kInternal;  // kInternal: stores
  struct Stored {
    std::string owner, id, json;
  };
  std::vector<Stored> stored;
  mmtp::MailboxLimits limits;
  std::vector<std::string> asked;
  std::vector<std::string> connects;
  std::map<std::string, mmtp::ClientStep> connect_fails;
  std::map<std::string, std::deque<Result<Json>>> replies;
  std::map<std::string, std::vector<Json>> requests;
};

smtp::Message message(std::string from, std::vector<std::string> rcpts,
                      std::string data = "Subject: Hello\r\n\r\nHi there\r\n") {
  smtp::Message m;
  m.from.path = std::move(from);
  for (std::string& r : rcpts) m.recipients.push_back({std::move(r), {}});
  m.data = std::move(data);
  return m;
}

Json ok(std::string id) {
  Json j;
  j["status"] = "OK";
  j["message"] = "Message delivered successfully";
  j["messageId"] = std::move(id);
  return j;
}

Json error(std::string message, std::string reason = "", bool temporary = false) {
  return mmtp::Gateway::error(message, reason, temporary);
}

std::string codes(const MmtpBridgeOutcome& o) {
  std::string s;
  for (const smtp::Reply& r : o.replies) {
    if (!s.empty()) s += ", ";
    s += std::to_string(r.code) + " " + (r.enhanced ? r.enhanced->toString() : "-");
  }
  return s;
}

TEST(MmtpBridge, MailboxDeliveryStoresTheReferencePacketWithoutWork) {
  auto c = testConfig();
  FakeBackend b;
  const auto o = deliverToMmtp(*c, message("alice@alpha.test", {"Bob@Beta.Test"}), b);
  ASSERT_EQ(codes(o), "250 2.0.0");
  ASSERT_EQ(b.stored.size(), 1u);
  EXPECT_EQ(b.asked, std::vector<std::string>{"bob@beta.test"});
  EXPECT_EQ(b.stored[0].owner, "(Bob)%(Beta.Test)");
  EXPECT_EQ(o.replies[0].text, b.stored[0].id + " delivered to mailbox");
  EXPECT_EQ(b.limits.quota, 17u);
  EXPECT_TRUE(b.connects.empty());
  const Json stored = mmtp::parseJson(b.stored[0].json);
  mmtp::PacketRead p = mmtp::readPacket(stored, "x");
  ASSERT_TRUE(p.ok) << p.refusal.reason;
  EXPECT_EQ(p.packet.sender, "(alice)%(alpha.test)");
  EXPECT_EQ(p.packet.subject, "Hello");
  EXPECT_EQ(p.packet.body, "Hi there\n");
  EXPECT_EQ(p.packet.sender_message_id, b.stored[0].id);
  EXPECT_EQ(p.packet.timestamp_ms, kNow);
  // A token of difficulty 0 naming the pair: no work for local mail.
  EXPECT_EQ(p.packet.stamp,
            "1:0:1800000000000:(alice)%(alpha.test):(Bob)%(Beta.Test):1800000000000::0:");
  EXPECT_NE(o.log.find("mailbox=<Bob@Beta.Test>:" + b.stored[0].id), std::string::npos) << o.log;
}

TEST(MmtpBridge, MailboxRefusalsAndTemporaryFailures) {
  auto c = testConfig();
  {
    FakeBackend b;
    auto o = deliverToMmtp(*c, message("alice@alpha.test", {"nobody@beta.test"}), b);
    EXPECT_EQ(codes(o), "550 5.1.1");
    EXPECT_TRUE(b.stored.empty());
  }
  {
    FakeBackend b;
    b.users_down = true;
    EXPECT_EQ(codes(deliverToMmtp(*c, message("alice@alpha.test", {"bob@beta.test"}), b)),
              "451 4.3.0");
  }
  {
    FakeBackend b;
    b.store_result = ErrorKind::kInvalid;  // Mailboxes::add: over the quota
    EXPECT_EQ(codes(deliverToMmtp(*c, message("alice@alpha.test", {"bob@beta.test"}), b)),
              "552 5.2.2");
  }
  {
    FakeBackend b;
    b.store_result = ErrorKind::kTemporary;
    EXPECT_EQ(codes(deliverToMmtp(*c, message("alice@alpha.test", {"bob@beta.test"}), b)),
              "451 4.3.0");
  }
  {
    FakeBackend b;
    b.users.insert("b+x@beta.test");
    EXPECT_EQ(codes(deliverToMmtp(*c, message("alice@alpha.test", {"b+x@beta.test"}), b)),
              "550 5.1.3");
  }
}

TEST(MmtpBridge, TooLargeForOneReceiveIsRefused) {
  auto c = testConfig("max_request_size = 4096\nmax_reply_size = 65536\n");
  FakeBackend b;
  const std::string big = "Subject: big\r\n\r\n" + std::string(70000, 'x') + "\r\n";
  EXPECT_EQ(codes(deliverToMmtp(*c, message("alice@alpha.test", {"bob@beta.test"}, big), b)),
            "552 5.3.4");
  EXPECT_TRUE(b.stored.empty());
}

TEST(MmtpBridge, SendersWithoutAnMmtpFormAreRefused) {
  auto c = testConfig();
  for (const char* from : {"", "a+b@alpha.test", "\"a b\"@alpha.test"}) {
    FakeBackend b;
    const auto o = deliverToMmtp(
        *c, message(from, {"bob@beta.test", "carol@gamma.test", "dave@other.test"}), b);
    EXPECT_EQ(codes(o), "550 5.1.7, 550 5.1.7, 550 5.1.2") << from;
    EXPECT_TRUE(b.stored.empty());
    EXPECT_TRUE(b.connects.empty());
  }
}

TEST(MmtpBridge, OtherDomainsAreNotMmtp) {
  auto c = testConfig();
  FakeBackend b;
  const auto o = deliverToMmtp(*c, message("alice@alpha.test", {"x@other.test", "nodomain"}), b);
  EXPECT_EQ(codes(o), "550 5.1.2, 550 5.1.2");
  EXPECT_TRUE(b.asked.empty() && b.connects.empty());
}

TEST(MmtpBridge, ContentMmtpCannotCarryIsRefusedForEveryMmtpRecipient) {
  auto c = testConfig();
  FakeBackend b;
  auto o = deliverToMmtp(*c,
                         message("alice@alpha.test", {"bob@beta.test", "carol@gamma.test"},
                                 "Content-Type: text/html\r\n\r\n<p>x</p>\r\n"),
                         b);
  EXPECT_EQ(codes(o), "550 5.6.3, 550 5.6.3");
  EXPECT_NE(o.replies[0].text.find("HTML only"), std::string::npos) << o.replies[0].text;
  EXPECT_TRUE(b.connects.empty());
  o = deliverToMmtp(*c,
                    message("alice@alpha.test", {"bob@beta.test"},
                            "Subject: " + std::string(20000, 's') + "\r\n\r\nx\r\n"),
                    b);
  EXPECT_EQ(codes(o), "552 5.3.4");
}

TEST(MmtpBridge, RemoteDomainGetsAStampedPacketOverOneConnection) {
  auto c = testConfig();
  FakeBackend b;
  b.replies["gamma.test"].push_back(ok("id-carol"));
  b.replies["gamma.test"].push_back(ok("id-dan"));
  b.replies["delta.test"].push_back(ok("id-erin"));
  const auto o = deliverToMmtp(
      *c, message("alice@alpha.test", {"carol@gamma.test", "erin@delta.test", "dan@gamma.test"}),
      b);
  ASSERT_EQ(codes(o), "250 2.0.0, 250 2.0.0, 250 2.0.0");
  EXPECT_EQ(o.replies[0].text, "id-carol sent to mmtp.gamma.test:8026");
  EXPECT_EQ(o.replies[2].text, "id-dan sent to mmtp.gamma.test:8026");
  EXPECT_EQ(b.connects, (std::vector<std::string>{"gamma.test", "delta.test"}));
  ASSERT_EQ(b.requests["gamma.test"].size(), 2u);
  const std::map<std::string, int> difficulty{{"gamma.test", 1}, {"delta.test", 2}};
  for (const auto& [domain, requests] : b.requests) {
    for (const Json& r : requests) {
      EXPECT_EQ(r["action"], "SEND");
      // What a server reads: shape, hash, and a stamp at the domain's difficulty.
      mmtp::PacketRead p =
          mmtp::readPacket(mmtp::parseJson(mmtp::jsStringify(r["data"]["packet"])), "x");
      ASSERT_TRUE(p.ok) << p.refusal.reason;
      EXPECT_EQ(mmtp::domainOf(p.packet.recipient), domain);
      EXPECT_EQ(p.packet.subject, "Hello");
      const int d = difficulty.at(domain);
      EXPECT_EQ(p.packet.stamp.substr(0, 4), "1:" + std::to_string(d) + ":");
      mmtp::StampRead s = mmtp::checkStamp(p.packet, d, kNow, 3600 * 1000);
      EXPECT_TRUE(s.ok) << s.refusal.reason;
    }
  }
  EXPECT_NE(o.log.find("sent=<carol@gamma.test>:id-carol:via=mmtp.gamma.test:8026"),
            std::string::npos)
      << o.log;
}

TEST(MmtpBridge, RemoteRepliesMapToLmtp) {
  auto c = testConfig();
  FakeBackend b;
  auto& q = b.replies["gamma.test"];
  q.push_back(error("Temporary failure, try again later", "store down", true));
  q.push_back(error("Unknown recipient", "no such mailbox here"));
  q.push_back(error("Mailbox full"));
  q.push_back(error("HashCash verification failed - potential spam", "too few zeros"));
  q.push_back(error(std::string("evil\r\n250 ok ") + std::string(5000, 'z')));
  q.push_back(Json::parse(R"({"status":"MAYBE"})"));
  q.push_back(Error(ErrorKind::kProtocol, "garbage"));
  const auto o = deliverToMmtp(
      *c,
      message("alice@alpha.test", {"a@gamma.test", "b@gamma.test", "c@gamma.test", "d@gamma.test",
                                   "e@gamma.test", "f@gamma.test", "g@gamma.test"}),
      b);
  EXPECT_EQ(codes(o),
            "451 4.3.0, 550 5.1.1, 552 5.2.2, 550 5.7.0, 550 5.7.0, 451 4.4.2, 451 4.4.2");
  EXPECT_EQ(o.replies[1].text, "mmtp.gamma.test:8026: Unknown recipient (no such mailbox here)");
  EXPECT_NE(o.replies[3].text.find("too few zeros"), std::string::npos);
  // A remote server's text: printable, bounded, one line.
  EXPECT_EQ(o.replies[4].text.find_first_of("\r\n"), std::string::npos);
  EXPECT_LT(o.replies[4].text.size(), 300u);
  EXPECT_EQ(o.replies[4].text.rfind("mmtp.gamma.test:8026: evil??250 ok zzz", 0), 0u)
      << o.replies[4].text;
}

TEST(MmtpBridge, UnreachableServersAreTemporary) {
  auto c = testConfig();
  FakeBackend b;
  b.connect_fails["gamma.test"] = mmtp::ClientStep::kDial;
  b.connect_fails["delta.test"] = mmtp::ClientStep::kGreeting;
  const auto o = deliverToMmtp(
      *c,
      message("alice@alpha.test",
              {"a@gamma.test", "b@delta.test", "bob@beta.test", "c@gamma.test", "x@other.test"}),
      b);
  EXPECT_EQ(codes(o), "451 4.4.1, 451 4.4.2, 250 2.0.0, 451 4.4.1, 550 5.1.2");
  EXPECT_EQ(b.connects, (std::vector<std::string>{"gamma.test", "delta.test"}));
  EXPECT_NE(o.log.find("deferred=<a@gamma.test>:451 4.4.1"), std::string::npos) << o.log;
}

TEST(MmtpBridge, RemoteOptions) {
  auto c = testConfig();
  const mmtp::MmtpClientOptions s = mmtpRemoteOptions(*c, "Delta.Test");
  EXPECT_EQ(s.host, "mmtp.delta.test");
  EXPECT_EQ(s.port, 9000);
  EXPECT_TRUE(s.tls);
  EXPECT_EQ(s.tls_options.trust.pins, std::vector<std::string>{kPin});
  EXPECT_FALSE(s.dial.targets.refuse_non_public);  // a static entry may be anywhere
  EXPECT_EQ(s.dial_timeout_ms, 7000);
  EXPECT_EQ(s.reply_timeout_ms, 9000);
  EXPECT_EQ(s.max_reply_bytes, MmtpBridge::kMaxSendReply);

  const mmtp::MmtpClientOptions d = mmtpRemoteOptions(*c, "gamma.test");
  EXPECT_EQ(d.host, "gamma.test");
  EXPECT_EQ(d.port, 8026);
  EXPECT_TRUE(d.tls_options.trust.pins.empty());
  EXPECT_TRUE(d.tls_options.trust.verify_certificate);
  EXPECT_EQ(d.tls_options.trust.name, "gamma.test");
  EXPECT_EQ(d.tls_options.trust.ca_file, "/etc/mtep/ca.pem");
  EXPECT_TRUE(d.dial.targets.refuse_non_public);
}

TEST(MmtpBridge, RepliesThatAreNoMmtpRepliesAreTemporary) {
  for (const char* text : {"[]", "{}", "\"OK\"", R"({"status":1})", R"({"status":"ok"})"}) {
    const smtp::Reply r = lmtpReplyForSend(Json::parse(text), "h:1");
    EXPECT_EQ(r.code, 451) << text;
  }
  const smtp::Reply r =
      lmtpReplyForSend(Json::parse(R"({"status":"ERROR","temporary":"yes"})"), "h:1");
  EXPECT_EQ(r.code, 550);  // "temporary" must be true, not truthy
}

TEST(MmtpBridge, LmtpListenMustBeLoopback) {
  for (const char* ok_addr : {"127.0.0.1:2026", "127.1.2.3:2026", "[::1]:2026"}) {
    auto c = testConfig(std::string("lmtp_listen = [\"") + ok_addr + "\"]\n");
    ASSERT_TRUE(c);
    EXPECT_TRUE(checkMmtpLmtpListen(*c).ok()) << ok_addr;
  }
  for (const char* bad :
       {"0.0.0.0:2026", "192.0.2.1:2026", "[::]:2026", "[::ffff:10.0.0.1]:2026"}) {
    auto c = testConfig(std::string("lmtp_listen = [\"") + bad + "\"]\n");
    ASSERT_TRUE(c);
    Status s = checkMmtpLmtpListen(*c);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.error().kind(), ErrorKind::kConfig);
    EXPECT_NE(s.error().message().find("loopback"), std::string::npos);
  }
}

}  // namespace
}  // namespace mtep::mtepd

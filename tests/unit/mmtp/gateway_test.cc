// The MMTP gateway's actions (lib/mmtp/gateway.h) on a real SQLite store,
// with a fake login and a fake MTA: every door the reference leaves open,
// tried by an attacker, and the reference client's replies.
#include "mmtp/gateway.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "mmtp/address.h"
#include "mmtp/session.h"
#include "pow/pow.h"
#include "store/sqlite_store.h"
#include "util/base64.h"

namespace mtep::mmtp {
namespace {

constexpr int64_t kNowMs = 1'800'000'000'000;

class FakeLogin final : public Authenticator {
 public:
  AuthResult login(const Client& /*client*/, std::string_view payload, std::string* user) override {
    ++calls;
    if (down) return AuthResult::kTempfail;
    // "good:<user>" logs <user> in; anything else fails.
    if (payload.starts_with("good:")) {
      *user = std::string(payload.substr(5));
      return AuthResult::kOk;
    }
    return AuthResult::kFailed;
  }
  AuthResult known(std::string_view user) override {
    if (down) return AuthResult::kTempfail;
    return user == "nobody@beta.test" ? AuthResult::kFailed : AuthResult::kOk;
  }
  int calls = 0;
  bool down = false;
};

class FakeMta final : public Injector {
 public:
  void inject(Injection injection, std::function<void(Status)> done) override {
    got.push_back(std::move(injection));
    pending.push_back(std::move(done));
  }
  std::vector<Injection> got;
  std::vector<std::function<void(Status)>> pending;
};

// Fails every call once `down` is set.
class SwitchStore final : public store::Store {
 public:
  explicit SwitchStore(store::Store& inner) : inner_(inner) {}
  const char* backendName() const override { return "switch"; }
  Status revokeToken(std::string_view id, int64_t e) override { return inner_.revokeToken(id, e); }
  Result<bool> isTokenRevoked(std::string_view id) override { return inner_.isTokenRevoked(id); }
  Result<bool> recordOnce(std::string_view ns, std::string_view key, int64_t e) override {
    if (down) return Error(ErrorKind::kTemporary, "down");
    return inner_.recordOnce(ns, key, e);
  }
  Status putValue(std::string_view ns, std::string_view k, std::string_view v, int64_t e) override {
    if (down || put_down) return Error(ErrorKind::kTemporary, "down");
    return inner_.putValue(ns, k, v, e);
  }
  Result<std::string> getValue(std::string_view ns, std::string_view k) override {
    if (down) return Error(ErrorKind::kTemporary, "down");
    return inner_.getValue(ns, k);
  }
  Result<bool> eraseValue(std::string_view ns, std::string_view k) override {
    if (down) return Error(ErrorKind::kTemporary, "down");
    return inner_.eraseValue(ns, k);
  }
  Result<std::vector<std::pair<std::string, std::string>>> listValues(std::string_view ns,
                                                                      size_t limit) override {
    if (down) return Error(ErrorKind::kTemporary, "down");
    return inner_.listValues(ns, limit);
  }
  Result<uint64_t> purgeExpired() override { return inner_.purgeExpired(); }
  bool down = false;
  bool put_down = false;

 private:
  store::Store& inner_;
};

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mtep-mmtp-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto st = store::SqliteStore::create({.path = dir_ + "/mtep.db"}, clock_);
    ASSERT_TRUE(st.ok()) << st.error().message();
    sqlite_ = std::move(*st);
    store_ = std::make_unique<SwitchStore>(*sqlite_);
    config_.mmtp.difficulty = 2;
    config_.domains["beta.test"].mmtp_delivery = config::MmtpDelivery::kMailbox;
    config_.domains["mta.test"].mmtp_delivery = config::MmtpDelivery::kMta;
    gw_ = std::make_unique<Gateway>(*store_, clock_, &login_, &mta_, "mx.beta.test",
                                    [this] { return now_ms_; });
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A packet as the reference client builds it, stamped at `digits`.
  Json packet(const std::string& from, const std::string& to, int digits = 2,
              const std::string& subject = "Hi", const std::string& body = "Hello") {
    Json p;
    p["meta"]["type"] = "SEND";
    p["meta"]["messageId"] = "chosen-by-sender";
    p["meta"]["timestamp"] = now_ms_;
    auto token = pow::mintMmtp(from + ":" + to + ":" + std::to_string(now_ms_), digits, now_ms_);
    EXPECT_TRUE(token.ok());
    p["meta"]["hashcashToken"]["token"] = token.ok() ? *token : "";
    p["meta"]["hashcashToken"]["counter"] = 0;
    p["meta"]["encrypted"] = false;
    p["meta"]["signed"] = false;
    p["meta"]["tags"] = Json::object();
    p["sender"] = from;
    p["recipient"] = to;
    p["content"]["subject"] = subject;
    p["content"]["body"] = body;
    p["verification"]["messageHash"] = messageHash(p["content"]);
    return p;
  }
  Json request(const std::string& action, Json data) {
    Json r;
    r["action"] = action;
    r["data"] = std::move(data);
    return r;
  }
  Json send(const Json& p, const Client& c = {"192.0.2.1:1000", "192.0.2.1", false}) {
    Json data;
    data["packet"] = p;
    auto reply = gw_->handle(request("SEND", data), c, config_, [](Json) {});
    EXPECT_TRUE(reply.has_value());
    return reply.value_or(Json());
  }
  Json owner(const std::string& action, const std::string& email, const std::string& auth,
             bool tls = true) {
    Json data;
    data["email"] = email;
    if (!auth.empty()) data["auth"] = auth;
    auto reply =
        gw_->handle(request(action, data), {"192.0.2.9:1", "192.0.2.9", tls}, config_, [](Json) {});
    EXPECT_TRUE(reply.has_value());
    return reply.value_or(Json());
  }
  static std::string message(const Json& reply) {
    return reply.contains("message") ? reply["message"].get<std::string>() : "";
  }

  std::string dir_;
  FakeClock clock_{1'800'000'000};
  int64_t now_ms_ = kNowMs;
  std::unique_ptr<store::SqliteStore> sqlite_;
  std::unique_ptr<SwitchStore> store_;
  config::Config config_;
  FakeLogin login_;
  FakeMta mta_;
  std::unique_ptr<Gateway> gw_;
};

TEST_F(GatewayTest, TheGreetingIsTheReferenceServers) {
  EXPECT_EQ(Gateway::greeting(false, true).dump(),
            R"({"status":"OK","message":"MMTP Server Ready","features":{"tls":true,"pgp":true}})");
  EXPECT_EQ(Gateway::greeting(true, true)["message"], "MMTP Server Ready (Secure Connection)");
}

TEST_F(GatewayTest, ASendIsKeptForTheOwnerWithTheServersIdAndOnlyTheOwnerReceivesIt) {
  const Json reply = send(packet("(alice)%(alpha.test)", "(bob)%(beta.test)"));
  ASSERT_EQ(reply["status"], "OK") << reply.dump();
  // The reference's fields, in its order.
  std::vector<std::string> keys;
  for (const auto& [k, v] : reply.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"status", "message", "messageId", "encrypted", "signed"}));
  EXPECT_EQ(reply["message"], "Message delivered successfully");
  const std::string id = reply["messageId"];
  EXPECT_EQ(id.size(), 32u);
  EXPECT_NE(id, "chosen-by-sender");

  // Nobody but bob: no auth, plain text, a wrong login, another user.
  EXPECT_EQ(message(owner("RECEIVE", "(bob)%(beta.test)", "")), "Authentication required");
  EXPECT_EQ(message(owner("RECEIVE", "(bob)%(beta.test)", "good:bob@beta.test", false)),
            "Authentication requires TLS");
  EXPECT_EQ(message(owner("RECEIVE", "(bob)%(beta.test)", "bad")), "Authentication failed");
  EXPECT_EQ(message(owner("RECEIVE", "(bob)%(beta.test)", "good:mallory@beta.test")),
            "Authentication failed");
  EXPECT_EQ(message(owner("CHECK", "(bob)%(beta.test)", "good:mallory@beta.test")),
            "Authentication failed");
  EXPECT_EQ(message(owner("RECEIVE_FILTERED", "(bob)%(beta.test)", "")), "Authentication required");

  const Json check = owner("CHECK", "(bob)%(beta.test)", "good:bob@beta.test");
  EXPECT_EQ(check["count"], 1);
  EXPECT_EQ(check["totalCount"], 1);

  const Json got = owner("RECEIVE", "(Bob)%(Beta.Test)", "good:bob@beta.test");
  ASSERT_EQ(got["status"], "OK") << got.dump();
  ASSERT_EQ(got["count"], 1);
  EXPECT_EQ(got["messages"][0]["meta"]["messageId"], id);
  EXPECT_EQ(got["messages"][0]["meta"]["senderMessageId"], "chosen-by-sender");
  EXPECT_EQ(got["messages"][0]["content"]["body"], "Hello");
  // Received means removed.
  EXPECT_EQ(owner("RECEIVE", "(bob)%(beta.test)", "good:bob@beta.test")["count"], 0);
}

TEST_F(GatewayTest, ASendersChosenIdNeverReplacesAnotherMessage) {
  ASSERT_EQ(send(packet("(alice)%(alpha.test)", "(bob)%(beta.test)"))["status"], "OK");
  now_ms_ += 1;  // a second packet, the same messageId
  ASSERT_EQ(send(packet("(alice)%(alpha.test)", "(bob)%(beta.test)", 2, "Again"))["status"], "OK");
  EXPECT_EQ(owner("RECEIVE", "(bob)%(beta.test)", "good:bob@beta.test")["count"], 2);
}

TEST_F(GatewayTest, MailForSomeoneWhoCanNeverReceiveItIsNotStored) {
  const Json reply = send(packet("(alice)%(alpha.test)", "(nobody)%(beta.test)"));
  EXPECT_EQ(message(reply), "Unknown recipient");
  login_.down = true;
  EXPECT_EQ(send(packet("(alice)%(alpha.test)", "(bob)%(beta.test)"))["temporary"], true);
}

TEST_F(GatewayTest, TheGatewayIsNotARelay) {
  const Json reply = send(packet("(alice)%(alpha.test)", "(carol)%(elsewhere.test)"));
  EXPECT_EQ(reply["status"], "ERROR");
  EXPECT_EQ(message(reply), "Recipient domain not served here");
}

TEST_F(GatewayTest, NobodySendsAsOurUsersWithoutLoggingIn) {
  const Json p = packet("(ceo)%(beta.test)", "(bob)%(beta.test)");
  EXPECT_EQ(message(send(p)), "Authentication required");
  Json data;
  data["packet"] = p;
  data["auth"] = "good:ceo@beta.test";
  auto reply = gw_->handle(request("SEND", data), {"192.0.2.1:1", "192.0.2.1", true}, config_,
                           [](Json) {});
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["status"], "OK") << reply->dump();
}

TEST_F(GatewayTest, BadStampsAreRefused) {
  const std::string from = "(alice)%(alpha.test)", to = "(bob)%(beta.test)";
  // Too few zeros for the domain's difficulty: claimed, and claimed falsely.
  config_.domains["beta.test"].mmtp_difficulty = 3;
  EXPECT_EQ(message(send(packet(from, to, 2))), kStampFailed);
  Json liar = packet(from, to, 2);
  const std::string resource = from + ":" + to + ":" + std::to_string(now_ms_);
  std::string token;
  for (int counter = 0;; ++counter) {  // "1:3:..." whose hash lacks the third zero
    token = "1:3:" + std::to_string(now_ms_) + ":" + resource + "::" + std::to_string(counter) + ":";
    if (pow::checkMmtp(token, resource, 3, now_ms_, 3600000).verdict == pow::Verdict::kFalseClaim) {
      break;
    }
  }
  liar["meta"]["hashcashToken"]["token"] = token;
  const Json lie = send(liar);
  EXPECT_EQ(message(lie), kStampFailed);
  EXPECT_NE(lie["reason"].get<std::string>().find("claims 3"), std::string::npos) << lie.dump();
  config_.domains["beta.test"].mmtp_difficulty = 0;
  // Minted for another recipient.
  Json other = packet(from, "(carol)%(beta.test)");
  other["recipient"] = to;
  EXPECT_EQ(message(send(other)), kStampFailed);
  // Stale and future.
  Json stale = packet(from, to);
  now_ms_ += 2 * 3600 * 1000;
  config_.mmtp.stamp_window = 3600;
  EXPECT_EQ(message(send(stale)), kStampFailed);
  now_ms_ -= 4 * 3600 * 1000;
  EXPECT_EQ(message(send(stale)), kStampFailed);
  now_ms_ = kNowMs;
  // The token's timestamp must be meta.timestamp.
  Json shifted = packet(from, to);
  shifted["meta"]["timestamp"] = now_ms_ + 1;
  EXPECT_EQ(message(send(shifted)), kStampFailed);
  // Replayed.
  Json once = packet(from, to);
  EXPECT_EQ(send(once)["status"], "OK");
  const Json again = send(once);
  EXPECT_EQ(message(again), kStampFailed);
  EXPECT_EQ(again["reason"], "stamp already spent");
  // Garbage for a token.
  Json junk = packet(from, to);
  junk["meta"]["hashcashToken"]["token"] = "1:2:x";
  EXPECT_EQ(message(send(junk)), kStampFailed);
  junk["meta"]["hashcashToken"] = "not an object";
  EXPECT_EQ(message(send(junk)), kStampFailed);
}

TEST_F(GatewayTest, TheIntegrityCheckCannotBeSwitchedOff) {
  Json p = packet("(alice)%(alpha.test)", "(bob)%(beta.test)");
  p["content"]["body"] = "changed on the way";
  EXPECT_EQ(message(send(p)), kIntegrityFailed);
  // The reference skips the check when meta.encrypted is true: not here.
  Json e = packet("(alice)%(alpha.test)", "(bob)%(beta.test)");
  e["meta"]["encrypted"] = true;
  e["content"] = Json::object();
  e["content"]["encrypted"] = "-----BEGIN PGP MESSAGE-----\n...\n-----END PGP MESSAGE-----";
  EXPECT_EQ(message(send(e)), kIntegrityFailed);
  e["verification"]["messageHash"] = messageHash(e["content"]);
  EXPECT_EQ(send(e)["status"], "OK");
}

TEST_F(GatewayTest, SendersCannotClaimVerifiedSignatures) {
  Json p = packet("(alice)%(alpha.test)", "(bob)%(beta.test)");
  p["meta"]["signatureVerified"] = true;
  p["meta"]["decrypted"] = true;
  ASSERT_EQ(send(p)["status"], "OK");
  const Json got = owner("RECEIVE", "(bob)%(beta.test)", "good:bob@beta.test");
  ASSERT_EQ(got["count"], 1);
  EXPECT_FALSE(got["messages"][0]["meta"].contains("signatureVerified"));
  EXPECT_FALSE(got["messages"][0]["meta"].contains("decrypted"));
}

TEST_F(GatewayTest, TagsAreCheckedAgainstTheCategoriesAndFilter) {
  Json bad = packet("(alice)%(alpha.test)", "(bob)%(beta.test)");
  bad["meta"]["tags"]["colour"] = Json::array({"red"});
  EXPECT_EQ(message(send(bad)), "Invalid tags");
  bad["meta"]["tags"] = Json::object();
  bad["meta"]["tags"]["priority"] = Json::array({"urgentest"});
  EXPECT_EQ(message(send(bad)), "Invalid tags");

  Json work = packet("(alice)%(alpha.test)", "(bob)%(beta.test)", 2, "Work");
  work["meta"]["tags"]["category"] = Json::array({"work"});
  work["meta"]["tags"]["priority"] = Json::array({"high"});
  ASSERT_EQ(send(work)["status"], "OK");
  now_ms_ += 1;
  Json promo = packet("(alice)%(alpha.test)", "(bob)%(beta.test)", 2, "Sale");
  promo["meta"]["tags"]["category"] = Json::array({"promotion"});
  ASSERT_EQ(send(promo)["status"], "OK");

  Json data;
  data["email"] = "(bob)%(beta.test)";
  data["auth"] = "good:bob@beta.test";
  data["tagFilters"]["category"] = Json::array({"work", "finance"});
  const Client tls{"192.0.2.9:1", "192.0.2.9", true};
  auto counted = gw_->handle(request("CHECK", data), tls, config_, [](Json) {});
  ASSERT_TRUE(counted);
  EXPECT_EQ((*counted)["count"], 1);
  EXPECT_EQ((*counted)["totalCount"], 2);
  EXPECT_EQ((*counted)["tagCounts"]["category"]["work"], 1);
  EXPECT_EQ((*counted)["tagCounts"]["category"]["promotion"], 1);

  auto filtered = gw_->handle(request("RECEIVE_FILTERED", data), tls, config_, [](Json) {});
  ASSERT_TRUE(filtered);
  ASSERT_EQ((*filtered)["count"], 1) << filtered->dump();
  EXPECT_EQ((*filtered)["messages"][0]["content"]["subject"], "Work");
  EXPECT_EQ((*filtered)["tagFilters"], data["tagFilters"]);
  EXPECT_EQ((*filtered)["more"], true);
  // The promotion stays.
  const Json rest = owner("RECEIVE", "(bob)%(beta.test)", "good:bob@beta.test");
  ASSERT_EQ(rest["count"], 1);
  EXPECT_EQ(rest["messages"][0]["content"]["subject"], "Sale");
}

TEST_F(GatewayTest, AFullMailboxRefusesAndReceiveIsBoundedByTheReplySize) {
  config_.mmtp.mailbox_quota = 3;
  for (int i = 0; i < 3; ++i) {
    now_ms_ += 1;
    ASSERT_EQ(send(packet("(alice)%(alpha.test)", "(bob)%(beta.test)"))["status"], "OK");
  }
  now_ms_ += 1;
  const Json full = send(packet("(alice)%(alpha.test)", "(bob)%(beta.test)"));
  EXPECT_EQ(message(full), "Mailbox full");
  EXPECT_FALSE(full.contains("temporary"));

  auto stats = sqlite_->statValues(boxNamespace("(bob)%(beta.test)"));
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->count, 3u);
  const uint64_t one = stats->bytes / 3;
  config_.mmtp.max_reply_size = static_cast<uint32_t>(4096 + one + one / 2);  // one message a reply
  const Json first = owner("RECEIVE", "(bob)%(beta.test)", "good:bob@beta.test");
  ASSERT_EQ(first["status"], "OK");
  EXPECT_EQ(first["count"], 1);
  EXPECT_EQ(first["more"], true);
  EXPECT_EQ(owner("RECEIVE", "(bob)%(beta.test)", "good:bob@beta.test")["count"], 1);
  EXPECT_EQ(owner("RECEIVE", "(bob)%(beta.test)", "good:bob@beta.test")["count"], 1);
  const Json last = owner("RECEIVE", "(bob)%(beta.test)", "good:bob@beta.test");
  EXPECT_EQ(last["count"], 0);
  EXPECT_FALSE(last.contains("more"));
  // A message larger than a whole reply is refused as such, not dropped.
  now_ms_ += 1;
  ASSERT_EQ(send(packet("(alice)%(alpha.test)", "(bob)%(beta.test)", 2, "Big",
                        std::string(4000, 'x')))["status"],
            "OK");
  EXPECT_EQ(message(owner("RECEIVE", "(bob)%(beta.test)", "good:bob@beta.test")),
            "Message too large for one reply");
  EXPECT_EQ(owner("CHECK", "(bob)%(beta.test)", "good:bob@beta.test")["totalCount"], 1);
}

TEST_F(GatewayTest, AStoreThatIsDownTempfailsAndAcceptsNothing) {
  store_->down = true;
  const Json reply = send(packet("(alice)%(alpha.test)", "(bob)%(beta.test)"));
  EXPECT_EQ(reply["status"], "ERROR");
  EXPECT_EQ(reply["temporary"], true);
  const Json receive = owner("RECEIVE", "(bob)%(beta.test)", "good:bob@beta.test");
  EXPECT_EQ(receive["temporary"], true);
  store_->down = false;
  // The stamp is spent but the mailbox write fails: a temporary error.
  store_->put_down = true;
  const Json lost = send(packet("(alice)%(alpha.test)", "(bob)%(beta.test)"));
  EXPECT_EQ(lost["status"], "ERROR");
  EXPECT_EQ(lost["temporary"], true);
}

TEST_F(GatewayTest, MtaDomainsAreHandedToTheMtaAndAnsweredLater) {
  Json data;
  data["packet"] = packet("(alice)%(alpha.test)", "(dave)%(mta.test)", 2, "Grüße\r\nBcc: x@y");
  std::vector<Json> answers;
  auto reply = gw_->handle(request("SEND", data), {"192.0.2.1:1", "192.0.2.1", false}, config_,
                           [&](Json j) { answers.push_back(std::move(j)); });
  EXPECT_FALSE(reply.has_value());
  ASSERT_EQ(mta_.got.size(), 1u);
  const Injection& inj = mta_.got[0];
  EXPECT_EQ(inj.mail_from, "alice@alpha.test");
  EXPECT_EQ(inj.rcpt_to, "dave@mta.test");
  EXPECT_NE(inj.message.find("Authentication-Results: mx.beta.test; x-mmtp-stamp=pass"),
            std::string::npos);
  EXPECT_NE(inj.message.find("X-MMTP-Timestamp: " + std::to_string(kNowMs)), std::string::npos);
  // A subject with CR LF cannot add a header line.
  EXPECT_EQ(inj.message.find("\r\nBcc:"), std::string::npos);
  EXPECT_NE(inj.message.find("Subject: =?UTF-8?B?"), std::string::npos);
  EXPECT_TRUE(answers.empty());
  mta_.pending[0](okStatus());
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0]["status"], "OK");

  // A refusal is final, no answer is temporary.
  now_ms_ += 1;
  data["packet"] = packet("(alice)%(alpha.test)", "(dave)%(mta.test)");
  EXPECT_FALSE(gw_->handle(request("SEND", data), {"192.0.2.1:1", "192.0.2.1", false}, config_,
                           [&](Json j) { answers.push_back(std::move(j)); }));
  mta_.pending[1](Error(ErrorKind::kInvalid, "550 5.1.1 no such user"));
  EXPECT_EQ(answers[1]["status"], "ERROR");
  EXPECT_FALSE(answers[1].contains("temporary"));
  now_ms_ += 1;
  data["packet"] = packet("(alice)%(alpha.test)", "(dave)%(mta.test)");
  EXPECT_FALSE(gw_->handle(request("SEND", data), {"192.0.2.1:1", "192.0.2.1", false}, config_,
                           [&](Json j) { answers.push_back(std::move(j)); }));
  mta_.pending[2](Error(ErrorKind::kTemporary, "connection refused"));
  EXPECT_EQ(answers[2]["temporary"], true);
}

// A minimal armored block around OpenPGP packets.
std::string armor(const std::vector<uint8_t>& bytes, const char* kind = "PUBLIC KEY") {
  return std::string("-----BEGIN PGP ") + kind + " BLOCK-----\nComment: test\n\n" +
         base64Encode(bytes.data(), bytes.size(), false, true) + "\n=abcd\n-----END PGP " + kind +
         " BLOCK-----\n";
}

TEST_F(GatewayTest, OnlyTheOwnerRegistersAndNeverAPrivateKey) {
  // Old-format public key packet (tag 6, two-byte length) and a user id.
  const std::vector<uint8_t> pub = {0x99, 0x00, 0x03, 4, 0, 0, 0xb4, 0x02, 'i', 'd'};
  // New-format secret key packet (tag 5) under a PUBLIC KEY armor.
  const std::vector<uint8_t> secret = {0xc5, 0x03, 4, 0, 0};
  const std::vector<uint8_t> pub_then_secret_subkey = {0x99, 0x00, 0x03, 4, 0, 0, 0xc7, 0x01, 4};

  auto reg = [&](const std::string& key, const std::string& auth, bool tls = true) {
    Json data;
    data["email"] = "(bob)%(beta.test)";
    data["publicKey"] = key;
    if (!auth.empty()) data["auth"] = auth;
    auto r = gw_->handle(request("REGISTER_KEY", data), {"192.0.2.9:1", "192.0.2.9", tls}, config_,
                         [](Json) {});
    return r.value_or(Json());
  };
  EXPECT_EQ(message(reg(armor(pub), "")), "Authentication required");
  EXPECT_EQ(message(reg(armor(pub), "good:mallory@beta.test")), "Authentication failed");
  EXPECT_EQ(message(reg(armor(pub), "good:bob@beta.test", false)), "Authentication requires TLS");
  EXPECT_NE(message(reg(armor(secret), "good:bob@beta.test")).find("private key"), std::string::npos);
  EXPECT_NE(message(reg(armor(pub_then_secret_subkey), "good:bob@beta.test")).find("private key"),
            std::string::npos);
  EXPECT_NE(message(reg(armor(secret, "PRIVATE KEY"), "good:bob@beta.test")).find("private key"),
            std::string::npos);
  EXPECT_EQ(message(reg("hello", "good:bob@beta.test")).rfind("Failed to register key", 0), 0u);

  Json ask;
  ask["email"] = "(bob)%(beta.test)";
  auto none = gw_->handle(request("REQUEST_PUBLIC_KEY", ask), {"192.0.2.1:1", "192.0.2.1", false},
                          config_, [](Json) {});
  EXPECT_EQ(message(*none), "Public key not found for this email");

  const Json ok = reg(armor(pub), "good:bob@beta.test");
  EXPECT_EQ(message(ok), "Public key registered successfully");
  // Anyone may ask for it, without logging in, over plain text.
  auto got = gw_->handle(request("REQUEST_PUBLIC_KEY", ask), {"192.0.2.1:1", "192.0.2.1", false},
                         config_, [](Json) {});
  ASSERT_TRUE(got);
  EXPECT_EQ((*got)["status"], "OK");
  EXPECT_EQ((*got)["email"], "(bob)%(beta.test)");
  EXPECT_EQ((*got)["publicKey"], armor(pub));
}

TEST_F(GatewayTest, UnknownActionsAndBadAddressesGetTheReferenceTexts) {
  auto r = gw_->handle(request("DELETE_EVERYTHING", Json::object()), {}, config_, [](Json) {});
  EXPECT_EQ(r->dump(), R"({"status":"ERROR","message":"Unknown action"})");
  Json data;
  data["email"] = "bob@beta.test";
  for (const char* a : {"RECEIVE", "CHECK", "RECEIVE_FILTERED", "REQUEST_PUBLIC_KEY"}) {
    auto e = gw_->handle(request(a, data), {}, config_, [](Json) {});
    EXPECT_EQ((*e)["message"], "Invalid email format") << a;
  }
  auto cats = gw_->handle(request("GET_TAG_CATEGORIES", Json::object()), {}, config_, [](Json) {});
  EXPECT_EQ((*cats)["tagCategories"]["priority"], Json::array({"high", "medium", "low"}));
  EXPECT_TRUE((*cats)["tagCategories"]["custom"].is_array());
}

TEST_F(GatewayTest, ALockedOutClientIsToldToWait) {
  login_.down = true;
  const Json r = owner("RECEIVE", "(bob)%(beta.test)", "good:bob@beta.test");
  EXPECT_EQ(r["temporary"], true);
}

// --- the session: framing, order, pending answers ----------------------

class SessionTest : public GatewayTest {
 protected:
  std::vector<Json> replies(const std::string& out) {
    std::vector<Json> v;
    size_t start = 0;
    while (start < out.size()) {
      const size_t nl = out.find('\n', start);
      EXPECT_NE(nl, std::string::npos);
      v.push_back(Json::parse(out.substr(start, nl - start)));
      start = nl + 1;
    }
    return v;
  }
};

TEST_F(SessionTest, TwoRequestsInOneWriteAndOneInTenWrites) {
  std::vector<Json> later;
  Session s(*gw_, {"192.0.2.1:1", "192.0.2.1", false}, {}, [&](Json j) { later.push_back(j); });
  const std::string cats = R"({"action":"GET_TAG_CATEGORIES","data":{}})";
  std::string out;
  EXPECT_EQ(s.feed(cats + cats, config_, &out), Session::Step::kContinue);
  EXPECT_EQ(replies(out).size(), 2u);
  out.clear();
  Json data;
  data["packet"] = packet("(alice)%(alpha.test)", "(bob)%(beta.test)");
  const std::string send_text = request("SEND", data).dump();
  const size_t step = send_text.size() / 10 + 1;
  for (size_t i = 0; i < send_text.size(); i += step) {
    EXPECT_EQ(s.feed(send_text.substr(i, step), config_, &out), Session::Step::kContinue);
    if (i + step < send_text.size()) {
      EXPECT_TRUE(out.empty());
    }
  }
  const auto r = replies(out);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0]["status"], "OK") << r[0].dump();
}

TEST_F(SessionTest, NonJsonAndOversizeGetAnErrorAndTheConnectionGoesOn) {
  Session s(*gw_, {"192.0.2.1:1", "192.0.2.1", false}, {.max_value_bytes = 1000, .max_depth = 8},
            [](Json) {});
  std::string out;
  const std::string cats = R"({"action":"GET_TAG_CATEGORIES","data":{}})";
  s.feed("hello\n", config_, &out);
  s.feed("{\"action\":" + std::string(5000, ' ') + "\"x\"}", config_, &out);
  s.feed(std::string(20, '[') + std::string(20, ']'), config_, &out);
  s.feed("{not json}", config_, &out);
  s.feed("[1,2]", config_, &out);
  s.feed(cats, config_, &out);
  const auto r = replies(out);
  ASSERT_EQ(r.size(), 6u) << out;
  EXPECT_EQ(r[0]["message"], kNotJson);
  EXPECT_EQ(r[1]["message"], "Request too large");
  EXPECT_EQ(r[2]["message"], "Request nested too deeply");
  EXPECT_EQ(r[3]["message"], kNotJson);
  EXPECT_EQ(r[4]["message"], kNotJson);
  EXPECT_EQ(r[5]["status"], "OK");
}

TEST_F(SessionTest, RequestsAfterAPendingSendWaitTheirTurn) {
  std::vector<Json> later;
  Session s(*gw_, {"192.0.2.1:1", "192.0.2.1", false}, {}, [&](Json j) { later.push_back(j); });
  Json data;
  data["packet"] = packet("(alice)%(alpha.test)", "(dave)%(mta.test)");
  const std::string cats = R"({"action":"GET_TAG_CATEGORIES","data":{}})";
  std::string out;
  // What follows the pending SEND is given back, to be fed after complete().
  EXPECT_EQ(s.feed(request("SEND", data).dump() + cats, config_, &out), Session::Step::kPending);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(s.unconsumed(), cats.size());
  EXPECT_EQ(s.feed(cats, config_, &out), Session::Step::kPending);
  EXPECT_EQ(s.unconsumed(), cats.size());
  ASSERT_EQ(mta_.pending.size(), 1u);
  mta_.pending[0](okStatus());
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(s.complete(later[0], config_, &out), Session::Step::kContinue);
  EXPECT_EQ(replies(out).size(), 1u);
  EXPECT_EQ(s.feed(cats + cats, config_, &out), Session::Step::kContinue);
  EXPECT_EQ(s.unconsumed(), 0u);
  const auto r = replies(out);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0]["message"], "Message delivered successfully");
  EXPECT_TRUE(r[1].contains("tagCategories"));
  EXPECT_TRUE(r[2].contains("tagCategories"));
}

TEST_F(SessionTest, OneFeedStopsAtItsOutputBudgetAndGivesTheRestBack) {
  // 2,000 small requests for larger replies in one feed (a peer that
  // pipelines and does not read): answered a budget at a time, the rest
  // given back each time, and all of them answered in the end, in order.
  Session s(*gw_, {"192.0.2.1:1", "192.0.2.1", false}, {}, [](Json) {});
  const std::string cats = R"({"action":"GET_TAG_CATEGORIES"})";
  std::string in;
  for (int i = 0; i < 2000; ++i) in += cats;
  const size_t reply_size = frameReply(*gw_->handle(parseJson(cats), {}, config_, {})).size();
  size_t answered = 0;
  int feeds = 0;
  while (!in.empty()) {
    std::string out;
    ASSERT_EQ(s.feed(in, config_, &out), Session::Step::kContinue);
    EXPECT_LE(out.size(), Session::kOutputBudget + reply_size);
    EXPECT_GT(out.size(), 0u);
    ASSERT_LE(s.unconsumed(), in.size());
    EXPECT_EQ(s.unconsumed() % cats.size(), 0u) << "a request cut in two";
    answered += replies(out).size();
    in = in.substr(in.size() - s.unconsumed());
    ++feeds;
  }
  EXPECT_EQ(answered, 2000u);
  EXPECT_GT(feeds, 2);
  EXPECT_EQ(s.requests(), 2000u);
}

TEST(MmtpAddress, TheSeedsFormAndTheMailForm) {
  EXPECT_TRUE(isAddress("(alice)%(example.com)"));
  EXPECT_TRUE(isAddress("(a.b_c-d)%(x-y.example)"));
  for (const char* bad : {"alice@example.com", "(alice)%(example.com", "(al ice)%(example.com)",
                          "()%(example.com)", "(alice)%()", "(a)%(b_c)", "(a)%(b)%(c)",
                          "(a)(b)", "(a+b)%(c)"}) {
    EXPECT_FALSE(isAddress(bad)) << bad;
  }
  EXPECT_FALSE(isAddress("(" + std::string(65, 'a') + ")%(example.com)"));
  EXPECT_EQ(toMail("(bob)%(beta.test)"), "bob@beta.test");
  EXPECT_EQ(fromMail("bob@beta.test"), "(bob)%(beta.test)");
  EXPECT_FALSE(fromMail("bob+tag@beta.test"));
  EXPECT_FALSE(fromMail("\"a b\"@beta.test"));
  EXPECT_EQ(canonical("(Bob)%(Beta.Test)"), "(bob)%(beta.test)");
  EXPECT_EQ(domainOf("(bob)%(beta.test)"), "beta.test");
}

}  // namespace
}  // namespace mtep::mmtp

namespace mtep::mmtp {
namespace {

TEST(MmtpMailboxes, ACountKeptInMemoryNeverRefusesOnAStaleCount) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "mtep-boxes-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  FakeClock clock{1'800'000'000};
  {
    auto st = store::SqliteStore::create({.path = tmpl + "/mtep.db"}, clock);
    ASSERT_TRUE(st.ok());
    Mailboxes a(**st, clock), b(**st, clock);  // two writers, as the gateway and the bridge
    const MailboxLimits limits{.quota = 3, .size_limit = 1 << 20, .message_ttl = 3600};
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(a.add("(bob)%(beta.test)", "id" + std::to_string(i), "{}", limits).ok());
    }
    EXPECT_EQ(a.add("(bob)%(beta.test)", "id3", "{}", limits).error().kind(), ErrorKind::kInvalid);
    // b empties the mailbox: a's count (3, full) is stale, and is read again
    // before a refusal.
    auto page = b.list("(bob)%(beta.test)", 1 << 20, 100);
    ASSERT_TRUE(page.ok());
    std::vector<std::string> keys;
    for (const auto& m : page->messages) keys.push_back(m.key);
    ASSERT_EQ(keys.size(), 3u);
    ASSERT_TRUE(b.remove("(bob)%(beta.test)", keys).ok());
    EXPECT_TRUE(a.add("(bob)%(beta.test)", "id4", "{}", limits).ok());
    // b fills it behind a's back; once a's count is older than kStatsTtl a
    // reads the store again and refuses.
    ASSERT_TRUE(b.add("(bob)%(beta.test)", "id5", "{}", limits).ok());
    ASSERT_TRUE(b.add("(bob)%(beta.test)", "id6", "{}", limits).ok());
    clock.advance(Mailboxes::kStatsTtl);
    EXPECT_EQ(a.add("(bob)%(beta.test)", "id7", "{}", limits).error().kind(), ErrorKind::kInvalid);
  }
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace mtep::mmtp

namespace mtep::mmtp {
namespace {

// A batch the test commits or rolls back by hand.
class HandBatch final : public WriteBatch {
 public:
  explicit HandBatch(store::Store& store) : store_(store) {}
  Status open() override {
    if (!open_) {
      if (Status st = store_.begin(); !st.ok()) return st;
      open_ = true;
    }
    return okStatus();
  }
  void whenCommitted(std::function<void(Status)> done) override { waiting.push_back(std::move(done)); }
  void finish(bool commit) {
    Status st = commit ? store_.commit() : Error(ErrorKind::kTemporary, "disk full");
    if (!commit) (void)store_.rollback();
    open_ = false;
    auto w = std::move(waiting);
    waiting.clear();
    for (auto& d : w) d(st);
  }
  std::vector<std::function<void(Status)>> waiting;

 private:
  store::Store& store_;
  bool open_ = false;
};

TEST_F(GatewayTest, WithGroupCommitASendIsAnsweredOnlyOnceCommittedAndARollbackSaysTemporary) {
  HandBatch batch(*sqlite_);
  gw_->setWriteBatch(&batch);
  std::vector<Json> answers;
  auto sendLater = [&](const Json& p) {
    Json data;
    data["packet"] = p;
    return gw_->handle(request("SEND", data), {"192.0.2.1:1", "192.0.2.1", false}, config_,
                       [&](Json j) { answers.push_back(std::move(j)); });
  };
  const Json first = packet("(alice)%(alpha.test)", "(bob)%(beta.test)");
  EXPECT_FALSE(sendLater(first));
  now_ms_ += 1;
  EXPECT_FALSE(sendLater(packet("(alice)%(alpha.test)", "(bob)%(beta.test)", 2, "Two")));
  // The same stamp again in the same batch: the batch sees its own spend.
  EXPECT_EQ(message(*sendLater(first)), kStampFailed);
  EXPECT_TRUE(answers.empty());
  batch.finish(true);
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0]["status"], "OK");
  EXPECT_EQ(answers[1]["status"], "OK");

  // A rolled-back batch: temporary errors, nothing stored, the stamp unspent.
  answers.clear();
  now_ms_ += 1;
  const Json lost = packet("(alice)%(alpha.test)", "(bob)%(beta.test)", 2, "Lost");
  EXPECT_FALSE(sendLater(lost));
  batch.finish(false);
  gw_->forgetCounts();
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0]["temporary"], true);
  EXPECT_FALSE(sendLater(lost));  // its stamp was never spent: the retry goes in
  batch.finish(true);
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[1]["status"], "OK");
  gw_->setWriteBatch(nullptr);
  const Json got = owner("RECEIVE", "(bob)%(beta.test)", "good:bob@beta.test");
  EXPECT_EQ(got["count"], 3);
}

}  // namespace
}  // namespace mtep::mmtp

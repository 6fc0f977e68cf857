// TokenAuthority: every answer to "?", in the documented order. mintFor()
// makes version-1 tokens (bound to the sender only), which must keep
// working until they expire; the V2 tests cover tokens bound to a
// recipient domain.
#include "mtep/authority.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "store/sqlite_store.h"

namespace mtep::proto {
namespace {

// In-memory store that can be told to fail, and counts lookups.
class FakeStore final : public store::Store {
 public:
  const char* backendName() const override { return "fake"; }
  Status revokeToken(std::string_view id, int64_t expires_at) override {
    revoked_[std::string(id)] = expires_at;
    return okStatus();
  }
  Result<bool> isTokenRevoked(std::string_view id) override {
    ++lookups;
    if (fail) return Error(ErrorKind::kTemporary, "fake store: database is locked");
    return revoked_.count(std::string(id)) > 0;
  }
  Result<bool> recordOnce(std::string_view, std::string_view, int64_t) override { return true; }
  Result<uint64_t> purgeExpired() override { return uint64_t{0}; }
  // Values are not used by the authority.
  Status putValue(std::string_view, std::string_view, std::string_view, int64_t) override {
    return unused();
  }
  Result<std::string> getValue(std::string_view, std::string_view) override { return unused(); }
  Result<bool> eraseValue(std::string_view, std::string_view) override { return unused(); }
  Result<std::vector<std::pair<std::string, std::string>>> listValues(std::string_view,
                                                                      size_t) override {
    return unused();
  }
  static Error unused() { return Error(ErrorKind::kInternal, "fake store: values not used"); }

  bool fail = false;
  int lookups = 0;

 private:
  std::map<std::string, int64_t> revoked_;
};

token::Key makeKey(uint32_t id, uint8_t fill) {
  token::Key k;
  k.id = id;
  k.secret.fill(fill);
  return k;
}

class AuthorityTest : public ::testing::Test {
 protected:
  AuthorityTest() {
    auto cfg = std::make_shared<config::Config>();
    config::DomainPolicy quiet;
    quiet.issue_tokens = false;
    cfg->domains["quiet.example"] = quiet;
    config_ = cfg;
    ring_ = std::make_shared<const token::KeyRing>(token::KeyRing::fromKeys({makeKey(1, 0x11)}));
    authority_ = std::make_unique<TokenAuthority>(config_, ring_, store_, clock_);
  }

  std::string mintFor(std::string_view canonical_sender, int64_t ttl = 3600,
                      const token::KeyRing* ring = nullptr) {
    auto t = token::mintV1(ring ? *ring : *ring_, canonical_sender, clock_.now(), ttl);
    EXPECT_TRUE(t.ok());
    return t.ok() ? *t : std::string();
  }

  std::string mintV2(std::string_view canonical_sender, std::string_view domain,
                     int64_t ttl = 3600) {
    auto t = token::mint(*ring_, canonical_sender, domain, clock_.now(), ttl);
    EXPECT_TRUE(t.ok());
    return t.ok() ? *t : std::string();
  }

  CheckResult ask(std::string_view token, std::string_view sender, bool has_sender = true,
                  std::string_view recipient = {}) {
    Query q;
    q.token = token;
    q.sender = sender;
    q.recipient = recipient;
    q.has_sender = has_sender;
    return authority_->check(q);
  }

  void setAnswerWithoutRecipient(bool on) {
    auto cfg = std::make_shared<config::Config>(*config_);
    cfg->mtepd.answer_without_recipient = on;
    config_ = cfg;
    authority_->update(config_, nullptr);
  }

  void setAnswerWithoutSender(bool on) {
    auto cfg = std::make_shared<config::Config>(*config_);
    cfg->mtepd.answer_without_sender = on;
    config_ = cfg;
    authority_->update(config_, nullptr);
  }

  FakeClock clock_;
  FakeStore store_;
  config::ConfigPtr config_;
  std::shared_ptr<const token::KeyRing> ring_;
  std::unique_ptr<TokenAuthority> authority_;
};

void expectAnswer(const CheckResult& got, Verdict verdict, smtp::EnhancedStatus code,
                  std::string_view reason, std::string_view text_part) {
  EXPECT_EQ(got.response.verdict, verdict) << got.response.payload();
  ASSERT_TRUE(got.response.code.has_value()) << got.response.payload();
  EXPECT_EQ(got.response.code->toString(), code.toString());
  EXPECT_EQ(got.reason, reason);
  EXPECT_NE(got.response.text.find(text_part), std::string::npos)
      << "text: " << got.response.text << "\nwant part: " << text_part;
}

TEST_F(AuthorityTest, ValidTokenForItsSenderIsK270) {
  auto r = ask(mintFor("alice@example.org"), "alice@example.org");
  expectAnswer(r, Verdict::kYes, {2, 7, 0}, "valid", "Yes, I issued that token for this sender.");
  EXPECT_EQ(r.response.payload(), "K2.7.0 Yes, I issued that token for this sender.");
  EXPECT_EQ(store_.lookups, 1);
}

TEST_F(AuthorityTest, SenderIsParsedAndCanonicalisedBeforeBinding) {
  std::string t = mintFor("alice@example.org");
  for (std::string_view sender : {"<alice@example.org>", "<Alice@Example.ORG>", "ALICE@EXAMPLE.ORG",
                                  "<@relay.example:alice@example.org>"}) {
    expectAnswer(ask(t, sender), Verdict::kYes, {2, 7, 0}, "valid", "Yes");
  }
}

TEST_F(AuthorityTest, TokenOfAnotherSenderIsD578) {
  expectAnswer(ask(mintFor("alice@example.org"), "bob@example.org"), Verdict::kNo, {5, 7, 8},
               "sender-mismatch", "That token was issued for another sender.");
}

TEST_F(AuthorityTest, SenderlessQueryIsAnsweredFromTheTokenWhenAllowed) {
  std::string t = mintFor("alice@example.org");
  expectAnswer(ask(t, "", false), Verdict::kYes, {2, 7, 0}, "valid", "Yes, I issued that token.");
  // An empty sender element counts as no sender.
  expectAnswer(ask(t, "", true), Verdict::kYes, {2, 7, 0}, "valid", "Yes, I issued that token.");
}

TEST_F(AuthorityTest, SenderlessQueryIsD554WhenNotAllowed) {
  setAnswerWithoutSender(false);
  std::string t = mintFor("alice@example.org");
  expectAnswer(ask(t, "", false), Verdict::kNo, {5, 5, 4}, "sender-required",
               "Please send the envelope sender with the token.");
  // With a sender it is still answered.
  expectAnswer(ask(t, "alice@example.org"), Verdict::kYes, {2, 7, 0}, "valid", "Yes");
}

TEST_F(AuthorityTest, InvalidSenderIsD554) {
  std::string t = mintFor("alice@example.org");
  for (std::string_view sender :
       {"alice", "<>", "alice@", "a b@example.org", "<alice@example.org"}) {
    expectAnswer(ask(t, sender), Verdict::kNo, {5, 5, 4}, "bad-sender", "not a valid address");
  }
  EXPECT_EQ(store_.lookups, 0);
}

TEST_F(AuthorityTest, MalformedTokenIsD578) {
  expectAnswer(ask("unvanquished", "alice@example.org"), Verdict::kNo, {5, 7, 8}, "malformed",
               "Nobody here issued that token");
  expectAnswer(ask("unvanquished", "", false), Verdict::kNo, {5, 7, 8}, "malformed",
               "Nobody here issued that token");
}

TEST_F(AuthorityTest, ForgedTokenIsD578) {
  auto other = token::KeyRing::fromKeys({makeKey(1, 0x99)});
  expectAnswer(ask(mintFor("alice@example.org", 3600, &other), "alice@example.org"), Verdict::kNo,
               {5, 7, 8}, "bad-mac", "Nobody here issued that token");
  EXPECT_EQ(store_.lookups, 0);
}

TEST_F(AuthorityTest, TokenOfUnknownKeyIsD578) {
  auto other = token::KeyRing::fromKeys({makeKey(2, 0x11)});
  expectAnswer(ask(mintFor("alice@example.org", 3600, &other), "alice@example.org"), Verdict::kNo,
               {5, 7, 8}, "unknown-key", "Nobody here issued that token");
}

TEST_F(AuthorityTest, ExpiredTokenIsD578) {
  std::string t = mintFor("alice@example.org", 60);
  clock_.advance(60);
  expectAnswer(ask(t, "alice@example.org"), Verdict::kNo, {5, 7, 8}, "expired",
               "That token has expired");
}

TEST_F(AuthorityTest, RevokedTokenIsD578) {
  std::string t = mintFor("alice@example.org");
  ASSERT_TRUE(store_.revokeToken(token::decode(t)->revocationId(), clock_.now() + 3600).ok());
  expectAnswer(ask(t, "alice@example.org"), Verdict::kNo, {5, 7, 8}, "revoked",
               "That token was withdrawn by its issuer.");
  expectAnswer(ask(t, "", false), Verdict::kNo, {5, 7, 8}, "revoked", "withdrawn");
}

TEST_F(AuthorityTest, DomainThatDoesNotIssueTokensIsD571) {
  std::string t = mintFor("carol@quiet.example");
  expectAnswer(ask(t, "carol@QUIET.example"), Verdict::kNo, {5, 7, 1}, "not-issuing",
               "I do not vouch for senders at that domain.");
  EXPECT_EQ(store_.lookups, 0);
}

TEST_F(AuthorityTest, TokenIsCheckedBeforeDomainPolicy) {
  auto other = token::KeyRing::fromKeys({makeKey(1, 0x99)});
  expectAnswer(ask(mintFor("carol@quiet.example", 3600, &other), "carol@quiet.example"),
               Verdict::kNo, {5, 7, 8}, "bad-mac", "Nobody here");
}

TEST_F(AuthorityTest, StoreFailureIsZ430) {
  store_.fail = true;
  expectAnswer(ask(mintFor("alice@example.org"), "alice@example.org"), Verdict::kTemporary,
               {4, 3, 0}, "store-unavailable",
               "I cannot check that token right now; please ask again later.");
}

TEST_F(AuthorityTest, StoreIsNotAskedAboutTokensThatFailEarlier) {
  store_.fail = true;
  std::string t = mintFor("alice@example.org");
  expectAnswer(ask(t, "bob@example.org"), Verdict::kNo, {5, 7, 8}, "sender-mismatch", "another");
  EXPECT_EQ(store_.lookups, 0);
}

TEST_F(AuthorityTest, UpdateSwapsTheKeyRing) {
  std::string old_token = mintFor("alice@example.org");
  auto next = std::make_shared<const token::KeyRing>(token::KeyRing::fromKeys({makeKey(5, 0x55)}));
  std::string new_token = mintFor("alice@example.org", 3600, next.get());
  expectAnswer(ask(new_token, "alice@example.org"), Verdict::kNo, {5, 7, 8}, "unknown-key",
               "Nobody");
  authority_->update(nullptr, next);
  expectAnswer(ask(new_token, "alice@example.org"), Verdict::kYes, {2, 7, 0}, "valid", "Yes");
  expectAnswer(ask(old_token, "alice@example.org"), Verdict::kNo, {5, 7, 8}, "unknown-key",
               "Nobody");
}

TEST_F(AuthorityTest, EveryAnswerHasACodeAndPoliteText) {
  std::set<std::string> texts;
  std::string good = mintFor("alice@example.org");
  std::vector<CheckResult> all = {ask(good, "alice@example.org"), ask(good, "bob@example.org"),
                                  ask("x", "alice@example.org"), ask(good, "bad")};
  store_.fail = true;
  all.push_back(ask(good, "alice@example.org"));
  for (const CheckResult& r : all) {
    ASSERT_TRUE(r.response.code.has_value());
    EXPECT_FALSE(r.response.text.empty());
    EXPECT_EQ(r.response.text.back(), '.') << r.response.text;
    EXPECT_EQ(r.response.text.find_first_of("\r\n"), std::string::npos);
    texts.insert(r.response.text);
  }
  EXPECT_EQ(texts.size(), all.size());
}

TEST_F(AuthorityTest, V2TokenForItsSenderAndRecipientDomainIsK270) {
  auto r = ask(mintV2("alice@example.org", "beta.test"), "alice@example.org", true,
               "<bob@beta.test>");
  expectAnswer(r, Verdict::kYes, {2, 7, 0}, "valid",
               "Yes, I issued that token for this sender and mail to that domain.");
  EXPECT_EQ(store_.lookups, 1);
}

TEST_F(AuthorityTest, V2TokenReplayedToAnotherDomainIsD578) {
  std::string t = mintV2("alice@example.org", "beta.test");
  expectAnswer(ask(t, "alice@example.org", true, "carol@gamma.test"), Verdict::kNo, {5, 7, 8},
               "recipient-mismatch", "That token was issued for mail to another domain.");
  // A subdomain or a look-alike is another domain too.
  expectAnswer(ask(t, "alice@example.org", true, "x@mx.beta.test"), Verdict::kNo, {5, 7, 8},
               "recipient-mismatch", "another domain");
  // The sender is still checked first.
  expectAnswer(ask(t, "bob@example.org", true, "carol@gamma.test"), Verdict::kNo, {5, 7, 8},
               "sender-mismatch", "another sender");
  EXPECT_EQ(store_.lookups, 0);
}

TEST_F(AuthorityTest, V2RecipientMayBeAnAddressOrADomainInAnyCase) {
  std::string t = mintV2("alice@example.org", "beta.test");
  for (std::string_view rcpt :
       {"<bob@beta.test>", "bob@beta.test", "<Bob@BETA.Test>", "beta.test", "BETA.TEST", "beta.test."}) {
    expectAnswer(ask(t, "alice@example.org", true, rcpt), Verdict::kYes, {2, 7, 0}, "valid",
                 "Yes");
  }
}

TEST_F(AuthorityTest, BadRecipientIsD554) {
  std::string t = mintV2("alice@example.org", "beta.test");
  for (std::string_view rcpt : {"<postmaster>", "bob@", "a b@beta.test", "beta..test", "<>"}) {
    expectAnswer(ask(t, "alice@example.org", true, rcpt), Verdict::kNo, {5, 5, 4},
                 "bad-recipient", "not a valid address or domain");
  }
  EXPECT_EQ(store_.lookups, 0);
}

TEST_F(AuthorityTest, V2TokenWithoutRecipientIsD554ByDefault) {
  std::string t = mintV2("alice@example.org", "beta.test");
  expectAnswer(ask(t, "alice@example.org"), Verdict::kNo, {5, 5, 4}, "recipient-required",
               "Please send the envelope recipient with the token.");
  // The draft's senderless form does not vouch for it either.
  expectAnswer(ask(t, "", false), Verdict::kNo, {5, 5, 4}, "recipient-required", "recipient");
  // A recipient without the sender cannot check the binding.
  expectAnswer(ask(t, "", true, "bob@beta.test"), Verdict::kNo, {5, 5, 4}, "sender-required",
               "Please send the envelope sender with the token and recipient.");
  EXPECT_EQ(store_.lookups, 0);
}

TEST_F(AuthorityTest, V2TokenWithoutRecipientIsAnsweredFromTheSenderWhenAllowed) {
  setAnswerWithoutRecipient(true);
  std::string t = mintV2("alice@example.org", "beta.test");
  expectAnswer(ask(t, "alice@example.org"), Verdict::kYes, {2, 7, 0}, "valid",
               "Yes, I issued that token for this sender.");
  expectAnswer(ask(t, "bob@example.org"), Verdict::kNo, {5, 7, 8}, "sender-mismatch", "another");
  expectAnswer(ask(t, "", false), Verdict::kYes, {2, 7, 0}, "valid", "Yes, I issued that token.");
  // A recipient that is given is still checked.
  expectAnswer(ask(t, "alice@example.org", true, "gamma.test"), Verdict::kNo, {5, 7, 8},
               "recipient-mismatch", "another domain");
}

TEST_F(AuthorityTest, V1TokenStillPassesWithARecipientUntilItExpires) {
  std::string t = mintFor("alice@example.org", 60);
  expectAnswer(ask(t, "alice@example.org", true, "carol@gamma.test"), Verdict::kYes, {2, 7, 0},
               "valid", "Yes, I issued that token for this sender.");
  expectAnswer(ask(t, "alice@example.org", true, "bob@beta.test"), Verdict::kYes, {2, 7, 0},
               "valid", "Yes");
  clock_.advance(60);
  expectAnswer(ask(t, "alice@example.org", true, "bob@beta.test"), Verdict::kNo, {5, 7, 8},
               "expired", "expired");
}

TEST(AuthoritySqlite, RevocationInTheRealStoreIsSeen) {
  namespace fs = std::filesystem;
  std::string tmpl = (fs::temp_directory_path() / "mtep-auth-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  FakeClock clock;
  {
    auto st = store::openSqlite({.path = tmpl + "/mtep.db"}, clock);
    ASSERT_TRUE(st.ok()) << st.error().message();
    auto ring =
        std::make_shared<const token::KeyRing>(token::KeyRing::fromKeys({makeKey(1, 0x11)}));
    TokenAuthority authority(std::make_shared<const config::Config>(), ring, **st, clock);
    auto t = token::mint(*ring, "alice@example.org", "beta.test", clock.now(), 100);
    ASSERT_TRUE(t.ok());
    Query q{.token = *t,
            .sender = "alice@example.org",
            .recipient = "bob@beta.test",
            .has_sender = true};
    EXPECT_EQ(authority.check(q).reason, "valid");
    ASSERT_TRUE((*st)->revokeToken(token::decode(*t)->revocationId(), clock.now() + 100).ok());
    EXPECT_EQ(authority.check(q).reason, "revoked");
    clock.advance(100);
    EXPECT_EQ(authority.check(q).reason, "expired");
  }
  fs::remove_all(tmpl);
}

}  // namespace
}  // namespace mtep::proto

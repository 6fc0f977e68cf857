// The STARTMTEP fallback against the real mtepd: a sender a@<valid v3>.onion
// is verified through a SOCKS5 proxy of the test's own (it maps the onion
// name's port 25 to mtepd's [mtepd] smtp_listen and refuses 6211, as Tor
// does for a port the onion service does not publish). The client dials
// 6211 through the proxy, is refused, and asks over ESMTP: EHLO, STARTTLS
// (when mtepd has a certificate), EHLO, STARTMTEP, "?", "Q", QUIT.

#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <cstdio>
#include <memory>
#include <string>

#include "config/config.h"
#include "mtep/client.h"
#include "mtepd_harness.h"
#include "unit/transport/tls_test_util.h"
#include "unit/verify/socks_forwarder.h"
#include "util/clock.h"
#include "verify/remote_verifier.h"

namespace mtep::itest {
namespace {

// A valid v3 onion address (pubkey 00 01 .. 1f, its checksum, version 3).
const std::string kOnion = "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dyp3kead.onion";

// A resolver that fails the test if anything asks it: onion names never go to DNS.
class NoDns final : public dns::Resolver {
 public:
  Result<std::vector<dns::SrvRecord>> srv(std::string_view name, int64_t) override {
    ADD_FAILURE() << "DNS asked for SRV " << name;
    return Error(ErrorKind::kNotFound, "no");
  }
  Result<std::vector<dns::MxRecord>> mx(std::string_view name, int64_t) override {
    ADD_FAILURE() << "DNS asked for MX " << name;
    return Error(ErrorKind::kNotFound, "no");
  }
  Result<std::vector<std::string>> addresses(std::string_view name, int64_t) override {
    ADD_FAILURE() << "DNS asked for the address of " << name;
    return Error(ErrorKind::kNotFound, "no");
  }
};

bool writePem(const std::string& cert_path, const std::string& key_path,
              const mtep::testing::Credentials& creds) {
  FILE* c = std::fopen(cert_path.c_str(), "w");
  FILE* k = std::fopen(key_path.c_str(), "w");
  bool ok = c != nullptr && k != nullptr && PEM_write_X509(c, creds.cert.get()) == 1 &&
            PEM_write_PrivateKey(k, creds.key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  if (c != nullptr) std::fclose(c);
  if (k != nullptr) std::fclose(k);
  return ok;
}

class StartMtepFallback : public ::testing::Test {
 protected:
  // mtepd with smtp_listen on a free port; with a certificate when `tls`.
  void startMtepd(bool tls) {
    smtp_port_ = freeLoopbackPort();
    std::string extra = "smtp_listen = [\"127.0.0.1:" + std::to_string(smtp_port_) + "\"]\n";
    if (tls) {
      creds_ = mtep::testing::selfSigned("mtepd.test");
      const std::string dir = ::testing::TempDir();
      cert_ = dir + "/startmtep-cert-" + std::to_string(smtp_port_) + ".pem";
      key_ = dir + "/startmtep-key-" + std::to_string(smtp_port_) + ".pem";
      ASSERT_TRUE(writePem(cert_, key_, creds_));
      extra += "tls_cert_file = \"" + cert_ + "\"\ntls_key_file = \"" + key_ + "\"\n";
    }
    DaemonSettings settings;
    settings.extra = extra;
    d_ = std::make_unique<Mtepd>(settings);
    ASSERT_TRUE(d_->start());
  }
  void TearDown() override {
    if (!cert_.empty()) std::remove(cert_.c_str());
    if (!key_.empty()) std::remove(key_.c_str());
  }

  std::shared_ptr<config::Config> verifierConfig(uint16_t proxy_port) const {
    auto cfg = std::make_shared<config::Config>();
    cfg->milter.query_timeout = 20;
    cfg->milter.cache_ttl = 0;
    cfg->outbound.onion_proxy = {"127.0.0.1", proxy_port};
    cfg->outbound.startmtep_fallback = true;
    cfg->outbound.smtp_port = 25;
    return cfg;
  }

  uint16_t smtp_port_ = 0;
  mtep::testing::Credentials creds_;
  std::string cert_, key_;
  std::unique_ptr<Mtepd> d_;
};

TEST_F(StartMtepFallback, OnionSenderIsVerifiedOverStartTlsAndStartMtep) {
  ASSERT_NO_FATAL_FAILURE(startMtepd(true));
  mtep::testing::SocksForwarder proxy({{25, smtp_port_}});  // 6211: refused
  const std::string sender = "a@" + kOnion;
  const std::string token = d_->mint(sender);

  proto::ClientOptions options = proto::clientOptionsFor(verifierConfig(proxy.port())->outbound);
  auto direct = proto::MtepClient(options).ask(kOnion, 6211, token, sender);
  ASSERT_TRUE(direct.ok()) << direct.error().message();
  EXPECT_EQ(direct->response.verdict, proto::Verdict::kYes) << direct->response.payload();
  EXPECT_TRUE(direct->via_startmtep);
  EXPECT_EQ(direct->tls_fingerprint, mtep::testing::expectedFingerprint(creds_.key.get()));

  NoDns dns;
  verify::RemoteVerifier v(verifierConfig(proxy.port()), dns, SystemClock::instance());
  const milter::VerifyOutcome yes = v.verify({token, sender, kOnion, "", "TESTQ1"});
  EXPECT_EQ(yes.kind, milter::VerifyKind::kValid) << yes.detail;
  EXPECT_EQ(yes.server, kOnion + ":6211");
  const milter::VerifyOutcome no = v.verify({token, "b@" + kOnion, kOnion, "", "TESTQ2"});
  EXPECT_EQ(no.kind, milter::VerifyKind::kRefused) << no.detail;

  const auto names = proxy.names();
  ASSERT_GE(names.size(), 2u);
  EXPECT_EQ(names[0], kOnion + ":6211");
  EXPECT_EQ(names[1], kOnion + ":25");
  EXPECT_TRUE(stillServing(*d_));
}

TEST_F(StartMtepFallback, WorksWithoutTlsOnThePlainSession) {
  ASSERT_NO_FATAL_FAILURE(startMtepd(false));
  mtep::testing::SocksForwarder proxy({{25, smtp_port_}});
  const std::string sender = "a@" + kOnion;
  proto::ClientOptions options = proto::clientOptionsFor(verifierConfig(proxy.port())->outbound);
  auto r = proto::MtepClient(options).ask(kOnion, 6211, d_->mint(sender), sender);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->response.verdict, proto::Verdict::kYes) << r->response.payload();
  EXPECT_TRUE(r->via_startmtep);
  EXPECT_EQ(r->tls_fingerprint, "");
}

TEST_F(StartMtepFallback, FallbackOffLeavesTheSenderUnreachable) {
  ASSERT_NO_FATAL_FAILURE(startMtepd(false));
  mtep::testing::SocksForwarder proxy({{25, smtp_port_}});
  auto cfg = verifierConfig(proxy.port());
  cfg->outbound.startmtep_fallback = false;
  NoDns dns;
  verify::RemoteVerifier v(cfg, dns, SystemClock::instance());
  const std::string sender = "a@" + kOnion;
  const milter::VerifyOutcome o = v.verify({d_->mint(sender), sender, kOnion, "", "TESTQ3"});
  EXPECT_EQ(o.kind, milter::VerifyKind::kUnreachable) << o.detail;
  EXPECT_EQ(proxy.names(), (std::vector<std::string>{kOnion + ":6211"}));
}

}  // namespace
}  // namespace mtep::itest

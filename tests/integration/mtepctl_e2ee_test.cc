// NAME
//   mtepctl_e2ee_test.cc - the real mtepctl's user-key commands against the
//   real mtepd's key service
// DESCRIPTION
//   mtepd runs with smtp_listen, a certificate made by `openssl req` and
//   user_keys = true; mtepctl runs with the same config file, so `user
//   add` writes mtepd's store. Passwords go in through --password-fd 0
//   (stdin). Checked: user add -> key publish -> sign -> verify pass ->
//   body altered -> fail -> salt reset -> the old signature fails, a new
//   one passes (with a key file and with the key derived on the fly);
//   encrypt to the published key and decrypt round trip; a wrong password
//   refused (exit 1); the server trusted by its pin in [milter] tls_pins
//   for alpha.test, refused for a domain without one (even with --ca-file
//   holding its certificate, which is not for 127.0.0.1), pinned with
//   --tls-fingerprint (a wrong pin refused); user list and del. Each key
//   derivation is the real 64 MiB Argon2id (under a second each).

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "mtepd_harness.h"
#include "run_program.h"

namespace mtep::itest {
namespace {

constexpr const char* kUser = "alice@alpha.test";
constexpr const char* kPassword = "correct horse battery staple\n";

const std::string kMessage =
    "From: Alice <alice@alpha.test>\r\n"
    "To: bob@beta.test\r\n"
    "Subject: quarterly numbers\r\n"
    "Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n"
    "Message-ID: <1@alpha.test>\r\n"
    "\r\n"
    "The numbers are  up.\r\n";

class MtepctlE2ee : public ::testing::Test {
 protected:
  void SetUp() override {
    smtp_port_ = freeLoopbackPort();
    d_ = std::make_unique<Mtepd>(DaemonSettings{});
    const std::string cert = d_->dir() + "/cert.pem";
    const std::string key = d_->dir() + "/key.pem";
    RunResult r = runProgram({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                              "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=test", "-days",
                              "2", "-keyout", key, "-out", cert},
                             d_->dir());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string keys = "smtp_listen = [\"127.0.0.1:" + std::to_string(smtp_port_) +
                             "\"]\nhostname = \"mx.test\"\ntls_cert_file = \"" + cert +
                             "\"\ntls_key_file = \"" + key + "\"\nuser_keys = true\n";
    // The harness's [mtepd] section ends with idle_timeout; these keys join it.
    std::string text = readFile(d_->configPath());
    const size_t eol = text.find('\n', text.find("idle_timeout"));
    text.insert(eol + 1, keys);
    // The self-signed key service is trusted for alpha.test by its pin.
    RunResult fp = runProgram({MTEPCTL_PATH, "address", "fingerprint", cert}, d_->dir());
    ASSERT_EQ(fp.exit_code, 0) << fp.err;
    fingerprint_ = fp.out.substr(0, 52);
    text += "\n[milter]\ntls_pins = { \"alpha.test\" = \"" + fingerprint_ + "\" }\n";
    d_->writeConfigText(text);
    cert_ = cert;
    ASSERT_TRUE(d_->start());
    scratch_ = d_->dir() + "/ctl";
    std::filesystem::create_directory(scratch_);
  }

  // mtepctl -c <mtepd's config> ARGS, `input` on stdin.
  RunResult ctl(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {MTEPCTL_PATH, "-c", d_->configPath()});
    return runProgram(args, scratch_, input);
  }
  std::string server() const { return "127.0.0.1:" + std::to_string(smtp_port_); }
  std::string path(const std::string& name) const { return scratch_ + "/" + name; }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream out(path(name), std::ios::binary | std::ios::trunc);
    out << text;
  }

  // user add + key publish; the raw public key printed.
  std::string provision() {
    RunResult add = ctl({"user", "add", kUser, "--password-fd", "0"}, kPassword);
    EXPECT_EQ(add.exit_code, 0) << add.out << add.err;
    RunResult pub =
        ctl({"key", "publish", "--server", server(), kUser, "--password-fd", "0"}, kPassword);
    EXPECT_EQ(pub.exit_code, 0) << pub.out << pub.err;
    EXPECT_NE(pub.err.find("TLS key fingerprint"), std::string::npos) << pub.err;
    return rawKey(pub.out);
  }
  static std::string rawKey(const std::string& out) {
    const size_t at = out.find("raw:");
    if (at == std::string::npos) return "";
    const size_t start = out.find_first_not_of(' ', at + 4);
    return out.substr(start, out.find('\n', start) - start);
  }
  // key derive --server ... --out FILE; the raw public key printed.
  std::string deriveTo(const std::string& file) {
    RunResult r = ctl({"key", "derive", "--server", server(), "--out", path(file), "--force",
                       kUser, "--password-fd", "0"},
                      kPassword);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return rawKey(r.out);
  }
  // sign --key-file FILE MESSAGE: the signed message.
  std::string signWith(const std::string& key_file, const std::string& message) {
    write("to-sign.eml", message);
    RunResult r = ctl({"sign", "--key-file", path(key_file), path("to-sign.eml")});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }
  RunResult verify(const std::string& message) {
    write("to-verify.eml", message);
    return ctl({"verify", "--server", server(), path("to-verify.eml")});
  }

  std::unique_ptr<Mtepd> d_;
  std::string fingerprint_;  // the key service's
  std::string cert_;         // its certificate (self-signed, CN=test, no subjectAltName)
  uint16_t smtp_port_ = 0;
  std::string scratch_;
};

TEST_F(MtepctlE2ee, PublishSignVerifyAlterThenSaltResetRetiresOldSignatures) {
  const std::string published = provision();
  ASSERT_FALSE(published.empty());
  EXPECT_EQ(deriveTo("alice.key"), published);  // derive gives what publish published
  EXPECT_EQ(std::filesystem::status(path("alice.key")).permissions() &
                std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  const std::string signed1 = signWith("alice.key", kMessage);
  EXPECT_EQ(signed1.rfind("X-Sender-Signature: ed25519 ", 0), 0u) << signed1;
  EXPECT_NE(signed1.find("\r\nX-Sender-Pubkey: ed25519 AAAAC3NzaC1lZDI1NTE5"), std::string::npos);
  RunResult pass = verify(signed1);
  EXPECT_EQ(pass.exit_code, 0) << pass.out << pass.err;
  EXPECT_EQ(pass.out.rfind("pass", 0), 0u) << pass.out;

  std::string altered = signed1;
  altered.replace(altered.find("up."), 3, "down.");
  RunResult fail = verify(altered);
  EXPECT_EQ(fail.exit_code, 1) << fail.out << fail.err;
  EXPECT_EQ(fail.out.rfind("fail", 0), 0u) << fail.out;

  RunResult none = verify(kMessage);
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_EQ(none.out.rfind("none", 0), 0u) << none.out;

  RunResult reset =
      ctl({"salt", "reset", "--server", server(), kUser, "--password-fd", "0"}, kPassword);
  ASSERT_EQ(reset.exit_code, 0) << reset.out << reset.err;
  EXPECT_NE(reset.out.find("no longer verify"), std::string::npos) << reset.out;
  const std::string renewed = rawKey(reset.out);
  EXPECT_NE(renewed, published);

  RunResult old_sig = verify(signed1);
  EXPECT_EQ(old_sig.exit_code, 1) << old_sig.out << old_sig.err;
  EXPECT_EQ(old_sig.out.rfind("fail", 0), 0u) << old_sig.out;

  EXPECT_EQ(deriveTo("alice2.key"), renewed);
  RunResult new_sig = verify(signWith("alice2.key", kMessage));
  EXPECT_EQ(new_sig.exit_code, 0) << new_sig.out << new_sig.err;

  // Signing with the key derived on the fly (login, GETSALT).
  write("fly.eml", kMessage);
  RunResult fly = ctl({"sign", "--server", server(), "--user", kUser, "--password-fd", "0",
             path("fly.eml")},
            kPassword);
  ASSERT_EQ(fly.exit_code, 0) << fly.err;
  RunResult fly_check = verify(fly.out);
  EXPECT_EQ(fly_check.exit_code, 0) << fly_check.out << fly_check.err;
}

TEST_F(MtepctlE2ee, EncryptToPublishedKeyAndDecryptWithKeyFile) {
  ASSERT_FALSE(provision().empty());
  deriveTo("alice.key");
  write("plain.eml", kMessage);
  RunResult enc =
      ctl({"encrypt", "--to", kUser, "--server", server(), path("plain.eml")});
  ASSERT_EQ(enc.exit_code, 0) << enc.err;
  EXPECT_EQ(enc.out.rfind("X-Sender-Encrypted: yes\r\n", 0), 0u) << enc.out;
  EXPECT_NE(enc.out.find("Subject: quarterly numbers\r\n"), std::string::npos);  // headers kept
  EXPECT_EQ(enc.out.find("numbers are"), std::string::npos) << enc.out;           // body sealed
  EXPECT_NE(enc.out.find("-----BEGIN MTEP SEALED MESSAGE-----\r\n"), std::string::npos);

  RunResult dec = ctl({"decrypt", "--key-file", path("alice.key"), "-"}, enc.out);
  ASSERT_EQ(dec.exit_code, 0) << dec.err;
  EXPECT_EQ(dec.out, kMessage);

  // Another key cannot open it.
  RunResult other = ctl({"key", "derive", "--salt", "MDEyMzQ1Njc4OWFiY2RlZg==", "--out",
                         path("other.key"), kUser, "--password-fd", "0"},
                        kPassword);
  ASSERT_EQ(other.exit_code, 0) << other.err;
  RunResult wrong = ctl({"decrypt", "--key-file", path("other.key"), "-"}, enc.out);
  EXPECT_EQ(wrong.exit_code, 1) << wrong.out << wrong.err;
  EXPECT_TRUE(wrong.out.empty());
}

TEST_F(MtepctlE2ee, WrongPasswordAndWrongPinAreRefused) {
  ASSERT_FALSE(provision().empty());
  RunResult bad = ctl({"key", "publish", "--server", server(), kUser, "--password-fd", "0"},
                      "not the password\n");
  EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
  EXPECT_NE(bad.err.find("password wrong"), std::string::npos) << bad.err;

  // A domain without a pin: the self-signed server is not trusted, and
  // nothing is sent to it (no password asked over it); the refusal names
  // its key so the user can check and pin it. A CA file holding the
  // certificate does not help either: it is not for 127.0.0.1.
  RunResult first = ctl({"key", "derive", "--server", server(), "carol@gamma.test",
                         "--password-fd", "0"},
                        kPassword);
  EXPECT_EQ(first.exit_code, 2) << first.err;  // trouble (temperror), not a verdict
  EXPECT_NE(first.err.find("not trusted for 127.0.0.1"), std::string::npos) << first.err;
  EXPECT_NE(first.err.find(fingerprint_), std::string::npos) << first.err;
  EXPECT_NE(first.err.find("--tls-fingerprint"), std::string::npos) << first.err;
  RunResult ca = ctl({"key", "derive", "--server", server(), "--ca-file", cert_,
                      "carol@gamma.test", "--password-fd", "0"},
                     kPassword);
  EXPECT_EQ(ca.exit_code, 2) << ca.err;
  EXPECT_NE(ca.err.find("not trusted for 127.0.0.1"), std::string::npos) << ca.err;
  // The fingerprint pins the server.
  const std::string fp = fingerprint_;
  RunResult pinned = ctl({"key", "derive", "--server", server(), "--tls-fingerprint", fp, kUser,
                          "--password-fd", "0"},
                         kPassword);
  EXPECT_EQ(pinned.exit_code, 0) << pinned.err;
  EXPECT_EQ(pinned.err.find("TLS key fingerprint"), std::string::npos) << pinned.err;
  std::string wrong_fp = fp;
  wrong_fp[0] = wrong_fp[0] == 'a' ? 'b' : 'a';
  RunResult refused = ctl({"key", "derive", "--server", server(), "--tls-fingerprint", wrong_fp,
                           kUser, "--password-fd", "0"},
                          kPassword);
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_NE(refused.err.find("not the expected"), std::string::npos) << refused.err;

  // The password never travels in argv: there is no option for it.
  RunResult argv_pw = ctl({"key", "derive", "--server", server(), kUser, "--password", "x"});
  EXPECT_EQ(argv_pw.exit_code, 64);
}

TEST_F(MtepctlE2ee, UserAddListDelInTheStoreOfTheConfig) {
  RunResult add = ctl({"user", "add", "Bob@Beta.Test", "--password-fd", "0"}, "pw\n");
  ASSERT_EQ(add.exit_code, 0) << add.err;
  RunResult again = ctl({"user", "add", "bob@beta.test", "--password-fd", "0"}, "pw\n");
  EXPECT_EQ(again.exit_code, 1) << again.err;
  RunResult empty = ctl({"user", "add", "carol@beta.test", "--password-fd", "0"}, "\n");
  EXPECT_EQ(empty.exit_code, 1) << empty.err;
  RunResult list = ctl({"user", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("bob@beta.test"), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find("carol@beta.test"), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find("pw"), std::string::npos) << list.out;
  RunResult passwd = ctl({"user", "passwd", "bob@beta.test", "--password-fd", "0"}, "pw2\n");
  EXPECT_EQ(passwd.exit_code, 0) << passwd.err;
  RunResult nobody = ctl({"user", "passwd", "nobody@beta.test", "--password-fd", "0"}, "pw\n");
  EXPECT_EQ(nobody.exit_code, 1) << nobody.err;
  RunResult del = ctl({"user", "del", "bob@beta.test"});
  EXPECT_EQ(del.exit_code, 0) << del.err;
  RunResult del2 = ctl({"user", "del", "bob@beta.test"});
  EXPECT_EQ(del2.exit_code, 1) << del2.err;
}

}  // namespace
}  // namespace mtep::itest

// Runs the real mtepctl for `address check`, `address fingerprint` and
// `pin list|forget|add`, with temporary configs and stores. Certificates
// come from the openssl tool, and their expected fingerprints from an
// openssl | base32 pipeline, independent of mtep's own code.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "run_program.h"

namespace {

namespace fs = std::filesystem;

using mtep::itest::runProgram;
using mtep::itest::RunResult;

constexpr const char* kTorProject = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion";
constexpr const char* kFp = "n7xmzdawyvkr3h7lh227o7rnu5z362f5t344kkjhz2zmq3swrevq";
constexpr const char* kOtherFp = "3euyuegrwbzvqn64jpmf3ldedmhtz3zhur7f2u5fj4xt6wzpz75a";

class MtepctlOverlayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mtepctl-overlay-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    state_ = dir_ / "state";
    fs::create_directory(state_);
    config_ = dir_ / "mtep.conf";
    writeConfig("");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void writeConfig(const std::string& extra) {
    std::ofstream(config_, std::ios::trunc)
        << "[global]\nuser = \"\"\nstate_dir = \"" << state_.string() << "\"\n"
        << extra;
  }

  RunResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {MTEPCTL_PATH, "-c", config_.string()});
    RunResult r = runProgram(args, dir_);
    EXPECT_EQ(r.err.find("Sanitizer"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("runtime error"), std::string::npos) << r.err;
    return r;
  }

  // Runs `script` with the temp dir as its working directory.
  RunResult sh(const std::string& script) {
    return runProgram({"/bin/sh", "-c", "cd \"$0\" && " + script, dir_.string()}, dir_);
  }

  fs::path dir_;
  fs::path state_;
  fs::path config_;
};

TEST_F(MtepctlOverlayTest, AddressCheckExplainsAnSmtorpMailboxAndExitsZero) {
  const std::string addr = std::string("user@n7xmzdawyvkr3h7l.") + kTorProject;
  RunResult r = ctl({"address", "check", addr});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("address: " + addr + "\nkind: onion (Tor v3 onion service)\n", 0), 0u)
      << r.out;
  EXPECT_NE(r.out.find(std::string("onion address: ") + kTorProject + "\n"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("service key (ed25519): "
                       "d1b38b83a83b3ed918c5bb69dd444ad56bc8d5835a914de73447474e5f02591b\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("fingerprint label: n7xmzdawyvkr3h7l (16 characters, 80 bits)\n"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.err, "");
}

TEST_F(MtepctlOverlayTest, AddressCheckExitsOneAndSaysWhatIsWrong) {
  struct Case {
    std::string address;
    std::string want;
  };
  const Case cases[] = {
      {std::string("a@3") + (kTorProject + 1), "checksum does not match"},
      {"a@aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dyprozyc.onion", "version 2, not 3"},
      {"a@expyuzz4wqqyqhjn.onion", "v2 onion services are gone since 2021"},
      {std::string("a@xyz1abcdefghijklmnop.") + kTorProject,
       "fingerprint label 'xyz1abcdefghijklmnop' is not base32 (1 is not a base32 digit)"},
      {std::string("a@mail.n7xmzdawyvkr3h7l.") + kTorProject, "only one label"},
      {"a@bad_name.i2p", "_ is not a letter"},
  };
  for (const Case& c : cases) {
    RunResult r = ctl({"address", "check", c.address});
    EXPECT_EQ(r.exit_code, 1) << c.address << "\n" << r.out;
    EXPECT_NE(r.out.find("\ninvalid: "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(c.want), std::string::npos) << "want '" << c.want << "' in\n" << r.out;
  }
}

TEST_F(MtepctlOverlayTest, AddressCheckOfPlainAndI2pDomainsExitsZero) {
  RunResult plain = ctl({"address", "check", "example.org"});
  EXPECT_EQ(plain.exit_code, 0);
  EXPECT_NE(plain.out.find("kind: none"), std::string::npos) << plain.out;
  RunResult i2p = ctl({"address", "check", "u@stats.i2p"});
  EXPECT_EQ(i2p.exit_code, 0);
  EXPECT_NE(i2p.out.find("kind: i2p"), std::string::npos) << i2p.out;
}

TEST_F(MtepctlOverlayTest, AddressCheckWithoutAnAddressIsAUsageError) {
  EXPECT_EQ(ctl({"address", "check"}).exit_code, 64);
  EXPECT_EQ(ctl({"address"}).exit_code, 64);
}

TEST_F(MtepctlOverlayTest, AddressFingerprintIsTheSha256OfTheSpkiInBase32) {
  if (std::system("command -v openssl >/dev/null 2>&1 && command -v base32 >/dev/null 2>&1") !=
      0) {
    GTEST_SKIP() << "openssl or base32 not installed";
  }
  for (const std::string key : {"ed25519", "rsa:2048", "ec -pkeyopt ec_paramgen_curve:P-256"}) {
    RunResult gen = sh("openssl req -x509 -newkey " + key +
                       " -keyout key.pem -out cert.pem -days 2 -nodes -subj /CN=test.onion "
                       "2>/dev/null");
    ASSERT_EQ(gen.exit_code, 0) << key << gen.err;
    RunResult want = sh(
        "openssl x509 -in cert.pem -pubkey -noout | openssl pkey -pubin -outform DER | "
        "openssl dgst -sha256 -binary | base32 -w0 | tr A-Z a-z | tr -d =");
    ASSERT_EQ(want.exit_code, 0);
    ASSERT_EQ(want.out.size(), 52u) << want.out;
    RunResult r = ctl({"address", "fingerprint", (dir_ / "cert.pem").string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, want.out + "\n") << key;
  }
}

TEST_F(MtepctlOverlayTest, AddressFingerprintOfAMissingOrNonPemFileFails) {
  RunResult missing = ctl({"address", "fingerprint", (dir_ / "nope.pem").string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("nope.pem"), std::string::npos) << missing.err;
  EXPECT_EQ(missing.out, "");
  std::ofstream(dir_ / "junk.pem") << "not a certificate\n";
  RunResult junk = ctl({"address", "fingerprint", (dir_ / "junk.pem").string()});
  EXPECT_EQ(junk.exit_code, 2);
  EXPECT_NE(junk.err.find("junk.pem"), std::string::npos) << junk.err;
}

TEST_F(MtepctlOverlayTest, PinAddListAndForget) {
  RunResult empty = ctl({"pin", "list"});
  EXPECT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_EQ(empty.out, "");

  RunResult add = ctl({"pin", "add", kTorProject, kFp});
  EXPECT_EQ(add.exit_code, 0) << add.err;
  EXPECT_EQ(ctl({"pin", "add", "bad_host.i2p", kOtherFp}).exit_code, 1);  // not a valid name
  EXPECT_EQ(ctl({"pin", "add", "stats.i2p", kOtherFp}).exit_code, 0);

  RunResult list = ctl({"pin", "list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  const std::regex row(std::string("(^|\n)") + kTorProject + " +" + kFp +
                       R"( +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n)");
  EXPECT_TRUE(std::regex_search(list.out, row)) << list.out;
  EXPECT_NE(list.out.find("stats.i2p"), std::string::npos) << list.out;
  EXPECT_EQ(list.out.rfind("HOST", 0), 0u) << list.out;

  RunResult forget = ctl({"pin", "forget", kTorProject});
  EXPECT_EQ(forget.exit_code, 0) << forget.err;
  RunResult again = ctl({"pin", "forget", kTorProject});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("no pin for"), std::string::npos) << again.err;
  RunResult after = ctl({"pin", "list"});
  EXPECT_EQ(after.out.find(kTorProject), std::string::npos) << after.out;
  EXPECT_NE(after.out.find("stats.i2p"), std::string::npos) << after.out;
}

TEST_F(MtepctlOverlayTest, PinHostsAreNormalised) {
  std::string upper(kTorProject);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  // A fingerprint label in front is dropped: the pin is for the onion host.
  EXPECT_EQ(ctl({"pin", "add", std::string("n7xmzdawyvkr3h7l.") + upper + ".", kFp}).exit_code,
            0);
  RunResult list = ctl({"pin", "list"});
  EXPECT_NE(list.out.find(std::string("\n") + kTorProject + " "), std::string::npos) << list.out;
  EXPECT_EQ(ctl({"pin", "forget", upper + "."}).exit_code, 0);
}

TEST_F(MtepctlOverlayTest, PinAddRefusesBadFingerprintsAndHosts) {
  RunResult short_fp = ctl({"pin", "add", kTorProject, std::string(kFp).substr(0, 51)});
  EXPECT_EQ(short_fp.exit_code, 1);
  EXPECT_NE(short_fp.err.find("not 52 base32 characters"), std::string::npos) << short_fp.err;
  EXPECT_EQ(ctl({"pin", "add", kTorProject, std::string(51, 'a') + "1"}).exit_code, 1);
  RunResult bad_host = ctl({"pin", "add", std::string("3") + (kTorProject + 1), kFp});
  EXPECT_EQ(bad_host.exit_code, 1);
  EXPECT_NE(bad_host.err.find("checksum does not match"), std::string::npos) << bad_host.err;
  EXPECT_EQ(ctl({"pin", "add", kTorProject}).exit_code, 64);
  EXPECT_EQ(ctl({"pin", "list"}).out, "");
}

TEST_F(MtepctlOverlayTest, PinCommandsExitTwoWhenTheStoreCannotAnswer) {
  writeConfig("[store]\npath = \"" + (dir_ / "missing" / "dir" / "mtep.db").string() + "\"\n");
  EXPECT_EQ(ctl({"pin", "list"}).exit_code, 2);
  EXPECT_EQ(ctl({"pin", "forget", kTorProject}).exit_code, 2);
  RunResult add = ctl({"pin", "add", kTorProject, kFp});
  EXPECT_EQ(add.exit_code, 2);
  EXPECT_NE(add.err.find("store"), std::string::npos) << add.err;
}

}  // namespace

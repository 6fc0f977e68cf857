// mtepctl hashcash mint | check | speed, the real binary with a temporary
// configuration and store: printed stamps, default bits from the domain's
// policy, exit codes 0 valid / 1 invalid / 2 spent / 3 no answer / 64 usage.
#include <gtest/gtest.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>

#include "integration/pow_run.h"
#include "pow/pow.h"

namespace mtep::powtest {
namespace {

namespace fs = std::filesystem;

class MtepctlHashcash : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(scratch_.path().empty());
    conf_ = (scratch_.path() / "mtep.conf").string();
    std::ofstream(conf_) << "[global]\n"
                            "user = \"\"\n"
                            "state_dir = \""
                         << scratch_.path().string()
                         << "\"\n"
                            "[pow]\n"
                            "hashcash_raise_every = \"0s\"\n"
                            "argon2id_memory = 1024\n"
                            "[domain_defaults]\n"
                            "stamp_bits = 10\n"
                            "argon2id_stamp_bits = 2\n"
                            "[domain.\"beta.test\"]\n"
                            "stamp_bits = 12\n";
  }

  RunResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {MTEPCTL_PATH, "-c", conf_});
    return run(args, scratch_.path());
  }

  static int64_t now() { return static_cast<int64_t>(std::time(nullptr)); }

  Scratch scratch_;
  std::string conf_;
};

TEST_F(MtepctlHashcash, MintPrintsAStampOfTheBitsAsked) {
  RunResult r = ctl({"hashcash", "mint", "--bits", "14", "Bob@Beta.test"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string stamp = trimmed(r.out);
  auto s = pow::parseHashcash(stamp);
  ASSERT_TRUE(s.ok()) << stamp;
  EXPECT_EQ(s->bits, 14);
  EXPECT_EQ(s->resource, "bob@beta.test");  // lower-cased, as the tool mints
  pow::StampPolicy p;
  p.hashcash_bits = 14;
  EXPECT_EQ(pow::checkStamp(stamp, "bob@beta.test", p, now()).verdict, pow::Verdict::kValid);
  if (inPath("hashcash")) {
    RunResult tool = run({"hashcash", "-c", "-q", "-y", "-b", "14", "-r", "bob@beta.test", stamp},
                         scratch_.path());
    EXPECT_EQ(tool.exit_code, 0) << tool.err;
  }
}

TEST_F(MtepctlHashcash, MintDefaultsToWhatTheRecipientsDomainRequires) {
  RunResult beta = ctl({"hashcash", "mint", "bob@beta.test"});
  ASSERT_EQ(beta.exit_code, 0) << beta.err;
  EXPECT_EQ(pow::parseHashcash(trimmed(beta.out))->bits, 12);
  RunResult other = ctl({"hashcash", "mint", "bob@gamma.test"});
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_EQ(pow::parseHashcash(trimmed(other.out))->bits, 10);
}

TEST_F(MtepctlHashcash, MintsArgon2idStampsWithTheConfiguredMemory) {
  RunResult r = ctl({"hashcash", "mint", "--algorithm", "argon2id", "bob@beta.test"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string stamp = trimmed(r.out);
  auto s = pow::parseArgon2id(stamp);
  ASSERT_TRUE(s.ok()) << stamp;
  EXPECT_EQ(s->memory_kib, 1024u);
  EXPECT_EQ(s->bits, 2);
  RunResult check = ctl({"hashcash", "check", "--bits", "2", "--resource", "bob@beta.test", stamp});
  EXPECT_EQ(check.exit_code, 0) << check.err;
}

TEST_F(MtepctlHashcash, CheckSaysValidOrInvalidWithTheReason) {
  const std::string stamp = trimmed(ctl({"hashcash", "mint", "--bits", "12", "bob@beta.test"}).out);
  RunResult ok = ctl({"hashcash", "check", "--bits", "12", "--resource", "bob@beta.test", stamp});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("valid"), std::string::npos) << ok.out;
  RunResult weak = ctl({"hashcash", "check", "--bits", "13", "--resource", "bob@beta.test", stamp});
  EXPECT_EQ(weak.exit_code, 1);
  EXPECT_NE(weak.err.find("too-weak"), std::string::npos) << weak.err;
  RunResult other =
      ctl({"hashcash", "check", "--bits", "12", "--resource", "eve@beta.test", stamp});
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_NE(other.err.find("wrong-resource"), std::string::npos) << other.err;
  RunResult junk = ctl({"hashcash", "check", "--bits", "12", "--resource", "bob@beta.test", "x"});
  EXPECT_EQ(junk.exit_code, 1);
  EXPECT_NE(junk.err.find("malformed"), std::string::npos) << junk.err;
}

TEST_F(MtepctlHashcash, CheckWithoutSpendRecordsNothing) {
  const std::string stamp = trimmed(ctl({"hashcash", "mint", "--bits", "8", "bob@beta.test"}).out);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(
        ctl({"hashcash", "check", "--bits", "8", "--resource", "bob@beta.test", stamp}).exit_code,
        0);
  }
}

TEST_F(MtepctlHashcash, SpendTwiceExitsTwoTheSecondTime) {
  const std::string stamp = trimmed(ctl({"hashcash", "mint", "--bits", "8", "bob@beta.test"}).out);
  RunResult first =
      ctl({"hashcash", "check", "--bits", "8", "--resource", "bob@beta.test", "--spend", stamp});
  EXPECT_EQ(first.exit_code, 0) << first.err;
  EXPECT_TRUE(fs::exists(scratch_.path() / "mtep.db"));
  RunResult second =
      ctl({"hashcash", "check", "--bits", "8", "--resource", "bob@beta.test", "--spend", stamp});
  EXPECT_EQ(second.exit_code, 2);
  EXPECT_NE(second.err.find("spent"), std::string::npos) << second.err;
}

TEST_F(MtepctlHashcash, UnreadableConfigIsThree) {
  RunResult r = run({MTEPCTL_PATH, "-c", (scratch_.path() / "missing.conf").string(), "hashcash",
                     "check", "--bits", "8", "--resource", "bob@beta.test", "1:8:x"},
                    scratch_.path());
  EXPECT_EQ(r.exit_code, 3) << r.err;
}

TEST_F(MtepctlHashcash, BadCommandLinesAreUsageErrors) {
  EXPECT_EQ(ctl({"hashcash", "mint", "--bits", "161", "bob@beta.test"}).exit_code, 64);
  EXPECT_EQ(ctl({"hashcash", "mint", "--algorithm", "scrypt", "bob@beta.test"}).exit_code, 64);
  EXPECT_EQ(ctl({"hashcash", "check", "--bits", "8", "1:8:x"}).exit_code, 64);  // no --resource
  EXPECT_EQ(ctl({"hashcash", "check", "--resource", "b@x", "1:8:x"}).exit_code, 64);  // no --bits
  EXPECT_EQ(ctl({"hashcash"}).exit_code, 64);
}

TEST_F(MtepctlHashcash, SpeedPrintsTriesPerSecond) {
  RunResult r = ctl({"hashcash", "speed", "--threads", "1", "--seconds", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("tries/s on 1 thread"), std::string::npos) << r.out;
  EXPECT_GT(std::stod(r.out), 0.0) << r.out;
}

}  // namespace
}  // namespace mtep::powtest

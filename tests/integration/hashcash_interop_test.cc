// Interoperability with the real tools: stamps minted by hashcash 1.22 pass
// lib/pow's check at their bits and resource; lib/pow's stamps pass
// `hashcash -c`; both refuse the same weak or misaddressed stamps; a stamp
// spent twice is refused the second time by the tool's own double-spend
// database and by our store alike; Argon2id stamps hash as the argon2 CLI
// says. Skipped only when a tool is not installed.
#include <gtest/gtest.h>

#include <ctime>
#include <string>
#include <vector>

#include "integration/pow_run.h"
#include "pow/pow.h"
#include "store/store.h"

namespace mtep::powtest {
namespace {

using pow::Verdict;

int64_t now() { return static_cast<int64_t>(std::time(nullptr)); }

pow::StampPolicy policy(int bits) {
  pow::StampPolicy p;
  p.hashcash_bits = bits;
  p.argon2id_bits = bits;
  return p;
}

std::string ourStamp(int bits, const std::string& resource) {
  pow::MintOptions o;
  o.bits = bits;
  o.resource = resource;
  o.now = now();
  auto m = pow::mint(o);
  EXPECT_TRUE(m.ok()) << m.error().message();
  return m.ok() ? m->stamp : "";
}

class HashcashInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!inPath("hashcash")) GTEST_SKIP() << "the hashcash tool is not installed";
    ASSERT_FALSE(scratch_.path().empty());
  }

  // hashcash -m: a stamp of `bits` for `resource`, extra options appended.
  std::string toolStamp(int bits, const std::string& resource,
                        const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"hashcash", "-m", "-q", "-b", std::to_string(bits)};
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), {"-r", resource});
    RunResult r = run(args, scratch_.path());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return trimmed(r.out);
  }

  // hashcash -c -b BITS -r RESOURCE with a double-spend database (so a
  // valid stamp is "fully checked", exit 0).
  int toolCheck(const std::string& stamp, int bits, const std::string& resource,
                const std::string& db = "tool.sdb") {
    RunResult r = run({"hashcash", "-c", "-q", "-d", "-f", (scratch_.path() / db).string(), "-b",
                       std::to_string(bits), "-r", resource, stamp},
                      scratch_.path());
    return r.exit_code;
  }

  Scratch scratch_;
};

TEST_F(HashcashInterop, ToolStampsPassOurCheckAtTheirBitsAndResource) {
  struct Case {
    int bits;
    std::vector<std::string> extra;
    const char* what;
  } cases[] = {
      {8, {}, "8 bits"},
      {16, {}, "16 bits"},
      {20, {}, "20 bits"},
      {12, {"-z", "10"}, "YYMMDDhhmm date"},
      {12, {"-z", "12"}, "YYMMDDhhmmss date"},
      {12, {"-x", "name1=2,3;name2"}, "extension field"},
      {10, {"-Z", "2"}, "compressed counter"},
  };
  for (const Case& c : cases) {
    const std::string stamp = toolStamp(c.bits, "bob@beta.test", c.extra);
    ASSERT_FALSE(stamp.empty()) << c.what;
    pow::CheckResult r = pow::checkStamp(stamp, "bob@beta.test", policy(c.bits), now());
    EXPECT_EQ(r.verdict, Verdict::kValid) << c.what << ": " << stamp << ": " << r.reason;
    EXPECT_EQ(r.bits, c.bits) << c.what;
    // Both refuse it for another resource and at more bits than it claims.
    EXPECT_EQ(pow::checkStamp(stamp, "eve@beta.test", policy(c.bits), now()).verdict,
              Verdict::kWrongResource);
    EXPECT_EQ(toolCheck(stamp, c.bits, "eve@beta.test"), 1) << c.what;
    EXPECT_EQ(pow::checkStamp(stamp, "bob@beta.test", policy(c.bits + 1), now()).verdict,
              Verdict::kTooWeak);
    EXPECT_EQ(toolCheck(stamp, c.bits + 1, "bob@beta.test"), 1) << c.what;
  }
}

TEST_F(HashcashInterop, ToolLowerCasesResourcesAndWeCompareWithoutCase) {
  const std::string stamp = toolStamp(8, "Bob@Beta.TEST");
  EXPECT_NE(stamp.find(":bob@beta.test:"), std::string::npos) << stamp;
  EXPECT_EQ(pow::checkStamp(stamp, "BOB@beta.test", policy(8), now()).verdict, Verdict::kValid);
}

TEST_F(HashcashInterop, OurStampsPassTheTool) {
  for (int bits : {8, 16, 20}) {
    const std::string stamp = ourStamp(bits, "bob@beta.test");
    EXPECT_EQ(toolCheck(stamp, bits, "bob@beta.test", "ours" + std::to_string(bits) + ".sdb"), 0)
        << stamp;
    EXPECT_EQ(toolCheck(stamp, bits + 1, "bob@beta.test"), 1) << "tool took a weak stamp";
    EXPECT_EQ(toolCheck(stamp, bits, "eve@beta.test"), 1) << "tool took a misaddressed stamp";
  }
}

TEST_F(HashcashInterop, OurStampsPassTheToolAtEveryPrefixLength) {
  // Every position of the counter in SHA-1's last block.
  for (size_t len = 1; len <= 64; ++len) {
    const std::string resource = std::string(len, 'a') + "@x";
    const std::string stamp = ourStamp(6, resource);
    RunResult r =
        run({"hashcash", "-c", "-q", "-y", "-b", "6", "-r", resource, stamp}, scratch_.path());
    EXPECT_EQ(r.exit_code, 0) << stamp << "\n" << r.err;
  }
}

TEST_F(HashcashInterop, ToolAndWeAgreeOnAStampsValue) {
  // The tool's -w prints the claimed bits when the hash has them, else 0.
  const std::string stamp = ourStamp(12, "bob@beta.test");
  RunResult r = run({"hashcash", "-w", "-q", stamp}, scratch_.path());
  EXPECT_EQ(trimmed(r.out), "12") << stamp;
  EXPECT_EQ(pow::checkStamp(stamp, "bob@beta.test", policy(12), now()).bits, 12);
  // The same stamp with its counter altered until the hash falls short.
  std::string forged = stamp;
  for (char c : std::string("ABCDEFGH")) {
    forged.back() = c;
    if (forged != stamp && pow::sha1LeadingZeroBits(forged) < 12) break;
  }
  ASSERT_LT(pow::sha1LeadingZeroBits(forged), 12);
  r = run({"hashcash", "-w", "-q", forged}, scratch_.path());
  EXPECT_EQ(trimmed(r.out), "0") << forged;
  EXPECT_EQ(pow::checkStamp(forged, "bob@beta.test", policy(12), now()).verdict,
            Verdict::kFalseClaim);
  EXPECT_EQ(toolCheck(forged, 12, "bob@beta.test"), 1);
}

TEST_F(HashcashInterop, DoubleSpendIsRefusedByTheToolsDatabaseAndOurStoreAlike) {
  FakeClock clock(now());
  auto st = store::openSqlite({.path = (scratch_.path() / "mtep.db").string()}, clock);
  ASSERT_TRUE(st.ok()) << st.error().message();
  const std::string theirs = toolStamp(12, "bob@beta.test");
  const std::string ours = ourStamp(12, "bob@beta.test");
  for (const std::string& stamp : {theirs, ours}) {
    // The tool: accepted once, then refused as spent.
    EXPECT_EQ(toolCheck(stamp, 12, "bob@beta.test", "spend.sdb"), 0) << stamp;
    EXPECT_EQ(toolCheck(stamp, 12, "bob@beta.test", "spend.sdb"), 1) << stamp;
    // Ours: the same.
    pow::CheckResult r = pow::checkStamp(stamp, "bob@beta.test", policy(12), now());
    ASSERT_EQ(r.verdict, Verdict::kValid) << r.reason;
    EXPECT_EQ(pow::spend(**st, r, stamp), Verdict::kValid) << stamp;
    EXPECT_EQ(pow::spend(**st, r, stamp), Verdict::kSpent) << stamp;
  }
}

TEST(Argon2Interop, OurArgon2idStampsHashAsTheArgon2ToolSays) {
  if (!inPath("argon2")) GTEST_SKIP() << "the argon2 tool is not installed";
  Scratch scratch;
  pow::MintOptions o;
  o.algorithm = pow::Algorithm::kArgon2id;
  o.bits = 4;
  o.resource = "bob@beta.test";
  o.now = now();
  o.memory_kib = 1024;
  o.time_cost = 2;
  o.lanes = 2;
  auto m = pow::mint(o);
  ASSERT_TRUE(m.ok()) << m.error().message();
  auto s = pow::parseArgon2id(m->stamp);
  ASSERT_TRUE(s.ok());
  // argon2 SALT -id -t T -k KIB -p P -l 32 -r < stamp  -> the hash in hex.
  RunResult r =
      run({"argon2", s->rand, "-id", "-t", "2", "-k", "1024", "-p", "2", "-l", "32", "-r"},
          scratch.path(), m->stamp);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string hex = trimmed(r.out);
  ASSERT_EQ(hex.size(), 64u) << hex;
  int zero_bits = 0;
  for (char c : hex) {
    const int v = c >= 'a' ? c - 'a' + 10 : c - '0';
    if (v == 0) {
      zero_bits += 4;
      continue;
    }
    zero_bits += v < 2 ? 3 : v < 4 ? 2 : v < 8 ? 1 : 0;
    break;
  }
  EXPECT_GE(zero_bits, 4) << m->stamp << " -> " << hex;
}

}  // namespace
}  // namespace mtep::powtest

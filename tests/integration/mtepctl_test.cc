// Runs the real mtepctl binary against temporary configurations, key files
// and stores, and against a fake MTEP server on a loopback port chosen by
// the kernel. Paths come from compile definitions (tests/integration).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "run_program.h"

namespace {

namespace fs = std::filesystem;

using mtep::itest::readFile;
using mtep::itest::runProgram;
using mtep::itest::RunResult;

void writeFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// "valid (key 2, expires 2026-03-03T10:00:00Z)" -> 2 and the Unix time.
bool parseValidLine(const std::string& line, unsigned* key_id, int64_t* expires) {
  std::smatch m;
  static const std::regex kValid(
      R"(^valid \(key (\d+), expires (\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z\)\n$)");
  if (!std::regex_match(line, m, kValid)) return false;
  *key_id = static_cast<unsigned>(std::stoul(m[1]));
  std::tm tm{};
  tm.tm_year = std::stoi(m[2]) - 1900;
  tm.tm_mon = std::stoi(m[3]) - 1;
  tm.tm_mday = std::stoi(m[4]);
  tm.tm_hour = std::stoi(m[5]);
  tm.tm_min = std::stoi(m[6]);
  tm.tm_sec = std::stoi(m[7]);
  *expires = static_cast<int64_t>(timegm(&tm));
  return true;
}

// A one-connection MTEP server on 127.0.0.1 with a kernel-chosen port: it
// answers the first request with `answer`, a "Q" with a farewell, and
// records the request payloads it saw.
class FakeMtepServer {
 public:
  explicit FakeMtepServer(std::string answer) : answer_(std::move(answer)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd_, 4) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeMtepServer() {
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }
  // Waits for the connection to end, then returns what the client sent.
  std::vector<std::string> requests() {
    if (thread_.joinable()) thread_.join();
    return requests_;
  }

 private:
  static std::string netstring(const std::string& s) {
    return std::to_string(s.size()) + ":" + s + ",";
  }
  // Reads one netstring (CR/LF before it skipped) within 5 s; false on EOF.
  static bool readNetstring(int fd, std::string* buf, std::string* payload) {
    for (;;) {
      size_t start = buf->find_first_not_of("\r\n");
      size_t colon = buf->find(':', start == std::string::npos ? 0 : start);
      if (start != std::string::npos && colon != std::string::npos) {
        const size_t n = std::stoul(buf->substr(start, colon - start));
        if (buf->size() >= colon + n + 2) {
          *payload = buf->substr(colon + 1, n);
          buf->erase(0, colon + n + 2);
          return true;
        }
      }
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 5000) <= 0) return false;
      char chunk[512];
      const ssize_t got = read(fd, chunk, sizeof chunk);
      if (got <= 0) return false;
      buf->append(chunk, static_cast<size_t>(got));
    }
  }
  void reply(int fd, const std::string& payload) {
    const std::string wire = netstring(payload);
    EXPECT_EQ(write(fd, wire.data(), wire.size()), static_cast<ssize_t>(wire.size()));
  }
  void serve() {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0) return;
    const int conn = accept(fd_, nullptr, nullptr);
    if (conn < 0) return;
    std::string buf;
    std::string payload;
    if (readNetstring(conn, &buf, &payload)) {
      requests_.push_back(payload);
      reply(conn, answer_);
      if (readNetstring(conn, &buf, &payload)) {
        requests_.push_back(payload);
        reply(conn, "K2.3.0 CYA Thanks for testing!");
      }
    }
    close(conn);
  }

  std::string answer_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::vector<std::string> requests_;
};

class MtepctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mtepctl-test-XXXXXX";
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

  // A config with state in the temp dir, no user switch, plus `extra`.
  void writeConfig(const std::string& extra) {
    writeFile(config_, "[global]\nuser = \"\"\nstate_dir = \"" + state_.string() + "\"\n" + extra);
  }

  RunResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {MTEPCTL_PATH, "-c", config_.string()});
    RunResult r = runProgram(args, dir_);
    // Under MTEP_SANITIZE an error report may come with an expected exit code.
    EXPECT_EQ(r.err.find("Sanitizer"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("runtime error"), std::string::npos) << r.err;
    return r;
  }

  // Mints a token and returns it without the newline (empty on failure).
  std::string mint(const std::string& sender, const std::string& ttl = "",
                   const std::string& domain = "beta.test") {
    std::vector<std::string> args{"token", "mint", "--sender", sender, "--recipient-domain",
                                  domain};
    if (!ttl.empty()) args.insert(args.end(), {"--ttl", ttl});
    RunResult r = ctl(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (r.out.empty() || r.out.back() != '\n') return {};
    return r.out.substr(0, r.out.size() - 1);
  }

  fs::path dir_;
  fs::path state_;
  fs::path config_;
};

TEST_F(MtepctlTest, ConfigCheckReportsOk) {
  RunResult r = ctl({"config", "check"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, config_.string() + ": OK\n");
}

TEST_F(MtepctlTest, ConfigCheckNamesFileAndLineOfAnError) {
  writeFile(config_, "[global]\nuser = \"\"\nno_such_key = 1\n");
  RunResult r = ctl({"config", "check"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("mtepctl: " + config_.string() + ":3:", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("no_such_key"), std::string::npos) << r.err;
}

TEST_F(MtepctlTest, MintedTokenVerifiesForItsSender) {
  const int64_t before = static_cast<int64_t>(std::time(nullptr));
  const std::string token = mint("<alice@example.org>", "2h");
  ASSERT_FALSE(token.empty());
  RunResult r = ctl({"token", "verify", token, "--sender", "alice@example.org",
                     "--recipient-domain", "beta.test"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  unsigned key_id = 0;
  int64_t expires = 0;
  ASSERT_TRUE(parseValidLine(r.out, &key_id, &expires)) << r.out;
  EXPECT_EQ(key_id, 1u);
  EXPECT_GE(expires, before + 7200);
  EXPECT_LE(expires, static_cast<int64_t>(std::time(nullptr)) + 7200);
}

TEST_F(MtepctlTest, SenderComparisonIgnoresCase) {
  const std::string token = mint("Alice@Example.ORG");
  RunResult r = ctl({"token", "verify", token, "--sender", "alice@example.org",
                     "--recipient-domain", "beta.test"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(MtepctlTest, VerifyForAnotherSenderFails) {
  const std::string token = mint("alice@example.org");
  RunResult r = ctl({"token", "verify", token, "--sender", "mallory@example.org",
                     "--recipient-domain", "beta.test"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("another sender"), std::string::npos) << r.out;
}

TEST_F(MtepctlTest, AlteredTokenIsForgedOrMalformed) {
  std::string token = mint("alice@example.org");
  ASSERT_EQ(token.size(), 72u);
  token[40] = token[40] == 'A' ? 'B' : 'A';
  RunResult r = ctl({"token", "verify", token, "--sender", "alice@example.org",
                     "--recipient-domain", "beta.test"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("forged"), std::string::npos) << r.out;
  r = ctl({"token", "verify", "not-a-token", "--sender", "alice@example.org", "--recipient-domain",
           "beta.test"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("malformed"), std::string::npos) << r.out;
}

TEST_F(MtepctlTest, RevokedTokenNoLongerVerifies) {
  const std::string token = mint("alice@example.org");
  const std::string other = mint("alice@example.org");
  RunResult r = ctl({"token", "revoke", token});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("revoked ", 0), 0u) << r.out;
  r = ctl({"token", "verify", token, "--sender", "alice@example.org", "--recipient-domain",
           "beta.test"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("revoked"), std::string::npos) << r.out;
  r = ctl({"token", "verify", other, "--sender", "alice@example.org", "--recipient-domain",
           "beta.test"});
  EXPECT_EQ(r.exit_code, 0) << "revoking one token must not touch another: " << r.out;
}

TEST_F(MtepctlTest, VerifyForAnotherRecipientDomainFails) {
  const std::string token = mint("alice@example.org", "", "beta.test");
  RunResult r = ctl({"token", "verify", token, "--sender", "alice@example.org",
                     "--recipient-domain", "gamma.test"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("another recipient domain"), std::string::npos) << r.out;
  r = ctl({"token", "verify", token, "--sender", "alice@example.org", "--recipient-domain",
           "Beta.Test."});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(MtepctlTest, VerifyOfABoundTokenNeedsTheRecipientDomain) {
  const std::string token = mint("alice@example.org");
  RunResult r = ctl({"token", "verify", token, "--sender", "alice@example.org"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("give --recipient-domain"), std::string::npos) << r.out;
}

TEST_F(MtepctlTest, MintNeedsAValidRecipientDomain) {
  EXPECT_EQ(ctl({"token", "mint", "--sender", "a@example.org"}).exit_code, 64);
  for (const char* bad : {"", "a b", "bob@beta.test", "beta..test", "-x"}) {
    RunResult r = ctl(
        {"token", "mint", "--sender", "a@example.org", std::string("--recipient-domain=") + bad});
    EXPECT_NE(r.exit_code, 0) << bad;
    EXPECT_EQ(r.out, "") << bad;
  }
}

TEST_F(MtepctlTest, RevokeRefusesMalformedToken) {
  RunResult r = ctl({"token", "revoke", "AAAA"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("mtepctl: ", 0), 0u) << r.err;
}

TEST_F(MtepctlTest, RotationKeepsOldTokensAndMintsWithTheNewKey) {
  const std::string old_token = mint("alice@example.org");
  RunResult r = ctl({"key", "rotate"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("new key 2; 2 keys kept", 0), 0u) << r.out;
  unsigned key_id = 0;
  int64_t expires = 0;
  r = ctl({"token", "verify", old_token, "--sender", "alice@example.org", "--recipient-domain",
           "beta.test"});
  ASSERT_TRUE(parseValidLine(r.out, &key_id, &expires)) << r.out << r.err;
  EXPECT_EQ(key_id, 1u);
  const std::string new_token = mint("alice@example.org");
  r = ctl({"token", "verify", new_token, "--sender", "alice@example.org", "--recipient-domain",
           "beta.test"});
  ASSERT_TRUE(parseValidLine(r.out, &key_id, &expires)) << r.out << r.err;
  EXPECT_EQ(key_id, 2u);
}

TEST_F(MtepctlTest, KeyListShowsIdsButNeverSecrets) {
  ASSERT_FALSE(mint("alice@example.org").empty());
  ASSERT_EQ(ctl({"key", "rotate"}).exit_code, 0);
  const fs::path key_file = state_ / "token.keys";
  struct stat st {};
  ASSERT_EQ(stat(key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u) << "key file must be private";
  RunResult r = ctl({"key", "list"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("current"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("previous"), std::string::npos) << r.out;
  std::istringstream keys(readFile(key_file));
  std::string line;
  int secrets = 0;
  while (std::getline(keys, line)) {
    if (line.empty() || line[0] == '#') continue;
    const std::string secret = line.substr(line.rfind(' ') + 1);
    ASSERT_EQ(secret.size(), 64u) << line;
    ++secrets;
    EXPECT_EQ(r.out.find(secret.substr(0, 16)), std::string::npos) << "secret printed";
    EXPECT_EQ(r.err.find(secret.substr(0, 16)), std::string::npos) << "secret printed";
  }
  EXPECT_EQ(secrets, 2);
}

TEST_F(MtepctlTest, MintRefusedForDomainThatIssuesNoTokens) {
  writeConfig("[domain.\"quiet.example\"]\nissue_tokens = false\n");
  RunResult r =
      ctl({"token", "mint", "--sender", "bob@quiet.example", "--recipient-domain", "beta.test"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("issue_tokens"), std::string::npos) << r.err;
  EXPECT_FALSE(mint("bob@loud.example").empty());
}

TEST_F(MtepctlTest, MintRefusesTtlOverMaxTtlAndBadSenders) {
  writeConfig("[tokens]\nmax_ttl = \"1d\"\n[domain_defaults]\ntoken_ttl = \"1h\"\n");
  struct Case {
    std::vector<std::string> args;
    int want;
  };
  const Case cases[] = {
      {{"--sender", "a@example.org", "--ttl", "2d"}, 1},
      {{"--sender", "a@example.org", "--ttl", "86401"}, 1},
      {{"--sender", "a@example.org", "--ttl", "soon"}, 1},
      {{"--sender", "a@example.org", "--ttl", "0"}, 1},
      {{"--sender", "a@example.org", "--ttl", "1d"}, 0},
      {{"--sender", "a@example.org", "--ttl", "86400"}, 0},
      {{"--sender", "not an address"}, 1},
      {{"--sender", "<>"}, 1},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args{"token", "mint", "--recipient-domain", "beta.test"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    RunResult r = ctl(args);
    EXPECT_EQ(r.exit_code, c.want)
        << c.args[1] << " " << (c.args.size() > 3 ? c.args[3] : "") << ": " << r.err;
    if (c.want != 0) {
      EXPECT_EQ(r.err.rfind("mtepctl: ", 0), 0u) << r.err;
    }
  }
}

TEST_F(MtepctlTest, VerifyExitsTwoWhenTheStoreCannotAnswer) {
  const std::string token = mint("alice@example.org");
  writeConfig("[store]\npath = \"" + (dir_ / "missing" / "dir" / "mtep.db").string() + "\"\n");
  RunResult r = ctl({"token", "verify", token, "--sender", "alice@example.org",
                     "--recipient-domain", "beta.test"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_EQ(r.err.rfind("mtepctl: ", 0), 0u) << r.err;
}

TEST_F(MtepctlTest, CommandLineErrorsExit64AndVersionExitsZero) {
  EXPECT_EQ(ctl({}).exit_code, 64);
  EXPECT_EQ(ctl({"token"}).exit_code, 64);
  EXPECT_EQ(ctl({"token", "mint"}).exit_code, 64);
  EXPECT_EQ(ctl({"frobnicate"}).exit_code, 64);
  RunResult r = ctl({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("mtepctl ", 0), 0u) << r.out;
  EXPECT_EQ(ctl({"-f", "config", "check"}).exit_code, 0);
}

TEST_F(MtepctlTest, SampleConfigIsTheContribFileAndValid) {
  RunResult r = ctl({"config", "sample"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, readFile(MTEP_CONTRIB_CONF))
      << "regenerate contrib/mtep.conf with: mtepctl config sample > contrib/mtep.conf";
  writeFile(config_, r.out);
  r = ctl({"config", "check"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(MtepctlTest, QuerySendsTokenSenderRecipientAndMapsDToOne) {
  FakeMtepServer server("D5.7.8 I do not know that token, sorry.");
  ASSERT_NE(server.port(), 0);
  RunResult r = ctl({"query", "127.0.0.1:" + std::to_string(server.port()), "tok123", "--sender",
                     "a@b.example", "--recipient", "c@d.example"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out, "D5.7.8 I do not know that token, sorry.\n");
  const std::vector<std::string> requests = server.requests();
  ASSERT_GE(requests.size(), 1u);
  EXPECT_EQ(requests[0], "1:?,6:tok123,11:a@b.example,11:c@d.example,");
  if (requests.size() > 1) {
    EXPECT_EQ(requests[1], "1:Q,");
  }
}

TEST_F(MtepctlTest, QueryExitCodesFollowTheVerdict) {
  struct Case {
    const char* answer;
    int want;
  };
  for (const Case& c : {Case{"K2.7.0 Yes, that is one of ours.", 0}, Case{"D.7.8", 1},
                        Case{"Z4.3.0 Please try again later.", 2}, Case{"I5.5.1", 2}}) {
    FakeMtepServer server(c.answer);
    ASSERT_NE(server.port(), 0);
    RunResult r = ctl({"query", "[127.0.0.1]:" + std::to_string(server.port()), "tok"});
    EXPECT_EQ(r.exit_code, c.want) << "answer " << c.answer << ": " << r.out << r.err;
    const std::vector<std::string> requests = server.requests();
    ASSERT_GE(requests.size(), 1u);
    EXPECT_EQ(requests[0], "1:?,3:tok,") << "no sender element when none was given";
  }
}

TEST_F(MtepctlTest, QueryExitsTwoWhenNobodyListens) {
  // A port that was just free: bind, learn it, close.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  RunResult r =
      ctl({"query", "127.0.0.1:" + std::to_string(ntohs(addr.sin_port)), "tok", "--timeout", "3"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_EQ(r.err.rfind("mtepctl: ", 0), 0u) << r.err;
  EXPECT_EQ(ctl({"query", "127.0.0.1:99999", "tok"}).exit_code, 64);
}

// man --warnings reports roff mistakes on stderr.
TEST_F(MtepctlTest, ManPagesRenderWithoutWarnings) {
  if (std::system("command -v man >/dev/null 2>&1") != 0) GTEST_SKIP() << "man not installed";
  const std::vector<fs::path> pages{fs::path(MTEP_MAN_SOURCE_DIR) / "mtepctl.1",
                                    fs::path(MTEP_MAN_SOURCE_DIR) / "mtepd.8",
                                    fs::path(MTEP_MAN_SOURCE_DIR) / "mtep-milter.8",
                                    fs::path(MTEP_MAN_SOURCE_DIR) / "mtep-policyd.8",
                                    fs::path(MTEP_MAN_BUILD_DIR) / "mtep.conf.5"};
  setenv("MANWIDTH", "80", 1);
  for (const fs::path& page : pages) {
    ASSERT_TRUE(fs::exists(page)) << page;
    RunResult r =
        runProgram({"/bin/sh", "-c", "exec man --warnings -l \"$0\"", page.string()}, dir_);
    EXPECT_EQ(r.exit_code, 0) << page;
    EXPECT_EQ(r.err, "") << page;
    EXPECT_GT(r.out.size(), 1000u) << page;
  }
  // The generated page carries the key reference from the key table.
  const std::string conf = readFile(fs::path(MTEP_MAN_BUILD_DIR) / "mtep.conf.5");
  EXPECT_EQ(conf.find("@MTEP_KEYS@"), std::string::npos);
  EXPECT_NE(conf.find("max_ttl"), std::string::npos);
  EXPECT_NE(conf.find("answer_without_sender"), std::string::npos);
}

// --- stoken gen | revoke | list ---------------------------------------------

class MtepctlStokenTest : public MtepctlTest {
 protected:
  void SetUp() override {
    MtepctlTest::SetUp();
    writeConfig("[domain.\"beta.test\"]\naccept_submission_tokens = true\n");
  }
  std::string gen(const std::string& kind, const std::string& remote = "alice@alpha.test",
                  const std::string& local = "bob@beta.test") {
    RunResult r = ctl({"stoken", "gen", kind, remote, local});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (r.out.size() != 53 || r.out.back() != '\n') return {};
    return r.out.substr(0, 52);
  }
};

TEST_F(MtepctlStokenTest, PermanentIsStoredAndReturnedAgain) {
  const std::string p = gen("PERM");
  ASSERT_EQ(p.size(), 52u);
  EXPECT_EQ(gen("perm", "Alice@Alpha.Test", "BOB@beta.test"), p);
  EXPECT_NE(gen("TEMP"), p);
  RunResult list = ctl({"stoken", "list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("issued permanent local=bob@beta.test remote=alice@alpha.test id="),
            std::string::npos)
      << list.out;
  EXPECT_EQ(list.out.find(p), std::string::npos) << "list must never print a token";
}

TEST_F(MtepctlStokenTest, RevokeErasesThePermanentAndGenMakesANewOne) {
  const std::string p = gen("PERM");
  RunResult r = ctl({"stoken", "revoke", "alice@alpha.test", "bob@beta.test"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ctl({"stoken", "list", "bob@beta.test"}).out, "");
  const std::string p2 = gen("PERM");
  EXPECT_EQ(p2.size(), 52u);
  EXPECT_NE(p2, p);
  // Revoking a pair that has nothing succeeds too.
  EXPECT_EQ(ctl({"stoken", "revoke", "carol@alpha.test", "bob@beta.test"}).exit_code, 0);
}

TEST_F(MtepctlStokenTest, RefusalsAndTheirExitCodes) {
  struct Case {
    std::vector<std::string> args;
    int want;
  };
  const Case cases[] = {
      {{"stoken", "gen", "FOREVER", "alice@alpha.test", "bob@beta.test"}, 64},
      {{"stoken", "gen", "TEMP", "not-an-address", "bob@beta.test"}, 1},
      {{"stoken", "gen", "TEMP", "alice@alpha.test", "<>"}, 1},
      {{"stoken", "gen", "TEMP", "alice@alpha.test", "bob@gamma.test"}, 1},  // not accepting
      {{"stoken", "revoke", "alice@alpha.test", "bob beta"}, 1},
      {{"stoken", "list", "@@"}, 1},
      {{"stoken", "gen", "TEMP", "alice@alpha.test"}, 64},
  };
  for (const Case& c : cases) {
    RunResult r = ctl(c.args);
    EXPECT_EQ(r.exit_code, c.want) << c.args.back() << ": " << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.rfind("mtepctl: ", 0), 0u) << r.err;
  }
}

TEST_F(MtepctlStokenTest, StoreTroubleExitsTwo) {
  writeConfig("[domain.\"beta.test\"]\naccept_submission_tokens = true\n[store]\npath = \"" +
              (dir_ / "missing" / "dir" / "mtep.db").string() + "\"\n");
  EXPECT_EQ(ctl({"stoken", "gen", "PERM", "alice@alpha.test", "bob@beta.test"}).exit_code, 2);
  EXPECT_EQ(ctl({"stoken", "list"}).exit_code, 2);
}

}  // namespace

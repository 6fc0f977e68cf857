// Tests for the system resolver (libresolv) against a fake name server on
// 127.0.0.1, port 0, that answers from a table: SRV, MX, A and AAAA
// answers, NXDOMAIN, NODATA, SERVFAIL, silence. Overlay names and passed
// deadlines must not reach the server at all. Nothing here asks the name
// servers in /etc/resolv.conf. Only result kinds are asserted, no timings.

#include "dns/resolver.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dns/answer.h"
#include "unit/dns/dns_message.h"

namespace mtep::dns {
namespace {

using testing::addressData;
using testing::Message;
using testing::mxData;
using testing::srvData;

struct Query {
  std::string name;  // dotted, as asked
  uint16_t type = 0;
};

// What the fake server does with a query: a Message to send (its id and
// question are filled in from the query), or nullopt to stay silent.
using Handler = std::function<std::optional<Message>(const Query&)>;

class FakeNameServer {
 public:
  explicit FakeNameServer(Handler handler) : handler_(std::move(handler)) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
      return;
    }
    port_ = ntohs(sa.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~FakeNameServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  FakeNameServer(const FakeNameServer&) = delete;
  FakeNameServer& operator=(const FakeNameServer&) = delete;

  bool ok() const { return port_ != 0; }
  std::unique_ptr<Resolver> resolver() const {
    return makeSystemResolver({NameServer{"127.0.0.1", port_}});
  }
  std::vector<Query> queries() const {
    std::lock_guard<std::mutex> lock(mu_);
    return queries_;
  }

 private:
  void run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[512];
      sockaddr_in from{};
      socklen_t from_len = sizeof from;
      const ssize_t n =
          ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n < 12) continue;
      const std::string q(buf, static_cast<size_t>(n));
      // Question: uncompressed name from offset 12, then type and class.
      size_t pos = 12;
      std::string dotted;
      while (pos < q.size() && q[pos] != 0) {
        const auto len = static_cast<unsigned char>(q[pos]);
        if (!dotted.empty()) dotted.push_back('.');
        dotted.append(q, pos + 1, len);
        pos += 1 + len;
      }
      if (pos + 5 > q.size()) continue;
      const std::string qname_wire = q.substr(12, pos + 1 - 12);
      const Query query{dotted,
                        static_cast<uint16_t>((static_cast<unsigned char>(q[pos + 1]) << 8) |
                                              static_cast<unsigned char>(q[pos + 2]))};
      {
        std::lock_guard<std::mutex> lock(mu_);
        queries_.push_back(query);
      }
      std::optional<Message> reply = handler_(query);
      if (!reply) continue;
      reply->id = static_cast<uint16_t>((static_cast<unsigned char>(q[0]) << 8) |
                                        static_cast<unsigned char>(q[1]));
      reply->qname = qname_wire;
      reply->qtype = query.type;
      const std::string out = reply->build();
      ::sendto(fd_, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from), from_len);
    }
  }

  Handler handler_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;       // guards queries_
  std::vector<Query> queries_;  // guarded by mu_
};

// Answers from a zone: name -> records; other names NXDOMAIN, other types NODATA.
Handler zone(std::multimap<std::string, std::pair<uint16_t, std::string>> records) {
  return [records = std::move(records)](const Query& q) -> std::optional<Message> {
    Message m;
    auto [begin, end] = records.equal_range(q.name);
    if (begin == end) return m.rcode(3);
    for (auto it = begin; it != end; ++it) {
      if (it->second.first == q.type) m.add(testing::wireName(q.name), q.type, it->second.second);
    }
    return m;
  };
}

int64_t soon() { return monotonicMs() + 5000; }

TEST(SystemResolver, SrvAnswer) {
  FakeNameServer server(
      zone({{"_mtep._tcp.alpha.test", {kTypeSrv, srvData(5, 1, 7000, "M.alpha.test")}}}));
  ASSERT_TRUE(server.ok());
  auto r = server.resolver()->srv("_mtep._tcp.alpha.test", soon());
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].priority, 5);
  EXPECT_EQ((*r)[0].port, 7000);
  EXPECT_EQ((*r)[0].target, "m.alpha.test");
  ASSERT_EQ(server.queries().size(), 1u);
  EXPECT_EQ(server.queries()[0].type, kTypeSrv);
}

TEST(SystemResolver, MxAnswer) {
  FakeNameServer server(zone({{"alpha.test", {kTypeMx, mxData(10, "mx.alpha.test")}}}));
  ASSERT_TRUE(server.ok());
  auto r = server.resolver()->mx("alpha.test.", soon());
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].preference, 10);
  EXPECT_EQ((*r)[0].exchange, "mx.alpha.test");
}

TEST(SystemResolver, AddressesAreIpv4ThenIpv6) {
  FakeNameServer server(zone({{"mx.alpha.test", {kTypeAaaa, addressData("2001:db8::5")}},
                              {"mx.alpha.test", {kTypeA, addressData("192.0.2.5")}},
                              {"mx.alpha.test", {kTypeA, addressData("192.0.2.6")}}}));
  ASSERT_TRUE(server.ok());
  auto r = server.resolver()->addresses("mx.alpha.test", soon());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, (std::vector<std::string>{"192.0.2.5", "192.0.2.6", "2001:db8::5"}));
}

TEST(SystemResolver, AddressesOfAnIpv6OnlyHost) {
  FakeNameServer server(zone({{"six.alpha.test", {kTypeAaaa, addressData("2001:db8::6")}}}));
  ASSERT_TRUE(server.ok());
  auto r = server.resolver()->addresses("six.alpha.test", soon());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, (std::vector<std::string>{"2001:db8::6"}));
}

TEST(SystemResolver, NxDomainIsNotFound) {
  FakeNameServer server(zone({}));
  ASSERT_TRUE(server.ok());
  auto resolver = server.resolver();
  auto srv = resolver->srv("_mtep._tcp.nowhere.test", soon());
  ASSERT_FALSE(srv.ok());
  EXPECT_EQ(srv.error().kind(), ErrorKind::kNotFound) << srv.error().message();
  auto addrs = resolver->addresses("nowhere.test", soon());
  ASSERT_FALSE(addrs.ok());
  EXPECT_EQ(addrs.error().kind(), ErrorKind::kNotFound) << addrs.error().message();
}

TEST(SystemResolver, NoDataIsAnEmptyList) {
  FakeNameServer server(zone({{"alpha.test", {kTypeA, addressData("192.0.2.1")}}}));
  ASSERT_TRUE(server.ok());
  auto r = server.resolver()->mx("alpha.test", soon());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(r->empty());
}

TEST(SystemResolver, ServFailIsTemporary) {
  FakeNameServer server([](const Query&) -> std::optional<Message> { return Message().rcode(2); });
  ASSERT_TRUE(server.ok());
  auto r = server.resolver()->srv("_mtep._tcp.alpha.test", soon());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTemporary) << r.error().message();
}

TEST(SystemResolver, RefusedIsTemporary) {
  FakeNameServer server([](const Query&) -> std::optional<Message> { return Message().rcode(5); });
  ASSERT_TRUE(server.ok());
  auto r = server.resolver()->mx("alpha.test", soon());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTemporary) << r.error().message();
}

TEST(SystemResolver, SilentServerIsTemporary) {
  FakeNameServer server([](const Query&) -> std::optional<Message> { return std::nullopt; });
  ASSERT_TRUE(server.ok());
  auto r = server.resolver()->mx("alpha.test", monotonicMs() + 1500);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTemporary) << r.error().message();
  EXPECT_FALSE(server.queries().empty());
}

TEST(SystemResolver, PassedDeadlineIsTemporaryWithoutAsking) {
  FakeNameServer server(zone({{"alpha.test", {kTypeMx, mxData(10, "mx.alpha.test")}}}));
  ASSERT_TRUE(server.ok());
  auto r = server.resolver()->mx("alpha.test", monotonicMs() - 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTemporary) << r.error().message();
  EXPECT_TRUE(server.queries().empty());
}

TEST(SystemResolver, OverlayNamesNeverReachDns) {
  FakeNameServer server(zone({}));
  ASSERT_TRUE(server.ok());
  auto resolver = server.resolver();
  for (const char* name : {"abcdef.onion", "_mtep._tcp.abcdef.ONION.", "x.i2p", "onion"}) {
    SCOPED_TRACE(name);
    auto srv = resolver->srv(name, soon());
    ASSERT_FALSE(srv.ok());
    EXPECT_EQ(srv.error().kind(), ErrorKind::kNotFound);
    auto mx = resolver->mx(name, soon());
    ASSERT_FALSE(mx.ok());
    EXPECT_EQ(mx.error().kind(), ErrorKind::kNotFound);
    auto addrs = resolver->addresses(name, soon());
    ASSERT_FALSE(addrs.ok());
    EXPECT_EQ(addrs.error().kind(), ErrorKind::kNotFound);
  }
  EXPECT_TRUE(server.queries().empty());
}

// "x.onion.." once had a dot stripped by isOverlayName and another by the
// lookup: "x.onion." went to DNS. A name with an empty label is refused
// before anyone looks at it, and never asked.
TEST(SystemResolver, NamesWithAnEmptyLabelAreInvalidAndNeverAsked) {
  FakeNameServer server(zone({}));
  ASSERT_TRUE(server.ok());
  auto resolver = server.resolver();
  for (const char* name : {"abc.onion..", "_mtep._tcp.abc.onion..", "x.i2p..", "alpha.test..",
                           ".alpha.test", "mx..alpha.test", ".onion", "..", "x.onion..."}) {
    SCOPED_TRACE(name);
    auto srv = resolver->srv(name, soon());
    ASSERT_FALSE(srv.ok());
    EXPECT_EQ(srv.error().kind(), ErrorKind::kInvalid) << srv.error().message();
    auto mx = resolver->mx(name, soon());
    ASSERT_FALSE(mx.ok());
    EXPECT_EQ(mx.error().kind(), ErrorKind::kInvalid) << mx.error().message();
    auto addrs = resolver->addresses(name, soon());
    ASSERT_FALSE(addrs.ok());
    EXPECT_EQ(addrs.error().kind(), ErrorKind::kInvalid) << addrs.error().message();
  }
  EXPECT_TRUE(server.queries().empty()) << server.queries().size() << " queries sent";
}

TEST(SystemResolver, NumericAddressIsReturnedUnasked) {
  FakeNameServer server(zone({}));
  ASSERT_TRUE(server.ok());
  auto resolver = server.resolver();
  for (const char* addr : {"192.0.2.1", "2001:db8::1"}) {
    auto r = resolver->addresses(addr, soon());
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(*r, std::vector<std::string>{addr});
  }
  EXPECT_TRUE(server.queries().empty());
}

TEST(SystemResolver, NoUsableNameServerIsTemporary) {
  auto resolver = makeSystemResolver({NameServer{"not-an-address", 53}});
  auto r = resolver->mx("alpha.test", soon());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTemporary);
}

TEST(SystemResolver, EmptyNameIsInvalid) {
  FakeNameServer server(zone({}));
  ASSERT_TRUE(server.ok());
  auto r = server.resolver()->mx(".", soon());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kInvalid);
  EXPECT_TRUE(server.queries().empty());
}

TEST(OverlayName, OnionAndI2pInAnyCaseWithTheRootDot) {
  EXPECT_TRUE(isOverlayName("abc.onion"));
  EXPECT_TRUE(isOverlayName("abc.ONION."));
  EXPECT_TRUE(isOverlayName("a.b.i2p"));
  EXPECT_TRUE(isOverlayName("onion"));
  EXPECT_FALSE(isOverlayName("abconion"));
  EXPECT_FALSE(isOverlayName("onion.example"));
  EXPECT_FALSE(isOverlayName("xi2p."));
  EXPECT_FALSE(isOverlayName("xi2p"));
  EXPECT_FALSE(isOverlayName(""));
  EXPECT_FALSE(isOverlayName("."));
}

// Malformed names whose last non-empty label is an overlay one count as
// overlay names: a caller that skips DNS for overlay names then never
// sends them there, and the overlay parser or the dialer refuses them.
TEST(OverlayName, MalformedOverlayNamesStillCountAsOverlay) {
  EXPECT_TRUE(isOverlayName("abc.onion.."));
  EXPECT_TRUE(isOverlayName("abc.i2p..."));
  EXPECT_TRUE(isOverlayName("a..onion"));
  EXPECT_TRUE(isOverlayName(".onion"));
  EXPECT_FALSE(isOverlayName("onion.example.."));
}

}  // namespace
}  // namespace mtep::dns

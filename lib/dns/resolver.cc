#include "dns/resolver.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

#include "dns/answer.h"
#include "util/domain_name.h"

namespace mtep::dns {
namespace {

constexpr size_t kAnswerBufferSize = 65536;

bool isNumericAddress(const std::string& host) {
  in6_addr buf;
  return ::inet_pton(AF_INET, host.c_str(), &buf) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), &buf) == 1;
}

const char* typeName(uint16_t type) {
  switch (type) {
    case kTypeA:
      return "A";
    case kTypeAaaa:
      return "AAAA";
    case kTypeMx:
      return "MX";
    case kTypeSrv:
      return "SRV";
  }
  return "?";
}

// res_ninit()ed state, closed (and its allocations freed) on scope exit.
class ResState {
 public:
  ResState() { std::memset(&state_, 0, sizeof state_); }
  ~ResState() {
    if (initialised_) ::res_nclose(&state_);
  }
  ResState(const ResState&) = delete;
  ResState& operator=(const ResState&) = delete;

  bool init() {
    initialised_ = ::res_ninit(&state_) == 0;
    return initialised_;
  }
  struct __res_state* get() {
    return &state_;
  }

 private:
  struct __res_state state_;
  bool initialised_ = false;
};

class SystemResolver final : public Resolver {
 public:
  SystemResolver(bool override_servers, std::vector<sockaddr_in> servers)
      : override_servers_(override_servers), servers_(std::move(servers)) {}

  Result<std::vector<SrvRecord>> srv(std::string_view name, int64_t deadline_ms) override {
    auto a = query(name, kTypeSrv, deadline_ms);
    if (!a) return std::move(a).error();
    return std::move(a->srv);
  }

  Result<std::vector<MxRecord>> mx(std::string_view name, int64_t deadline_ms) override {
    auto a = query(name, kTypeMx, deadline_ms);
    if (!a) return std::move(a).error();
    return std::move(a->mx);
  }

  Result<std::vector<std::string>> addresses(std::string_view host, int64_t deadline_ms) override {
    const std::string h(host);
    if (isNumericAddress(h)) return std::vector<std::string>{h};
    auto v4 = query(host, kTypeA, deadline_ms);
    if (!v4 && v4.error().kind() == ErrorKind::kNotFound) return std::move(v4).error();
    auto v6 = query(host, kTypeAaaa, deadline_ms);
    std::vector<std::string> out;
    if (v4) out = std::move(v4->addresses);
    if (v6) out.insert(out.end(), v6->addresses.begin(), v6->addresses.end());
    if (!out.empty()) return out;
    if (!v4) return std::move(v4).error();
    if (!v6) return std::move(v6).error();
    return out;
  }

 private:
  Result<Answer> query(std::string_view name, uint16_t type, int64_t deadline_ms) {
    const std::string label = std::string(name) + "/" + typeName(type);
    // One normal form, looked at and sent: the name with its root dot
    // dropped, or nothing when a label is empty (domain_name.h).
    const auto normal = bareDomainName(name);
    if (!normal) return Error(ErrorKind::kInvalid, label + ": " + normal.error().message());
    const std::string_view bare = *normal;
    if (isOverlayTld(topLabel(bare))) {
      return Error(ErrorKind::kNotFound, label + ": overlay names are never sent to DNS");
    }
    if (bare.size() > 253 || bare.find('\0') != std::string_view::npos) {
      return Error(ErrorKind::kInvalid, label + ": not a domain name");
    }
    const int64_t left_ms = deadline_ms - monotonicMs();
    if (left_ms <= 0) return Error(ErrorKind::kTemporary, label + ": deadline passed");
    if (override_servers_ && servers_.empty()) {
      return Error(ErrorKind::kTemporary, label + ": no name server");
    }

    ResState rs;
    if (!rs.init()) return Error(ErrorKind::kTemporary, label + ": res_ninit failed");
    struct __res_state* st = rs.get();
    if (override_servers_) {
      const int n = static_cast<int>(std::min<size_t>(servers_.size(), MAXNS));
      for (int i = 0; i < MAXNS; ++i) {
        // What res_nclose would free; a null entry makes libresolv use nsaddr_list[i].
        std::free(st->_u._ext.nsaddrs[i]);
        st->_u._ext.nsaddrs[i] = nullptr;
        if (i < n) st->nsaddr_list[i] = servers_[static_cast<size_t>(i)];
      }
      st->nscount = n;
    }
    if (st->nscount <= 0) return Error(ErrorKind::kTemporary, label + ": no name server");
    // libresolv waits `retrans` seconds on the first server and about
    // retrans * 2^i / nscount on server i, at least 1 s each, for each of
    // `retry` rounds: one round over at most left_s servers keeps the whole
    // lookup within max(left, 1 s).
    const int left_s = static_cast<int>(std::min<int64_t>(left_ms / 1000, 3600));
    st->nscount = std::clamp(left_s, 1, st->nscount);
    st->retrans = std::max(1, left_s / st->nscount);
    st->retry = 1;
    st->options &= ~static_cast<unsigned long>(RES_DNSRCH | RES_DEFNAMES);

    std::vector<unsigned char> buf(kAnswerBufferSize);
    const std::string qname(bare);
    const int n =
        ::res_nquery(st, qname.c_str(), ns_c_in, type, buf.data(), static_cast<int>(buf.size()));
    if (n < 0) {
      switch (st->res_h_errno) {
        case HOST_NOT_FOUND:
          return Error(ErrorKind::kNotFound, label + ": no such domain");
        case NO_DATA:
          return Answer{};
        case TRY_AGAIN:
          return Error(ErrorKind::kTemporary, label + ": no answer (timeout or SERVFAIL)");
        default:
          return Error(ErrorKind::kTemporary,
                       label + ": lookup failed: " + hstrerror(st->res_h_errno));
      }
    }
    const size_t len = std::min(static_cast<size_t>(n), buf.size());
    auto answer =
        parseAnswer(std::string_view(reinterpret_cast<const char*>(buf.data()), len), type);
    if (!answer) {
      const ErrorKind kind = answer.error().kind() == ErrorKind::kNotFound ? ErrorKind::kNotFound
                                                                           : ErrorKind::kTemporary;
      return Error(kind, label + ": " + answer.error().message());
    }
    return answer;
  }

  bool override_servers_;
  std::vector<sockaddr_in> servers_;
};

}  // namespace

int64_t monotonicMs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

bool isOverlayName(std::string_view name) { return isOverlayTld(topLabel(name)); }

std::unique_ptr<Resolver> makeSystemResolver() {
  return std::make_unique<SystemResolver>(false, std::vector<sockaddr_in>{});
}

std::unique_ptr<Resolver> makeSystemResolver(std::vector<NameServer> servers) {
  std::vector<sockaddr_in> addrs;
  for (const NameServer& s : servers) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(s.port);
    if (::inet_pton(AF_INET, s.address.c_str(), &sa.sin_addr) == 1) addrs.push_back(sa);
  }
  return std::make_unique<SystemResolver>(true, std::move(addrs));
}

}  // namespace mtep::dns

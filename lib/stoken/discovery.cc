// discoverTokenServers(): static entry, submission SRV records, MX hosts (discovery.h).

#include "stoken/discovery.h"

#include <algorithm>
#include <cstddef>
#include <random>
#include <utility>

#include "util/base64.h"
#include "util/domain_name.h"

namespace mtep::stoken {
namespace {

bool noTarget(std::string_view host) { return host.empty() || host == "."; }

uint32_t randomPick(uint32_t total) {
  thread_local std::mt19937 gen{std::random_device{}()};
  return std::uniform_int_distribution<uint32_t>(0, total)(gen);
}

class Candidates {
 public:
  explicit Candidates(size_t max) : max_(max) {}
  void add(std::string host, uint16_t port, bool implicit_tls, ServerSource source) {
    if (list_.size() >= max_ || noTarget(host) || port == 0) return;
    for (const TokenServer& s : list_) {
      if (s.port == port && asciiIEquals(s.host, host)) return;
    }
    list_.push_back(TokenServer{std::move(host), port, implicit_tls, source});
  }
  std::vector<TokenServer>& list() { return list_; }

 private:
  size_t max_;
  std::vector<TokenServer> list_;
};

}  // namespace

const char* serverSourceName(ServerSource source) noexcept {
  switch (source) {
    case ServerSource::kStatic: return "static";
    case ServerSource::kSubmissionsSrv: return "submissions-srv";
    case ServerSource::kSubmissionSrv: return "submission-srv";
    case ServerSource::kMx: return "mx";
  }
  return "?";
}

std::vector<dns::SrvRecord> orderSrv(std::vector<dns::SrvRecord> records, const WeightPicker& pick) {
  std::stable_sort(records.begin(), records.end(),
                   [](const dns::SrvRecord& a, const dns::SrvRecord& b) {
                     return a.priority < b.priority;
                   });
  std::vector<dns::SrvRecord> out;
  out.reserve(records.size());
  size_t i = 0;
  while (i < records.size()) {
    size_t j = i;
    while (j < records.size() && records[j].priority == records[i].priority) ++j;
    // One priority: weight 0 first (RFC 2782), then pick by running sums.
    std::vector<dns::SrvRecord> group(records.begin() + static_cast<ptrdiff_t>(i),
                                      records.begin() + static_cast<ptrdiff_t>(j));
    std::stable_partition(group.begin(), group.end(),
                          [](const dns::SrvRecord& r) { return r.weight == 0; });
    while (!group.empty()) {
      uint32_t total = 0;
      for (const auto& r : group) total += r.weight;
      uint32_t want = pick ? pick(total) : randomPick(total);
      want = std::min(want, total);
      size_t chosen = group.size() - 1;
      uint32_t running = 0;
      for (size_t k = 0; k < group.size(); ++k) {
        running += group[k].weight;
        if (running >= want) {
          chosen = k;
          break;
        }
      }
      out.push_back(std::move(group[chosen]));
      group.erase(group.begin() + static_cast<ptrdiff_t>(chosen));
    }
    i = j;
  }
  return out;
}

Result<std::vector<TokenServer>> discoverTokenServers(const DiscoveryOptions& options,
                                                      dns::Resolver& resolver,
                                                      std::string_view domain,
                                                      int64_t deadline_ms,
                                                      const WeightPicker& pick) {
  auto bare = bareDomainName(domain);
  if (!bare) return Error(ErrorKind::kInvalid, "token server discovery: " + bare.error().message());
  const std::string name = asciiLower(*bare);
  Candidates found(options.max_candidates);

  for (const auto& [key, server] : options.servers) {
    auto k = bareDomainName(key);
    if (k && asciiIEquals(*k, name)) {
      found.add(server.host, server.port, options.static_implicit_tls, ServerSource::kStatic);
      if (found.list().empty()) {
        return Error(ErrorKind::kNotFound, "token server for " + name + ": static entry unusable");
      }
      return std::move(found.list());
    }
  }

  bool temporary = false;
  std::string last_error;
  int refused = 0;  // SRV names that said "not offered" ("." only)
  struct Service {
    const char* prefix;
    bool implicit_tls;
    ServerSource source;
  };
  static constexpr Service kServices[] = {
      {"_submissions._tcp.", true, ServerSource::kSubmissionsSrv},
      {"_submission._tcp.", false, ServerSource::kSubmissionSrv},
  };
  for (const Service& svc : kServices) {
    auto srv = resolver.srv(svc.prefix + name, deadline_ms);
    if (!srv) {
      if (srv.error().kind() != ErrorKind::kNotFound) {
        temporary = true;
        last_error = srv.error().message();
      }
      continue;
    }
    if (srv->size() == 1 && noTarget(srv->front().target)) {
      ++refused;
      continue;
    }
    for (dns::SrvRecord& r : orderSrv(std::move(*srv), pick)) {
      found.add(std::move(r.target), r.port, svc.implicit_tls, svc.source);
    }
  }

  if (refused < 2) {
    auto mx = resolver.mx(name, deadline_ms);
    if (!mx) {
      if (mx.error().kind() != ErrorKind::kNotFound) {
        temporary = true;
        last_error = mx.error().message();
      }
    } else if (mx->empty()) {
      found.add(name, options.submission_port, true, ServerSource::kMx);  // implicit MX
    } else {
      std::stable_sort(mx->begin(), mx->end(), [](const dns::MxRecord& a, const dns::MxRecord& b) {
        return a.preference < b.preference;
      });
      for (dns::MxRecord& r : *mx) {
        found.add(std::move(r.exchange), options.submission_port, true, ServerSource::kMx);
      }
    }
  }

  if (!found.list().empty()) return std::move(found.list());
  if (temporary) {
    return Error(ErrorKind::kTemporary, "token server for " + name + ": " + last_error);
  }
  return Error(ErrorKind::kNotFound, "no token server for " + name);
}

}  // namespace mtep::stoken

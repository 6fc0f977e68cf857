// dns_answer_fuzz - dns::parseAnswer on raw bytes as a DNS response, for
// each of the four query types.
// Invariants: errors are kProtocol, kNotFound or kTemporary only; only the
// list for the asked type is filled; names are lower case host names (no
// empty label, no trailing dot, at most 253 characters, printable, no
// space, '.' only between labels); addresses are numeric text of the asked
// family; writing the records into a fresh message and parsing that again
// gives the same records.

#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "../../unit/dns/dns_message.h"
#include "../netstring/fuzz_slices.h"
#include "dns/answer.h"

namespace {

using mtep::ErrorKind;
using mtep::dns::Answer;
namespace t = mtep::dns::testing;

void checkHostName(const std::string& name) {
  if (name.empty()) return;  // the root: "service not offered"
  FUZZ_CHECK(name.size() <= 253);
  FUZZ_CHECK(name.front() != '.' && name.back() != '.');
  FUZZ_CHECK(name.find("..") == std::string::npos);
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    FUZZ_CHECK(u > 0x20 && u < 0x7f && c != '\\');
    FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
  }
}

void checkAnswer(const Answer& a, uint16_t qtype) {
  const bool address_type = qtype == mtep::dns::kTypeA || qtype == mtep::dns::kTypeAaaa;
  FUZZ_CHECK(a.srv.empty() || qtype == mtep::dns::kTypeSrv);
  FUZZ_CHECK(a.mx.empty() || qtype == mtep::dns::kTypeMx);
  FUZZ_CHECK(a.addresses.empty() || address_type);
  for (const auto& r : a.srv) checkHostName(r.target);
  for (const auto& r : a.mx) checkHostName(r.exchange);
  for (const auto& addr : a.addresses) {
    unsigned char buf[16];
    FUZZ_CHECK(::inet_pton(qtype == mtep::dns::kTypeA ? AF_INET : AF_INET6, addr.c_str(), buf) ==
               1);
  }
}

// The records of `a` written into a new, uncompressed message.
std::string rebuild(const Answer& a, uint16_t qtype) {
  t::Message m;
  m.qtype = qtype;
  for (const auto& r : a.srv)
    m.add(m.qname, qtype, t::srvData(r.priority, r.weight, r.port, r.target));
  for (const auto& r : a.mx) m.add(m.qname, qtype, t::mxData(r.preference, r.exchange));
  for (const auto& addr : a.addresses) m.add(m.qname, qtype, t::addressData(addr.c_str()));
  return m.build();
}

bool same(const Answer& x, const Answer& y) {
  if (x.srv.size() != y.srv.size() || x.mx.size() != y.mx.size() || x.addresses != y.addresses) {
    return false;
  }
  for (size_t i = 0; i < x.srv.size(); ++i) {
    if (x.srv[i].priority != y.srv[i].priority || x.srv[i].weight != y.srv[i].weight ||
        x.srv[i].port != y.srv[i].port || x.srv[i].target != y.srv[i].target) {
      return false;
    }
  }
  for (size_t i = 0; i < x.mx.size(); ++i) {
    if (x.mx[i].preference != y.mx[i].preference || x.mx[i].exchange != y.mx[i].exchange) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in = mtep::fuzz::asView(data, size);
  for (const uint16_t qtype :
       {mtep::dns::kTypeA, mtep::dns::kTypeAaaa, mtep::dns::kTypeMx, mtep::dns::kTypeSrv}) {
    auto a = mtep::dns::parseAnswer(in, qtype);
    if (!a) {
      const ErrorKind k = a.error().kind();
      FUZZ_CHECK(k == ErrorKind::kProtocol || k == ErrorKind::kNotFound ||
                 k == ErrorKind::kTemporary);
      FUZZ_CHECK(!a.error().message().empty());
      continue;
    }
    checkAnswer(*a, qtype);
    auto again = mtep::dns::parseAnswer(rebuild(*a, qtype), qtype);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->skipped == 0);
    FUZZ_CHECK(same(*a, *again));
  }
  return 0;
}

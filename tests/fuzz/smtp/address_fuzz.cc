// libFuzzer target for smtp::parseMailbox / smtp::parsePath and
// smtp::envelopeAddress. The first byte picks the options and the entry
// point; the rest is the address. On success the canonical form must
// re-parse to the same address, be no longer than the input, and hold only
// strict UTF-8. envelopeAddress must agree with parsePath, and a domain it
// finds must be a usable policy key: non-empty, lower case, no trailing dot,
// strict UTF-8; domainKey of any text is lower case, without a trailing dot
// and its own key.

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "smtp/address.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void checkEnvelope(std::string_view in, const mtep::smtp::AddressOptions& opts) {
  using namespace mtep::smtp;
  using Kind = EnvelopeAddress::Kind;
  const EnvelopeAddress env = envelopeAddress(in, opts);
  check(env.found() == (env.kind == Kind::kMailbox || env.kind == Kind::kLoose ||
                        env.kind == Kind::kPostmaster));
  check(env.kind != Kind::kNull || opts.allow_null);
  if (env.kind == Kind::kMailbox || env.kind == Kind::kNull) {
    check(env.error.empty());
  } else {
    check(!env.error.empty());
  }
  if (env.kind == Kind::kMailbox) {
    check(env.address == env.mailbox.canonicalLower());
    check(env.domain == env.mailbox.domainLower());
  }
  if (env.kind == Kind::kMailbox || env.kind == Kind::kLoose) {
    check(!env.domain.empty() && env.domain.back() != '.');
    check(isStrictUtf8(env.domain));
    for (char c : env.domain) check(c < 'A' || c > 'Z');
    check(env.address.size() > env.domain.size());
  } else {
    check(env.domain.empty() && env.routed_domains.empty());
  }
  for (const std::string& d : env.routed_domains) check(!d.empty() && d.back() != '.');
  // The lookup key of any text: lower case, no trailing dot, and stable.
  const std::string key = domainKey(in);
  for (char c : key) check(c < 'A' || c > 'Z');
  check(key.empty() || key.back() != '.');
  check(domainKey(key) == key);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mtep::smtp;
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  AddressOptions opts;
  opts.smtputf8 = (flags & 1) != 0;
  opts.allow_null = (flags & 2) != 0;
  const bool as_path = (flags & 4) != 0;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  checkEnvelope(in, opts);

  auto r = as_path ? parsePath(in, opts) : parseMailbox(in, opts);
  if (!r.ok()) {
    check(!r.error().message().empty());
    return 0;
  }
  const Mailbox& box = *r;
  if (box.isNull()) {
    check(as_path && opts.allow_null && in == "<>");
    return 0;
  }
  check(isStrictUtf8(box.local_part) && isStrictUtf8(box.domain));
  bool non_ascii = false;
  for (char c : box.local_part + box.domain) non_ascii |= static_cast<unsigned char>(c) >= 0x80;
  check(box.utf8 == non_ascii);
  check(opts.smtputf8 || !box.utf8);
  check(box.literal == (!box.domain.empty() && box.domain.front() == '['));
  if (!box.literal) check(checkDomain(box.domain, opts.smtputf8).ok());

  const std::string text = box.toString();
  check(text.size() <= in.size());
  auto again = parseMailbox(text, opts);
  check(again.ok());
  check(again->local_part == box.local_part);
  check(again->domain == box.domain);
  check(again->literal == box.literal);
  check(again->toString() == text);

  // The lower-cased binding key is itself a valid address.
  auto lower = parseMailbox(box.canonicalLower(), opts);
  check(lower.ok());
  check(lower->canonicalLower() == box.canonicalLower());
  return 0;
}

#include "mmtp/mailbox.h"

#include <atomic>
#include <cinttypes>
#include <cstdio>

#include "mmtp/address.h"
#include "util/base64.h"

namespace mtep::mmtp {

namespace {

std::atomic<uint32_t> g_sequence{0};

}  // namespace

std::string boxNamespace(std::string_view owner) {
  return std::string(kBoxNamespacePrefix) + canonical(owner);
}

Result<Mailboxes::Count*> Mailboxes::count(const std::string& ns, bool fresh) {
  const int64_t now = clock_.now();
  auto it = counts_.find(ns);
  if (!fresh && it != counts_.end() && now - it->second.read_at < kStatsTtl &&
      now >= it->second.read_at) {
    return &it->second;
  }
  auto stats = store_.statValues(ns);
  if (!stats) return std::move(stats).error();
  if (it == counts_.end()) {
    if (counts_.size() >= kMaxCachedBoxes) counts_.clear();
    it = counts_.emplace(ns, Count{}).first;
  }
  it->second = {stats->count, stats->bytes, now};
  return &it->second;
}

Status Mailboxes::add(std::string_view owner, std::string_view message_id,
                      std::string_view packet_json, const MailboxLimits& limits) {
  const std::string ns = boxNamespace(owner);
  auto c = count(ns, false);
  if (!c) return std::move(c).error();
  auto over = [&](const Count& n) {
    return n.count + 1 > limits.quota || n.bytes + packet_json.size() > limits.size_limit;
  };
  if (over(**c)) {
    c = count(ns, true);  // never refuse on a stale count
    if (!c) return std::move(c).error();
    if ((*c)->count + 1 > limits.quota) {
      return Error(ErrorKind::kInvalid,
                   "mailbox full (" + std::to_string(limits.quota) + " messages)");
    }
    if ((*c)->bytes + packet_json.size() > limits.size_limit) {
      return Error(ErrorKind::kInvalid,
                   "mailbox full (" + std::to_string(limits.size_limit) + " bytes)");
    }
  }
  char prefix[48];
  std::snprintf(prefix, sizeof prefix, "%012" PRId64 "-%08" PRIu32 "-", clock_.now(),
                g_sequence.fetch_add(1, std::memory_order_relaxed));
  Status st = store_.putValue(ns, std::string(prefix) + std::string(message_id), packet_json,
                              clock_.now() + limits.message_ttl);
  if (!st.ok()) {
    counts_.erase(ns);  // not known whether it was written
    return st;
  }
  (*c)->count += 1;
  (*c)->bytes += packet_json.size();
  return st;
}

Result<Mailboxes::Page> Mailboxes::list(std::string_view owner, uint64_t max_bytes,
                                        uint64_t max_count) {
  auto values = store_.listValues(boxNamespace(owner), max_count + 1);
  if (!values) return std::move(values).error();
  Page page;
  uint64_t bytes = 0;
  for (auto& [key, value] : *values) {
    if (page.messages.size() == max_count || bytes + value.size() + 1 > max_bytes) {
      page.more = true;
      if (page.messages.empty()) page.too_large = true;
      break;
    }
    bytes += value.size() + 1;
    page.messages.push_back({std::move(key), std::move(value)});
  }
  return page;
}

Result<store::Store::ValueStats> Mailboxes::stats(std::string_view owner) {
  return store_.statValues(boxNamespace(owner));
}

Status Mailboxes::remove(std::string_view owner, const std::vector<std::string>& keys) {
  const std::string ns = boxNamespace(owner);
  counts_.erase(ns);  // read again at the next add
  for (const std::string& k : keys) {
    auto r = store_.eraseValue(ns, k);
    if (!r) return std::move(r).error();
  }
  return okStatus();
}

Status Mailboxes::putKey(std::string_view owner, std::string_view armored) {
  return store_.putValue(kKeyNamespace, canonical(owner), armored, 0);
}

Result<std::string> Mailboxes::getKey(std::string_view owner) {
  return store_.getValue(kKeyNamespace, canonical(owner));
}

std::string checkPublicKey(std::string_view armored) {
  constexpr std::string_view kBegin = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
  constexpr std::string_view kEnd = "-----END PGP PUBLIC KEY BLOCK-----";
  if (armored.size() > 65536) return "public key over 64 KiB";
  if (armored.find("PRIVATE KEY") != std::string_view::npos ||
      armored.find("SECRET KEY") != std::string_view::npos) {
    return "a private key is not a public key";
  }
  size_t pos = armored.find(kBegin);
  const size_t end = armored.find(kEnd);
  if (pos == std::string_view::npos || end == std::string_view::npos || end < pos) {
    return "not an ASCII-armored OpenPGP public key block";
  }
  // Armor headers end at the first empty line; base64 up to the checksum.
  std::string_view rest = armored.substr(pos + kBegin.size(), end - pos - kBegin.size());
  bool in_headers = true;
  std::string b64;
  size_t line_start = 0;
  bool first = true;
  while (line_start <= rest.size()) {
    size_t nl = rest.find('\n', line_start);
    if (nl == std::string_view::npos) nl = rest.size();
    std::string_view line = rest.substr(line_start, nl - line_start);
    line_start = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (first) {  // the rest of the BEGIN line
      first = false;
      continue;
    }
    if (in_headers) {
      if (line.find(": ") != std::string_view::npos) continue;  // "Version: ..." and the like
      in_headers = false;
      if (line.empty()) continue;
    }
    if (!line.empty() && line.front() == '=') break;  // CRC-24
    b64 += line;
    if (nl == rest.size()) break;
  }
  const auto bytes = base64Decode(b64, false);
  if (!bytes || bytes->empty()) return "the key block's base64 does not decode";
  // Walk the OpenPGP packets (RFC 9580 4.2): the first must be a public
  // key (tag 6); none may be a secret key (5) or secret subkey (7).
  const std::vector<uint8_t>& b = *bytes;
  size_t i = 0;
  bool first_packet = true;
  while (i < b.size()) {
    const uint8_t h = b[i++];
    if ((h & 0x80) == 0) return "not an OpenPGP packet";
    int tag = 0;
    uint64_t len = 0;
    if (h & 0x40) {  // new format
      tag = h & 0x3f;
      if (i >= b.size()) return "truncated packet";
      const uint8_t o1 = b[i++];
      if (o1 < 192) {
        len = o1;
      } else if (o1 < 224) {
        if (i >= b.size()) return "truncated packet";
        len = ((uint64_t{o1} - 192) << 8) + b[i++] + 192;
      } else if (o1 == 255) {
        if (i + 4 > b.size()) return "truncated packet";
        len = (uint64_t{b[i]} << 24) | (uint64_t{b[i + 1]} << 16) | (uint64_t{b[i + 2]} << 8) |
              b[i + 3];
        i += 4;
      } else {
        return "partial body lengths are not used in keys";
      }
    } else {  // old format
      tag = (h >> 2) & 0x0f;
      const int type = h & 3;
      if (type == 3) return "indeterminate packet length";
      const size_t n = size_t{1} << type;
      if (i + n > b.size()) return "truncated packet";
      for (size_t k = 0; k < n; ++k) len = (len << 8) | b[i + k];
      i += n;
    }
    if (tag == 5 || tag == 7) return "a private key is not a public key";
    if (first_packet && tag != 6) return "the block does not start with a public key";
    first_packet = false;
    if (len > b.size() - i) return "truncated packet";
    i += static_cast<size_t>(len);
  }
  return "";
}

}  // namespace mtep::mmtp

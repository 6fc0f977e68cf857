#include "mmtp/packet.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>

#include "mmtp/address.h"
#include "pow/pow.h"

namespace mtep::mmtp {

namespace {

constexpr int64_t kMaxSafeInteger = (int64_t{1} << 53) - 1;

PacketRead refuse(std::string message, std::string reason) {
  PacketRead r;
  r.refusal = {std::move(message), std::move(reason)};
  return r;
}

PacketRead invalid(std::string reason) { return refuse("Invalid packet", std::move(reason)); }

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c >= 0x20 && c != 0x7f;
  });
}

std::string hex(const unsigned char* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out += kDigits[p[i] >> 4];
    out += kDigits[p[i] & 15];
  }
  return out;
}

// A whole JSON number in 0 .. 2^53-1 (an integer, or a float with no
// fraction, as JavaScript sees both).
bool wholeNumber(const Json& v, int64_t* out) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(kMaxSafeInteger)) return false;
    *out = static_cast<int64_t>(u);
    return true;
  }
  if (v.is_number_integer()) {
    const auto i = v.get<int64_t>();
    if (i < 0 || i > kMaxSafeInteger) return false;
    *out = i;
    return true;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!(d >= 0 && d <= static_cast<double>(kMaxSafeInteger))) return false;
    const auto i = static_cast<int64_t>(d);
    if (static_cast<double>(i) != d) return false;
    *out = i;
    return true;
  }
  return false;
}

const Json* member(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

}  // namespace

std::string checkTags(const Json& tags) {
  if (!tags.is_object()) return "meta.tags must be an object";
  const Json& cats = tagCategories();
  for (const auto& [category, values] : tags.items()) {
    const Json* allowed = member(cats, category);
    if (allowed == nullptr) return "unknown tag category \"" + category + "\"";
    if (!values.is_array()) return "tags of \"" + category + "\" must be an array";
    if (category == "custom") {
      if (values.size() > kMaxCustomTags) return "too many custom tags";
      for (const Json& v : values) {
        if (!v.is_string()) return "custom tags must be strings";
        const auto& s = v.get_ref<const std::string&>();
        if (s.empty() || s.size() > kMaxTagLength || !printable(s)) {
          return "custom tags must be 1.." + std::to_string(kMaxTagLength) +
                 " printable characters";
        }
      }
      continue;
    }
    if (values.size() > allowed->size()) return "repeated tags in \"" + category + "\"";
    for (const Json& v : values) {
      if (!v.is_string() || std::find(allowed->begin(), allowed->end(), v) == allowed->end()) {
        return "tag not in category \"" + category + "\"";
      }
    }
  }
  return "";
}

PacketRead readPacket(const Json& packet, std::string message_id) {
  if (!packet.is_object()) return invalid("data.packet must be an object");
  const Json* meta = member(packet, "meta");
  const Json* content = member(packet, "content");
  const Json* verification = member(packet, "verification");
  if (meta == nullptr || !meta->is_object()) return invalid("meta must be an object");
  if (content == nullptr || !content->is_object()) return invalid("content must be an object");
  if (verification == nullptr || !verification->is_object()) {
    return invalid("verification must be an object");
  }
  Packet p;
  const Json* sender = member(packet, "sender");
  const Json* recipient = member(packet, "recipient");
  if (sender == nullptr || !sender->is_string() || !isAddress(sender->get_ref<const std::string&>()) ||
      recipient == nullptr || !recipient->is_string() ||
      !isAddress(recipient->get_ref<const std::string&>())) {
    return refuse(std::string(kInvalidEmail), "sender and recipient must be (name)%(domain)");
  }
  p.sender = sender->get<std::string>();
  p.recipient = recipient->get<std::string>();

  const Json* type = member(*meta, "type");
  if (type == nullptr || !type->is_string() ||
      (*type != "SEND" && *type != "REPLY" && *type != "FORWARD")) {
    return invalid("meta.type must be SEND, REPLY or FORWARD");
  }
  p.type = type->get<std::string>();
  const Json* ts = member(*meta, "timestamp");
  if (ts == nullptr || !wholeNumber(*ts, &p.timestamp_ms)) {
    return invalid("meta.timestamp must be a whole number of milliseconds");
  }
  const Json* stamp = member(*meta, "hashcashToken");
  const Json* token = stamp == nullptr ? nullptr : member(*stamp, "token");
  if (token == nullptr || !token->is_string() ||
      token->get_ref<const std::string&>().size() > kMaxTokenBytes) {
    return refuse(std::string(kStampFailed), "meta.hashcashToken.token must be a string");
  }
  p.stamp = token->get<std::string>();
  for (const char* flag : {"encrypted", "signed"}) {
    const Json* f = member(*meta, flag);
    if (f != nullptr && !f->is_boolean()) {
      return invalid(std::string("meta.") + flag + " must be true or false");
    }
  }
  const Json* enc = member(*meta, "encrypted");
  const Json* sig = member(*meta, "signed");
  p.encrypted = enc != nullptr && enc->get<bool>();
  p.is_signed = sig != nullptr && sig->get<bool>();
  const Json* mid = member(*meta, "messageId");
  if (mid != nullptr) {
    if (!mid->is_string() || mid->get_ref<const std::string&>().size() > kMaxMessageIdBytes ||
        !printable(mid->get_ref<const std::string&>())) {
      return invalid("meta.messageId must be a string of at most 128 printable characters");
    }
    p.sender_message_id = mid->get<std::string>();
  }
  const Json* tags = member(*meta, "tags");
  if (tags != nullptr && !tags->is_null()) {
    std::string bad = checkTags(*tags);
    if (!bad.empty()) return refuse("Invalid tags", std::move(bad));
  }

  if (p.encrypted) {
    const Json* e = member(*content, "encrypted");
    if (e == nullptr || !e->is_string()) return invalid("content.encrypted must be a string");
  } else {
    const Json* subject = member(*content, "subject");
    const Json* body = member(*content, "body");
    if (subject == nullptr || !subject->is_string() || body == nullptr || !body->is_string()) {
      return invalid("content must hold subject and body strings");
    }
    p.subject = subject->get<std::string>();
    p.body = body->get<std::string>();
  }
  const Json* hash = member(*verification, "messageHash");
  if (hash == nullptr || !hash->is_string() || *hash != messageHash(*content)) {
    return refuse(std::string(kIntegrityFailed),
                  "verification.messageHash is not the SHA-256 of the content");
  }
  const Json* signature = member(*verification, "signature");
  if (signature != nullptr && !signature->is_string()) {
    return invalid("verification.signature must be a string");
  }

  p.json = packet;
  Json& m = p.json["meta"];
  m.erase("signatureVerified");
  m.erase("decrypted");
  if (!p.sender_message_id.empty()) m["senderMessageId"] = p.sender_message_id;
  m["messageId"] = message_id;
  p.message_id = std::move(message_id);
  PacketRead r;
  r.ok = true;
  r.packet = std::move(p);
  return r;
}

StampRead checkStamp(const Packet& packet, int difficulty, int64_t now_ms, int64_t window_ms) {
  StampRead r;
  const std::string ts = std::to_string(packet.timestamp_ms);
  const std::string resource = packet.sender + ":" + packet.recipient + ":" + ts;
  const pow::CheckResult c = pow::checkMmtp(packet.stamp, resource, difficulty, now_ms, window_ms);
  if (c.verdict == pow::Verdict::kTemporary) {
    r.temporary = true;
    r.refusal = {"Temporary failure, try again later", c.reason};
    return r;
  }
  if (c.verdict != pow::Verdict::kValid) {
    r.refusal = {std::string(kStampFailed), c.reason};
    return r;
  }
  // "1:D:TS:": the token's own timestamp is meta.timestamp.
  const size_t first = packet.stamp.find(':', 2);
  if (first == std::string::npos || packet.stamp.compare(first + 1, ts.size() + 1, ts + ":") != 0) {
    r.refusal = {std::string(kStampFailed), "token timestamp is not meta.timestamp"};
    return r;
  }
  r.ok = true;
  r.expires_at = c.expires_at;
  return r;
}

std::string stampKey(const Packet& packet) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(packet.stamp.data(), packet.stamp.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    return "";
  }
  return hex(md, len);
}

std::string newMessageId() {
  std::array<unsigned char, 16> b{};
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) return "";
  return hex(b.data(), b.size());
}

const Json& tagCategories() {
  static const Json categories = Json::parse(
      R"({"priority":["high","medium","low"],)"
      R"("category":["personal","work","finance","social","promotion","coupon","shop","notification"],)"
      R"("status":["urgent","important","information","action_required"],"custom":[]})");
  return categories;
}

bool matchesFilters(const Json& tags, const Json& filters) {
  if (!filters.is_object() || filters.empty()) return true;
  if (!tags.is_object() || tags.empty()) return false;
  for (const auto& [category, wanted] : filters.items()) {
    const Json* have = member(tags, category);
    if (!wanted.is_array()) return false;
    bool hit = false;
    for (const Json& w : wanted) {
      if (have != nullptr && have->is_array() &&
          std::find(have->begin(), have->end(), w) != have->end()) {
        hit = true;
        break;
      }
    }
    if (!hit) return false;
  }
  return true;
}

std::string checkFilters(const Json& filters) {
  if (filters.is_null()) return "";
  if (!filters.is_object()) return "tagFilters must be an object";
  if (filters.size() > 8) return "too many tag filter categories";
  for (const auto& [category, values] : filters.items()) {
    if (category.size() > kMaxTagLength) return "tag filter category too long";
    if (!values.is_array() || values.size() > kMaxCustomTags) {
      return "tag filters must be arrays of at most 32 strings";
    }
    for (const Json& v : values) {
      if (!v.is_string() || v.get_ref<const std::string&>().size() > kMaxTagLength) {
        return "tag filters must be strings of at most 64 characters";
      }
    }
  }
  return "";
}

}  // namespace mtep::mmtp

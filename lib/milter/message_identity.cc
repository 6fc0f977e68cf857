// NAME
//   message_identity.cc - the digest stamps are spent with (see
//   message_identity.h)

#include "milter/message_identity.h"

#include <openssl/evp.h>

#include <cstdint>

#include "util/base64.h"

namespace mtep::milter {

bool isTraceHeader(std::string_view name) {
  static constexpr std::string_view kTrace[] = {
      "Received",      "Return-Path",           "Delivered-To",
      "X-Original-To", "Received-SPF",          "Authentication-Results",
      "ARC-Seal",      "ARC-Message-Signature", "ARC-Authentication-Results",
      "X-MTEP-Policy",
  };
  for (std::string_view t : kTrace) {
    if (asciiIEquals(name, t)) return true;
  }
  return false;
}

void MessageIdentity::Free::operator()(evp_md_ctx_st* ctx) const noexcept { EVP_MD_CTX_free(ctx); }

MessageIdentity::MessageIdentity() = default;
MessageIdentity::~MessageIdentity() = default;
MessageIdentity::MessageIdentity(MessageIdentity&&) noexcept = default;
MessageIdentity& MessageIdentity::operator=(MessageIdentity&&) noexcept = default;

void MessageIdentity::start(std::string_view envelope_sender) {
  in_body_ = false;
  ctx_.reset(EVP_MD_CTX_new());
  failed_ = ctx_ == nullptr || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1;
  part('S', envelope_sender);
}

void MessageIdentity::part(char tag, std::string_view bytes) {
  if (!ctx_ || failed_) return;
  unsigned char head[9];
  head[0] = static_cast<unsigned char>(tag);
  const uint64_t n = bytes.size();
  for (int i = 0; i < 8; ++i) head[1 + i] = static_cast<unsigned char>(n >> (56 - 8 * i));
  if (EVP_DigestUpdate(ctx_.get(), head, sizeof head) != 1 ||
      EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size()) != 1) {
    failed_ = true;
  }
}

void MessageIdentity::bodyStarts() {
  // Marks where the headers end: after it everything is body.
  if (in_body_) return;
  in_body_ = true;
  static constexpr unsigned char kBody[] = {'B'};
  if (EVP_DigestUpdate(ctx_.get(), kBody, sizeof kBody) != 1) failed_ = true;
}

void MessageIdentity::header(std::string_view name, std::string_view value) {
  if (!ctx_ || in_body_ || isTraceHeader(name)) return;
  std::string squeezed;
  squeezed.reserve(value.size());
  for (char c : value) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') squeezed.push_back(c);
  }
  part('N', asciiLower(name));
  part('V', squeezed);
}

void MessageIdentity::body(std::string_view chunk) {
  if (!ctx_ || failed_) return;
  bodyStarts();
  // Body pieces are hashed as one stream (no length prefix per piece: the
  // MTA may cut the body anywhere), CR dropped.
  size_t from = 0;
  while (from < chunk.size()) {
    size_t cr = chunk.find('\r', from);
    if (cr == std::string_view::npos) cr = chunk.size();
    if (cr > from && EVP_DigestUpdate(ctx_.get(), chunk.data() + from, cr - from) != 1) {
      failed_ = true;
      return;
    }
    from = cr + 1;
  }
}

std::string MessageIdentity::finish() {
  if (!ctx_ || failed_) {
    ctx_.reset();
    return "";
  }
  bodyStarts();
  static constexpr unsigned char kEnd[] = {'E'};
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const bool ok = EVP_DigestUpdate(ctx_.get(), kEnd, sizeof kEnd) == 1 &&
                  EVP_DigestFinal_ex(ctx_.get(), md, &len) == 1;
  ctx_.reset();
  if (!ok) return "";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

}  // namespace mtep::milter

#include "mmtp/address.h"

namespace mtep::mmtp {

namespace {

bool isAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool localChars(std::string_view s) {
  if (s.empty() || s.size() > kMaxLocal) return false;
  for (char c : s) {
    if (!isAlnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}
bool domainChars(std::string_view s) {
  if (s.empty() || s.size() > kMaxDomain) return false;
  for (char c : s) {
    if (!isAlnum(c) && c != '.' && c != '-') return false;
  }
  return true;
}

// Splits "(L)%(D)" into L and D; false when the shape or a set is wrong.
bool split(std::string_view a, std::string_view* local, std::string_view* domain) {
  if (a.size() < 7 || a.front() != '(' || a.back() != ')') return false;
  const size_t mid = a.find(")%(");
  if (mid == std::string_view::npos) return false;
  const std::string_view l = a.substr(1, mid - 1);
  const std::string_view d = a.substr(mid + 3, a.size() - mid - 4);
  if (!localChars(l) || !domainChars(d)) return false;
  *local = l;
  *domain = d;
  return true;
}

}  // namespace

bool isAddress(std::string_view address) {
  std::string_view l, d;
  return split(address, &l, &d);
}

std::optional<std::string> toMail(std::string_view address) {
  std::string_view l, d;
  if (!split(address, &l, &d)) return std::nullopt;
  return std::string(l) + "@" + std::string(d);
}

std::optional<std::string> fromMail(std::string_view mail) {
  const size_t at = mail.rfind('@');
  if (at == std::string_view::npos) return std::nullopt;
  const std::string_view l = mail.substr(0, at);
  const std::string_view d = mail.substr(at + 1);
  if (!localChars(l) || !domainChars(d)) return std::nullopt;
  return "(" + std::string(l) + ")%(" + std::string(d) + ")";
}

std::string_view domainOf(std::string_view address) {
  std::string_view l, d;
  return split(address, &l, &d) ? d : std::string_view{};
}

std::string_view localOf(std::string_view address) {
  std::string_view l, d;
  return split(address, &l, &d) ? l : std::string_view{};
}

std::string canonical(std::string_view address) {
  std::string_view l, d;
  if (!split(address, &l, &d)) return {};
  std::string out = "(" + std::string(l) + ")%(" + std::string(d) + ")";
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace mtep::mmtp

#pragma once
// NAME
//   domain_name.h - the one normal form of a domain name before it is
//   classified (overlay or DNS), looked up, or handed to a proxy
// SUMMARY
//   auto bare = bareDomainName("mx.example.org.");  // "mx.example.org"
//   bareDomainName("x.onion..")                     // kInvalid: empty label
//   isOverlayTld(topLabel("abc.ONION."))            // true
// DESCRIPTION
//   bareDomainName() drops the one dot that may end an absolute name
//   (the root label) and refuses a name that is empty or has an empty
//   label anywhere: ".onion", "x..onion", "x.onion.." (the last has two
//   trailing dots: one is the root, the other ends an empty label). Case
//   is kept. It is the only place that strips the root dot: the overlay
//   parser, the resolver, the dialer and isOverlayName() all start from
//   it, so no two of them can strip one dot each and let "x.onion.."
//   reach DNS as "x.onion." (issue 13).
//   topLabel() is the last label of the bare name, for routing; of a
//   malformed name it is the last non-empty label, so a malformed
//   "x.onion.." still counts as an onion name wherever a caller forgot
//   to refuse it, and is never given to DNS.
//   Errors are kInvalid, without the name (callers add it, printable).

#include <string_view>

#include "util/result.h"

namespace mtep {

inline Result<std::string_view> bareDomainName(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty()) return Error(ErrorKind::kInvalid, "empty domain name");
  if (name.front() == '.' || name.back() == '.' || name.find("..") != std::string_view::npos) {
    return Error(ErrorKind::kInvalid, "empty label in domain name");
  }
  return name;
}

inline std::string_view topLabel(std::string_view name) {
  while (!name.empty() && name.back() == '.') name.remove_suffix(1);
  const size_t dot = name.rfind('.');
  return dot == std::string_view::npos ? name : name.substr(dot + 1);
}

// "onion" or "i2p", ASCII case-insensitive: names only the overlay proxy resolves.
inline bool isOverlayTld(std::string_view label) {
  auto equals = [label](std::string_view want) {
    if (label.size() != want.size()) return false;
    for (size_t i = 0; i < want.size(); ++i) {
      char c = label[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
      if (c != want[i]) return false;
    }
    return true;
  };
  return equals("onion") || equals("i2p");
}

}  // namespace mtep

#pragma once
// NAME
//   address.h - MMTP addresses "(local)%(domain)" and their mail form
// SUMMARY
//   mmtp::isAddress("(bob)%(beta.test)")           -> true
//   mmtp::toMail("(bob)%(beta.test)")              -> "bob@beta.test"
//   mmtp::fromMail("bob@beta.test")                -> "(bob)%(beta.test)"
//   mmtp::domainOf("(bob)%(beta.test)")            -> "beta.test"
// DESCRIPTION
//   The seed's regular expression, ^\([a-zA-Z0-9._-]+\)%\([a-zA-Z0-9.-]+\)$,
//   checked by hand (no regex engine on the data path), with a length cap
//   the reference lacks: at most kMaxLocal characters of local part and
//   kMaxDomain of domain. The bridge maps a@b <-> (a)%(b); a mail address
//   whose local part or domain has characters outside those sets (quoted
//   local parts, '+', U-labels) has no MMTP form. Comparison of addresses
//   (mailbox ownership, keys) uses canonical(): all in ASCII lower case,
//   as the key service's user names are.
// SEE ALSO
//   PROTOCOLS.md section 5 (the seed's address form)

#include <optional>
#include <string>
#include <string_view>

namespace mtep::mmtp {

inline constexpr size_t kMaxLocal = 64;
inline constexpr size_t kMaxDomain = 253;

bool isAddress(std::string_view address);
// "local@domain" for an MMTP address; nullopt when it is not one.
std::optional<std::string> toMail(std::string_view address);
// "(local)%(domain)" for a mail address whose parts fit MMTP's sets.
std::optional<std::string> fromMail(std::string_view mail);
// The domain of an MMTP address (as written); "" when it is not one.
std::string_view domainOf(std::string_view address);
// The local part of an MMTP address; "" when it is not one.
std::string_view localOf(std::string_view address);
// The address in ASCII lower case; "" when it is not one.
std::string canonical(std::string_view address);

}  // namespace mtep::mmtp

#pragma once
// NAME
//   address.h - RFC 5321 mailbox and path parsing, with SMTPUTF8 (RFC 6531)
// SUMMARY
//   auto a = parseMailbox("user@example.org", {.smtputf8 = true});
//   auto p = parsePath("<@relay:user@example.org>");  // reverse/forward path
// DESCRIPTION
//   Mailbox = Local-part "@" ( Domain / address-literal ).
//   Local-part is a Dot-string or a Quoted-string (quoted-pairs allowed,
//   printable ASCII only in quotes; UTF-8 too with smtputf8).
//   Domain: sub-domains of letters, digits and hyphens, not starting or ending
//   with a hyphen, each at most 63 octets; U-labels (valid UTF-8) with
//   smtputf8. Address literals: [IPv4], [IPv6:...] (checked with inet_pton),
//   and General-address-literal [tag:content].
//   Limits (RFC 5321 4.5.3.1): local part 64 octets, domain 255, path 256.
//   Limits (RFC 5321 4.5.3.1): local part 64 octets as written (quotes and
//   backslashes count), domain 255, each label 63, path 256 octets including
//   "<", ">" and the source route (a bare mailbox given to parsePath counts
//   as if bracketed). parseMailbox checks only the local part and domain
//   limits.
//   IPv4 literals: four 1-3 digit octets 0..255 without leading zeros (as
//   inet_pton reads them). "IPv6:" is matched case-insensitively and the
//   rest must pass inet_pton(AF_INET6). Any other tag is a
//   General-address-literal: an Ldh-str tag, ":", then printable ASCII
//   except "[", "\" and "]".
//   Invalid UTF-8 is always refused (strict: no overlong forms, no
//   surrogates, nothing above U+10FFFF, no C1 controls U+0080..U+009F).
//   A path's source route is accepted and dropped. The null reverse-path
//   "<>" is accepted by parsePath only with allow_null. No whitespace is
//   allowed anywhere outside a quoted local part.
//   Errors are ErrorKind::kInvalid with a message naming the rule broken
//   (for example "local part longer than 64 octets"); messages never echo
//   the input, so they are safe to log.
//
//   envelopeAddress() is what the milter and mtep-policyd use to find the
//   domain, and so the policy, of an envelope address. MTAs accept more
//   than the grammar above (Postfix takes local parts over 64 octets, a
//   trailing dot, paths over 256 octets), and every address an MTA takes
//   must get a policy, so an address parsePath refuses still has a domain
//   when one can be found:
//     - spaces and tabs trimmed; one "<" ... ">" pair removed (a "<"
//       without its ">" finds nothing); an empty address finds nothing
//       (the null path is parsePath's "<>" alone);
//     - a source route, "@" up to the first ":", dropped;
//     - the domain is what follows the last "@" outside a quoted string
//       (backslash escapes one character; an unclosed quote finds nothing),
//       with every trailing dot removed; it must then be non-empty and be
//       an address literal ("[" printable ASCII but "[", "]", "\\" "]")
//       or hold no space, control byte,
//       '"', '(', ')', '<', '>', '[', ']', '\', ',', ';', ':' or '@', and
//       be strict UTF-8;
//     - "postmaster" without a domain (any case; RFC 5321 4.5.1) is the
//       MTA's own postmaster: kind kPostmaster, domain "" (Config::policyFor
//       gives [domain_defaults] for it).
//   The domain is lower-cased (ASCII letters only) and is the key for
//   Config::policyFor; U-labels are left as written (no IDNA mapping).
//   An MTA may route by the local part too: Postfix's percent hack
//   ("user%other@localdomain"), bang paths ("other!user@localdomain") and
//   "user@other@localdomain", looking inside quotes (resolve_dequoted_address
//   = yes). When the local part, quotes and backslashes removed, holds '%',
//   '!' or '@', every non-empty piece between them (trailing dots removed,
//   lower case) is in routed_domains: Config::policyForAddress then needs
//   them all to share the domain's policy.

#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace mtep::smtp {

struct AddressOptions {
  bool smtputf8 = true;     // accept UTF-8 in local part and domain
  bool allow_null = false;  // parsePath: accept "<>" (empty mailbox)
};

struct Mailbox {
  std::string local_part;   // as written, quotes removed and quoted-pairs resolved
  std::string domain;       // as written (case kept); an address literal keeps its brackets
  bool quoted = false;      // local part was a Quoted-string
  bool literal = false;     // domain is an address literal
  bool utf8 = false;        // contains non-ASCII octets
  bool isNull() const { return local_part.empty() && domain.empty(); }
  // The domain lower-cased (ASCII only) for lookups and policy.
  std::string domainLower() const;
  // Canonical text form: local part re-quoted when needed (a quote or a
  // backslash inside gets one backslash), "@", domain. Empty for the null
  // path. Never longer than the text it was parsed from, so it re-parses to
  // the same local part and domain.
  std::string toString() const;
  // The binding key for tokens: toString() with ASCII letters lower-cased.
  std::string canonicalLower() const;
};

Result<Mailbox> parseMailbox(std::string_view in, const AddressOptions& opts = {});
// Accepts "<mailbox>", "<@a,@b:mailbox>", and a bare mailbox (lenient,
// Postfix policy requests carry bare addresses). "<>" only with allow_null.
Result<Mailbox> parsePath(std::string_view in, const AddressOptions& opts = {});
// Checks a domain (not a literal) by the rules above; lets callers validate
// config keys such as [domain."example.org"].
Status checkDomain(std::string_view domain, bool smtputf8 = true);

// Where an envelope address goes, as far as policy is concerned (see
// DESCRIPTION).
struct EnvelopeAddress {
  enum class Kind {
    kMailbox,     // parsePath accepted it; `mailbox` holds it
    kLoose,       // parsePath refused it, but its domain was found
    kPostmaster,  // bare "postmaster": the MTA's own; domain ""
    kNull,        // "<>", only with allow_null
    kNoDomain,    // no domain can be found: its policy is unknown
  };
  Kind kind = Kind::kNoDomain;
  Mailbox mailbox;      // kMailbox only
  std::string domain;   // the policy key: lower case (ASCII), no trailing dot; "" unless found
  std::string address;  // kMailbox: mailbox.canonicalLower(); kLoose: local part as written
                        // (no brackets, no route), "@", domain, lower case (ASCII);
                        // kPostmaster: "postmaster"; else ""
  std::string error;    // why parsePath refused it (kLoose, kPostmaster, kNoDomain)
  std::vector<std::string> routed_domains;  // kMailbox, kLoose: other domains the local part names
  // A domain (or the postmaster) was found: its policy applies.
  bool found() const {
    return kind == Kind::kMailbox || kind == Kind::kLoose || kind == Kind::kPostmaster;
  }
};
// Never fails: an address without a domain is kNoDomain, for the caller to
// refuse or tempfail where a policy could apply.
EnvelopeAddress envelopeAddress(std::string_view in, const AddressOptions& opts = {});

// The key a domain is looked up by in policy tables (Config::policyFor,
// its server tables, sender patterns): ASCII letters lower-cased, trailing
// dots removed, and a name holding non-ASCII octets in its IDNA A-label
// form (libidn2, UTS #46 non-transitional: Unicode case folded, NFC), so
// that "BÜCHER.test", "bücher.test" and "xn--bcher-kva.test" are one
// domain; a name libidn2 cannot convert stays lower-cased UTF-8. A leading
// '.' (a parent entry) is kept.
std::string domainKey(std::string_view domain);

// True when `s` is strict UTF-8 as described above (ASCII C0 controls and
// DEL are allowed here; the address grammar refuses them separately).
bool isStrictUtf8(std::string_view s);

}  // namespace mtep::smtp

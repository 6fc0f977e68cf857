#pragma once
// NAME
//   e2ee_message.h - the message edits of mtepctl sign, verify, encrypt and
//   decrypt: header fields replaced, the From address, the body swapped
// SUMMARY
//   std::string out = ctl::withHeaders(message, {{"X-Sender-Signature", "ed25519 ab.."}});
//   Result<std::string> from = ctl::fromAddress(message);   // "alice@alpha.test"
//   std::optional<std::string> sig = ctl::firstHeader(message, "X-Sender-Signature");
//   std::string sealed = ctl::withBody(message, armor);
// DESCRIPTION
//   A message is RFC 5322 text: header fields up to the first empty line,
//   then the body. Lines end in CRLF or bare LF; the first line's ending
//   is the message's, and text this module adds uses it, so a file with LF
//   endings stays LF. A message without an empty line is all header.
//   Header names match without regard to ASCII case; a field's
//   continuation lines (starting with SP or HT) belong to it.
//   withHeaders() removes every field with one of the given names and puts
//   the new fields first, in the order given (where DKIM-Signature and
//   trace fields go); nothing else changes, byte for byte.
//   fromAddress() reads the first From: field with e2ee::fromMailbox (the
//   parser the milter's signature check uses): "Name <addr>", "addr",
//   "addr (comment)", quoted display names; more than one mailbox, a group
//   or an address smtp::parseMailbox refuses is kInvalid, no From: field is
//   kNotFound. Nothing here does I/O.
// SEE ALSO
//   lib/e2ee/e2ee.h (what is signed), mtepctl(1)

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace mtep::ctl {

struct MessageParts {
  std::string_view header;  // the header fields, each line with its ending; no empty line
  std::string_view body;    // after the empty line; "" when there is none
  bool has_separator = false;  // an empty line was found
  std::string_view eol;        // "\r\n" or "\n": the first line's ending ("\r\n" when none)
};
MessageParts splitMessage(std::string_view message);

struct HeaderField {
  std::string name;   // "X-Sender-Signature"
  std::string value;  // one line, no line ending
};

// The message with every field named like one of `fields` removed and
// `fields` put first (see DESCRIPTION).
std::string withHeaders(std::string_view message, const std::vector<HeaderField>& fields);
// The message with every field called `name` removed.
std::string withoutHeader(std::string_view message, std::string_view name);
// The first field called `name`: its value unfolded (line breaks removed),
// surrounding WSP trimmed; nullopt when there is none.
std::optional<std::string> firstHeader(std::string_view message, std::string_view name);
// The address of the first From: field (see DESCRIPTION).
Result<std::string> fromAddress(std::string_view message);
// The message's header and separator with `body` after them (an empty line
// is added when the message had none).
std::string withBody(std::string_view message, std::string_view body);
// `text` with every line ending (CRLF or LF) turned into `eol`.
std::string withLineEnding(std::string_view text, std::string_view eol);

}  // namespace mtep::ctl

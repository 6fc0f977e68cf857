#pragma once
// NAME
//   mail.h - an RFC 5322 message from the MTA as MMTP content, and the
//   packet the reference client would have built for it
// SUMMARY
//   Result<MailContent> c = mmtp::readMail(lmtp_message);        // kInvalid / kLimit: why
//   std::string token = *pow::mintMmtp(mmtp::stampResource(S, R, ts), d, ts);
//   Json packet = mmtp::buildPacket(S, R, *c, ts, token, mmtp::newMessageId());
// DESCRIPTION
//   readMail() takes the message as the MTA hands it over (CRLF or LF line
//   ends, dot-unstuffed) and finds what MMTP can carry:
//   - subject: the first Subject field, unfolded (CRLF before white space
//     removed), leading and trailing white space trimmed, RFC 2047
//     encoded-words decoded (B and Q; white space between two adjacent
//     encoded-words dropped). Charsets: UTF-8, US-ASCII, ISO-8859-1
//     (latin1) and windows-1252 are converted; any other charset's bytes
//     are kept as they are when they are valid UTF-8, else refused. Text
//     outside encoded-words must be UTF-8 (RFC 6532). No Subject: "".
//   - body: the message's own when it is text/plain (no Content-Type is
//     text/plain; charset=us-ascii, RFC 2045), else the first text/plain
//     part of a multipart/* message that is not Content-Disposition:
//     attachment, looked for depth first through at most
//     MailLimits::max_depth levels of multipart (2: a multipart/
//     alternative inside a multipart/mixed). Content-Transfer-Encoding
//     7bit, 8bit, binary (or none), quoted-printable, base64 is decoded
//     and the charset parameter applied as for the subject; then CRLF
//     becomes LF (MMTP bodies are JavaScript strings).
//   - tags: X-MMTP-Tags (as mtepd writes it when it hands a SEND to the
//     MTA: compact JSON, maybe RFC 2047-encoded) when it is an object that
//     packet.h's checkTags() accepts; otherwise {} and `tags_ignored` says
//     why (the message still goes: the tags are a hint, not the mail).
//   Refused (kInvalid, the message says why, for a 550 5.6.x): no
//   text/plain part ("HTML only" when there is text/html), a body or
//   subject that is not valid UTF-8 after decoding or holds NUL, bad
//   base64, an unknown transfer encoding, a multipart without a boundary.
//   Over a limit (kLimit): more header fields or header bytes in one
//   header section, more MIME parts, or a longer subject than MailLimits
//   allows. Nothing is truncated silently.
//   Header fields: "NAME:" with NAME printable ASCII but ':'; a line that
//   is neither a field nor a continuation ends the header section and
//   starts the body (as Postfix's cleanup reads it).
//
//   buildPacket() writes the packet exactly as the reference client's
//   createMessagePacket does, member for member and in its order:
//     {"meta":{"type":"SEND","messageId":ID,"timestamp":TS,
//      "hashcashToken":{"token":TOKEN,"counter":N},"encrypted":false,
//      "signed":false,"tags":{...}},"sender":S,"recipient":R,
//      "content":{"subject":...,"body":...},
//      "verification":{"messageHash":messageHash(content)}}
//   N is the token's counter (its last field), 0 when it has none.
//   stampResource() is what the token names: "SENDER:RECIPIENT:TS".
// SEE ALSO
//   packet.h (what a server checks), json.h (messageHash), pow/pow.h
//   (mintMmtp), RFC 2045, 2046, 2047, 5322, 6532

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mmtp/json.h"
#include "util/result.h"

namespace mtep::mmtp {

struct MailLimits {
  size_t max_header_fields = 1000;       // fields in one header section
  size_t max_header_bytes = 256 * 1024;  // bytes of one header section
  size_t max_parts = 100;                // MIME parts looked at, all levels
  size_t max_depth = 2;                  // levels of multipart (1: no nesting)
  size_t max_subject_bytes = 16 * 1024;  // the decoded subject
};

struct MailContent {
  std::string subject;         // UTF-8
  std::string body;            // UTF-8, LF line ends
  Json tags = Json::object();  // meta.tags
  std::string tags_ignored;    // why X-MMTP-Tags was not used; "" = used or absent
};

Result<MailContent> readMail(std::string_view message, const MailLimits& limits = {});

// "SENDER:RECIPIENT:TS", the resource the stamp names.
std::string stampResource(std::string_view sender, std::string_view recipient,
                          int64_t timestamp_ms);

Json buildPacket(std::string_view sender, std::string_view recipient, const MailContent& content,
                 int64_t timestamp_ms, std::string_view stamp_token, std::string_view message_id);

// RFC 2047 decoding of an unfolded header value, as for the subject above;
// kInvalid when the result is not UTF-8 (exposed for tests).
Result<std::string> decodeHeaderText(std::string_view value);

}  // namespace mtep::mmtp

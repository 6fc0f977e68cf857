#pragma once
// NAME
//   protocol.h - the STOKEN protocol's texts: AUTH STOKEN payloads, RCPT
//   parameters, GENSTOKEN and REVSTOKEN arguments, the 2.1.11/2.1.12/
//   2.1.13 replies and the Submission-Token header field. No I/O.
// SUMMARY
//   auto a = parseAuthPayload(args);            // {recipient, token}
//   auto p = parseRcptParams(path_arg.params);  // STOKEN=, MYSTOKEN=, the rest
//   ManageParse m = parseManageArgs("GENSTOKEN", "PERM alice@alpha.test");
//   std::string line = formatDelivered("bob@beta.test", "Nk2...", "Saved");
// DESCRIPTION
//   AUTH STOKEN: base64 (RFC 4648, standard alphabet) of "recipient NUL
//   token". The draft's own example encodes a literal backslash and "0"
//   instead of the NUL; that is accepted too (split at the last "\0":
//   tokens never contain a backslash, addresses might). At most one real
//   NUL. Limits: kMaxAuthText characters of base64, an address of at most
//   stoken::kMaxAddress bytes, a token of at most kMaxForeignToken.
//   RCPT parameters: space-separated KEYWORD[=VALUE]; STOKEN and MYSTOKEN
//   matched without regard to case, each at most once, each with a value
//   passing isForeignToken(); every other parameter is kept as written in
//   `others` (the caller decides whether the backend advertised it).
//   Replies (draft 7.4.1, 5.4.1):
//     250 2.1.11 TOKEN TEXT
//     250 2.1.12 <ADDRESS> DELIVERY-ID TEXT
//     250 2.1.13 <ADDRESS> TOKEN DELIVERY-ID TEXT
//   The parse functions take a reply line's text after the code and its
//   separator ("2.1.13 <a@b> TOKEN ID Saved"), as smtp::ParsedReply holds it.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stoken/book.h"
#include "stoken/token.h"
#include "util/result.h"

namespace mtep::stoken {

inline constexpr size_t kMaxAuthText = 1024;     // base64 characters of AUTH STOKEN's payload
inline constexpr size_t kMaxDeliveryId = 128;    // 2.1.12/2.1.13 delivery id
inline constexpr size_t kMaxHeaderValue = 4096;  // Submission-Token field value, folded

struct AuthPayload {
  std::string recipient;  // as sent (not canonicalised)
  std::string token;
};
// kInvalid for bad base64, no separator, an empty or over-long part,
// control bytes in the token; kLimit for text over kMaxAuthText.
Result<AuthPayload> parseAuthPayload(std::string_view base64_text);
// base64 of recipient NUL token (what our client sends).
std::string formatAuthPayload(std::string_view recipient, std::string_view token);

struct RcptParams {
  std::optional<std::string> stoken;
  std::optional<std::string> mystoken;
  std::vector<std::string> others;  // every other "KEYWORD[=VALUE]" as written
};
// kInvalid with a message fit for "501 5.5.4 ..." for a duplicate, empty
// or bad STOKEN/MYSTOKEN, or a parameter that is not KEYWORD[=VALUE].
Result<RcptParams> parseRcptParams(std::string_view params);

struct ManageArgs {
  Kind kind = Kind::kTemporary;  // GENSTOKEN only
  std::string remote;            // canonicalAddress()
  std::string local;             // canonicalAddress(); "" when not given
};
enum class ManageError {
  kNone,
  kSyntax,     // 501 5.5.4: wrong number of arguments, not PERM/TEMP
  kBadRemote,  // 501 5.1.3
  kBadLocal,   // 501 5.1.7
};
struct ManageParse {
  ManageError error = ManageError::kNone;
  ManageArgs args;
};
// `verb` "GENSTOKEN" (args: (PERM|TEMP) remote [local]) or "REVSTOKEN"
// (args: remote [local]); addresses bare or in angle brackets; PERM and
// TEMP without regard to case. Another verb is kSyntax.
ManageParse parseManageArgs(std::string_view verb, std::string_view args);

// "250 2.1.11 TOKEN TEXT"
std::string formatGenerated(std::string_view token, std::string_view text);
// The token from "2.1.11 TOKEN TEXT"; kInvalid otherwise.
Result<std::string> parseGenerated(std::string_view text);

struct DeliveryReply {
  std::string address;                   // inside the angle brackets
  std::optional<std::string> permanent;  // 2.1.13 only
  std::string delivery_id;
  std::string text;  // the rest, may be empty
};
// "250 2.1.12 <ADDRESS> ID TEXT" and "250 2.1.13 <ADDRESS> TOKEN ID TEXT".
std::string formatDelivered(std::string_view address, std::string_view delivery_id,
                            std::string_view text);
std::string formatDeliveredWithToken(std::string_view address, std::string_view token,
                                     std::string_view delivery_id, std::string_view text);
// From "2.1.12 <ADDRESS> ID TEXT" or "2.1.13 <ADDRESS> TOKEN ID TEXT";
// kInvalid for anything else (another status, a bad token, no id).
Result<DeliveryReply> parseDeliveryReply(std::string_view text);

// The token in a Submission-Token header field's value: one token,
// surrounding white space and folding (CRLF followed by WSP) ignored,
// optionally in angle brackets. kInvalid for none, several, or a value
// failing isForeignToken(); kLimit over kMaxHeaderValue.
Result<std::string> parseSubmissionTokenHeader(std::string_view value);

}  // namespace mtep::stoken

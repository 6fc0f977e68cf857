#pragma once
// NAME
//   protocol.h - MTEP (Mail Token Exchange Protocol) messages, I/O-free
// SUMMARY
//   encodeQuery("tok", "a@b.example", "") == "..:1:?,3:tok,..:a@b.example,,"
//   ResponseDecoder d; d.feed(bytes, &used) -> kMessage; d.response()
// DESCRIPTION
//   A request is ONE netstring whose payload is a sequence of netstrings:
//   the command ("?" or "Q") then its arguments. CR/LF are ignored after any
//   comma, inside the payload and between requests (the seed's
//   "22:1:?,\r\n12:unvanquished,," counts the CRLF in its 22).
//   A response is ONE netstring: a verdict letter (K yes, Z unsure/temporary,
//   D no, I informational: not understood or not supported), then an enhanced
//   status code whose class digit may be omitted ("D.7.8" == "D5.7.8"), then
//   optionally a space and text for humans. Response text never carries
//   control characters: payload() and parseResponsePayload() turn CR, LF and
//   other ASCII controls into spaces (the text may end up in an SMTP reply or
//   a log line). UTF-8 passes through.
//   See seeds/000 and PROTOCOLS.md section 1.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netstring/netstring.h"
#include "smtp/status.h"
#include "util/result.h"

namespace mtep::proto {

inline constexpr uint16_t kDefaultPort = 6211;

enum class Verdict : char { kYes = 'K', kTemporary = 'Z', kNo = 'D', kInfo = 'I' };

// The enhanced status class a verdict implies: K 2, Z 4, D 5, I 5.
uint8_t impliedClass(Verdict v) noexcept;

struct Response {
  Verdict verdict = Verdict::kInfo;
  std::optional<smtp::EnhancedStatus> code;  // MUST be present on D/Z/I we send
  std::string text;                          // no CR/LF; may be empty
  // "D5.7.8 text" (the netstring payload, not the netstring); "K text" when
  // there is no code, "K2.0.0" when there is no text.
  std::string payload() const;
};

struct Limits {
  size_t max_request_size = 4096;  // outer netstring payload, bytes
  size_t max_elements = 16;        // command + arguments
};

// A parsed request: elements[0] is the command.
struct Request {
  std::vector<std::string> elements;
  const std::string& command() const { return elements.front(); }
};

// Parses the payload of one request netstring into its elements (CR/LF
// after any comma skipped). Errors: no element at all (empty payload or only
// CR/LF) is kInvalid (answer it, go on); a framing error inside is kProtocol
// (close); more than max_elements elements is kLimit (close).
Result<Request> parseRequestPayload(std::string_view payload, const Limits& limits);

// Client side encoders. sender/recipient are omitted when empty (a recipient
// without a sender sends an empty sender element).
std::string encodeQuery(std::string_view token, std::string_view sender = {},
                        std::string_view recipient = {});
std::string encodeQuit();
std::string encodeResponse(const Response& r);

// Parses a response payload ("K2.3.0 CYA Thanks", "D.7.8 text", "K").
// A missing class digit is implied from the verdict (K 2, Z 4, D 5, I 5).
// An unknown verdict letter, or a malformed code, is kProtocol. The class
// digit is not required to match the verdict; the letter decides.
Result<Response> parseResponsePayload(std::string_view payload);

// Incremental decoder for a stream of responses (client side). CR/LF between
// responses are skipped. Like netstring::Decoder it consumes one response per
// kMessage; after kError it stays in error.
class ResponseDecoder {
 public:
  explicit ResponseDecoder(size_t max_size = 4096);
  // kMessage: response() valid until the next feed(); kError: error() says why.
  netstring::DecodeState feed(std::string_view in, size_t* consumed);
  const Response& response() const { return response_; }
  const std::string& error() const { return error_; }

 private:
  netstring::Decoder decoder_;
  Response response_;
  std::string error_;
  bool failed_ = false;
};

}  // namespace mtep::proto

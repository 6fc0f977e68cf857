// mail_fuzz - mmtp::readMail on any bytes as the MTA's message, with
// limits taken from the input's hash, and the packet built from what it
// reads.
// Invariants: readMail never crashes; an accepted message gives a subject
// and body that are strict UTF-8 without NUL, a subject within
// max_subject_bytes, each at most three times the
// input (windows-1252 to UTF-8 is the largest growth), and tags that
// checkTags() accepts; a refusal is kInvalid or kLimit with a message.
// The packet built from it is read by readPacket() (shape, addresses,
// tags, messageHash) and survives jsStringify and parseJson unchanged.
// decodeHeaderText() on the input gives strict UTF-8 without NUL or a
// kInvalid.

#include <cstddef>
#include <cstdint>
#include <string>

#include "../netstring/fuzz_slices.h"
#include "mmtp/mail.h"
#include "mmtp/packet.h"
#include "smtp/address.h"

using mtep::ErrorKind;
using mtep::mmtp::Json;
using mtep::mmtp::MailLimits;

namespace {

void checkText(const std::string& s, size_t input_size) {
  FUZZ_CHECK(mtep::smtp::isStrictUtf8(s));
  FUZZ_CHECK(s.find('\0') == std::string::npos);
  FUZZ_CHECK(s.size() <= 3 * input_size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in = mtep::fuzz::asView(data, size);
  const uint64_t h = mtep::fuzz::hashBytes(in);
  MailLimits limits;
  if (h & 1) {
    limits.max_header_fields = 1 + ((h >> 1) & 15);
    limits.max_header_bytes = 16 + ((h >> 5) & 1023);
    limits.max_parts = 1 + ((h >> 15) & 7);
    limits.max_depth = (h >> 18) & 3;
    limits.max_subject_bytes = (h >> 20) & 255;
  }

  auto mail = mtep::mmtp::readMail(in, limits);
  if (!mail.ok()) {
    FUZZ_CHECK(mail.error().kind() == ErrorKind::kInvalid ||
               mail.error().kind() == ErrorKind::kLimit);
    FUZZ_CHECK(!mail.error().message().empty());
  } else {
    checkText(mail->subject, size);
    checkText(mail->body, size);
    FUZZ_CHECK(mail->subject.size() <= limits.max_subject_bytes);
    FUZZ_CHECK(mail->tags.is_object());
    FUZZ_CHECK(mtep::mmtp::checkTags(mail->tags).empty());
    FUZZ_CHECK(mail->tags.empty() || mail->tags_ignored.empty());

    const std::string sender = "(alice)%(alpha.test)";
    const std::string recipient = "(bob)%(beta.test)";
    const Json packet = mtep::mmtp::buildPacket(sender, recipient, *mail, 1800000000000,
                                                "1:0:1800000000000:x::7:", "id");
    FUZZ_CHECK(packet["meta"]["hashcashToken"]["counter"] == 7);
    const std::string text = mtep::mmtp::jsStringify(packet);
    const Json again = mtep::mmtp::parseJson(text);
    FUZZ_CHECK(!again.is_discarded());
    FUZZ_CHECK(mtep::mmtp::jsStringify(again) == text);
    const mtep::mmtp::PacketRead read = mtep::mmtp::readPacket(again, "server-id");
    FUZZ_CHECK(read.ok);
    FUZZ_CHECK(read.packet.subject == mail->subject && read.packet.body == mail->body);
  }

  auto header = mtep::mmtp::decodeHeaderText(in);
  if (header.ok()) {
    checkText(*header, size);
  } else {
    FUZZ_CHECK(header.error().kind() == ErrorKind::kInvalid);
  }
  return 0;
}

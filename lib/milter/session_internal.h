#pragma once
// NAME
//   session_internal.h - helpers shared by the milter session's files
//   (session.cc, signature.cc); not for use outside lib/milter
// DESCRIPTION
//   Reply and log text shaping, the way session.h describes it.

#include <cstddef>
#include <string>
#include <string_view>

#include "milter/session.h"
#include "smtp/address.h"
#include "util/result.h"

namespace mtep::milter::internal {

constexpr size_t kMaxReply = 199;   // characters of reply text
constexpr size_t kMaxLogged = 200;  // a peer's value in a log line

bool iequals(std::string_view a, std::string_view b);
// Spaces and tabs off both ends.
std::string_view trim(std::string_view s);
// Printable ASCII without '%', at most `max` characters ("..." marks a
// cut); every other byte becomes '?'. Safe in an SMTP reply.
std::string shown(std::string_view text, size_t max);
// A peer's value for a log line, cut at kMaxLogged.
std::string logged(std::string_view text);
// An envelope path (SMTPUTF8 allowed), trimmed first: smtp::envelopeAddress.
smtp::EnvelopeAddress parseEnvelope(std::string_view text, bool allow_null);
// A decision with a reply whose text is shown() within kMaxReply.
Decision reply(Step step, const char* code, const char* esc, const std::string& text);

}  // namespace mtep::milter::internal

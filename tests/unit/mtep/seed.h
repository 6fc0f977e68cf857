#pragma once
// NAME
//   seed.h - the exchange from the MTEP draft (seeds/000), byte for byte
// DESCRIPTION
//   The query's 22 counts the CRLF after its first element: the draft's
//   plain-text copy lost it, the length says it was there.

#include <string>

namespace mtep::proto::seed {

inline const std::string kQuery = "22:1:?,\r\n12:unvanquished,,";
inline const std::string kQuit = "4:1:Q,,";
inline const std::string kDenyText =
    "Nobody here has registered that token within my expiry time for tokens - probably "
    "refuse that message.";
inline const std::string kDenyResponse = "109:D5.7.8 " + kDenyText + ",";
inline const std::string kQuitResponse = "30:K2.3.0 CYA Thanks for playing!,";

}  // namespace mtep::proto::seed

#include "mtep/farewell.h"

#include <array>

namespace mtep::proto {
namespace {

// The first one is the seed's own, so a fresh rota reproduces its exchange.
constexpr std::array<std::string_view, 14> kFarewells = {
    "Thanks for playing!",                  // English (the seed's)
    "Merci, à bientôt !",                   // French
    "Tschüss, bis bald!",                   // German
    "¡Hasta pronto, que te vaya bien!",     // Spanish
    "Grazie e a presto!",                   // Italian
    "Obrigado, até logo!",                  // Portuguese
    "Bedankt en tot ziens!",                // Dutch
    "Tack och ha en fin dag!",              // Swedish
    "Kiitos ja näkemiin!",                  // Finnish
    "Dziękuję, do zobaczenia!",             // Polish
    "Takk for nå, ha det bra!",             // Norwegian
    "Go raibh maith agat, slán go fóill!",  // Irish
    "Have a lovely day!",                   // English
    "Safe travels, little message!",        // English
};

}  // namespace

FarewellRota::FarewellRota() = default;

std::string_view FarewellRota::next() {
  const size_t i = index_.fetch_add(1, std::memory_order_relaxed);
  return kFarewells[i % kFarewells.size()];
}

std::span<const std::string_view> FarewellRota::all() { return kFarewells; }

}  // namespace mtep::proto

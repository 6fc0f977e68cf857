// NAME
//   book_tokens.cc - stoken::TokenBook for the milter's sessions
// DESCRIPTION
//   See book_tokens.h.

#include "book_tokens.h"

#include "stoken/book.h"

namespace mtep::milterd {

Result<std::string> BookTokens::temporary(std::string_view remote, std::string_view local,
                                          const stoken::BookLimits& limits) {
  auto ring = keys_.ring();
  if (!ring) return Error(ring.error());
  auto store = stores_.acquire(shared_.config()->store);
  if (!store) return Error(store.error());
  stoken::TokenBook book(**store, **ring, clock_, limits);
  return book.generate(stoken::Kind::kTemporary, remote, local);
}

Result<bool> BookTokens::hold(std::string_view local, std::string_view remote,
                              std::string_view token, stoken::Kind kind,
                              const stoken::BookLimits& limits) {
  auto store = stores_.acquire(shared_.config()->store);
  if (!store) return Error(store.error());
  // Holding signs nothing: an empty ring will do.
  const token::KeyRing none = token::KeyRing::fromKeys({});
  stoken::TokenBook book(**store, none, clock_, limits);
  return book.hold(local, remote, token, kind);
}

}  // namespace mtep::milterd

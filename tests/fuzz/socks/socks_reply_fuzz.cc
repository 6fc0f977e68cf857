// socks_reply_fuzz - socks::Client fed a proxy's bytes whole, in slices, and
// exactly wanted() bytes at a time. Whether credentials are offered and
// whether the host is a name or an address come from a hash of the input.
// Invariants: the three feeds agree on the outcome, on what the client sends
// and on how many bytes the handshake used; no feed consumes more than it was
// given; output appears only with kSend; feeds after kDone/kError consume
// nothing; wanted() is 0 exactly when finished; a done handshake has a bound
// address; every failure has a text and a blame.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../netstring/fuzz_slices.h"
#include "socks/socks.h"

using mtep::socks::Blame;
using mtep::socks::Client;
using mtep::socks::Credentials;
using mtep::socks::Failure;
using mtep::socks::Request;
using mtep::socks::State;

namespace {

struct Outcome {
  State state = State::kNeedMore;
  std::vector<std::string> sent;
  size_t consumed = 0;
  Failure failure = Failure::kNone;
  uint8_t code = 0;
  std::string bound;
};

void finish(Client& c, State st, Outcome* o) {
  o->state = st;
  o->failure = c.failure();
  o->code = c.replyCode();
  FUZZ_CHECK(c.wanted() == 0);
  size_t again = 1;
  std::string out;
  FUZZ_CHECK(c.feed("x", &again, &out) == st && again == 0 && out.empty());
  if (st == State::kDone) {
    FUZZ_CHECK(c.failure() == Failure::kNone && c.blame() == Blame::kNone);
    FUZZ_CHECK(!c.bound().address.empty());
    o->bound = c.bound().address + ":" + std::to_string(c.bound().port);
  } else {
    FUZZ_CHECK(c.failure() != Failure::kNone && c.blame() != Blame::kNone);
    FUZZ_CHECK(!c.errorText().empty());
  }
}

Outcome drive(const Request& r, const std::vector<std::string_view>& pieces) {
  Outcome o;
  auto made = Client::create(r);
  FUZZ_CHECK(made.ok());
  Client c = std::move(made).value();
  for (std::string_view piece : pieces) {
    while (!piece.empty()) {
      FUZZ_CHECK(c.wanted() > 0);
      size_t used = 0;
      std::string out;
      const State st = c.feed(piece, &used, &out);
      FUZZ_CHECK(used <= piece.size());
      FUZZ_CHECK(out.empty() == (st != State::kSend));
      o.consumed += used;
      piece.remove_prefix(used);
      if (st == State::kSend) {
        o.sent.push_back(out);
      } else if (st == State::kNeedMore) {
        FUZZ_CHECK(piece.empty());
      } else {
        finish(c, st, &o);
        return o;
      }
    }
  }
  FUZZ_CHECK(c.wanted() > 0);
  return o;
}

Outcome driveWanted(const Request& r, std::string_view in) {
  Outcome o;
  auto made = Client::create(r);
  FUZZ_CHECK(made.ok());
  Client c = std::move(made).value();
  while (o.consumed < in.size()) {
    const size_t want = c.wanted();
    FUZZ_CHECK(want > 0);
    size_t used = 0;
    std::string out;
    const std::string_view piece = in.substr(o.consumed, want);
    const State st = c.feed(piece, &used, &out);
    o.consumed += used;
    if (st == State::kSend) {
      FUZZ_CHECK(used == want);
      o.sent.push_back(out);
    } else if (st == State::kNeedMore) {
      FUZZ_CHECK(used == piece.size());
    } else {
      finish(c, st, &o);
      return o;
    }
  }
  return o;
}

bool same(const Outcome& a, const Outcome& b) {
  return a.state == b.state && a.sent == b.sent && a.consumed == b.consumed &&
         a.failure == b.failure && a.code == b.code && a.bound == b.bound;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in = mtep::fuzz::asView(data, size);
  const uint64_t h = mtep::fuzz::hashBytes(in);
  Request r;
  r.port = static_cast<uint16_t>(1 + (h >> 8) % 65535);
  switch ((h >> 1) % 3) {
    case 0:
      r.host = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion";
      break;
    case 1:
      r.host = "192.0.2.1";
      break;
    default:
      r.host = "2001:db8::25";
      break;
  }
  if ((h & 1) != 0) r.credentials = Credentials{"mtep", r.host + ":25"};

  const Outcome whole = drive(r, {in});
  const Outcome sliced = drive(r, mtep::fuzz::slices(in, h >> 3));
  const Outcome wanted = driveWanted(r, in);
  FUZZ_CHECK(same(whole, sliced));
  FUZZ_CHECK(same(whole, wanted));
  FUZZ_CHECK(whole.consumed <= in.size());
  return 0;
}

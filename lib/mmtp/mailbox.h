#pragma once
// NAME
//   mailbox.h - MMTP mailboxes and registered keys in the store
// SUMMARY
//   mmtp::Mailboxes boxes(store, clock);
//   Status s = boxes.add(owner, id, packet_json, limits);  // kInvalid "full"
//   auto page = boxes.list(owner, max_bytes);              // oldest first
//   boxes.remove(owner, page->keys);                       // after the reply
//   boxes.putKey(owner, armored); boxes.getKey(owner);
// DESCRIPTION
//   A mailbox is the store namespace "mmtp-box:" + canonical(owner); each
//   message one value, key = 16-digit arrival time in milliseconds, "-",
//   the server's message id (so keys sort in arrival order and never
//   collide: the id is the server's, not the sender's), value = the packet
//   as compact JSON, expiring after MailboxLimits::message_ttl seconds.
//   add() refuses (kInvalid) when the mailbox would hold more than `quota`
//   messages or `size_limit` bytes; a store failure is kTemporary.
//   Counting a mailbox reads every message of it (Store::statValues), so
//   the count is kept in memory per mailbox: read from the store when
//   first needed and again when it is kStatsTtl seconds old, counted up by
//   add() and down by remove(). Another writer (the LMTP bridge's own
//   handle, expiry) is seen within kStatsTtl; before a refusal the count is
//   read again, so a mailbox is never refused on a stale count. A mailbox
//   may so hold up to kStatsTtl seconds' worth of another writer's
//   messages over its quota, never more.
//   Keys: namespace "mmtp-key", key = canonical(owner), value = the
//   ASCII-armored OpenPGP public key.
//   One thread at a time, like its Store.
// SEE ALSO
//   store/store.h, gateway.h

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mmtp/json.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/result.h"

namespace mtep::mmtp {

inline constexpr std::string_view kBoxNamespacePrefix = "mmtp-box:";
inline constexpr std::string_view kKeyNamespace = "mmtp-key";

struct MailboxLimits {
  uint64_t quota = 1000;               // messages
  uint64_t size_limit = 50ULL << 20;   // bytes
  int64_t message_ttl = 30 * 86400;    // seconds
};

struct StoredMessage {
  std::string key;   // the store key (for remove)
  std::string json;  // the packet
};

class Mailboxes {
 public:
  static constexpr int64_t kStatsTtl = 30;       // seconds a mailbox's count is trusted
  static constexpr size_t kMaxCachedBoxes = 100000;  // then the counts are forgotten

  Mailboxes(store::Store& store, const Clock& clock) : store_(store), clock_(clock) {}

  Status add(std::string_view owner, std::string_view message_id, std::string_view packet_json,
             const MailboxLimits& limits);
  // Oldest first; stops before the message that would take the total
  // over max_bytes (at least one message is returned when there is one,
  // unless it alone is over max_bytes: then none, and *skipped_large is
  // set). `more` is set when messages are left behind.
  struct Page {
    std::vector<StoredMessage> messages;
    bool more = false;
    bool too_large = false;
  };
  Result<Page> list(std::string_view owner, uint64_t max_bytes, uint64_t max_count);
  Result<store::Store::ValueStats> stats(std::string_view owner);
  Status remove(std::string_view owner, const std::vector<std::string>& keys);

  // Every count kept in memory is read again when next needed.
  void forgetCounts() { counts_.clear(); }

  Status putKey(std::string_view owner, std::string_view armored);
  // kNotFound when none.
  Result<std::string> getKey(std::string_view owner);

 private:
  struct Count {
    uint64_t count = 0;
    uint64_t bytes = 0;
    int64_t read_at = 0;  // Unix seconds
  };
  // The mailbox's count, from memory when fresh, else from the store.
  Result<Count*> count(const std::string& ns, bool fresh);

  store::Store& store_;
  const Clock& clock_;
  std::unordered_map<std::string, Count> counts_;  // by namespace
};

// The mailbox namespace of an owner (canonical MMTP address).
std::string boxNamespace(std::string_view owner);

// "" when `armored` is an ASCII-armored OpenPGP public key block whose
// first packet is a public key and which holds no secret-key packet;
// otherwise what is wrong. Never accepts a private key.
std::string checkPublicKey(std::string_view armored);

}  // namespace mtep::mmtp

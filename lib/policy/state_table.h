#pragma once
// NAME
//   state_table.h - mtep-policyd's per-key state: fixed-size fingerprints
//   of the keys, in a flat table with a least-recently-used order
// DESCRIPTION
//   The engine keeps three kinds of state per key (policy.h): the
//   instances (one message), the rate counters (a client or a sender under
//   one policy section) and the cached lookups. Each key is a few strings
//   from the peer; the table keeps none of them, only a 128-bit SipHash
//   (OpenSSL's EVP_MAC "SIPHASH", 16-byte output) of them under a key drawn
//   at random when the process starts. A sender who wants two keys to
//   share one counter (or one instance, or one cached answer) has to find
//   a collision of a keyed 128-bit MAC whose key it never sees: out of
//   reach, so fingerprints that are equal stand for keys that are equal.
//
//   KeyHasher::of() takes the key's parts; each part goes into the MAC
//   behind its length, so ("ab", "c") and ("a", "bc") differ. No
//   allocation; one hasher per thread (the engine's is the event loop's).
//
//   LruTable<V> holds at most capacity() entries in one vector of slots
//   (fingerprint, value, the two links of the LRU order) and finds them
//   through an open-addressing index of slot numbers (linear probing,
//   deletion by backward shift, at most half full, doubled as entries
//   come). put() of a new key at capacity reuses the least recently used
//   entry's slot. The slots are reserved for the cap once (setCapacity:
//   address space, resident only as slots are used), so they never move;
//   once the table is full nothing is allocated per operation. Memory:
//   fingerprint + value + 8 bytes a used slot, plus 8 to 16 bytes of index
//   an entry.
// SEE ALSO
//   policy.h (Engine), EVP_MAC-Siphash(7)

#include <openssl/evp.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string_view>
#include <vector>

namespace mtep::policy {

struct Fingerprint {
  uint64_t lo = 0;
  uint64_t hi = 0;
  bool operator==(const Fingerprint&) const = default;
};

class KeyHasher {
 public:
  // A fresh random key (RAND_bytes). Aborts when OpenSSL cannot give one
  // or has no SipHash: the daemon cannot keep state safely without it.
  KeyHasher();
  Fingerprint of(std::initializer_list<std::string_view> parts);

 private:
  std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> ctx_;
};

template <typename V>
class LruTable {
 public:
  explicit LruTable(size_t capacity) : index_(kMinPlaces, kNone) { setCapacity(capacity); }

  // The value of `key`, marked most recently used; null when absent.
  V* find(const Fingerprint& key) {
    const size_t pos = position(key);
    if (index_[pos] == kNone) return nullptr;
    const uint32_t slot = index_[pos];
    toFront(slot);
    return &slots_[slot].value;
  }

  // The value of `key`, inserted as V{} when absent (dropping the least
  // recently used entry at capacity), marked most recently used.
  V& put(const Fingerprint& key) {
    if (V* v = find(key)) return *v;
    uint32_t slot;
    if (size_ >= capacity_) {
      slot = tail_;
      unlink(slot);
      removeFromIndex(slots_[slot].key);
      --size_;
    } else if (free_ != kNone) {
      slot = free_;
      free_ = slots_[slot].next;
    } else {
      slot = static_cast<uint32_t>(slots_.size());
      slots_.emplace_back();
    }
    if ((size_ + 1) * 2 > index_.size()) reindex(index_.size() * 2);
    Slot& s = slots_[slot];
    s.key = key;
    s.value = V{};
    index_[position(key)] = slot;
    ++size_;
    linkFront(slot);
    return s.value;
  }

  void erase(const Fingerprint& key) {
    const size_t pos = position(key);
    if (index_[pos] != kNone) release(index_[pos]);
  }

  // Removes every entry whose value `dead(value)` holds.
  template <typename F>
  void eraseIf(F dead) {
    for (uint32_t slot = head_; slot != kNone;) {
      const uint32_t next = slots_[slot].next;
      if (dead(slots_[slot].value)) release(slot);
      slot = next;
    }
  }

  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  // A new cap; the least recently used entries over it are dropped. The
  // slots are reserved for it (address space: pages become resident as
  // slots are used), so they never move.
  void setCapacity(size_t capacity) {
    capacity_ = std::clamp<size_t>(capacity, 1, kNone / 2);
    while (size_ > capacity_) release(tail_);
    slots_.reserve(capacity_);
  }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  static constexpr size_t kMinPlaces = 16;
  struct Slot {
    Fingerprint key;
    uint32_t prev = kNone;  // toward the most recently used; free slots: unused
    uint32_t next = kNone;  // toward the least recently used; free slots: the next free
    V value{};
  };

  size_t mask() const { return index_.size() - 1; }
  static size_t home(const Fingerprint& key, size_t mask) { return key.lo & mask; }

  // Where `key` is in the index, or the empty place where it would go.
  size_t position(const Fingerprint& key) const {
    const size_t m = mask();
    for (size_t i = home(key, m);; i = (i + 1) & m) {
      if (index_[i] == kNone || slots_[index_[i]].key == key) return i;
    }
  }

  // A new index of `places` (a power of two) with every entry in it.
  void reindex(size_t places) {
    index_.assign(places, kNone);
    for (uint32_t slot = head_; slot != kNone; slot = slots_[slot].next) {
      index_[position(slots_[slot].key)] = slot;
    }
  }

  // Backward-shift deletion: the entries after the hole that may not stay
  // behind it move up, so every probe still finds its entry.
  void removeFromIndex(const Fingerprint& key) {
    const size_t m = mask();
    size_t hole = position(key);
    if (index_[hole] == kNone) return;
    index_[hole] = kNone;
    for (size_t i = (hole + 1) & m; index_[i] != kNone; i = (i + 1) & m) {
      const size_t h = home(slots_[index_[i]].key, m);
      // The entry at i may move to the hole unless its home lies in (hole, i].
      const bool stays = hole < i ? (h > hole && h <= i) : (h > hole || h <= i);
      if (stays) continue;
      index_[hole] = index_[i];
      index_[i] = kNone;
      hole = i;
    }
  }

  void release(uint32_t slot) {
    unlink(slot);
    removeFromIndex(slots_[slot].key);
    slots_[slot].value = V{};
    slots_[slot].next = free_;
    free_ = slot;
    --size_;
  }

  void unlink(uint32_t slot) {
    Slot& s = slots_[slot];
    (s.prev == kNone ? head_ : slots_[s.prev].next) = s.next;
    (s.next == kNone ? tail_ : slots_[s.next].prev) = s.prev;
    s.prev = s.next = kNone;
  }
  void linkFront(uint32_t slot) {
    Slot& s = slots_[slot];
    s.prev = kNone;
    s.next = head_;
    (head_ == kNone ? tail_ : slots_[head_].prev) = slot;
    head_ = slot;
  }
  void toFront(uint32_t slot) {
    if (slot == head_) return;
    unlink(slot);
    linkFront(slot);
  }

  size_t capacity_ = 0;
  size_t size_ = 0;
  std::vector<Slot> slots_;
  std::vector<uint32_t> index_;  // slot numbers; kNone = empty; a power of two long, never empty
  uint32_t head_ = kNone;        // most recently used
  uint32_t tail_ = kNone;        // least recently used
  uint32_t free_ = kNone;        // released slots, linked through `next`
};

}  // namespace mtep::policy

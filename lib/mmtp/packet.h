#pragma once
// NAME
//   packet.h - reading and checking an MMTP message packet
// SUMMARY
//   Result<Packet> p = mmtp::readPacket(data["packet"]);     // shape, addresses, tags, hash
//   Result<int64_t> exp = mmtp::checkStamp(*p, difficulty, now_ms, window_ms);
//   store.recordOnce(kStampNamespace, mmtp::stampKey(*p), *exp);   // spent once
// DESCRIPTION
//   readPacket() checks what the reference server does not, and refuses
//   (kInvalid, the message is the ERROR reply text) a packet that:
//   - is not an object, or whose meta, content or verification is not one;
//   - has a meta.type other than SEND, REPLY or FORWARD, a meta.timestamp
//     that is not a whole non-negative number below 2^53, a
//     meta.hashcashToken without a string token (at most 1024 bytes),
//     encrypted/signed that are present and not booleans, a messageId that
//     is not a string of at most 128 printable characters;
//   - has a sender or recipient that is not an MMTP address;
//   - has content that is not {subject, body} strings (unencrypted) or
//     {encrypted: string} (encrypted);
//   - has meta.tags that are not an object of string arrays, or a
//     category or value the categories do not list (custom: at most
//     kMaxCustomTags strings of 1..kMaxTagLength printable characters);
//   - fails the integrity check: verification.messageHash must equal
//     messageHash(content) (json.h), ALWAYS, encrypted or not (the
//     reference skips it when meta.encrypted is true: a sender could then
//     change the content unnoticed).
//   The Packet keeps the JSON as it will be stored: meta.messageId is the
//   server's (newMessageId(); the sender's is kept as
//   meta.senderMessageId), and the sender's claims meta.signatureVerified
//   and meta.decrypted are removed (only a server that checked may say so).
//
//   checkStamp() checks the hashcash stamp with pow::checkMmtp: at least
//   `difficulty` zero hex digits (the token's claim and its hash), the
//   resource "SENDER:RECIPIENT:TIMESTAMP" of this packet, the token's own
//   timestamp equal to meta.timestamp and within window_ms of now_ms.
//   Returns the expiry (Unix seconds) for the spend record, or kInvalid
//   with the reference's "HashCash verification failed - potential spam"
//   and the reason in detail().
// SEE ALSO
//   json.h, pow/pow.h checkMmtp, gateway.h

#include <cstdint>
#include <string>
#include <string_view>

#include "mmtp/json.h"

namespace mtep::mmtp {

inline constexpr size_t kMaxTokenBytes = 1024;
inline constexpr size_t kMaxMessageIdBytes = 128;
inline constexpr size_t kMaxCustomTags = 32;
inline constexpr size_t kMaxTagLength = 64;
inline constexpr std::string_view kStampNamespace = "mmtp-stamp";

// The reference's reply texts.
inline constexpr std::string_view kIntegrityFailed = "Message integrity check failed";
inline constexpr std::string_view kStampFailed = "HashCash verification failed - potential spam";
inline constexpr std::string_view kInvalidEmail = "Invalid email format";

struct Packet {
  Json json;  // as stored and as RECEIVE returns it
  std::string sender;
  std::string recipient;
  std::string type;
  int64_t timestamp_ms = 0;
  bool encrypted = false;
  bool is_signed = false;
  std::string stamp;      // meta.hashcashToken.token
  std::string message_id; // the server's
  std::string sender_message_id;
  std::string subject;    // unencrypted packets
  std::string body;
};

// An error whose message is the reply text and whose detail says why.
struct Refusal {
  std::string message;
  std::string reason;
};

// A packet as read, or why not.
struct PacketRead {
  bool ok = false;
  Packet packet;
  Refusal refusal;
};

PacketRead readPacket(const Json& packet, std::string message_id);

struct StampRead {
  bool ok = false;
  bool temporary = false;  // could not decide (no SHA-256): tempfail
  int64_t expires_at = 0;  // for the spend record
  Refusal refusal;
};
StampRead checkStamp(const Packet& packet, int difficulty, int64_t now_ms, int64_t window_ms);

// The spend record's key: hex SHA-256 of the stamp (bounded length).
std::string stampKey(const Packet& packet);

// 32 lower-case hex digits from the system's random source.
std::string newMessageId();

// The categories, as GET_TAG_CATEGORIES lists them.
const Json& tagCategories();
// True when tags (meta.tags, or null) match tag filters the reference's
// way: each filter category needs at least one of its values among the
// message's tags of that category; a message without tags matches no
// non-empty filter.
bool matchesFilters(const Json& tags, const Json& filters);
// "" when meta.tags (an object of arrays) lists only categories and values
// tagCategories() has (custom: at most kMaxCustomTags printable strings of
// 1..kMaxTagLength); otherwise what is wrong.
std::string checkTags(const Json& tags);
// "" when tagFilters is an object of string arrays within the limits;
// otherwise what is wrong.
std::string checkFilters(const Json& filters);

}  // namespace mtep::mmtp

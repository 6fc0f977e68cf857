#pragma once
// NAME
//   message_identity.h - a digest that a retry of a message shares and a
//   different message does not: what inbound stamps are spent with
// SUMMARY
//   MessageIdentity id;
//   id.start("alice@alpha.test");               // envelope sender (canonical or as given)
//   id.header("Subject", " hello");             // each header, in order
//   id.body("Hi Bob\r\n");                      // each body piece
//   std::string hex = id.finish();              // 64 hex digits ("" if OpenSSL failed)
// DESCRIPTION
//   SHA-256 over the envelope sender, every header field but the ones that
//   receiving systems add or rewrite on the way in (isTraceHeader():
//   Received, Return-Path, Delivered-To, X-Original-To, Received-SPF,
//   Authentication-Results, ARC-Seal, ARC-Message-Signature,
//   ARC-Authentication-Results, X-MTEP-Policy), and the body. A sending
//   MTA that retries sends the same bytes again from its queue, and our
//   MTA may add a new Received: line (a new queue id, a new time) each
//   time: those are left out. To be robust to header folding and
//   line-end conventions, names are compared without case, white space
//   (space, tab, CR, LF) in header values is dropped, and CR in the body
//   is dropped. Each part is length-prefixed, so no two different splits
//   of the same bytes collide. A different message (another body,
//   Subject, From, Date, Message-ID, recipient list in To: ...) gets a
//   different digest; copying a message's identity means sending that
//   very message again.
// SEE ALSO
//   doc/pow.md (Double spending), lib/pow/pow.h spend()

#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace mtep::milter {

// True for the header fields the identity leaves out (any case).
bool isTraceHeader(std::string_view name);

class MessageIdentity {
 public:
  MessageIdentity();
  ~MessageIdentity();
  MessageIdentity(MessageIdentity&&) noexcept;
  MessageIdentity& operator=(MessageIdentity&&) noexcept;

  // Begins a message (forgets any earlier one). Headers count only
  // before the first body piece.
  void start(std::string_view envelope_sender);
  void header(std::string_view name, std::string_view value);
  void body(std::string_view chunk);
  // The digest in lower-case hex; "" when not started or OpenSSL failed
  // (the caller then spends without an identity: no retry passes).
  std::string finish();
  bool started() const { return ctx_ != nullptr; }

 private:
  struct Free {
    void operator()(evp_md_ctx_st* ctx) const noexcept;
  };
  void part(char tag, std::string_view bytes);
  void bodyStarts();
  std::unique_ptr<evp_md_ctx_st, Free> ctx_;
  bool failed_ = false;
  bool in_body_ = false;  // the header/body mark is hashed
};

}  // namespace mtep::milter

#pragma once
// NAME
//   result.h - the error and result types used across lib/
// SUMMARY
//   Error carries a Kind that says what the error causes; Result<T> is a
//   value or an Error; Status is Result<void>. No exceptions on data paths.
// DESCRIPTION
//   std::expected is not usable with clang++ 14, which the fuzz and sanitizer
//   builds need, so this is a small own type. Every function that can fail
//   returns one of these and they are [[nodiscard]].

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace mtep {

// What an error causes, so callers decide without parsing messages.
enum class ErrorKind {
  kProtocol,   // peer broke the protocol: reply if possible, then close
  kLimit,      // an input exceeded a configured limit: fixed reply, then close
  kInvalid,    // a value is malformed (address, token, config value): reject it
  kTemporary,  // cannot decide now (store down, peer unreachable): tempfail
  kNotFound,   // the thing asked about does not exist
  kConfig,     // configuration error: refuse to start or to reload
  kInternal,   // a bug or an impossible system failure
};

const char* errorKindName(ErrorKind kind) noexcept;

class [[nodiscard]] Error {
 public:
  Error(ErrorKind kind, std::string message) : kind_(kind), message_(std::move(message)) {}
  ErrorKind kind() const noexcept { return kind_; }
  const std::string& message() const noexcept { return message_; }

 private:
  ErrorKind kind_;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}      // NOLINT: implicit by design
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const& { assert(!ok()); return std::get<1>(v_); }
  Error&& error() && { assert(!ok()); return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const Error& error() const& { assert(!ok_); return error_; }
  Error&& error() && { assert(!ok_); return std::move(error_); }

 private:
  Error error_{ErrorKind::kInternal, ""};
  bool ok_ = true;
};

using Status = Result<void>;

inline Status okStatus() { return Status(); }

}  // namespace mtep

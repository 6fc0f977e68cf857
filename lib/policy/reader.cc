// The policy protocol's request reader and reply formatter.
#include <utility>

#include "policy/policy.h"

namespace mtep::policy {

namespace {

bool validName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string_view Request::get(std::string_view name) const {
  for (auto it = attributes.rbegin(); it != attributes.rend(); ++it) {
    if (it->first == name) return it->second;
  }
  return {};
}

bool Request::has(std::string_view name) const {
  for (const auto& [n, v] : attributes) {
    if (n == name) return true;
  }
  return false;
}

std::vector<std::string_view> Request::all(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& [n, v] : attributes) {
    if (n == name) out.push_back(v);
  }
  return out;
}

RequestReader::RequestReader(size_t max_size) : max_size_(max_size) {}

RequestReader::State RequestReader::fail(std::string reason) {
  error_ = std::move(reason);
  line_.clear();
  request_ = {};
  return State::kError;
}

bool RequestReader::finishLine() {
  const size_t eq = line_.find('=');
  if (eq == std::string::npos) {
    fail("line without '='");
    return false;
  }
  std::string_view name(line_.data(), eq);
  if (!validName(name)) {
    fail("bad attribute name");
    return false;
  }
  if (request_.attributes.size() >= kMaxAttributes) {
    fail("more than " + std::to_string(kMaxAttributes) + " attributes");
    return false;
  }
  request_.attributes.emplace_back(std::string(name), line_.substr(eq + 1));
  line_.clear();
  return true;
}

RequestReader::State RequestReader::feed(std::string_view in, size_t* used) {
  *used = 0;
  if (!error_.empty()) return State::kError;
  if (complete_) return State::kRequest;  // take() it first
  size_t pos = 0;
  while (pos < in.size()) {
    const size_t nl = in.find('\n', pos);
    const size_t end = nl == std::string_view::npos ? in.size() : nl + 1;
    const size_t n = end - pos;
    const std::string_view piece =
        in.substr(pos, nl == std::string_view::npos ? n : n - 1);
    // The first bad byte in stream order decides the error, however the
    // input is split: a NUL within the limit, else the byte over the limit.
    // size_ <= max_size_ always holds, so this cannot underflow.
    const size_t room = max_size_ - size_;
    if (piece.substr(0, room).find('\0') != std::string_view::npos) {
      *used = pos;
      return fail("NUL byte");
    }
    if (n > room) {
      *used = pos;
      return fail("request larger than " + std::to_string(max_size_) + " bytes");
    }
    line_.append(piece);
    size_ += n;
    pos = end;
    if (nl == std::string_view::npos) break;
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (line_.empty()) {
      complete_ = true;
      *used = pos;
      return State::kRequest;
    }
    if (!finishLine()) {
      *used = pos;
      return State::kError;
    }
  }
  *used = pos;
  return State::kNeedMore;
}

Request RequestReader::take() {
  Request out = std::move(request_);
  request_ = {};
  line_.clear();
  size_ = 0;
  complete_ = false;
  return out;
}

std::string formatReply(std::string_view action) {
  std::string out = "action=";
  out.reserve(out.size() + action.size() + 2);
  for (char c : action) out.push_back(c == '\r' || c == '\n' || c == '\0' ? ' ' : c);
  out += "\n\n";
  return out;
}

}  // namespace mtep::policy

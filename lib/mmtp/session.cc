#include "mmtp/session.h"

#include <algorithm>
#include <cstdint>
#include <utility>

namespace mtep::mmtp {

std::string frameReply(const Json& reply) {
  std::string s = reply.dump(-1, ' ', false, Json::error_handler_t::replace);
  s += '\n';
  return s;
}

Session::Session(RequestHandler& gateway, Client client, FrameLimits limits,
                 std::function<void(Json)> later)
    : gateway_(gateway), client_(std::move(client)), framer_(limits), later_(std::move(later)) {}

std::string Session::greeting(bool tls_offered) const {
  return frameReply(Gateway::greeting(client_.tls, tls_offered));
}

Session::Step Session::feed(std::string_view in, const config::Config& config, std::string* out) {
  unconsumed_ = 0;
  framer_.feed(in);
  Step st = Step::kPending;
  if (!pending_) st = pump(config, out, out->size() + kOutputBudget);
  // What was not looked at (pending, or over the budget) goes back: it is
  // only ever bytes of `in`, since each feed before left none behind.
  unconsumed_ = std::min(in.size(), framer_.unscanned());
  framer_.unfeed(unconsumed_);
  return st;
}

Session::Step Session::complete(const Json& reply, const config::Config& config,
                                std::string* out) {
  pending_ = false;
  *out += frameReply(reply);
  // The framer holds no whole request now (feed() gave them back).
  return pump(config, out, SIZE_MAX);
}

Session::Step Session::pump(const config::Config& config, std::string* out, size_t budget) {
  std::string text;
  while (true) {
    if (out->size() >= budget) return Step::kContinue;  // feed() gives the rest back
    const FrameStatus s = framer_.next(&text);
    switch (s) {
      case FrameStatus::kNeedMore:
        return Step::kContinue;
      case FrameStatus::kGarbage:
        ++requests_;
        *out += frameReply(Gateway::error(kNotJson));
        continue;
      case FrameStatus::kTooLarge:
        ++requests_;
        *out += frameReply(Gateway::error("Request too large", "over [mmtp] max_request_size"));
        continue;
      case FrameStatus::kTooDeep:
        ++requests_;
        *out += frameReply(Gateway::error("Request nested too deeply"));
        continue;
      case FrameStatus::kValue:
        break;
    }
    ++requests_;
    const Json request = parseJson(text);
    if (request.is_discarded() || !request.is_object()) {
      *out += frameReply(Gateway::error(kNotJson));
      continue;
    }
    std::optional<Json> reply = gateway_.handle(request, client_, config, later_);
    if (!reply) {
      pending_ = true;
      return Step::kPending;
    }
    *out += frameReply(*reply);
  }
}

}  // namespace mtep::mmtp

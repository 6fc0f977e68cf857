#include "mmtp/session.h"

#include <utility>

namespace mtep::mmtp {

std::string frameReply(const Json& reply) {
  std::string s = reply.dump(-1, ' ', false, Json::error_handler_t::replace);
  s += '\n';
  return s;
}

Session::Session(Gateway& gateway, Client client, FrameLimits limits,
                 std::function<void(Json)> later)
    : gateway_(gateway), client_(std::move(client)), framer_(limits), later_(std::move(later)) {}

std::string Session::greeting(bool tls_offered) const {
  return frameReply(Gateway::greeting(client_.tls, tls_offered));
}

Session::Step Session::feed(std::string_view in, const config::Config& config, std::string* out) {
  framer_.feed(in);
  if (pending_) return Step::kPending;
  return pump(config, out);
}

Session::Step Session::complete(const Json& reply, const config::Config& config,
                                std::string* out) {
  pending_ = false;
  *out += frameReply(reply);
  return pump(config, out);
}

Session::Step Session::pump(const config::Config& config, std::string* out) {
  std::string text;
  while (true) {
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

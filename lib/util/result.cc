#include "util/result.h"

namespace mtep {

const char* errorKindName(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::kProtocol: return "protocol";
    case ErrorKind::kLimit: return "limit";
    case ErrorKind::kInvalid: return "invalid";
    case ErrorKind::kTemporary: return "temporary";
    case ErrorKind::kNotFound: return "not-found";
    case ErrorKind::kConfig: return "config";
    case ErrorKind::kInternal: return "internal";
  }
  return "unknown";
}

}  // namespace mtep

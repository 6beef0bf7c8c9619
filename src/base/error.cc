#include "base/error.h"

namespace keel {

std::string_view ErrcName(Errc code) {
  switch (code) {
    case Errc::kInvalidArgument:
      return "invalid_argument";
    case Errc::kNotFound:
      return "not_found";
    case Errc::kConflict:
      return "conflict";
    case Errc::kAlreadyFinished:
      return "already_finished";
    case Errc::kUnavailable:
      return "unavailable";
    case Errc::kStorage:
      return "storage_error";
    case Errc::kStorageFull:
      return "storage_full";
    case Errc::kFenced:
      return "fenced";
    case Errc::kNonDeterminism:
      return "non_determinism";
    case Errc::kScript:
      return "script_error";
    case Errc::kTimeout:
      return "timeout";
    case Errc::kInternal:
      return "internal";
  }
  return "internal";
}

}  // namespace keel

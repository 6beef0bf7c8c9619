#pragma once

#include <string>
#include <string_view>

namespace keel {

// Stable error codes shared by every module. The string form (ErrcName) is part of the public
// API: it is the `code` of an HTTP error body and has a page in docs/errors/.
enum class Errc {
  kInvalidArgument,  // a caller sent something malformed or out of range
  kNotFound,         // the named run, intent or signal does not exist
  kConflict,         // idempotency key reused with another payload, or a state conflict
  kAlreadyFinished,  // the run is terminal; the operation no longer applies
  kUnavailable,      // the server is draining or a dependency is temporarily down
  kStorage,          // the store failed (I/O error, locked, corrupt)
  kStorageFull,      // the disk is full; nothing was written
  kFenced,           // a stale lease epoch tried to write; the write was refused
  kNonDeterminism,   // workflow code asked for a different step than the journal holds
  kScript,           // workflow code raised an error
  kTimeout,          // an operation ran out of time
  kInternal,         // a bug; logged with details
};

std::string_view ErrcName(Errc code);

struct Error {
  Errc code = Errc::kInternal;
  std::string message;
};

}  // namespace keel

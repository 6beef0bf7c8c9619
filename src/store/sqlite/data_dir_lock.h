#pragma once

#include <memory>
#include <string>

#include "base/result.h"

namespace keel::store::sqlite {

// An exclusive flock(2) on <data_dir>/LOCK, held for the life of the object. The kernel drops
// it when the process dies however it dies, so a restarted server takes the directory at once
// and may reclaim every lease of its dead predecessor without waiting for them to expire.
class DataDirLock {
 public:
  // Creates the directory if needed. Fails with kUnavailable, naming the holder's pid, when
  // another process holds it.
  static Result<std::unique_ptr<DataDirLock>> Acquire(const std::string& data_dir);
  ~DataDirLock();

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace keel::store::sqlite

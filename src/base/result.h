#pragma once

#include <utility>
#include <variant>

#include "base/check.h"
#include "base/error.h"

namespace keel {

// Result<T> holds a value or an Error. Expected failures travel as values (STYLE.md rule 4);
// reading the value of an error result is a bug and aborts.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT
  Result(Errc code, std::string message) : v_(Error{code, std::move(message)}) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    KEEL_CHECK(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    KEEL_CHECK(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    KEEL_CHECK(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const {
    KEEL_CHECK(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

// Status is a Result without a value.
struct Ok {};
using Status = Result<Ok>;
inline Status OkStatus() { return Ok{}; }

}  // namespace keel

// Errors as values for everything past a message or file boundary.
//
// Exceptions from cppzmq and nlohmann stop at the function that calls them;
// callers get a Result<T>: either the value or an Error whose text already
// names the place (file:line, topic, endpoint) so it can be logged as is.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>

namespace ehabus {

struct Error {
  std::string message;
};

template <class T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> Fail(std::string message) {
  return tl::unexpected<Error>(Error{std::move(message)});
}

// "context: strerror(err)", the way leveldb's env turns errno into a status.
inline tl::unexpected<Error> FailErrno(std::string_view context, int err) {
  std::string text(context);
  text += ": ";
  text += std::strerror(err);
  return Fail(std::move(text));
}

}  // namespace ehabus

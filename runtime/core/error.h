#pragma once
// One error type for the whole runtime. Every failure a user can cause or meet carries a code;
// rpc/status_mapping.cc turns codes into gRPC statuses, launcher/ turns them into exit codes.
#include <stdexcept>
#include <string>
#include <string_view>

#include <sstream>

namespace mlaserve {

enum class ErrorCode {
  kInvalidArgument,     // bad input from a user: request, flag, config field
  kNotFound,            // a file, tensor or key that does not exist
  kOutOfRange,          // an index or position beyond a limit
  kFailedPrecondition,  // the system is not in a state that allows the call
  kResourceExhausted,   // queue full, cache full, out of memory
  kUnavailable,         // a peer (rank, replica, server) is gone or not reachable
  kDeadlineExceeded,    // a wait ran past its deadline
  kCancelled,           // the caller gave up
  kDataLoss,            // a file is corrupt or truncated
  kUnauthenticated,     // missing or wrong credentials
  kUnimplemented,       // a valid request for something not built
  kInternal,            // a bug: an invariant of ours broke
};

std::string_view error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// Concatenates anything with an operator<< into one message.
template <typename... Parts>
std::string str_cat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

// Throws Error(code, message parts concatenated).
template <typename... Parts>
[[noreturn]] void fail(ErrorCode code, const Parts&... parts) {
  throw Error(code, str_cat(parts...));
}

}  // namespace mlaserve

// MLA_ENSURE(cond, code, message parts...): the contract check used at API boundaries.
#define MLA_ENSURE(cond, code, ...)                                   \
  do {                                                                \
    if (!(cond)) ::mlaserve::fail(::mlaserve::ErrorCode::code, __VA_ARGS__); \
  } while (0)

// MLA_INTERNAL_CHECK(cond): an invariant of ours; names the file and line when it breaks.
#define MLA_INTERNAL_CHECK(cond)                                                    \
  do {                                                                              \
    if (!(cond))                                                                    \
      ::mlaserve::fail(::mlaserve::ErrorCode::kInternal, "internal check failed: ", \
                       #cond, " at ", __FILE__, ":", __LINE__);                     \
  } while (0)

#pragma once
// Minimal leveled logging to stderr: "I 12:00:01.234 [rank 1] message". The level comes from
// MLASERVE_LOG_LEVEL (debug, info, warning, error); the rank tag is set once per process.
#include <sstream>
#include <string>

namespace mlaserve {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void set_log_tag(const std::string& tag);  // e.g. "rank 1"; empty for none
void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);

class LogLine {
 public:
  explicit LogLine(LogLevel level) : level_(level) {}
  ~LogLine();
  template <typename T>
  LogLine& operator<<(const T& v) {
    stream_ << v;
    return *this;
  }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

}  // namespace mlaserve

#define MLA_LOG(level)                                                     \
  if (!::mlaserve::log_enabled(::mlaserve::LogLevel::k##level)) {          \
  } else                                                                   \
    ::mlaserve::LogLine(::mlaserve::LogLevel::k##level)

#include "parallel/memory_store.h"

#include <algorithm>
#include <charconv>

#include "runtime/core/error.h"

namespace mlaserve::parallel {

void MemoryStore::set(const std::string& key, const Bytes& value) {
  {
    std::lock_guard lock(mu_);
    values_[key] = value;
  }
  changed_.notify_all();
}

Bytes MemoryStore::get(const std::string& key, std::chrono::milliseconds timeout) {
  return get(key, timeout, nullptr);
}

Bytes MemoryStore::get(const std::string& key, std::chrono::milliseconds timeout,
                       const CancelledFn& cancelled) {
  wait({key}, timeout, cancelled);
  std::lock_guard lock(mu_);
  return values_.at(key);
}

std::vector<std::string> MemoryStore::missing(const std::vector<std::string>& keys) const {
  std::vector<std::string> out;
  for (const auto& key : keys)
    if (!values_.contains(key)) out.push_back(key);
  return out;
}

void MemoryStore::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  wait(keys, timeout, nullptr);
}

void MemoryStore::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout,
                       const CancelledFn& cancelled) {
  using Clock = std::chrono::steady_clock;
  constexpr std::chrono::milliseconds kPoll{50};
  // Adding the timeout to now() must not overflow "wait forever" into "don't wait".
  const auto deadline =
      Clock::now() + std::min<std::chrono::milliseconds>(timeout, std::chrono::hours(24 * 365));
  std::unique_lock lock(mu_);
  for (;;) {
    if (missing(keys).empty()) return;
    const auto now = Clock::now();
    if (now >= deadline) break;
    if (cancelled && cancelled())
      fail(ErrorCode::kCancelled, "wait for store keys cancelled: ", quoted_keys(missing(keys)));
    const auto until = cancelled ? std::min(deadline, now + kPoll) : deadline;
    changed_.wait_until(lock, until);
  }
  fail(ErrorCode::kDeadlineExceeded, "store keys not set within ", timeout.count(),
       " ms: ", quoted_keys(missing(keys)));
}

int64_t MemoryStore::add(const std::string& key, int64_t delta) {
  int64_t value = 0;
  {
    std::lock_guard lock(mu_);
    auto it = values_.find(key);
    if (it != values_.end()) {
      const char* begin = it->second.data();
      const char* end = begin + it->second.size();
      auto [ptr, ec] = std::from_chars(begin, end, value);
      MLA_ENSURE(ec == std::errc() && ptr == end, kInvalidArgument, "store key '", key,
                 "' holds a value that is not a counter");
    }
    value += delta;
    const std::string text = std::to_string(value);
    values_[key] = Bytes(text.begin(), text.end());
  }
  changed_.notify_all();
  return value;
}

}  // namespace mlaserve::parallel

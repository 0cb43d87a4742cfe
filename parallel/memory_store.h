#pragma once
// An in-process, thread-safe Store: for tests that run ranks as threads, and as the backing map
// of the process that hosts the store server (rpc/store_service).
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>

#include "parallel/store.h"

namespace mlaserve::parallel {

class MemoryStore final : public Store {
 public:
  void set(const std::string& key, const Bytes& value) override;
  Bytes get(const std::string& key, std::chrono::milliseconds timeout) override;
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override;
  int64_t add(const std::string& key, int64_t delta) override;

  // As get/wait, but also give up with kCancelled once `cancelled()` turns true (polled every
  // 50 ms): the store server passes "the client went away / the server is shutting down", so a
  // blocked call never pins a server thread until its timeout.
  using CancelledFn = std::function<bool()>;
  Bytes get(const std::string& key, std::chrono::milliseconds timeout,
            const CancelledFn& cancelled);
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout,
            const CancelledFn& cancelled);

 private:
  std::vector<std::string> missing(const std::vector<std::string>& keys) const;  // lock held

  std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, Bytes> values_;
};

}  // namespace mlaserve::parallel

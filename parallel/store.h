#pragma once
// Store: the rendezvous key-value store every process group bootstraps through. Keys are written
// once by one rank and read by others; `add` is an atomic counter for barriers and rank
// assignment. Every read that can block takes a timeout: a rank that never writes its key turns
// into kDeadlineExceeded naming the key, never a hang.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace mlaserve::parallel {

using Bytes = std::vector<char>;

class Store {
 public:
  virtual ~Store() = default;

  // Overwrites any previous value and wakes readers waiting for `key`.
  virtual void set(const std::string& key, const Bytes& value) = 0;
  // Blocks until `key` exists; throws kDeadlineExceeded naming the key after `timeout`.
  virtual Bytes get(const std::string& key, std::chrono::milliseconds timeout) = 0;
  // Blocks until every key exists; throws kDeadlineExceeded naming the missing ones.
  virtual void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) = 0;
  // Atomically adds `delta` to the counter at `key` (absent = 0) and returns the new value.
  // Counters are stored as decimal text, so `get` on a counter key reads e.g. "3".
  virtual int64_t add(const std::string& key, int64_t delta) = 0;
};

// "'a', 'b'" — for error messages that name keys.
std::string quoted_keys(const std::vector<std::string>& keys);

}  // namespace mlaserve::parallel

#pragma once
// Adapts our Store to gloo::rendezvous::Store for Gloo's full-mesh rendezvous. Gloo's own waits
// either have no timeout or a 30 s default; here every read uses the group's timeout, and a
// timeout on a rank's address key is reported as the ranks that never
// joined. Only gloo_communicator.cc includes this (it pulls in Gloo headers).
#include <gloo/rendezvous/store.h>

#include <memory>

#include "parallel/store.h"

namespace mlaserve::parallel {

class GlooStore final : public gloo::rendezvous::Store {
 public:
  GlooStore(std::shared_ptr<parallel::Store> store, std::string group, int size,
            std::chrono::milliseconds timeout)
      : store_(std::move(store)), group_(std::move(group)), size_(size), timeout_(timeout) {}

  void set(const std::string& key, const std::vector<char>& data) override;
  std::vector<char> get(const std::string& key) override;
  void wait(const std::vector<std::string>& keys) override { wait(keys, timeout_); }
  void wait(const std::vector<std::string>& keys,
            const std::chrono::milliseconds& timeout) override;

 private:
  [[noreturn]] void fail_missing_ranks(const std::string& example_key, const std::string& cause);

  std::shared_ptr<parallel::Store> store_;
  std::string group_;
  int size_;
  std::chrono::milliseconds timeout_;
};

}  // namespace mlaserve::parallel

#pragma once
// A view of a Store under a key prefix, so that groups made by `split` (and separate jobs sharing
// one coordinator) never see each other's keys. Errors keep naming the full key.
#include <memory>

#include "parallel/store.h"

namespace mlaserve::parallel {

class PrefixStore final : public Store {
 public:
  PrefixStore(std::string prefix, std::shared_ptr<Store> base)
      : prefix_(std::move(prefix)), base_(std::move(base)) {}

  void set(const std::string& key, const Bytes& value) override { base_->set(full(key), value); }
  Bytes get(const std::string& key, std::chrono::milliseconds timeout) override {
    return base_->get(full(key), timeout);
  }
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override {
    std::vector<std::string> full_keys;
    for (const auto& key : keys) full_keys.push_back(full(key));
    base_->wait(full_keys, timeout);
  }
  int64_t add(const std::string& key, int64_t delta) override {
    return base_->add(full(key), delta);
  }

 private:
  std::string full(const std::string& key) const { return prefix_ + "/" + key; }

  std::string prefix_;
  std::shared_ptr<Store> base_;
};

}  // namespace mlaserve::parallel

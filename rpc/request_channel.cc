#include "rpc/request_channel.h"

namespace mlaserve::rpc {

void RequestChannel::push(const internal::RequestOutput& output) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    outputs_.push_back(output);
  }
  cv_.notify_all();
}

void RequestChannel::fail(const Error& error) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failure_) failure_ = error;
  }
  cv_.notify_all();
}

RequestChannel::News RequestChannel::take(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !outputs_.empty() || failure_.has_value(); });
  News news;
  news.outputs.assign(outputs_.begin(), outputs_.end());
  outputs_.clear();
  news.failure = failure_;
  return news;
}

}  // namespace mlaserve::rpc

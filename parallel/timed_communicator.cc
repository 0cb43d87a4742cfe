#include "parallel/timed_communicator.h"

#include <chrono>
#include <type_traits>

namespace mlaserve::parallel {

const char* collective_name(Collective c) {
  switch (c) {
    case Collective::kAllReduceSum: return "all_reduce_sum";
    case Collective::kAllGather: return "all_gather";
    case Collective::kBroadcast: return "broadcast";
    case Collective::kAllToAllV: return "all_to_all_v";
    case Collective::kBarrier: return "barrier";
    case Collective::kSynchronize: return "synchronize";
    case Collective::kCount: break;
  }
  return "?";
}

CollectiveStats CommunicationStats::total() const {
  CollectiveStats t;
  for (const auto& s : by_collective) {
    t.calls += s.calls;
    t.seconds += s.seconds;
    t.bytes_sent += s.bytes_sent;
  }
  return t;
}

CommunicationStats CommunicationStats::operator-(const CommunicationStats& earlier) const {
  CommunicationStats d;
  for (size_t i = 0; i < by_collective.size(); ++i) {
    d.by_collective[i].calls = by_collective[i].calls - earlier.by_collective[i].calls;
    d.by_collective[i].seconds = by_collective[i].seconds - earlier.by_collective[i].seconds;
    d.by_collective[i].bytes_sent =
        by_collective[i].bytes_sent - earlier.by_collective[i].bytes_sent;
  }
  return d;
}

TimedCommunicator::TimedCommunicator(std::unique_ptr<Communicator> inner)
    : owned_(std::move(inner)), inner_(owned_.get()) {}
TimedCommunicator::TimedCommunicator(Communicator& inner) : inner_(&inner) {}

template <typename Fn>
auto TimedCommunicator::timed(Collective c, Fn&& fn) {
  CollectiveStats& s = stats_.by_collective[static_cast<size_t>(c)];
  const uint64_t bytes_before = inner_->bytes_sent();
  const auto t0 = std::chrono::steady_clock::now();
  // Counted only when the call returns: a failed collective breaks the group anyway.
  auto account = [&] {
    s.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    s.bytes_sent += inner_->bytes_sent() - bytes_before;
    ++s.calls;
  };
  if constexpr (std::is_void_v<decltype(fn())>) {
    fn();
    account();
  } else {
    auto result = fn();
    account();
    return result;
  }
}

void TimedCommunicator::all_reduce_sum(Tensor& tensor) {
  timed(Collective::kAllReduceSum, [&] { inner_->all_reduce_sum(tensor); });
}
Tensor TimedCommunicator::all_gather(const Tensor& tensor) {
  return timed(Collective::kAllGather, [&] { return inner_->all_gather(tensor); });
}
void TimedCommunicator::broadcast(Tensor& tensor, int root) {
  timed(Collective::kBroadcast, [&] { inner_->broadcast(tensor, root); });
}
Tensor TimedCommunicator::all_to_all_v(const Tensor& input, const std::vector<int64_t>& send_counts,
                                       const std::vector<int64_t>& recv_counts) {
  return timed(Collective::kAllToAllV,
               [&] { return inner_->all_to_all_v(input, send_counts, recv_counts); });
}
void TimedCommunicator::barrier() {
  timed(Collective::kBarrier, [&] { inner_->barrier(); });
}
void TimedCommunicator::synchronize() {
  timed(Collective::kSynchronize, [&] { inner_->synchronize(); });
}

std::unique_ptr<Communicator> TimedCommunicator::split(int color, int key) {
  auto sub = inner_->split(color, key);
  if (!sub) return nullptr;
  return std::make_unique<TimedCommunicator>(std::move(sub));
}

}  // namespace mlaserve::parallel

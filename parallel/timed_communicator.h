#pragma once
// A Communicator decorator that accumulates wall time, calls and bytes sent per collective, so a
// benchmark can split a step into compute and communication. The model's tp_group is the
// wrapped communicator; everything is forwarded unchanged. Not thread-safe, like the
// communicator it wraps (collectives on one communicator are issued in order by one thread).
#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "parallel/communicator.h"

namespace mlaserve::parallel {

// kSynchronize is the wait for a stream-ordered backend's collectives (NCCL): there the other
// rows time only the enqueue, and the device time of the collectives (and of the ops queued
// between them on the compute stream) shows up in the synchronize row.
enum class Collective {
  kAllReduceSum,
  kAllGather,
  kBroadcast,
  kAllToAllV,
  kBarrier,
  kSynchronize,
  kCount
};
const char* collective_name(Collective c);

struct CollectiveStats {
  int64_t calls = 0;
  double seconds = 0;
  uint64_t bytes_sent = 0;  // by the wrapped backend's own count (Communicator::bytes_sent)
};

struct CommunicationStats {
  std::array<CollectiveStats, static_cast<size_t>(Collective::kCount)> by_collective{};
  const CollectiveStats& operator[](Collective c) const {
    return by_collective[static_cast<size_t>(c)];
  }
  CollectiveStats total() const;
  CommunicationStats operator-(const CommunicationStats& earlier) const;  // per-interval figures
};

class TimedCommunicator final : public Communicator {
 public:
  // Owns `inner`; see the other constructor to wrap one owned elsewhere.
  explicit TimedCommunicator(std::unique_ptr<Communicator> inner);
  explicit TimedCommunicator(Communicator& inner);

  const CommunicationStats& stats() const { return stats_; }
  void reset_stats() { stats_ = {}; }

  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  const std::string& name() const override { return inner_->name(); }
  void all_reduce_sum(Tensor& tensor) override;
  Tensor all_gather(const Tensor& tensor) override;
  void broadcast(Tensor& tensor, int root) override;
  Tensor all_to_all_v(const Tensor& input, const std::vector<int64_t>& send_counts,
                      const std::vector<int64_t>& recv_counts) override;
  void barrier() override;
  void synchronize() override;
  // The sub-group is timed too, with its own (separate) stats.
  std::unique_ptr<Communicator> split(int color, int key) override;
  uint64_t bytes_sent() const override { return inner_->bytes_sent(); }

 private:
  template <typename Fn>
  auto timed(Collective c, Fn&& fn);

  std::unique_ptr<Communicator> owned_;
  Communicator* inner_;
  CommunicationStats stats_;
};

}  // namespace mlaserve::parallel

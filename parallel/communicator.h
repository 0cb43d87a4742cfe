#pragma once
// Communicator: the collectives a process group offers, and nothing else (no "unsupported"
// defaults: every backend implements all of them). Semantics follow NCCL: every rank of the group
// issues the same collectives in the same order, and each call is ordered after the previous one
// on this communicator (stream order). CPU backends complete the call before returning. A CUDA
// backend enqueues it on the device's compute stream and returns: ops queued after it on that
// stream see its result, the host only after synchronize(). A failed peer turns into an Error,
// never a hang: after one, the communicator is broken and every later call throws again.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/tensor.h"

namespace mlaserve::parallel {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const std::string& name() const = 0;  // "world", "world/split0/color1": used in errors

  // In place: every rank ends with the element-wise sum over ranks, bit-identical on every rank
  // and from run to run for the same inputs. f32, contiguous.
  virtual void all_reduce_sum(Tensor& tensor) = 0;
  // Concatenation along dim 0 of every rank's tensor, in rank order. Every rank passes the same
  // shape and dtype; the result has size() times the rows.
  virtual Tensor all_gather(const Tensor& tensor) = 0;
  // In place: every rank ends with root's contents. Same shape and dtype everywhere.
  virtual void broadcast(Tensor& tensor, int root) = 0;
  // Rows [offset_r, offset_r + send_counts[r]) of `input` go to rank r; the result holds the rows
  // received from rank 0, then rank 1, ... (recv_counts[r] of them from rank r). Counts are in
  // rows along dim 0 and must agree pairwise across ranks (my send to r == r's recv from me).
  virtual Tensor all_to_all_v(const Tensor& input, const std::vector<int64_t>& send_counts,
                              const std::vector<int64_t>& recv_counts) = 0;
  // Returns once every rank has entered the barrier and everything issued before it on this
  // communicator has completed (a host-side rendezvous on every backend).
  virtual void barrier() = 0;
  // Waits until every collective issued so far has completed, bounded by the group's timeout. A
  // failed or missing peer throws as a failed collective would (kUnavailable / kDeadlineExceeded
  // naming the group), never hangs. Not a collective: ranks call it when they need to (before
  // the host reads a result). CPU backends have nothing to wait for.
  virtual void synchronize() = 0;

  // Collective over this group: ranks passing the same `color` form a new group, ordered by
  // (key, rank in this group). A negative color joins no group and gets nullptr. The new group
  // bootstraps through the same Store under a fresh key prefix.
  virtual std::unique_ptr<Communicator> split(int color, int key) = 0;

  // Payload bytes this rank has sent to peers so far, following each algorithm's schedule
  // (see the backend for how they are counted); for bandwidth figures in benchmarks.
  virtual uint64_t bytes_sent() const = 0;
};

}  // namespace mlaserve::parallel

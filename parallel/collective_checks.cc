#include "parallel/collective_checks.h"

#include <numeric>

#include "runtime/core/error.h"

namespace mlaserve::parallel {

Shape with_rows(Shape shape, int64_t rows) {
  shape[0] = rows;
  return shape;
}

AllToAllRows check_all_to_all_v(const Communicator& group, const Tensor& input,
                                const std::vector<int64_t>& send_counts,
                                const std::vector<int64_t>& recv_counts) {
  const size_t n = static_cast<size_t>(group.size());
  MLA_ENSURE(input.rank() >= 1, kInvalidArgument, "all_to_all_v in group '", group.name(),
             "' needs a tensor with a row dimension, got ", input.describe());
  MLA_ENSURE(send_counts.size() == n && recv_counts.size() == n, kInvalidArgument,
             "all_to_all_v in group '", group.name(),
             "' needs one send and one recv count per rank (", n, "), got ", send_counts.size(),
             " and ", recv_counts.size());
  for (size_t r = 0; r < n; ++r)
    MLA_ENSURE(send_counts[r] >= 0 && recv_counts[r] >= 0, kInvalidArgument,
               "all_to_all_v in group '", group.name(), "': negative count for rank ", r);
  AllToAllRows rows;
  rows.send = std::accumulate(send_counts.begin(), send_counts.end(), int64_t{0});
  rows.recv = std::accumulate(recv_counts.begin(), recv_counts.end(), int64_t{0});
  MLA_ENSURE(rows.send == input.dim(0), kInvalidArgument, "all_to_all_v in group '", group.name(),
             "': send counts add up to ", rows.send, " rows, the input has ", input.dim(0));
  return rows;
}

}  // namespace mlaserve::parallel

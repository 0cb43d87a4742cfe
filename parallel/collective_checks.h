#pragma once
// Contract checks every Communicator backend applies before it moves bytes, written once so the
// Gloo and NCCL backends refuse the same calls with the same messages.
#include <cstdint>
#include <vector>

#include "parallel/communicator.h"
#include "runtime/core/tensor.h"

namespace mlaserve::parallel {

// `shape` with its leading (row) dimension replaced.
Shape with_rows(Shape shape, int64_t rows);

struct AllToAllRows {
  int64_t send = 0;  // rows this rank sends (= input rows)
  int64_t recv = 0;  // rows it receives
};

// kInvalidArgument naming `group` unless `input` has a row dimension, there is one non-negative
// send and recv count per rank, and the send counts add up to the input's rows.
AllToAllRows check_all_to_all_v(const Communicator& group, const Tensor& input,
                                const std::vector<int64_t>& send_counts,
                                const std::vector<int64_t>& recv_counts);

}  // namespace mlaserve::parallel

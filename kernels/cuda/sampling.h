#pragma once
// Token sampling and top logprobs over rows of f32 logits on the device: the rule of
// kernels/sampling_math.h, giving the same tokens as kernels/cpu/sampling.h bit for bit (same
// candidate order, same double sums in the same order, same Philox uniform). Everything is
// queued on `stream`; nothing waits on the host. Row parameters come from the host (they are
// known there), are copied to the device per call, and decide which kernels run: greedy rows take
// one argmax block each; only rows with temperature > 0 are sorted (cub segmented radix sort,
// descending and stable, so equal logits keep the lower id first).
//
// Workspace: rows are sorted in groups of at most kMaxSortElements / vocab rows (at least one),
// each group needing 24 bytes per element (keys and ids in and out, the weights in double) plus
// cub's temporary storage, allocated stream-ordered on `stream` and freed after the group.
#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/sampling_math.h"

namespace mlaserve::cuda {

inline constexpr int64_t kMaxSortElements = int64_t{1} << 21;

struct SampleTokensArgs {
  const float* logits = nullptr;  // device: rows of `vocab` values, `ld` apart
  int64_t ld = 0;
  int64_t rows = 0;
  int64_t vocab = 0;                            // 1 .. 2^31 - 1
  const sampling::RowParams* params = nullptr;  // host: one per row, checked by the caller
  int32_t* tokens = nullptr;                    // device: [rows]
};

// tokens[r] = the token the rule picks from row r with params[r].
void sample_tokens(const SampleTokensArgs& args, cudaStream_t stream);

struct TopLogprobsArgs {
  const float* logits = nullptr;  // device: rows of `vocab` values, `ld` apart
  int64_t ld = 0;
  int64_t vocab = 0;             // 1 .. 2^31 - 1
  const int64_t* rows = nullptr;  // host: the logits rows wanted, each in range (caller-checked)
  int64_t num_rows = 0;
  int64_t k = 0;             // 1 .. vocab
  int32_t* ids = nullptr;    // device: [num_rows, k], most likely first, ties by lower id
  float* logprobs = nullptr;  // device: [num_rows, k], log_softmax of the row (log-partition in
                              // double, summed in another order than the CPU: ~1 ulp apart)
};

void top_logprobs(const TopLogprobsArgs& args, cudaStream_t stream);

}  // namespace mlaserve::cuda

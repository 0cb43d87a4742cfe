#pragma once
// Token sampling and top logprobs over a batch of logits rows, on the logits' device: the engine
// calls these on the whole logits tensor of a step and brings back only the results. The rule is
// kernels/sampling_math.h, one implementation per device (kernels/cpu/sampling.h,
// kernels/cuda/sampling.h) giving the same tokens: greedy (temperature 0: argmax, lower id on
// ties), else temperature, top-k, top-p and an inverse-CDF draw with the Philox4x32-10 uniform
// keyed by (seed, position). So a token depends only on its row's logits and SamplingRow: not on
// the device, the batch or the TP/EP layout.
#include <cstdint>
#include <vector>

#include "runtime/core/tensor.h"

namespace mlaserve::ops {

struct SamplingRow {
  double temperature = 0;  // >= 0; 0: greedy
  int64_t top_k = 0;       // >= 0; 0: no limit
  double top_p = 1;        // (0, 1]
  uint64_t seed = 0;
  int64_t position = 0;    // >= 0: the output position of the token (tokens generated before it)
};

// logits: [R, V] f32 (rows may be strided, unit stride inside a row), 1 <= V <= 2^31 - 1;
// rows: R entries. Returns tokens [R] i32 on the logits' device. kInvalidArgument naming the op,
// the tensor or rows[i] and its field.
Tensor sample_tokens(const Tensor& logits, const std::vector<SamplingRow>& rows);

// The min(k, V) most likely tokens of each row under log_softmax, most likely first (ties: lower
// id): ids [n, min(k, V)] i32 and logprobs [n, min(k, V)] f32 on the logits' device. The
// log-partition is summed in double; its order differs between devices, so logprobs agree to
// ~1 ulp of f32 and ids exactly.
struct TopLogprobs {
  Tensor ids;
  Tensor logprobs;
};
// Every row of logits [R, V] f32 (n = R); k >= 1.
TopLogprobs top_logprobs(const Tensor& logits, int64_t k);
// Only logits rows `rows` (each in [0, R)), in that order (n = rows.size()).
TopLogprobs top_logprobs(const Tensor& logits, int64_t k, const std::vector<int64_t>& rows);

}  // namespace mlaserve::ops

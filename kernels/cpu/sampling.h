#pragma once
// Token sampling and top logprobs over one row of f32 logits, on the CPU: the rule of
// kernels/sampling_math.h (greedy, temperature, top-k, top-p, Philox uniform keyed by seed and
// output position). ops::sample_tokens and ops::top_logprobs run these per row; the CUDA kernels
// (kernels/cuda/sampling.h) produce the same tokens.
#include <cstdint>
#include <utility>
#include <vector>

#include "kernels/sampling_math.h"

namespace mlaserve::cpu {

// Buffers one thread reuses across rows (grown to the vocabulary once).
struct SamplingScratch {
  std::vector<std::pair<float, int64_t>> candidates;  // (scaled logit, id)
  std::vector<double> probs;   // p_i, candidate order
  std::vector<double> prefix;  // P_i, chunked prefix sums of p
};

// The lowest id among the largest logits.
int64_t argmax(const float* logits, int64_t vocab);

// The token the rule picks from `logits` [vocab] (vocab >= 1) for row parameters `p`
// (temperature 0: argmax). Parameters are checked by the caller.
int64_t sample_row(const float* logits, int64_t vocab, const sampling::RowParams& p,
                   SamplingScratch& scratch);

// The min(k, vocab) most likely tokens under log_softmax(logits), most likely first (ties: lower
// id): ids[i] and logprobs[i]. The log-partition is summed in double in id order.
void top_logprobs_row(const float* logits, int64_t vocab, int64_t k, int64_t* ids,
                      float* logprobs, SamplingScratch& scratch);

}  // namespace mlaserve::cpu

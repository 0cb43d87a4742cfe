#pragma once
// Per-request sampling parameters, and how the engine hands them to the sampling ops
// (runtime/ops/sampling.h): greedy (temperature 0) or temperature + top-k + top-p, drawn with a
// counter-based generator (Philox4x32-10) keyed by the request's seed and the token's output
// position. A request's token at output position i is a pure function of its logits row, its
// parameters, its seed and i: it depends neither on which other requests share its batches nor
// on when it arrived (as vLLM's per-request seed), nor on the device or the TP/EP layout; a
// request resumed part-way continues the same way when its positions carry on.
#include <cstdint>
#include <utility>
#include <vector>

#include "runtime/ops/sampling.h"

namespace mlaserve {

struct SamplingParams {
  double temperature = 0.0;  // 0: greedy
  int64_t top_k = 0;         // 0: no limit
  double top_p = 1.0;        // (0, 1]
  uint64_t seed = 0;

  void validate() const;  // kInvalidArgument naming the field
};

// The ops' row for the token at output `position` (tokens the request generated before it).
ops::SamplingRow sampling_row(const SamplingParams& params, int64_t position);

// One CPU logits row through ops::sample_tokens (the rule in kernels/sampling_math.h).
int64_t sample_token(const SamplingParams& params, const float* logits, int64_t vocab,
                     int64_t position);

// The k most likely tokens under log_softmax(logits), most likely first (ties: lower id), through
// ops::top_logprobs.
std::vector<std::pair<int64_t, float>> top_logprobs(const float* logits, int64_t vocab, int64_t k);

}  // namespace mlaserve

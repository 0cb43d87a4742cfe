#pragma once
// Per-request token sampling: greedy (temperature 0) or temperature + top-k + top-p with a
// request-local RNG seeded from the request's seed alone, so a request's tokens depend neither on
// which other requests share its batches nor on when it arrived (as vLLM's per-request seed).
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace mlaserve {

struct SamplingParams {
  double temperature = 0.0;  // 0: greedy
  int64_t top_k = 0;         // 0: no limit
  double top_p = 1.0;        // (0, 1]
  uint64_t seed = 0;

  void validate() const;  // kInvalidArgument naming the field
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  // Picks the next token from one logits row.
  int64_t sample(const float* logits, int64_t vocab);

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int64_t>> candidates_;  // reused between calls
};

// The k most likely tokens under log_softmax(logits), most likely first (ties: lower id).
std::vector<std::pair<int64_t, float>> top_logprobs(const float* logits, int64_t vocab, int64_t k);

}  // namespace mlaserve

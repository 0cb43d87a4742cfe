#pragma once
// Offline batch generation: every request's prompt is prefilled in one ragged step, then all
// unfinished requests decode together, one token per step. (The continuous-batching scheduler
// with paged allocation and preemption replaces this loop for serving.)
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runtime/engine/sampler.h"
#include "runtime/engine/step_executor.h"
#include "runtime/model/deepseek_v2.h"

namespace mlaserve {

struct GenerationRequest {
  std::vector<int64_t> prompt;
  int64_t max_new_tokens = 16;
  SamplingParams sampling;
  bool ignore_eos = false;
  int64_t top_logprobs = 0;  // per generated token, the k most likely tokens and logprobs
  bool keep_logits = false;  // keep the logits row that chose every generated token
};

struct GenerationResult {
  std::vector<int64_t> tokens;
  std::string finish_reason;  // "length" or "stop" (eos generated; it is the last token)
  std::vector<std::vector<std::pair<int64_t, float>>> top_logprobs;  // per generated token
  std::vector<std::vector<float>> logits;                            // per generated token
};

// Checks every request against the model (kInvalidArgument naming the request: empty prompt,
// token id outside the vocabulary, prompt + max_new_tokens beyond max_position_embeddings, bad
// sampling parameters), sizes a latent cache of `cache_dtype` for them and generates.
std::vector<GenerationResult> generate(const DeepseekV2Model& model,
                                       const std::vector<GenerationRequest>& requests,
                                       DType cache_dtype);
// The same, running every forward pass through `executor` (a TP leader's broadcasts the step
// plan first). Requests are validated before the executor sees anything.
std::vector<GenerationResult> generate(const DeepseekV2Model& model,
                                       const std::vector<GenerationRequest>& requests,
                                       DType cache_dtype, StepExecutor& executor);

}  // namespace mlaserve

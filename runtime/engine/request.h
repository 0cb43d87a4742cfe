#pragma once
// What a client asks the Engine for, and what each step() hands back per request.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runtime/engine/sampler.h"

namespace mlaserve {

// Request ids are chosen by the caller and must be unique among unfinished requests. Sampled
// tokens depend on SamplingParams::seed and the output position, not on the id (sampler.h).
using RequestId = int64_t;

struct EngineRequest {
  std::vector<int64_t> prompt;
  SamplingParams sampling;
  int64_t max_tokens = 16;              // tokens to generate at most (>= 1)
  std::vector<int64_t> stop_token_ids;  // generating one of these finishes with "stop"
  bool ignore_eos = false;              // eos does not stop (stop_token_ids still do)
  int64_t top_logprobs = 0;             // per generated token, the k most likely tokens
  bool keep_logits = false;             // hand back the logits row that chose every token
};

using TopLogprobs = std::vector<std::pair<int64_t, float>>;

// One request's news from one step: the tokens it generated (a decode step gives one; a step
// that only prefilled part of a prompt gives none and produces no output at all).
struct RequestOutput {
  RequestId id = 0;
  std::vector<int64_t> new_tokens;
  std::vector<TopLogprobs> top_logprobs;   // one per new token when top_logprobs > 0
  std::vector<std::vector<float>> logits;  // one row per new token when keep_logits
  bool finished = false;
  // "length" (max_tokens reached), "stop" (eos or a stop token; it is the last token),
  // "abort" (abort() was called) or "error" (see `error`).
  std::string finish_reason;
  std::string error;  // why the engine gave up on the request (finish_reason "error")
};

}  // namespace mlaserve

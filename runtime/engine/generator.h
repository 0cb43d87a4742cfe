#pragma once
// Offline batch generation through the Engine: every request is submitted at once, then the
// engine steps (continuous batching, chunked prefill, prefix caching, preemption) until all are
// done. `mlaserve generate` and `bench throughput` run this.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runtime/engine/engine.h"
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
  std::vector<int64_t> stop_token_ids;
};

struct GenerationResult {
  std::vector<int64_t> tokens;
  // "length", "stop" (eos or a stop token generated; it is the last token), or "error" (the
  // request can never fit in the cache; `error` says what it needs).
  std::string finish_reason;
  std::string error;
  std::vector<std::vector<std::pair<int64_t, float>>> top_logprobs;  // per generated token
  std::vector<std::vector<float>> logits;                            // per generated token
};

struct GenerateOptions {
  DType cache_dtype = DType::kF32;
  int64_t block_size = KvCache::kDefaultBlockSize;
  // Latent-cache budget in bytes; 0: exactly enough blocks for every request at once (offline
  // generation then never preempts).
  int64_t kv_cache_bytes = 0;
  bool prefix_caching = true;
  SchedulerConfig scheduler;
  double gpu_memory_utilization = 0.9;  // a GPU model's cache is checked against it (engine.h)
};

struct GenerationRun {
  std::vector<GenerationResult> results;  // in request order
  EngineStats stats;
  uint64_t cache_checksum = 0;  // of the leader's cache after the last step (KvCache::checksum)
  int64_t num_blocks = 0;
};

// The engine settings `options` ask for; with no kv_cache_bytes, exactly enough blocks for all
// `requests` at once. kInvalidArgument naming the flag.
EngineConfig engine_config(const ModelConfig& model, const GenerateOptions& options,
                           const std::vector<GenerationRequest>& requests);
EngineRequest engine_request(const GenerationRequest& request);

// Request i gets engine id i (sampling ignores ids). Requests are validated (kInvalidArgument
// naming the request and field) before the executor sees anything.
GenerationRun generate(const DeepseekV2Model& model, const std::vector<GenerationRequest>& requests,
                       const GenerateOptions& options, StepExecutor& executor);

}  // namespace mlaserve

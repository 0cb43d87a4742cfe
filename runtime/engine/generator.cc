#include "runtime/engine/generator.h"

#include "runtime/core/error.h"
#include "runtime/engine/cache_budget.h"

namespace mlaserve {

EngineConfig engine_config(const ModelConfig& model, const GenerateOptions& options,
                           const std::vector<GenerationRequest>& requests) {
  MLA_ENSURE(options.block_size >= 1, kInvalidArgument, "--block-size must be >= 1, got ",
             options.block_size);
  MLA_ENSURE(options.kv_cache_bytes >= 0, kInvalidArgument,
             "--kv-cache-memory must be >= 0 (0 = enough for every request), got ",
             options.kv_cache_bytes);
  options.scheduler.validate();
  EngineConfig config;
  config.block_size = options.block_size;
  config.cache_dtype = options.cache_dtype;
  config.prefix_caching = options.prefix_caching;
  config.scheduler = options.scheduler;
  config.gpu_memory_utilization = options.gpu_memory_utilization;
  if (options.kv_cache_bytes > 0) {
    config.num_blocks = blocks_for_budget(model, options.cache_dtype, options.block_size,
                                          options.kv_cache_bytes);
  } else {
    for (const auto& r : requests)
      config.num_blocks += (static_cast<int64_t>(r.prompt.size()) + r.max_new_tokens +
                            options.block_size - 1) / options.block_size;
  }
  return config;
}

EngineRequest engine_request(const GenerationRequest& g) {
  EngineRequest r;
  r.prompt = g.prompt;
  r.sampling = g.sampling;
  r.max_tokens = g.max_new_tokens;
  r.stop_token_ids = g.stop_token_ids;
  r.ignore_eos = g.ignore_eos;
  r.top_logprobs = g.top_logprobs;
  r.keep_logits = g.keep_logits;
  return r;
}

GenerationRun generate(const DeepseekV2Model& model, const std::vector<GenerationRequest>& requests,
                       const GenerateOptions& options, StepExecutor& executor) {
  MLA_ENSURE(!requests.empty(), kInvalidArgument, "generate: no requests");
  const EngineConfig config = engine_config(model.config(), options, requests);
  Engine engine(model, executor, config);
  for (size_t i = 0; i < requests.size(); ++i)
    engine.add_request(static_cast<RequestId>(i), engine_request(requests[i]));
  GenerationRun run;
  run.num_blocks = engine.config().num_blocks;
  run.results.resize(requests.size());
  while (engine.has_unfinished()) {
    for (RequestOutput& out : engine.step()) {
      GenerationResult& res = run.results[out.id];
      res.tokens.insert(res.tokens.end(), out.new_tokens.begin(), out.new_tokens.end());
      for (auto& t : out.top_logprobs) res.top_logprobs.push_back(std::move(t));
      for (auto& l : out.logits) res.logits.push_back(std::move(l));
      if (out.finished) {
        res.finish_reason = out.finish_reason;
        res.error = out.error;
      }
    }
  }
  run.stats = engine.stats();
  run.cache_checksum = engine.cache().checksum();
  return run;
}

}  // namespace mlaserve

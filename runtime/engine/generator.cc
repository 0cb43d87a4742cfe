#include "runtime/engine/generator.h"

#include "runtime/core/error.h"
#include "runtime/model/kv_cache.h"

namespace mlaserve {
namespace {

void validate(const ModelConfig& c, const GenerationRequest& r, size_t index) {
  MLA_ENSURE(!r.prompt.empty(), kInvalidArgument, "request ", index, ": the prompt is empty");
  for (size_t i = 0; i < r.prompt.size(); ++i)
    MLA_ENSURE(r.prompt[i] >= 0 && r.prompt[i] < c.vocab_size, kInvalidArgument, "request ",
               index, ": prompt token ", i, " = ", r.prompt[i], " is outside the vocabulary [0, ",
               c.vocab_size, ")");
  MLA_ENSURE(r.max_new_tokens >= 1, kInvalidArgument, "request ", index,
             ": max_new_tokens must be >= 1, got ", r.max_new_tokens);
  const int64_t total = static_cast<int64_t>(r.prompt.size()) + r.max_new_tokens;
  MLA_ENSURE(total <= c.max_position_embeddings, kInvalidArgument, "request ", index,
             ": prompt (", r.prompt.size(), " tokens) + max_new_tokens (", r.max_new_tokens,
             ") = ", total, " exceeds max_position_embeddings = ", c.max_position_embeddings);
  MLA_ENSURE(r.top_logprobs >= 0, kInvalidArgument, "request ", index,
             ": top_logprobs must be >= 0, got ", r.top_logprobs);
  try {
    r.sampling.validate();
  } catch (const Error& e) {
    fail(e.code(), "request ", index, ": ", e.what());
  }
}

}  // namespace

std::vector<GenerationResult> generate(const DeepseekV2Model& model,
                                       const std::vector<GenerationRequest>& requests,
                                       DType cache_dtype) {
  LocalStepExecutor local(model);
  return generate(model, requests, cache_dtype, local);
}

std::vector<GenerationResult> generate(const DeepseekV2Model& model,
                                       const std::vector<GenerationRequest>& requests,
                                       DType cache_dtype, StepExecutor& executor) {
  const ModelConfig& c = model.config();
  MLA_ENSURE(!requests.empty(), kInvalidArgument, "generate: no requests");
  for (size_t i = 0; i < requests.size(); ++i) validate(c, requests[i], i);

  const int64_t block_size = KvCache::kDefaultBlockSize;
  int64_t blocks = 0;
  for (const auto& r : requests)
    blocks += (static_cast<int64_t>(r.prompt.size()) + r.max_new_tokens + block_size - 1) / block_size;
  KvCache cache(c, blocks, block_size, cache_dtype);
  executor.setup_cache(cache);

  const size_t n = requests.size();
  std::vector<GenerationResult> results(n);
  std::vector<Sampler> samplers;
  std::vector<std::vector<int32_t>> tables(n);
  std::vector<int64_t> pos(n, 0);
  std::vector<bool> done(n, false);
  for (size_t i = 0; i < n; ++i) samplers.emplace_back(requests[i].sampling, i);

  std::vector<std::vector<int64_t>> feed(n);
  for (size_t i = 0; i < n; ++i) feed[i] = requests[i].prompt;
  while (true) {
    ForwardBatch batch;
    std::vector<size_t> active;
    for (size_t i = 0; i < n; ++i) {
      if (done[i]) continue;
      cache.reserve(tables[i], pos[i] + static_cast<int64_t>(feed[i].size()));
      batch.sequences.push_back({feed[i], pos[i], &tables[i]});
      active.push_back(i);
    }
    if (active.empty()) break;
    Tensor logits = executor.forward(batch, cache);  // [active, vocab]
    for (size_t a = 0; a < active.size(); ++a) {
      const size_t i = active[a];
      const GenerationRequest& r = requests[i];
      GenerationResult& out = results[i];
      const float* row = logits.data<float>() + static_cast<int64_t>(a) * c.vocab_size;
      const int64_t token = samplers[i].sample(row, c.vocab_size);
      out.tokens.push_back(token);
      if (r.top_logprobs > 0) out.top_logprobs.push_back(top_logprobs(row, c.vocab_size, r.top_logprobs));
      if (r.keep_logits) out.logits.emplace_back(row, row + c.vocab_size);
      pos[i] += static_cast<int64_t>(feed[i].size());
      feed[i] = {token};
      if (token == c.eos_token_id && !r.ignore_eos) {
        out.finish_reason = "stop";
        done[i] = true;
      } else if (static_cast<int64_t>(out.tokens.size()) >= r.max_new_tokens) {
        out.finish_reason = "length";
        done[i] = true;
      }
    }
  }
  return results;
}

}  // namespace mlaserve

#include "rpc/request_validation.h"

#include <cmath>

#include "runtime/core/error.h"

namespace mlaserve::rpc {
namespace {

void check_token_ids(const google::protobuf::RepeatedField<int64_t>& ids, const char* field,
                     int64_t vocab_size) {
  for (int i = 0; i < ids.size(); ++i)
    MLA_ENSURE(ids[i] >= 0 && ids[i] < vocab_size, kInvalidArgument, field, "[", i, "] = ",
               ids[i], " is outside the vocabulary [0, ", vocab_size, ")");
}

}  // namespace

RequestLimits request_limits(const ModelConfig& config) {
  RequestLimits limits;
  limits.vocab_size = config.vocab_size;
  limits.max_model_len = config.max_position_embeddings;
  return limits;
}

EngineRequest to_engine_request(const v1::GenerateRequest& r, const RequestLimits& limits) {
  const int64_t prompt_len = r.prompt_token_ids_size();
  MLA_ENSURE(prompt_len > 0, kInvalidArgument, "prompt_token_ids is empty");
  MLA_ENSURE(prompt_len < limits.max_model_len, kInvalidArgument, "prompt_token_ids holds ",
             prompt_len, " tokens; the model allows at most ", limits.max_model_len - 1,
             " (max_model_len ", limits.max_model_len, ", one position left to generate)");
  check_token_ids(r.prompt_token_ids(), "prompt_token_ids", limits.vocab_size);
  check_token_ids(r.stop_token_ids(), "stop_token_ids", limits.vocab_size);

  EngineRequest out;
  out.prompt.assign(r.prompt_token_ids().begin(), r.prompt_token_ids().end());
  out.stop_token_ids.assign(r.stop_token_ids().begin(), r.stop_token_ids().end());
  out.ignore_eos = r.ignore_eos();

  out.max_tokens = r.has_max_tokens() ? r.max_tokens() : limits.default_max_tokens;
  MLA_ENSURE(out.max_tokens >= 1, kInvalidArgument, "max_tokens must be >= 1, got ",
             out.max_tokens);
  MLA_ENSURE(out.max_tokens <= limits.max_model_len - prompt_len, kInvalidArgument,
             "max_tokens ", out.max_tokens, " is too large: the prompt's ", prompt_len,
             " tokens leave room for at most ", limits.max_model_len - prompt_len,
             " (max_model_len ", limits.max_model_len, ")");

  MLA_ENSURE(r.top_logprobs() >= 0 && r.top_logprobs() <= limits.max_top_logprobs,
             kInvalidArgument, "top_logprobs must be in [0, ", limits.max_top_logprobs,
             "], got ", r.top_logprobs());
  out.top_logprobs = r.top_logprobs();

  const v1::SamplingParams& s = r.sampling();
  SamplingParams& p = out.sampling;
  p.temperature = s.has_temperature() ? s.temperature() : 1.0;
  p.top_k = s.has_top_k() ? s.top_k() : 0;
  p.top_p = s.has_top_p() ? s.top_p() : 1.0;
  p.seed = s.has_seed() ? s.seed() : 0;
  MLA_ENSURE(std::isfinite(p.temperature) && p.temperature >= 0, kInvalidArgument,
             "sampling.temperature must be >= 0 (0 = greedy), got ", p.temperature);
  MLA_ENSURE(p.top_k >= 0, kInvalidArgument, "sampling.top_k must be >= 0 (0 = no limit), got ",
             p.top_k);
  MLA_ENSURE(p.top_p > 0 && p.top_p <= 1, kInvalidArgument,
             "sampling.top_p must be in (0, 1], got ", p.top_p);
  return out;
}

}  // namespace mlaserve::rpc

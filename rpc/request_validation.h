#pragma once
// The one check a public GenerateRequest passes before it reaches a replica: it becomes the
// EngineRequest the leader runs, or a kInvalidArgument whose message names the proto field and
// says what is wrong (the coordinator returns it as INVALID_ARGUMENT, rpc/status_mapping.h).
// The leader's Engine checks again; this copy lets the coordinator refuse without a round trip.
#include <cstdint>

#include "rpc/proto/inference.pb.h"
#include "runtime/core/error.h"
#include "runtime/engine/request.h"
#include "runtime/model/config.h"

namespace mlaserve::rpc {

struct RequestLimits {
  int64_t vocab_size = 0;
  int64_t max_model_len = 0;        // prompt + generated tokens (max_position_embeddings)
  int64_t max_top_logprobs = 20;    // vLLM's default max_logprobs
  int64_t default_max_tokens = 16;  // when max_tokens is unset (vLLM's default)
};

RequestLimits request_limits(const ModelConfig& config);

EngineRequest to_engine_request(const v1::GenerateRequest& request, const RequestLimits& limits);

}  // namespace mlaserve::rpc

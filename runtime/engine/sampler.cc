#include "runtime/engine/sampler.h"

#include <cmath>

#include "runtime/core/error.h"

namespace mlaserve {
namespace {

// A CPU view of one logits row (not owned: the caller keeps it alive during the call).
Tensor row_view(const float* logits, int64_t vocab) {
  return Tensor::wrap(const_cast<float*>(logits), {1, vocab}, DType::kF32, Device::cpu(), nullptr);
}

}  // namespace

void SamplingParams::validate() const {
  MLA_ENSURE(std::isfinite(temperature) && temperature >= 0, kInvalidArgument,
             "temperature must be >= 0, got ", temperature);
  MLA_ENSURE(top_k >= 0, kInvalidArgument, "top_k must be >= 0 (0 = no limit), got ", top_k);
  MLA_ENSURE(top_p > 0 && top_p <= 1, kInvalidArgument, "top_p must be in (0, 1], got ", top_p);
}

ops::SamplingRow sampling_row(const SamplingParams& params, int64_t position) {
  return {params.temperature, params.top_k, params.top_p, params.seed, position};
}

int64_t sample_token(const SamplingParams& params, const float* logits, int64_t vocab,
                     int64_t position) {
  params.validate();
  const Tensor token =
      ops::sample_tokens(row_view(logits, vocab), {sampling_row(params, position)});
  return token.data<int32_t>()[0];
}

std::vector<std::pair<int64_t, float>> top_logprobs(const float* logits, int64_t vocab, int64_t k) {
  const ops::TopLogprobs top = ops::top_logprobs(row_view(logits, vocab), k);
  std::vector<std::pair<int64_t, float>> out;
  for (int64_t i = 0; i < top.ids.dim(1); ++i)
    out.emplace_back(top.ids.data<int32_t>()[i], top.logprobs.data<float>()[i]);
  return out;
}

}  // namespace mlaserve

#pragma once
// Size figures for a config: what `mlaserve inspect` prints, computed here so tests can check them.
#include <array>
#include <cstdint>

#include "runtime/core/dtype.h"
#include "runtime/model/checkpoint_layout.h"
#include "runtime/model/config.h"

namespace mlaserve {

struct ModelStats {
  int64_t total_params = 0;
  // What one token's forward pass multiplies with: everything except the routed experts it is
  // not sent to, and the embedding table, of which it reads one row (DeepSeek counts the
  // vocabulary matrix once, as lm_head).
  int64_t activated_params = 0;
  std::array<int64_t, kNumTensorGroups> params_by_group{};  // indexed by TensorGroup
  std::array<int64_t, kNumTensorGroups> activated_by_group{};
  // Values cached per token over all layers: MLA keeps (kv_lora_rank + rope) per layer; standard
  // multi-head attention would keep K (nope + rope) and V (v_head) for every head.
  int64_t latent_kv_values_per_token = 0;
  int64_t mha_kv_values_per_token = 0;

  int64_t group_params(TensorGroup g) const { return params_by_group[static_cast<int>(g)]; }
  int64_t latent_kv_bytes_per_token(DType dtype) const {
    return latent_kv_values_per_token * static_cast<int64_t>(dtype_size(dtype));
  }
  int64_t mha_kv_bytes_per_token(DType dtype) const {
    return mha_kv_values_per_token * static_cast<int64_t>(dtype_size(dtype));
  }
};

ModelStats compute_model_stats(const ModelConfig& config);

}  // namespace mlaserve

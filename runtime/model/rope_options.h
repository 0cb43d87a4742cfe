#pragma once
// The RoPE table's options from the checkpoint's config: qk_rope_head_dim, rope_theta and, with
// rope_scaling (YaRN), its factor, original length, betas and the cos/sin mscale ratio
// mscale(f, mscale) / mscale(f, mscale_all_dim) (DESIGN.md "YaRN"). ops take these plain
// numbers, never a ModelConfig.
#include "runtime/model/config.h"
#include "runtime/ops/rope.h"

namespace mlaserve {

ops::RopeOptions rope_options(const ModelConfig& config);

}  // namespace mlaserve

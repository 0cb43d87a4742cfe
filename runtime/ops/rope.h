#pragma once
// Rotary position embedding, interleaved pairs (x[2i], x[2i+1]) as stored in DeepSeek-V2
// checkpoints, with YaRN when the config has rope_scaling. See DESIGN.md "RoPE" and "YaRN" and
// kernels/cpu/rope.h for how angles are computed (f32, like the reference).
#include "runtime/core/tensor.h"
#include "runtime/model/config.h"

namespace mlaserve::ops {

struct RopeTable {
  Tensor cos;  // [max_positions, rope_dim / 2] f32, includes the YaRN mscale ratio
  Tensor sin;  // [max_positions, rope_dim / 2] f32
  int64_t rope_dim = 0;
  int64_t max_positions() const { return cos.defined() ? cos.dim(0) : 0; }
};

// Tables for positions [0, max_positions) from qk_rope_head_dim, rope_theta and rope_scaling.
RopeTable make_rope_table(const ModelConfig& config, int64_t max_positions);

// Rotates x in place. x: [T, H, rope_dim] or [T, rope_dim] (H = 1), f32 or bf16, any strides
// as long as the last dimension has unit stride — e.g. q.slice(-1, nope, nope + rope) of
// q [T, H, nope + rope], or the k_pe slice of the kv_a output [T, kv_lora + rope].
// positions: [T] i32 or i64, each in [0, table.max_positions()) (else kOutOfRange).
void apply_rope(const Tensor& x, const Tensor& positions, const RopeTable& table);

}  // namespace mlaserve::ops

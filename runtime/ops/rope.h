#pragma once
// Rotary position embedding, interleaved pairs (x[2i], x[2i+1]) as stored in DeepSeek-V2
// checkpoints, with YaRN when the options ask for it. See DESIGN.md "RoPE" and "YaRN" and
// kernels/cpu/rope.h for how angles are computed (f32, like the reference).
#include "runtime/core/tensor.h"

namespace mlaserve::ops {

// What the table depends on, as plain numbers (the model fills it from its config:
// runtime/model/rope_options.h). The fields are those of cpu::RopeParams.
struct RopeOptions {
  int64_t dim = 0;  // rope dims per head (qk_rope_head_dim), positive and even
  double base = 10000.0;  // rope_theta, > 1
  bool yarn = false;      // rope_scaling type "yarn"; the fields below apply only then
  double factor = 1.0;    // > 0
  int64_t original_max_positions = 0;  // > 0
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double mscale = 1.0;  // cos/sin multiplier: mscale(f, mscale) / mscale(f, mscale_all_dim)
};

struct RopeTable {
  Tensor cos;  // [max_positions, rope_dim / 2] f32, includes the YaRN mscale ratio
  Tensor sin;  // [max_positions, rope_dim / 2] f32
  int64_t rope_dim = 0;
  int64_t max_positions() const { return cos.defined() ? cos.dim(0) : 0; }
};

// Tables for positions [0, max_positions), on the CPU.
RopeTable make_rope_table(const RopeOptions& options, int64_t max_positions);
// The same table on `device` (copied once, e.g. when the model uploads its weights).
RopeTable to_device(const RopeTable& table, Device device);

// Rotates x in place. x: [T, H, rope_dim] or [T, rope_dim] (H = 1), f32 or bf16, any strides
// as long as the last dimension has unit stride — e.g. q.slice(-1, nope, nope + rope) of
// q [T, H, nope + rope], or the k_pe slice of the kv_a output [T, kv_lora + rope].
// positions: [T] i32 or i64. x, positions and the table on one device, where the rotation runs.
// On the CPU a position outside [0, table.max_positions()) throws kOutOfRange. On a GPU the
// positions are in device memory and checking them would need a host sync: the caller
// validates them before uploading (the engine plans positions on the host), and a token whose
// position is outside the table is left unrotated (the table is never read out of bounds).
void apply_rope(const Tensor& x, const Tensor& positions, const RopeTable& table);

}  // namespace mlaserve::ops

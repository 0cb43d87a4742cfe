#pragma once
// Rotary position embedding on the device, in place, on the interleaved layout of DeepSeek-V2
// checkpoints (the contract of kernels/cpu/rope.h): the pair (x[2i], x[2i+1]) of token t, head h
// becomes (a*c - b*s, a*s + b*c) with c/s = cos/sin[positions[t], i] from a precomputed table
// [max_positions, dim / 2] f32 (already carrying YaRN's mscale). Element (t, h, d) is at
// x[t * token_stride + h * head_stride + d]. Products and sums are rounded one by one (no FMA
// contraction), like the CPU kernel, so f32 results match it bit for bit.
//
// Positions are not validated here (that would need a host sync): a token whose position is
// outside [0, max_positions) is left unrotated and the table is never read out of bounds.
// Callers validate positions on the host before uploading them.
#include <cstdint>

#include <cuda_runtime_api.h>

namespace mlaserve::cuda {

struct RopeArgs {
  void* x = nullptr;
  bool x_bf16 = false;
  int64_t n_tokens = 0;
  int64_t n_heads = 1;
  int64_t dim = 0;  // rope dims per head (even)
  int64_t token_stride = 0;
  int64_t head_stride = 0;
  const void* positions = nullptr;  // [n_tokens]
  bool positions_i64 = false;
  const float* cos = nullptr;  // [max_positions, dim / 2]
  const float* sin = nullptr;
  int64_t max_positions = 0;
};

void rope(const RopeArgs& args, cudaStream_t stream);

}  // namespace mlaserve::cuda

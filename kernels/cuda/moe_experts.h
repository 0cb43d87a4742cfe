#pragma once
// The routed experts of one MoE layer on the device (the contract of ops::moe_experts):
//   y[t] = Σ over slots j with local expert e = ids[t, j] - first_expert in [0, n_local) of
//          weights[t, j] · expert_e(x[t]),
//   expert_e(x) = (SiLU(x · gate_eᵀ) * (x · up_eᵀ)) · down_eᵀ.
// gate and up are rounded to the activation dtype, SiLU·mul is computed in f32 and rounded to
// it, down's output is rounded to the out dtype before weighting (as the CPU's linear / silu_mul
// chain does); every product accumulates in f32, and f32 activations are never rounded to bf16.
//
// Four launches, nothing returns to the host:
//  1. align: per local expert the count of routed (token, slot) pairs, their permuted order
//     (expert-major, then pair order) and a tile schedule of (expert, up to kMoeTileRows rows);
//  2. grouped GEMM gate+up with SiLU·mul into h [pairs, inter], one block per (tile, n-tile),
//     on tensor cores for bf16 activations, CUDA cores (f32 FMA) for f32 ones;
//  3. grouped GEMM down into per-pair outputs [pairs, hidden];
//  4. combine: y[t] = Σ of its local terms in ascending expert order (then slot), in f32 with
//     fma, the order and arithmetic of the CPU's scatter-add, so the result does not depend on
//     which other tokens share the batch.
// Grids are sized on the host from the upper bound moe_max_tiles(); tiles past the real count
// (known only on the device) exit at once.
#include <cstdint>

#include <cuda_runtime_api.h>

namespace mlaserve::cuda {

// Rows (routed pairs) per grouped-GEMM tile, and the most experts one rank may hold.
inline constexpr int64_t kMoeTileRows = 32;
inline constexpr int64_t kMoeMaxLocalExperts = 1024;

// Tiles needed for `pairs` routed pairs over n_local experts, at most:
// Σ_e ceil(c_e / R) <= ceil(pairs / R) + n_local, and never more than one tile per pair.
int64_t moe_max_tiles(int64_t pairs, int64_t n_local);
// int32 elements of the schedule workspace (MoeExpertsArgs::schedule).
int64_t moe_schedule_ints(int64_t pairs, int64_t n_local);

struct MoeExpertsArgs {
  const void* x = nullptr;  // [tokens, hidden], rows ldx elements apart
  bool act_bf16 = false;    // x's dtype, and the dtype of the intermediate h
  int64_t ldx = 0;
  const int32_t* ids = nullptr;    // [tokens, top_k] global expert ids
  const float* weights = nullptr;  // [tokens, top_k]
  int64_t tokens = 0;
  int64_t top_k = 0;
  int64_t hidden = 0;
  int64_t inter = 0;
  int64_t first_expert = 0;
  int64_t n_local = 0;  // 0..kMoeMaxLocalExperts
  // bf16 weights (raw bits) stacked per projection: local expert e's matrix starts `*_stride`
  // elements after expert e-1's and is row-major: gate, up [inter, hidden]; down [hidden, inter].
  const uint16_t* gate = nullptr;
  int64_t gate_stride = 0;
  const uint16_t* up = nullptr;
  int64_t up_stride = 0;
  const uint16_t* down = nullptr;
  int64_t down_stride = 0;
  bool out_bf16 = false;  // dtype of each expert's output before weighting
  // bf16 activations: multiply on tensor cores (bf16 WMMA, f32 accumulation) rather than CUDA
  // cores. Only the summation order differs; the kernel tests compare the two. f32 activations
  // always use CUDA cores (f32-exact).
  bool tensor_cores = true;
  float* y = nullptr;     // [tokens, hidden] contiguous; every element is written
  // Workspace (stream-ordered temporaries of the caller), pairs = tokens * top_k:
  int32_t* schedule = nullptr;  // moe_schedule_ints(pairs, n_local) elements
  void* h = nullptr;            // [pairs, inter] in the activation dtype
  void* out = nullptr;          // [pairs, hidden] in the out dtype
};

void moe_experts(const MoeExpertsArgs& args, cudaStream_t stream);

}  // namespace mlaserve::cuda

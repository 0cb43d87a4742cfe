#pragma once
// Internal to kernels/cuda/moe_*: the tile schedule the align kernel writes, and the grouped
// GEMMs that read it (moe_experts.h has the whole picture).
#include <cstdint>

#include <cuda_runtime_api.h>

namespace mlaserve::cuda {

// Views into the int32 schedule workspace. Rows are the routed pairs that hit a local expert,
// permuted expert-major (then in pair order); pair p = t * top_k + j.
struct MoeSchedule {
  int32_t* num_tiles = nullptr;    // [1] tiles actually used
  int32_t* tile_expert = nullptr;  // [max_tiles] local expert index
  int32_t* tile_begin = nullptr;   // [max_tiles] first row of the tile
  int32_t* tile_end = nullptr;     // [max_tiles] one past its last row (<= begin + kMoeTileRows)
  int32_t* row_pair = nullptr;     // [pairs] row -> pair
  int32_t* pair_row = nullptr;     // [pairs] pair -> row, -1 when its expert is not local
  int64_t max_tiles = 0;           // grid.x of the GEMMs
};
MoeSchedule moe_schedule(int32_t* workspace, int64_t pairs, int64_t n_local);

// The gate+up GEMM with the SiLU·mul epilogue: for every row r of every tile,
// h[r, :] = act(SiLU(act(x[token(r)] · gateᵀ)) * act(x[token(r)] · upᵀ)), act = rounding to the
// activation dtype. token(r) = row_pair[r] / top_k.
struct MoeGateUpArgs {
  MoeSchedule schedule;
  const void* x = nullptr;
  int64_t ldx = 0;
  bool act_bf16 = false;
  int64_t top_k = 0;
  int64_t hidden = 0;  // K
  int64_t inter = 0;   // N
  const uint16_t* gate = nullptr;
  int64_t gate_stride = 0;
  const uint16_t* up = nullptr;
  int64_t up_stride = 0;
  void* h = nullptr;  // [pairs, inter], activation dtype
  bool tensor_cores = true;  // bf16 activations: WMMA (sm_80+) instead of CUDA-core FMA
};
void moe_gate_up(const MoeGateUpArgs& args, cudaStream_t stream);

// The down GEMM: out[r, :] = h[r, :] · downᵀ, rounded to the out dtype.
struct MoeDownArgs {
  MoeSchedule schedule;
  const void* h = nullptr;  // [pairs, inter], activation dtype
  bool act_bf16 = false;
  int64_t inter = 0;   // K
  int64_t hidden = 0;  // N
  const uint16_t* down = nullptr;
  int64_t down_stride = 0;
  void* out = nullptr;  // [pairs, hidden]
  bool out_bf16 = false;
  bool tensor_cores = true;  // as MoeGateUpArgs::tensor_cores
};
void moe_down(const MoeDownArgs& args, cudaStream_t stream);

}  // namespace mlaserve::cuda

#pragma once
// MLA over the paged latent cache on CUDA: the cache write and the absorbed attention, the same
// math as kernels/cpu/mla_attention.h (read that header for the formulas). Every pointer is a
// device pointer; everything is queued on `stream` and nothing waits on the host.
//
// Attention, for a ragged batch of T query tokens and H heads (decode and chunked prefill alike:
// a token at position p attends to positions [0, p] of its sequence, all read from the cache):
//   1. q_lat[t, h] = q_nope[t, h] · W_UK_h          head_gemm (f32 activations, bf16 weights)
//   2. o_lat[t, h] = softmax(scores) · c_kv          mla_attention.cu: CTAs as in mla_plan.h;
//      scores = (q_lat · c_kv_j + q_pe · k_pe_j) * scale, online softmax in f32, cache tiles in
//      shared memory (f32), split-K partials merged by a second kernel
//   3. out[t, h]   = o_lat[t, h] · W_UV_hᵀ           head_gemm
// Everything computes in f32 on CUDA cores: the f32 path must match the CPU to ~1e-6 relative,
// which rules out rounding q to bf16 (or TF32) for tensor cores. Results differ from the CPU only
// by summation order. Always the absorbed form: see runtime/ops/mla_attention.h.
#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/cuda/mla_plan.h"

namespace mlaserve::cuda {

// The ragged batch on the device (runtime/ops/mla_batch.h's MlaDeviceBatch as raw pointers).
struct MlaBatchView {
  const int32_t* token_start = nullptr;   // [S + 1]
  const int32_t* pos_start = nullptr;     // [S]
  const int32_t* token_seq = nullptr;     // [T]
  const int32_t* block_tables = nullptr;  // [S, max_blocks]
  int64_t max_blocks = 0;
  int64_t num_tokens = 0;
};

// One layer's cache [num_blocks, block_size, kv_lora + rope], f32 or bf16 bits.
struct MlaCacheView {
  void* data = nullptr;
  bool bf16 = false;
  int64_t num_blocks = 0;
  int64_t block_size = 0;
  int64_t kv_lora = 0;
  int64_t rope = 0;
};

// cache[slot(t)] = [c_kv[t] | k_pe[t]] for every batch token t, slot(t) from its sequence's block
// table and position. c_kv / k_pe: rows `ld` elements apart, f32 or bf16 bits each.
struct MlaCacheWriteArgs {
  MlaCacheView cache;
  MlaBatchView batch;
  const void* c_kv = nullptr;
  bool c_kv_bf16 = false;
  int64_t c_kv_ld = 0;
  const void* k_pe = nullptr;
  bool k_pe_bf16 = false;
  int64_t k_pe_ld = 0;
};
void mla_cache_write(const MlaCacheWriteArgs& args, cudaStream_t stream);

struct MlaAttentionArgs {
  const float* q = nullptr;  // [T, H, nope + rope], contiguous, q_pe rotated
  const uint16_t* w_uk = nullptr;  // head h, row n at w_uk + h * w_uk_head_stride + n * kv_lora
  int64_t w_uk_head_stride = 0;
  const uint16_t* w_uv = nullptr;  // head h, row v at w_uv + h * w_uv_head_stride + v * kv_lora
  int64_t w_uv_head_stride = 0;
  MlaCacheView cache;
  MlaBatchView batch;
  int64_t num_heads = 0;
  int64_t nope = 0;
  int64_t v = 0;  // kv_lora and rope come from `cache`
  float softmax_scale = 1.0f;
  MlaLaunchPlan plan;  // plan_mla_launch(T, H, max_context, multiprocessor_count(device))
  // Workspaces (mla_attention_workspace_floats) and the output [T, H, v] f32.
  float* q_lat = nullptr;      // [T, H, kv_lora]
  float* o_lat = nullptr;      // [T, H, kv_lora]
  float* partial_o = nullptr;  // [num_splits, T, H, kv_lora]; only when num_splits > 1
  float* partial_ml = nullptr; // [num_splits, T, H, 2] (max, sum); only when num_splits > 1
  float* out = nullptr;
};

// Floats of partial_o and partial_ml the plan needs (0 and 0 for one split).
int64_t mla_partial_o_floats(const MlaLaunchPlan& plan, int64_t num_tokens, int64_t num_heads,
                             int64_t kv_lora);
int64_t mla_partial_ml_floats(const MlaLaunchPlan& plan, int64_t num_tokens, int64_t num_heads);

// Checks the sizes the kernels support (kv_lora <= 1024, shared memory of the device, grid
// limits): kInvalidArgument naming mla_attention otherwise.
void mla_attention(const MlaAttentionArgs& args, int device, cudaStream_t stream);

// Streaming multiprocessors of `device` (for plan_mla_launch).
int multiprocessor_count(int device);

}  // namespace mlaserve::cuda

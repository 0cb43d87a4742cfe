#pragma once
// MLA attention (absorbed form) over a paged latent cache, for a ragged batch of sequences.
// See kernels/cpu/mla_attention.h for the math; this layer checks shapes once and dispatches on
// the tensors' device (kernels/cpu, or kernels/cuda/mla_attention.h). On a GPU the batch must
// have been uploaded with upload_batch (mla_batch.h); outputs live on the inputs' device.
#include <cstdint>
#include <vector>

#include "runtime/core/tensor.h"
#include "runtime/ops/mla_batch.h"

namespace mlaserve::ops {

// Writes the batch's new latents into `cache` [num_blocks, block_size, kv_lora + rope]
// (f32 or bf16): c_kv [T, kv_lora] (after kv_a_layernorm) and k_pe [T, rope] (after RoPE), f32
// or bf16 each, rows with unit stride (k_pe may be the rope slice of kv_a's output). A bf16 cache
// holds the values rounded to nearest even, the same bits on every device.
void mla_cache_write(const Tensor& cache, const Tensor& c_kv, const Tensor& k_pe,
                     const MlaBatch& batch);

// q [T, H, nope + rope] f32 (q_pe already rotated); w_uk [H, nope, kv_lora] and
// w_uv [H, v, kv_lora] bf16 (views of kv_b_proj: rows contiguous, heads strided); cache as above,
// holding every position the batch attends to. Returns [T, H, v] f32.
//
// A sequence with at least `naive_min_tokens` new tokens is computed in the naive form
// (decompress K/V once per head, cheaper for long prefills), the others absorbed. The default
// (kMlaNaiveAuto) picks the break-even point from the dims: n_new > (nope + v)·kv_lora /
// (2·kv_lora - nope - v). Both forms are the same math; tests pin either one.
// On CUDA every sequence runs absorbed, whatever naive_min_tokens says: one kernel serves decode
// and chunked prefill, reads each latent row once per (token block, head group) and needs no
// per-head K/V buffers; the naive form's saving (fewer FLOPs per pair in long prefills) pays on a
// GPU only with tensor cores, which the f32 contract here (q never rounded) does not allow.
inline constexpr int64_t kMlaNaiveAuto = -1;
Tensor mla_attention(const Tensor& q, const Tensor& w_uk, const Tensor& w_uv, const Tensor& cache,
                     const MlaBatch& batch, float softmax_scale,
                     int64_t naive_min_tokens = kMlaNaiveAuto);

}  // namespace mlaserve::ops

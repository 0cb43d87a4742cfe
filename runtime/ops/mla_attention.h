#pragma once
// MLA attention (absorbed form) over a paged latent cache, for a ragged batch of sequences.
// See kernels/cpu/mla_attention.h for the math; this layer checks shapes once and dispatches.
#include <cstdint>
#include <vector>

#include "runtime/core/tensor.h"

namespace mlaserve::ops {

// Where each sequence's new tokens sit: sequence s owns rows [token_start[s], token_start[s+1])
// of the batch and its first new token is at position pos_start[s]; block_tables[s] maps
// position / block_size to a cache block and covers positions [0, pos_start[s] + new tokens).
struct MlaBatch {
  std::vector<int64_t> token_start;  // [S + 1], token_start[0] == 0
  std::vector<int64_t> pos_start;    // [S]
  std::vector<const std::vector<int32_t>*> block_tables;  // [S], not owned

  int64_t num_sequences() const { return static_cast<int64_t>(pos_start.size()); }
  int64_t num_tokens() const { return token_start.empty() ? 0 : token_start.back(); }
};

// Writes the batch's new latents into `cache` [num_blocks, block_size, kv_lora + rope]
// (f32 or bf16): c_kv [T, kv_lora] (after kv_a_layernorm) and k_pe [T, rope] (after RoPE), f32.
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
inline constexpr int64_t kMlaNaiveAuto = -1;
Tensor mla_attention(const Tensor& q, const Tensor& w_uk, const Tensor& w_uv, const Tensor& cache,
                     const MlaBatch& batch, float softmax_scale,
                     int64_t naive_min_tokens = kMlaNaiveAuto);

}  // namespace mlaserve::ops

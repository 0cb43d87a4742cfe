#pragma once
// Multi-head latent attention in the absorbed form, over a paged latent cache.
//
// Every query token t of sequence s (at absolute position pos_t) attends causally to cache
// positions [0, pos_t] of that sequence. Per head h:
//   q_lat  = q_nope[t,h] · W_UK_h                       [kv_lora]
//   score  = (q_lat · c_kv_j + q_pe[t,h] · k_pe_j) · softmax_scale
//   o_lat  = Σ_j softmax(score)_j · c_kv_j              [kv_lora]
//   out    = o_lat · W_UV_hᵀ                            [v_head]
// W_UK_h [nope, kv_lora] / W_UV_h [v, kv_lora] are per-head row blocks of kv_b_proj (bf16 as
// stored); rows inside a block are contiguous, blocks are head_stride elements apart.
// The caller has already written the new tokens' (c_kv, k_pe) into the cache.
#include <cstdint>

namespace mlaserve::cpu {

struct MlaAttentionArgs {
  // Queries: q_nope [T, H, nope] and q_pe [T, H, rope] (already rotated), fp32, row strides in
  // elements so they can be views into one [T, H, nope + rope] buffer.
  const float* q_nope = nullptr;
  const float* q_pe = nullptr;
  int64_t q_token_stride = 0;  // elements between tokens
  int64_t q_head_stride = 0;   // elements between heads
  // Per-head absorbed weights, bf16 bits: head h's W_UK_h at w_uk + h * w_uk_head_stride.
  const uint16_t* w_uk = nullptr;
  int64_t w_uk_head_stride = 0;
  const uint16_t* w_uv = nullptr;
  int64_t w_uv_head_stride = 0;
  // Latent cache of one layer: [num_blocks, block_size, kv_lora + rope]; fp32 or bf16 bits.
  const void* cache = nullptr;
  bool cache_bf16 = false;
  int64_t block_size = 0;
  // Ragged batch: sequence s owns query tokens [seq_token_start[s], seq_token_start[s+1]);
  // its token i sits at position seq_pos_start[s] + i. block_tables[s] points to its blocks.
  const int64_t* seq_token_start = nullptr;  // [S + 1]
  const int64_t* seq_pos_start = nullptr;    // [S]
  const int32_t* const* block_tables = nullptr;  // [S] -> [ceil(len / block_size)]
  const int64_t* token_seq = nullptr;        // [T] sequence index of each token
  int64_t num_tokens = 0;
  int64_t num_heads = 0;
  int64_t nope_dim = 0;
  int64_t rope_dim = 0;
  int64_t v_dim = 0;
  int64_t kv_lora = 0;
  float softmax_scale = 1.0f;
  // Output [T, H, v] fp32, contiguous.
  float* out = nullptr;
  // Optional: q_lat [T, H, kv_lora] fp32 computed by the caller (batched over tokens, which
  // beats one q_nope · W_UK_h product per token and head); w_uk is then not read.
  const float* q_lat = nullptr;
  // Optional: when set, mla_attention_items writes o_lat [T, H, kv_lora] fp32 here and leaves
  // out · W_UV_hᵀ to the caller (batched the same way); out and w_uv are then not used by it.
  float* o_lat = nullptr;
  // Optional [T]: tokens flagged non-zero are skipped by mla_attention_items (their sequence
  // is computed by mla_attention_naive instead).
  const uint8_t* skip_token = nullptr;
};

// Floats of scratch one call of mla_attention_items needs for `max_context` cached positions
// (enough for any head grouping).
int64_t mla_attention_scratch_floats(const MlaAttentionArgs& args, int64_t max_context);

// Computes work items [item_begin, item_end), item = token * head_groups + group; group g covers
// heads [g·H / head_groups, (g+1)·H / head_groups). One item walks its sequence's cache rows once
// for all heads of its group. A head's result is bitwise the same for any head_groups in
// [1, num_heads], so callers may pick it from the batch size and thread count. Items are
// independent, so callers split the range across threads; `scratch` is per thread and
// `max_context` bounds the context of every token (as passed to mla_attention_scratch_floats).
void mla_attention_items(const MlaAttentionArgs& args, int64_t head_groups, int64_t item_begin,
                         int64_t item_end, float* scratch, int64_t max_context);

// The naive form for all new tokens of sequence `seq` and head `head`: decompresses
// K_nope = c_kv · W_UKᵀ and V = c_kv · W_UVᵀ once for the sequence's context, then attends
// causally. Costs (nope + v)·kv_lora per context position up front but only nope + rope + v per
// (query, key) pair instead of 2·kv_lora + rope: cheaper for long prefills.
int64_t mla_attention_naive_scratch_floats(const MlaAttentionArgs& args, int64_t max_context);
void mla_attention_naive(const MlaAttentionArgs& args, int64_t seq, int64_t head, float* scratch);

// Writes one token's latent (c_kv [kv_lora] then k_pe [rope], fp32) into the cache slot for
// `position` through the sequence's block table.
void mla_cache_write(void* cache, bool cache_bf16, int64_t block_size, int64_t latent_dim,
                     const int32_t* block_table, int64_t position, const float* c_kv,
                     int64_t kv_lora, const float* k_pe, int64_t rope_dim);

}  // namespace mlaserve::cpu

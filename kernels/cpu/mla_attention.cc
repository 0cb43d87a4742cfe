#include "kernels/cpu/mla_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/cpu/simd.h"
#include "runtime/core/dtype.h"

namespace mlaserve::cpu {
namespace {

inline float load(const float* p, int64_t i) { return p[i]; }
inline float load(const uint16_t* p, int64_t i) { return bf16_to_float(p[i]); }

template <typename A, typename B>
inline float dot(const A* a, const B* b, int64_t n) {
  // Eight partial sums let the compiler keep one AVX register of independent accumulators.
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += load(a, i + k) * load(b, i + k);
  float sum = 0.0f;
  for (; i < n; ++i) sum += load(a, i) * load(b, i);
  return sum + ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint16_t* p) { return simd::load_bf16x8(p); }

// N independent dot products a[r]·b[r], each bitwise equal to dot(a[r], b[r], n) (lane l of
// the one accumulator is acc[l] there; same final combine). One dot is a single chain of
// dependent FMAs, latency-bound; N chains in flight keep the FMA units busy.
template <int N, typename B>
inline void dots(const float* const* a, const B* const* b, int64_t n, float* out) {
  __m256 acc[N];
  for (int r = 0; r < N; ++r) acc[r] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int r = 0; r < N; ++r)
      acc[r] = _mm256_fmadd_ps(_mm256_loadu_ps(a[r] + i), load8(b[r] + i), acc[r]);
  for (int r = 0; r < N; ++r) {
    alignas(32) float l[8];
    _mm256_store_ps(l, acc[r]);
    float sum = 0.0f;
    for (int64_t u = i; u < n; ++u) sum += load(a[r], u) * load(b[r], u);
    out[r] = sum + ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]));
  }
}

template <typename B>
inline void axpy(float alpha, const B* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * load(x, i);
}

// y += alpha[r] * x[r] for r = 0..N-1 in that order: each element sees the same FMA sequence as
// N successive axpy calls (bitwise equal), but y stays in a register across the N rows instead
// of a load and store per row.
template <int N, typename B>
inline void axpys(const float* alpha, const B* const* x, float* y, int64_t n) {
  __m256 al[N];
  for (int r = 0; r < N; ++r) al[r] = _mm256_set1_ps(alpha[r]);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 acc = _mm256_loadu_ps(y + i);
    for (int r = 0; r < N; ++r) acc = _mm256_fmadd_ps(al[r], load8(x[r] + i), acc);
    _mm256_storeu_ps(y + i, acc);
  }
  for (; i < n; ++i)
    for (int r = 0; r < N; ++r) y[i] += alpha[r] * load(x[r], i);
}

template <typename CacheT>
void run_items(const MlaAttentionArgs& a, int64_t item_begin, int64_t item_end, float* scratch) {
  const CacheT* cache = static_cast<const CacheT*>(a.cache);
  const int64_t latent = a.kv_lora + a.rope_dim;
  float* q_lat = scratch;
  float* o_lat = q_lat + a.kv_lora;
  float* scores = o_lat + a.kv_lora;

  for (int64_t item = item_begin; item < item_end; ++item) {
    const int64_t t = item / a.num_heads;
    const int64_t h = item % a.num_heads;
    if (a.skip_token && a.skip_token[t]) continue;
    const int64_t s = a.token_seq[t];
    const int64_t position = a.seq_pos_start[s] + (t - a.seq_token_start[s]);
    const int64_t context = position + 1;  // causal: positions [0, position]
    const int32_t* blocks = a.block_tables[s];
    const float* q_nope = a.q_nope + t * a.q_token_stride + h * a.q_head_stride;
    const float* q_pe = a.q_pe + t * a.q_token_stride + h * a.q_head_stride;
    const uint16_t* w_uk = a.w_uk + h * a.w_uk_head_stride;  // [nope, kv_lora]
    const uint16_t* w_uv = a.w_uv + h * a.w_uv_head_stride;  // [v, kv_lora]

    constexpr int kRows = 4;  // independent rows per register pass (see dots / axpys)
    std::fill(q_lat, q_lat + a.kv_lora, 0.0f);
    int64_t n = 0;
    for (; n + kRows <= a.nope_dim; n += kRows) {
      const uint16_t* w_rows[kRows];
      for (int r = 0; r < kRows; ++r) w_rows[r] = w_uk + (n + r) * a.kv_lora;
      axpys<kRows>(q_nope + n, w_rows, q_lat, a.kv_lora);
    }
    for (; n < a.nope_dim; ++n) axpy(q_nope[n], w_uk + n * a.kv_lora, q_lat, a.kv_lora);

    auto cache_row = [&](int64_t j) {
      return cache + (static_cast<int64_t>(blocks[j / a.block_size]) * a.block_size +
                      j % a.block_size) * latent;
    };
    const float* q_lats[kRows] = {q_lat, q_lat, q_lat, q_lat};
    const float* q_pes[kRows] = {q_pe, q_pe, q_pe, q_pe};
    float max_score = -std::numeric_limits<float>::infinity();
    int64_t j = 0;
    for (; j + kRows <= context; j += kRows) {
      const CacheT* rows[kRows];
      const CacheT* pe_rows[kRows];
      for (int r = 0; r < kRows; ++r) {
        rows[r] = cache_row(j + r);
        pe_rows[r] = rows[r] + a.kv_lora;
      }
      float nope_part[kRows], pe_part[kRows];
      dots<kRows>(q_lats, rows, a.kv_lora, nope_part);
      dots<kRows>(q_pes, pe_rows, a.rope_dim, pe_part);
      for (int r = 0; r < kRows; ++r) {
        scores[j + r] = (nope_part[r] + pe_part[r]) * a.softmax_scale;
        max_score = std::max(max_score, scores[j + r]);
      }
    }
    for (; j < context; ++j) {
      const CacheT* row = cache_row(j);
      const float score =
          (dot(q_lat, row, a.kv_lora) + dot(q_pe, row + a.kv_lora, a.rope_dim)) * a.softmax_scale;
      scores[j] = score;
      max_score = std::max(max_score, score);
    }
    float denom = 0.0f;
    for (int64_t j = 0; j < context; ++j) {
      scores[j] = std::exp(scores[j] - max_score);
      denom += scores[j];
    }
    const float inv_denom = 1.0f / denom;

    std::fill(o_lat, o_lat + a.kv_lora, 0.0f);
    for (j = 0; j + kRows <= context; j += kRows) {
      const CacheT* rows[kRows];
      float p[kRows];
      for (int r = 0; r < kRows; ++r) {
        rows[r] = cache_row(j + r);
        p[r] = scores[j + r] * inv_denom;
      }
      axpys<kRows>(p, rows, o_lat, a.kv_lora);
    }
    for (; j < context; ++j) axpy(scores[j] * inv_denom, cache_row(j), o_lat, a.kv_lora);

    float* out = a.out + (t * a.num_heads + h) * a.v_dim;
    const float* o_lats[kRows] = {o_lat, o_lat, o_lat, o_lat};
    int64_t v = 0;
    for (; v + kRows <= a.v_dim; v += kRows) {
      const uint16_t* w_rows[kRows];
      for (int r = 0; r < kRows; ++r) w_rows[r] = w_uv + (v + r) * a.kv_lora;
      dots<kRows>(o_lats, w_rows, a.kv_lora, out + v);
    }
    for (; v < a.v_dim; ++v) out[v] = dot(o_lat, w_uv + v * a.kv_lora, a.kv_lora);
  }
}

template <typename CacheT>
void run_naive(const MlaAttentionArgs& a, int64_t s, int64_t h, float* scratch) {
  const CacheT* cache = static_cast<const CacheT*>(a.cache);
  const int64_t latent = a.kv_lora + a.rope_dim;
  const int64_t first = a.seq_token_start[s], last = a.seq_token_start[s + 1];
  const int64_t context = a.seq_pos_start[s] + (last - first);
  const int32_t* blocks = a.block_tables[s];
  const uint16_t* w_uk = a.w_uk + h * a.w_uk_head_stride;  // [nope, kv_lora]
  const uint16_t* w_uv = a.w_uv + h * a.w_uv_head_stride;  // [v, kv_lora]
  float* k_nope = scratch;                          // [context, nope]
  float* value = k_nope + context * a.nope_dim;     // [context, v]
  float* scores = value + context * a.v_dim;        // [context]
  auto cache_row = [&](int64_t j) {
    return cache + (static_cast<int64_t>(blocks[j / a.block_size]) * a.block_size +
                    j % a.block_size) * latent;
  };

  for (int64_t j = 0; j < context; ++j) {
    const CacheT* row = cache_row(j);
    for (int64_t n = 0; n < a.nope_dim; ++n)
      k_nope[j * a.nope_dim + n] = dot(row, w_uk + n * a.kv_lora, a.kv_lora);
    for (int64_t v = 0; v < a.v_dim; ++v)
      value[j * a.v_dim + v] = dot(row, w_uv + v * a.kv_lora, a.kv_lora);
  }
  for (int64_t t = first; t < last; ++t) {
    const int64_t position = a.seq_pos_start[s] + (t - first);
    const float* q_nope = a.q_nope + t * a.q_token_stride + h * a.q_head_stride;
    const float* q_pe = a.q_pe + t * a.q_token_stride + h * a.q_head_stride;
    float max_score = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j <= position; ++j) {
      const float score = (dot(q_nope, k_nope + j * a.nope_dim, a.nope_dim) +
                           dot(q_pe, cache_row(j) + a.kv_lora, a.rope_dim)) * a.softmax_scale;
      scores[j] = score;
      max_score = std::max(max_score, score);
    }
    float denom = 0.0f;
    for (int64_t j = 0; j <= position; ++j) {
      scores[j] = std::exp(scores[j] - max_score);
      denom += scores[j];
    }
    float* out = a.out + (t * a.num_heads + h) * a.v_dim;
    std::fill(out, out + a.v_dim, 0.0f);
    const float inv_denom = 1.0f / denom;
    for (int64_t j = 0; j <= position; ++j)
      axpy(scores[j] * inv_denom, value + j * a.v_dim, out, a.v_dim);
  }
}

}  // namespace

int64_t mla_attention_naive_scratch_floats(const MlaAttentionArgs& args, int64_t max_context) {
  return max_context * (args.nope_dim + args.v_dim + 1);
}

void mla_attention_naive(const MlaAttentionArgs& args, int64_t seq, int64_t head, float* scratch) {
  if (args.cache_bf16)
    run_naive<uint16_t>(args, seq, head, scratch);
  else
    run_naive<float>(args, seq, head, scratch);
}

int64_t mla_attention_scratch_floats(const MlaAttentionArgs& args, int64_t max_context) {
  return 2 * args.kv_lora + max_context;
}

void mla_attention_items(const MlaAttentionArgs& args, int64_t item_begin, int64_t item_end,
                         float* scratch) {
  if (args.cache_bf16)
    run_items<uint16_t>(args, item_begin, item_end, scratch);
  else
    run_items<float>(args, item_begin, item_end, scratch);
}

void mla_cache_write(void* cache, bool cache_bf16, int64_t block_size, int64_t latent_dim,
                     const int32_t* block_table, int64_t position, const float* c_kv,
                     int64_t kv_lora, const float* k_pe, int64_t rope_dim) {
  const int64_t slot =
      static_cast<int64_t>(block_table[position / block_size]) * block_size + position % block_size;
  if (cache_bf16) {
    uint16_t* row = static_cast<uint16_t*>(cache) + slot * latent_dim;
    for (int64_t i = 0; i < kv_lora; ++i) row[i] = float_to_bf16(c_kv[i]);
    for (int64_t i = 0; i < rope_dim; ++i) row[kv_lora + i] = float_to_bf16(k_pe[i]);
  } else {
    float* row = static_cast<float*>(cache) + slot * latent_dim;
    std::memcpy(row, c_kv, sizeof(float) * kv_lora);
    std::memcpy(row + kv_lora, k_pe, sizeof(float) * rope_dim);
  }
}

}  // namespace mlaserve::cpu

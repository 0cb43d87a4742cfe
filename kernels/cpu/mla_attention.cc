#include "kernels/cpu/mla_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/cpu/gemm_bf16_kn.h"
#include "kernels/cpu/gemv_bf16.h"
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

template <typename B>
inline void axpy(float alpha, const B* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * load(x, i);
}

// y += alpha[r] * x[r] for r = 0..N-1 in that order: each element sees the same FMA sequence as
// N successive axpy calls (bitwise equal), but y stays in a register across the N rows instead
// of a load and store per row.
template <int N, typename B>
[[gnu::always_inline]] inline void axpys(const float* alpha, const B* const* x, float* y, int64_t n) {
  __m256 al[N];
#pragma GCC unroll 8
  for (int r = 0; r < N; ++r) al[r] = _mm256_set1_ps(alpha[r]);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 acc = _mm256_loadu_ps(y + i);
#pragma GCC unroll 8
    for (int r = 0; r < N; ++r) acc = _mm256_fmadd_ps(al[r], load8(x[r] + i), acc);
    _mm256_storeu_ps(y + i, acc);
  }
  for (; i < n; ++i)
#pragma GCC unroll 8
    for (int r = 0; r < N; ++r) y[i] += alpha[r] * load(x[r], i);
}

// G heads × N rows of dot products a[g]·b[r] with each b[r] chunk loaded (and widened from bf16)
// once for all G heads. Every out[g * N + r] is bitwise equal to dot() on the same pair:
// each (g, r) has its own accumulator with the same per-lane FMA order and the same combine.
template <int G, int N, typename B>
[[gnu::always_inline]] inline void head_dots(const float* const* a, const B* const* b, int64_t n, float* out) {
  __m256 acc[G][N];
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g)
#pragma GCC unroll 8
    for (int r = 0; r < N; ++r) acc[g][r] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 x[N];
#pragma GCC unroll 8
    for (int r = 0; r < N; ++r) x[r] = load8(b[r] + i);
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) {
      const __m256 q = _mm256_loadu_ps(a[g] + i);
#pragma GCC unroll 8
      for (int r = 0; r < N; ++r) acc[g][r] = _mm256_fmadd_ps(q, x[r], acc[g][r]);
    }
  }
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g)
#pragma GCC unroll 8
    for (int r = 0; r < N; ++r) {
      alignas(32) float l[8];
      _mm256_store_ps(l, acc[g][r]);
      float sum = 0.0f;
      for (int64_t u = i; u < n; ++u) sum += load(a[g], u) * load(b[r], u);
      out[g * N + r] = sum + ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]));
    }
}

// Two heads' axpys<N> over the same N rows: y0 += Σ alpha0[r]·x[r], y1 += Σ alpha1[r]·x[r], each
// bitwise equal to axpys<N> on its own, with each row chunk loaded (and widened) once for both.
template <int N, typename B>
[[gnu::always_inline]] inline void axpys2(const float* alpha0, const float* alpha1, const B* const* x, float* y0,
                   float* y1, int64_t n) {
  __m256 al0[N], al1[N];
#pragma GCC unroll 8
  for (int r = 0; r < N; ++r) {
    al0[r] = _mm256_set1_ps(alpha0[r]);
    al1[r] = _mm256_set1_ps(alpha1[r]);
  }
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 acc0 = _mm256_loadu_ps(y0 + i);
    __m256 acc1 = _mm256_loadu_ps(y1 + i);
#pragma GCC unroll 8
    for (int r = 0; r < N; ++r) {
      const __m256 xr = load8(x[r] + i);
      acc0 = _mm256_fmadd_ps(al0[r], xr, acc0);
      acc1 = _mm256_fmadd_ps(al1[r], xr, acc1);
    }
    _mm256_storeu_ps(y0 + i, acc0);
    _mm256_storeu_ps(y1 + i, acc1);
  }
  for (; i < n; ++i)
#pragma GCC unroll 8
    for (int r = 0; r < N; ++r) {
      y0[i] += alpha0[r] * load(x[r], i);
      y1[i] += alpha1[r] * load(x[r], i);
    }
}

// One work item = one query token × one group of heads [head_begin, head_end). The cache rows
// are walked once per item in tiles of kRows: each tile is loaded once and scored against every
// head of the group (q_lat / q_pe of the group stay in L1), and after the per-head softmax each
// tile is accumulated into every head's o_lat. Per head, every sum runs in the same order as the
// one-head-per-item kernel before it (same tiles, same lanes, same combine), so a head's output
// does not depend on the group it was computed in: results are bitwise independent of the
// grouping, the thread count and the batch composition.
template <typename CacheT>
void run_items(const MlaAttentionArgs& a, int64_t head_groups, int64_t item_begin,
               int64_t item_end, float* scratch, int64_t max_context) {
  const CacheT* cache = static_cast<const CacheT*>(a.cache);
  const int64_t latent = a.kv_lora + a.rope_dim;
  constexpr int kRows = 4;  // cache rows per tile (see dots / axpys)
  constexpr int kMaxGroup = 64;  // heads per chunk of a group (pointer arrays below)
  float* q_lat_all = scratch;                              // [group, kv_lora]
  float* o_lat_all = q_lat_all + a.num_heads * a.kv_lora;  // [group, kv_lora]
  float* scores_all = o_lat_all + a.num_heads * a.kv_lora;  // [group, max_context]

  for (int64_t item = item_begin; item < item_end; ++item) {
    const int64_t t = item / head_groups;
    const int64_t group = item % head_groups;
    if (a.skip_token && a.skip_token[t]) continue;
    const int64_t s = a.token_seq[t];
    const int64_t position = a.seq_pos_start[s] + (t - a.seq_token_start[s]);
    const int64_t context = position + 1;  // causal: positions [0, position]
    const int32_t* blocks = a.block_tables[s];
    auto cache_row = [&](int64_t j) {
      return cache + (static_cast<int64_t>(blocks[j / a.block_size]) * a.block_size +
                      j % a.block_size) * latent;
    };
    const int64_t group_begin = group * a.num_heads / head_groups;
    const int64_t group_end = (group + 1) * a.num_heads / head_groups;

    for (int64_t h0 = group_begin; h0 < group_end; h0 += kMaxGroup) {
      const int64_t nh = std::min<int64_t>(kMaxGroup, group_end - h0);
      const float* q_lat[kMaxGroup];
      const float* q_pe[kMaxGroup];
      float* o_lat[kMaxGroup];
      float* scores[kMaxGroup];
      float max_score[kMaxGroup];
      for (int64_t g = 0; g < nh; ++g) {
        const int64_t h = h0 + g;
        q_pe[g] = a.q_pe + t * a.q_token_stride + h * a.q_head_stride;
        o_lat[g] = a.o_lat != nullptr ? a.o_lat + (t * a.num_heads + h) * a.kv_lora
                                      : o_lat_all + g * a.kv_lora;
        scores[g] = scores_all + g * max_context;
        max_score[g] = -std::numeric_limits<float>::infinity();
        if (a.q_lat != nullptr) {
          q_lat[g] = a.q_lat + (t * a.num_heads + h) * a.kv_lora;
          continue;
        }
        float* ql = q_lat_all + g * a.kv_lora;
        q_lat[g] = ql;

        // q_lat = q_nope · W_UK_h, the same kernel (and bits) as the batched caller's
        const float* q_nope = a.q_nope + t * a.q_token_stride + h * a.q_head_stride;
        gemm_bf16_kn(q_nope, 0, 1, a.w_uk + h * a.w_uk_head_stride, a.kv_lora, a.nope_dim, ql, 0,
                     a.kv_lora);
      }

      // Scores: each tile of rows once for all heads of the chunk.
      int64_t j = 0;
      for (; j + kRows <= context; j += kRows) {
        const CacheT* rows[kRows];
        const CacheT* pe_rows[kRows];
        for (int r = 0; r < kRows; ++r) {
          rows[r] = cache_row(j + r);
          pe_rows[r] = rows[r] + a.kv_lora;
        }
        int64_t g = 0;
        for (; g + 2 <= nh; g += 2) {
          float nope_part[2 * kRows], pe_part[2 * kRows];
          head_dots<2, kRows>(q_lat + g, rows, a.kv_lora, nope_part);
          head_dots<2, kRows>(q_pe + g, pe_rows, a.rope_dim, pe_part);
          for (int u = 0; u < 2; ++u)
            for (int r = 0; r < kRows; ++r) {
              const float sc = (nope_part[u * kRows + r] + pe_part[u * kRows + r]) * a.softmax_scale;
              scores[g + u][j + r] = sc;
              max_score[g + u] = std::max(max_score[g + u], sc);
            }
        }
        for (; g < nh; ++g) {
          float nope_part[kRows], pe_part[kRows];
          head_dots<1, kRows>(q_lat + g, rows, a.kv_lora, nope_part);
          head_dots<1, kRows>(q_pe + g, pe_rows, a.rope_dim, pe_part);
          for (int r = 0; r < kRows; ++r) {
            const float sc = (nope_part[r] + pe_part[r]) * a.softmax_scale;
            scores[g][j + r] = sc;
            max_score[g] = std::max(max_score[g], sc);
          }
        }
      }
      for (; j < context; ++j) {
        const CacheT* row = cache_row(j);
        for (int64_t g = 0; g < nh; ++g) {
          const float sc = (dot(q_lat[g], row, a.kv_lora) +
                            dot(q_pe[g], row + a.kv_lora, a.rope_dim)) * a.softmax_scale;
          scores[g][j] = sc;
          max_score[g] = std::max(max_score[g], sc);
        }
      }

      // Softmax per head; scores become probabilities.
      for (int64_t g = 0; g < nh; ++g) {
        float* sc = scores[g];
        float denom = 0.0f;
        for (int64_t i = 0; i < context; ++i) {
          sc[i] = std::exp(sc[i] - max_score[g]);
          denom += sc[i];
        }
        const float inv_denom = 1.0f / denom;
        for (int64_t i = 0; i < context; ++i) sc[i] *= inv_denom;
        std::fill(o_lat[g], o_lat[g] + a.kv_lora, 0.0f);
      }

      // o_lat[h] = Σ_j p[h, j] · c_kv_j, each tile of rows once for all heads.
      for (j = 0; j + kRows <= context; j += kRows) {
        const CacheT* rows[kRows];
        for (int r = 0; r < kRows; ++r) rows[r] = cache_row(j + r);
        int64_t g = 0;
        for (; g + 2 <= nh; g += 2)
          axpys2<kRows>(scores[g] + j, scores[g + 1] + j, rows, o_lat[g], o_lat[g + 1], a.kv_lora);
        for (; g < nh; ++g) axpys<kRows>(scores[g] + j, rows, o_lat[g], a.kv_lora);
      }
      for (; j < context; ++j) {
        const CacheT* row = cache_row(j);
        for (int64_t g = 0; g < nh; ++g) axpy(scores[g][j], row, o_lat[g], a.kv_lora);
      }

      // out = o_lat · W_UV_hᵀ, the same kernel (and bits) as the batched caller's
      if (a.o_lat != nullptr) continue;
      for (int64_t g = 0; g < nh; ++g) {
        const int64_t h = h0 + g;
        gemm_bf16_small_m(o_lat[g], 0, 1, a.w_uv + h * a.w_uv_head_stride, a.kv_lora, a.kv_lora,
                          a.out + (t * a.num_heads + h) * a.v_dim, 0, 0, a.v_dim);
      }
    }
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
  return args.num_heads * (2 * args.kv_lora + max_context);
}

void mla_attention_items(const MlaAttentionArgs& args, int64_t head_groups, int64_t item_begin,
                         int64_t item_end, float* scratch, int64_t max_context) {
  if (args.cache_bf16)
    run_items<uint16_t>(args, head_groups, item_begin, item_end, scratch, max_context);
  else
    run_items<float>(args, head_groups, item_begin, item_end, scratch, max_context);
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

// The absorbed MLA attention on CUDA: q_lat and out through head_gemm, the attention core and the
// split-K merge here. See mla_attention.h for the math and mla_plan.h for the CTA layout.
#include "kernels/cuda/mla_attention.h"

#include <cuda_bf16.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/head_gemm.h"

namespace mlaserve::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kRows = static_cast<int>(kMlaRowsPerCta);  // query rows per CTA
constexpr int kTile = static_cast<int>(kMlaTileRows);    // cache rows per tile: lane n scores row n
constexpr int kRowsPerWarp = kRows / kWarps;             // rows whose softmax one warp runs
constexpr int kMaxCols = 4;  // o_lat columns per thread: kv_lora <= kMaxCols * kThreads = 1024
static_assert(kTile == 32, "the score phase maps one lane to one cache row of the tile");
static_assert(kRows % kWarps == 0 && kRows % 4 == 0, "rows split evenly over warps and float4s");

constexpr int kMergeThreads = 128;

// Positions, block sizes and per-CTA counts are int: upload_batch keeps positions and token
// counts below 2^31, and 32-bit division avoids the 64-bit division routine (and its register
// spills) in the tile loop. Element offsets stay int64.
struct CoreParams {
  const float* q_lat;  // [T, H, kv_lora]
  const float* q;      // [T, H, nope + rope]: q_pe read from here
  int nope;
  const void* cache;
  int64_t num_blocks;
  int block_size, kv_lora, rope;
  MlaBatchView batch;
  int num_heads;
  int heads_per_group, head_groups, tokens_per_cta, split_len, num_splits;
  int ld;  // shared-memory row stride (floats) of q and cache rows
  float scale;
  float* o_lat;       // one split: normalised output
  float* partial_o;   // several: unnormalised partials
  float* partial_ml;  //          and their (max, sum)
};

// Row stride in shared memory for rows of `latent` floats: a multiple of 4 (float4 reads, zero
// padded) whose quarter is odd, so the 8 lanes of a quarter-warp reading float4s from 8
// consecutive rows hit 8 distinct bank quads (no conflicts in the score loop).
int64_t smem_ld(int64_t latent) {
  int64_t ld = (latent + 3) / 4 * 4;
  if ((ld / 4) % 2 == 0) ld += 4;
  return ld;
}

size_t core_smem_bytes(int64_t ld) {
  return sizeof(float) * static_cast<size_t>((kRows + kTile) * ld + kTile * kRows);
}

__device__ __forceinline__ float dot4(float4 a, float4 b, float acc) {
  acc = fmaf(a.x, b.x, acc);
  acc = fmaf(a.y, b.y, acc);
  acc = fmaf(a.z, b.z, acc);
  return fmaf(a.w, b.w, acc);
}

// One CTA: the query rows of one (token block, head group) against one split of their context.
// Per tile of kTile cache rows: (1) warp-strided load of the rows into shared memory as f32;
// (2) lane n scores row n against the warp's kRowsPerWarp query rows (causal mask per row) and
// the warp updates those rows' running max / sum; (3) every thread rescales and accumulates its
// o_lat columns for all kRows rows (registers) with the tile's probabilities.
template <typename CacheT, int kCols>
__global__ void __launch_bounds__(kThreads, 1) mla_core_kernel(CoreParams p) {
  extern __shared__ float4 smem4[];
  const int ld = p.ld, ld4 = p.ld / 4;
  float* q_s = reinterpret_cast<float*>(smem4);  // [kRows][ld]: q_lat | q_pe | 0
  float* kv_s = q_s + kRows * ld;                // [kTile][ld]: c_kv | k_pe | 0
  float* p_s = kv_s + kTile * ld;                // [kTile][kRows]: probabilities
  __shared__ float alpha_s[kRows], m_s[kRows], l_s[kRows];

  const int tid = static_cast<int>(threadIdx.x), lane = tid % 32, warp = tid / 32;
  const int latent = p.kv_lora + p.rope;
  const CacheT* cache = static_cast<const CacheT*>(p.cache);

  // The padding columns of cache rows are never loaded; zero them once (0 · garbage may be NaN).
  for (int i = tid; i < kTile * (ld - latent); i += kThreads)
    kv_s[(i / (ld - latent)) * ld + latent + i % (ld - latent)] = 0.f;

  const unsigned head_groups = static_cast<unsigned>(p.head_groups);
  const int group = static_cast<int>(blockIdx.x % head_groups);
  const int t_begin = static_cast<int>(blockIdx.x / head_groups) * p.tokens_per_cta;
  const int t_end = min(static_cast<int>(p.batch.num_tokens), t_begin + p.tokens_per_cta);
  const int h_begin = group * p.heads_per_group;
  const int nh = min(p.num_heads, h_begin + p.heads_per_group) - h_begin;
  const int split = static_cast<int>(blockIdx.y);

  // Tokens of the block that belong to different sequences are separate passes (segments).
  for (int t0 = t_begin; t0 < t_end;) {
    const int s = p.batch.token_seq[t0];
    const int seg_end = min(t_end, p.batch.token_start[s + 1]);
    const int nrows = (seg_end - t0) * nh;
    const int pos0 = p.batch.pos_start[s] + (t0 - p.batch.token_start[s]);  // of token t0
    // Positions [j_begin, j_end) of this split; j_end <= the last token's position + 1 (causal).
    // A split starts below 2^31 (it starts below max_context), so split_len * split fits in int64
    // and the minimum in int.
    const int64_t j_begin64 = static_cast<int64_t>(split) * p.split_len;
    const int j_end = static_cast<int>(
        min(static_cast<int64_t>(pos0) + (seg_end - t0), j_begin64 + p.split_len));
    const int j_begin = static_cast<int>(min(j_begin64, static_cast<int64_t>(j_end)));
    const int32_t* table = p.batch.block_tables + static_cast<int64_t>(s) * p.batch.max_blocks;
    if (nrows > kRows) __trap();  // the plan guarantees tokens_per_cta * heads <= kRows
    if (j_begin >= j_end) {       // this split lies beyond the segment's context
      t0 = seg_end;
      continue;
    }

    __syncthreads();  // the previous segment is done with q_s, m_s and l_s
    // Query row r = (t - t0) * nh + (h - h_begin); rows past nrows stay zero.
    for (int i = tid; i < kRows * ld; i += kThreads) {
      const int r = i / ld, c = i % ld;
      float v = 0.f;
      if (r < nrows && c < latent) {
        const int64_t row = static_cast<int64_t>(t0 + r / nh) * p.num_heads + h_begin + r % nh;
        v = c < p.kv_lora ? p.q_lat[row * p.kv_lora + c]
                          : p.q[row * (p.nope + p.rope) + p.nope + (c - p.kv_lora)];
      }
      q_s[i] = v;
    }
    float m_run[kRowsPerWarp], l_run[kRowsPerWarp];
    int row_ctx[kRowsPerWarp];  // row r sees positions [0, row_ctx)
#pragma unroll
    for (int rr = 0; rr < kRowsPerWarp; ++rr) {
      const int r = warp * kRowsPerWarp + rr;
      m_run[rr] = -INFINITY;
      l_run[rr] = 0.f;
      row_ctx[rr] = r < nrows ? pos0 + r / nh + 1 : 0;
    }
    float acc[kRows][kCols];
#pragma unroll
    for (int r = 0; r < kRows; ++r)
#pragma unroll
      for (int i = 0; i < kCols; ++i) acc[r][i] = 0.f;

    for (int j0 = j_begin; j0 < j_end; j0 += kTile) {
      const int valid = min(kTile, j_end - j0);
      __syncthreads();  // q_s is written, the previous tile consumed
      for (int n = warp; n < valid; n += kWarps) {
        const int j = j0 + n;
        const int b = j / p.block_size;
        if (b >= p.batch.max_blocks) __trap();  // the host checked coverage: a stale upload
        const int64_t block = table[b];
        if (block < 0 || block >= p.num_blocks) __trap();
        const CacheT* src = cache + (block * p.block_size + j % p.block_size) * latent;
        for (int c = lane; c < latent; c += 32) kv_s[n * ld + c] = to_f32(src[c]);
      }
      __syncthreads();

      float score[kRowsPerWarp];
      {
        float dot[kRowsPerWarp];
#pragma unroll
        for (int rr = 0; rr < kRowsPerWarp; ++rr) dot[rr] = 0.f;
        if (lane < valid) {
          const float4* kv4 = reinterpret_cast<const float4*>(kv_s + lane * ld);
          const float4* q4 = reinterpret_cast<const float4*>(q_s + warp * kRowsPerWarp * ld);
          for (int k = 0; k < ld4; ++k) {
            const float4 x = kv4[k];
#pragma unroll
            for (int rr = 0; rr < kRowsPerWarp; ++rr) dot[rr] = dot4(q4[rr * ld4 + k], x, dot[rr]);
          }
        }
#pragma unroll
        for (int rr = 0; rr < kRowsPerWarp; ++rr)
          score[rr] = lane < valid && j0 + lane < row_ctx[rr] ? dot[rr] * p.scale : -INFINITY;
      }
#pragma unroll
      for (int rr = 0; rr < kRowsPerWarp; ++rr) {
        const float m_new = fmaxf(m_run[rr], warp_max(score[rr]));
        // A row that has seen no position yet (m_new = -inf) keeps p = 0 and alpha = 0 (its sums
        // are still zero) instead of exp(-inf - -inf) = NaN.
        const float prob = score[rr] == -INFINITY ? 0.f : expf(score[rr] - m_new);
        const float alpha = m_run[rr] == -INFINITY ? 0.f : expf(m_run[rr] - m_new);
        l_run[rr] = l_run[rr] * alpha + warp_sum(prob);
        m_run[rr] = m_new;
        const int r = warp * kRowsPerWarp + rr;
        p_s[lane * kRows + r] = prob;
        if (lane == 0) alpha_s[r] = alpha;
      }
      __syncthreads();

      // o_lat[r, c] = alpha_r · o_lat[r, c] + Σ_n p[n, r] · c_kv[n, c]; c = tid + i·kThreads.
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const float alpha = alpha_s[r];
#pragma unroll
        for (int i = 0; i < kCols; ++i) acc[r][i] *= alpha;
      }
      for (int n = 0; n < valid; ++n) {
        float prob[kRows];
        const float4* p4 = reinterpret_cast<const float4*>(p_s + n * kRows);
#pragma unroll
        for (int r4 = 0; r4 < kRows / 4; ++r4) {
          const float4 v = p4[r4];
          prob[4 * r4] = v.x;
          prob[4 * r4 + 1] = v.y;
          prob[4 * r4 + 2] = v.z;
          prob[4 * r4 + 3] = v.w;
        }
#pragma unroll
        for (int i = 0; i < kCols; ++i) {
          const int c = tid + i * kThreads;
          if (c >= p.kv_lora) continue;
          const float x = kv_s[n * ld + c];
#pragma unroll
          for (int r = 0; r < kRows; ++r) acc[r][i] = fmaf(prob[r], x, acc[r][i]);
        }
      }
    }

    // The warps hand their rows' (max, sum) to the threads that own the columns.
    if (lane == 0) {
#pragma unroll
      for (int rr = 0; rr < kRowsPerWarp; ++rr) {
        m_s[warp * kRowsPerWarp + rr] = m_run[rr];
        l_s[warp * kRowsPerWarp + rr] = l_run[rr];
      }
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      if (r >= nrows) continue;
      const int64_t row = static_cast<int64_t>(t0 + r / nh) * p.num_heads + h_begin + r % nh;
      if (p.num_splits == 1) {
        const float inv = l_s[r] > 0.f ? 1.f / l_s[r] : 0.f;
#pragma unroll
        for (int i = 0; i < kCols; ++i) {
          const int c = tid + i * kThreads;
          if (c < p.kv_lora) p.o_lat[row * p.kv_lora + c] = acc[r][i] * inv;
        }
      } else {
        const int64_t slot = split * p.batch.num_tokens * p.num_heads + row;  // [split, t, h]
#pragma unroll
        for (int i = 0; i < kCols; ++i) {
          const int c = tid + i * kThreads;
          if (c < p.kv_lora) p.partial_o[slot * p.kv_lora + c] = acc[r][i];
        }
        if (tid == 0) {
          p.partial_ml[2 * slot] = m_s[r];
          p.partial_ml[2 * slot + 1] = l_s[r];
        }
      }
    }
    t0 = seg_end;
  }
}

struct MergeParams {
  const float* partial_o;
  const float* partial_ml;
  float* o_lat;
  MlaBatchView batch;
  int num_heads, kv_lora, split_len, num_splits;
};

// One CTA per (token, head): o_lat = Σ_k e^(m_k - m) o_k / Σ_k e^(m_k - m) l_k over the splits
// that cover part of the row's context (exactly those the core kernel wrote for it).
__global__ void __launch_bounds__(kMergeThreads) mla_merge_kernel(MergeParams p) {
  __shared__ float weight_s[kMlaMaxSplits];
  __shared__ float inv_sum_s;
  const int64_t row = blockIdx.x;  // t * H + h (T * H < 2^31)
  const int t = static_cast<int>(blockIdx.x / static_cast<unsigned>(p.num_heads));
  const int s = p.batch.token_seq[t];
  const int context = p.batch.pos_start[s] + (t - p.batch.token_start[s]) + 1;
  const int splits = min(p.num_splits, (context + p.split_len - 1) / p.split_len);
  const int64_t split_stride = p.batch.num_tokens * p.num_heads;
  if (threadIdx.x == 0) {
    float m = -INFINITY;
    for (int k = 0; k < splits; ++k) m = fmaxf(m, p.partial_ml[2 * (k * split_stride + row)]);
    float sum = 0.f;
    for (int k = 0; k < splits; ++k) {
      const float mk = p.partial_ml[2 * (k * split_stride + row)];
      const float w = mk == -INFINITY ? 0.f : expf(mk - m);
      weight_s[k] = w;
      sum += w * p.partial_ml[2 * (k * split_stride + row) + 1];
    }
    inv_sum_s = sum > 0.f ? 1.f / sum : 0.f;
  }
  __syncthreads();
  for (int c = static_cast<int>(threadIdx.x); c < p.kv_lora; c += kMergeThreads) {
    float o = 0.f;
    for (int k = 0; k < splits; ++k)
      o = fmaf(weight_s[k], p.partial_o[(k * split_stride + row) * p.kv_lora + c], o);
    p.o_lat[row * p.kv_lora + c] = o * inv_sum_s;
  }
}

template <typename CacheT, int kCols>
void launch_core_cols(const CoreParams& cp, const MlaLaunchPlan& plan, size_t smem,
                      cudaStream_t stream) {
  auto kernel = mla_core_kernel<CacheT, kCols>;
  MLA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      static_cast<int>(smem)));
  const dim3 grid(static_cast<unsigned>(plan.row_blocks), static_cast<unsigned>(plan.num_splits));
  kernel<<<grid, kThreads, smem, stream>>>(cp);
  MLA_CUDA_CHECK(cudaGetLastError());
}

template <typename CacheT>
void launch_core(const CoreParams& cp, const MlaLaunchPlan& plan, size_t smem,
                 cudaStream_t stream) {
  switch ((cp.kv_lora + kThreads - 1) / kThreads) {
    case 1: return launch_core_cols<CacheT, 1>(cp, plan, smem, stream);
    case 2: return launch_core_cols<CacheT, 2>(cp, plan, smem, stream);
    case 3: return launch_core_cols<CacheT, 3>(cp, plan, smem, stream);
    default: return launch_core_cols<CacheT, kMaxCols>(cp, plan, smem, stream);
  }
}

}  // namespace

int64_t mla_partial_o_floats(const MlaLaunchPlan& plan, int64_t num_tokens, int64_t num_heads,
                             int64_t kv_lora) {
  return plan.num_splits > 1 ? plan.num_splits * num_tokens * num_heads * kv_lora : 0;
}

int64_t mla_partial_ml_floats(const MlaLaunchPlan& plan, int64_t num_tokens, int64_t num_heads) {
  return plan.num_splits > 1 ? plan.num_splits * num_tokens * num_heads * 2 : 0;
}

int multiprocessor_count(int device) {
  int count = 0;
  MLA_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
  return count;
}

void mla_attention(const MlaAttentionArgs& a, int device, cudaStream_t stream) {
  const int64_t T = a.batch.num_tokens, H = a.num_heads, kv_lora = a.cache.kv_lora;
  const int64_t rope = a.cache.rope;
  const MlaLaunchPlan& plan = a.plan;
  MLA_ENSURE(H >= 1 && a.nope >= 1 && a.v >= 1 && rope >= 0 && kv_lora >= 1 &&
                 kv_lora <= kMaxCols * kThreads,
             kInvalidArgument, "mla_attention (cuda): unsupported dims: heads ", H, ", nope ",
             a.nope, ", rope ", rope, ", v ", a.v, ", kv_lora ", kv_lora, " (kv_lora <= ",
             kMaxCols * kThreads, ")");
  if (T == 0) return;
  MLA_ENSURE(plan.heads_per_group * plan.tokens_per_cta <= kRows && plan.head_groups >= 1 &&
                 plan.heads_per_group * plan.head_groups >= H && plan.split_len > 0 &&
                 plan.split_len % kTile == 0 && plan.num_splits >= 1 &&
                 plan.num_splits <= kMlaMaxSplits &&
                 plan.row_blocks == (T + plan.tokens_per_cta - 1) / plan.tokens_per_cta *
                                        plan.head_groups,
             kInvalidArgument, "mla_attention (cuda): the launch plan does not fit ", T,
             " tokens of ", H, " heads (use plan_mla_launch)");
  MLA_ENSURE(plan.row_blocks <= 0x7fffffff && T * H <= 0x7fffffff && a.nope + rope <= 0x7fffffff &&
                 a.cache.block_size >= 1 && a.cache.block_size <= 0x7fffffff &&
                 plan.split_len <= 0x7fffffff,
             kInvalidArgument, "mla_attention (cuda): ", T, " tokens x ", H, " heads, block size ",
             a.cache.block_size, ", split length ", plan.split_len, " exceed the kernels' limits");
  MLA_ENSURE(plan.num_splits == 1 || (a.partial_o != nullptr && a.partial_ml != nullptr),
             kInvalidArgument, "mla_attention (cuda): ", plan.num_splits,
             " splits need the partial buffers");
  const int64_t ld = smem_ld(kv_lora + rope);
  const size_t smem = core_smem_bytes(ld);
  int smem_max = 0;
  MLA_CUDA_CHECK(
      cudaDeviceGetAttribute(&smem_max, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  MLA_ENSURE(smem + 3 * kRows * sizeof(float) <= static_cast<size_t>(smem_max), kInvalidArgument,
             "mla_attention (cuda): latent rows of ", kv_lora + rope, " values need ", smem,
             " bytes of shared memory per CTA, device ", device, " allows ", smem_max);

  // 1. q_lat[t, h] = q_nope[t, h] · W_UK_h
  HeadGemmArgs absorb;
  absorb.a = a.q;
  absorb.a_batch_stride = a.nope + rope;
  absorb.a_row_stride = H * (a.nope + rope);
  absorb.b = a.w_uk;
  absorb.b_batch_stride = a.w_uk_head_stride;
  absorb.b_k_stride = kv_lora;
  absorb.b_n_stride = 1;
  absorb.c = a.q_lat;
  absorb.c_batch_stride = kv_lora;
  absorb.c_row_stride = H * kv_lora;
  absorb.batch = H;
  absorb.m = T;
  absorb.n = kv_lora;
  absorb.k = a.nope;
  head_gemm_bf16(absorb, stream);

  // 2. o_lat: the core, then the merge of the splits' partials.
  CoreParams cp{};
  cp.q_lat = a.q_lat;
  cp.q = a.q;
  cp.nope = static_cast<int>(a.nope);
  cp.cache = a.cache.data;
  cp.num_blocks = a.cache.num_blocks;
  cp.block_size = static_cast<int>(a.cache.block_size);
  cp.kv_lora = static_cast<int>(kv_lora);
  cp.rope = static_cast<int>(rope);
  cp.batch = a.batch;
  cp.num_heads = static_cast<int>(H);
  cp.heads_per_group = static_cast<int>(plan.heads_per_group);
  cp.head_groups = static_cast<int>(plan.head_groups);
  cp.tokens_per_cta = static_cast<int>(plan.tokens_per_cta);
  cp.split_len = static_cast<int>(plan.split_len);
  cp.num_splits = static_cast<int>(plan.num_splits);
  cp.ld = static_cast<int>(ld);
  cp.scale = a.softmax_scale;
  cp.o_lat = a.o_lat;
  cp.partial_o = a.partial_o;
  cp.partial_ml = a.partial_ml;
  if (a.cache.bf16) launch_core<__nv_bfloat16>(cp, plan, smem, stream);
  else launch_core<float>(cp, plan, smem, stream);
  if (plan.num_splits > 1) {
    const MergeParams mp{a.partial_o, a.partial_ml, a.o_lat, a.batch, static_cast<int>(H),
                         static_cast<int>(kv_lora), static_cast<int>(plan.split_len),
                         static_cast<int>(plan.num_splits)};
    mla_merge_kernel<<<static_cast<unsigned>(T * H), kMergeThreads, 0, stream>>>(mp);
    MLA_CUDA_CHECK(cudaGetLastError());
  }

  // 3. out[t, h] = o_lat[t, h] · W_UV_hᵀ
  HeadGemmArgs unabsorb;
  unabsorb.a = a.o_lat;
  unabsorb.a_batch_stride = kv_lora;
  unabsorb.a_row_stride = H * kv_lora;
  unabsorb.b = a.w_uv;
  unabsorb.b_batch_stride = a.w_uv_head_stride;
  unabsorb.b_k_stride = 1;
  unabsorb.b_n_stride = kv_lora;
  unabsorb.c = a.out;
  unabsorb.c_batch_stride = a.v;
  unabsorb.c_row_stride = H * a.v;
  unabsorb.batch = H;
  unabsorb.m = T;
  unabsorb.n = a.v;
  unabsorb.k = kv_lora;
  head_gemm_bf16(unabsorb, stream);
}

}  // namespace mlaserve::cuda

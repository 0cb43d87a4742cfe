#include "kernels/cuda/moe_experts.h"

#include <algorithm>

#include <cuda_bf16.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/moe_grouped_gemm.h"

namespace mlaserve::cuda {
namespace {

constexpr int kAlignThreads = 1024;
constexpr int kCombineThreads = 256;
constexpr int kR = static_cast<int>(kMoeTileRows);

// One block builds the whole schedule (as vLLM's moe_align_block_size does for small expert
// counts): the pair count is at most a few ten thousand and the experts at most a thousand, so
// one block's shared memory holds every per-expert counter and nothing needs a grid-wide sync.
//  1. count the pairs of each local expert (shared atomics: the counts do not depend on order);
//  2. thread 0 scans counts into row and tile offsets;
//  3. each expert's tiles are written by one thread;
//  4. one warp per expert places its pairs in pair order (ballot + popc), so the permutation is
//     the same on every run.
__global__ void __launch_bounds__(kAlignThreads)
    align_kernel(const int32_t* ids, int64_t pairs, int64_t first_expert, int n_local,
                 MoeSchedule s) {
  __shared__ int count[kMoeMaxLocalExperts];
  __shared__ int row_start[kMoeMaxLocalExperts + 1];
  __shared__ int tile_start[kMoeMaxLocalExperts + 1];
  const int tid = static_cast<int>(threadIdx.x);
  const auto local = [&](int64_t p) { return static_cast<int64_t>(ids[p]) - first_expert; };

  for (int e = tid; e < n_local; e += kAlignThreads) count[e] = 0;
  __syncthreads();
  for (int64_t p = tid; p < pairs; p += kAlignThreads) {
    s.pair_row[p] = -1;  // set below when the expert is local
    const int64_t e = local(p);
    if (e >= 0 && e < n_local) atomicAdd(&count[e], 1);
  }
  __syncthreads();

  if (tid == 0) {
    row_start[0] = 0;
    tile_start[0] = 0;
    for (int e = 0; e < n_local; ++e) {
      row_start[e + 1] = row_start[e] + count[e];
      tile_start[e + 1] = tile_start[e] + (count[e] + kR - 1) / kR;
    }
    // <= max_tiles by construction (moe_max_tiles); clamped so no launch reads past the table.
    *s.num_tiles = static_cast<int32_t>(min(static_cast<int64_t>(tile_start[n_local]), s.max_tiles));
  }
  __syncthreads();

  for (int e = tid; e < n_local; e += kAlignThreads) {
    for (int tile = tile_start[e], i = 0; tile < tile_start[e + 1] && tile < s.max_tiles;
         ++tile, ++i) {
      const int begin = row_start[e] + i * kR;
      s.tile_expert[tile] = e;
      s.tile_begin[tile] = begin;
      s.tile_end[tile] = min(begin + kR, row_start[e + 1]);
    }
  }

  const int lane = tid % 32, warp = tid / 32;
  const unsigned lower_lanes = (1u << lane) - 1u;
  for (int e = warp; e < n_local; e += kAlignThreads / 32) {
    int next = row_start[e];
    const int end = row_start[e + 1];
    // `next` is the same on every lane, so the loop exits together (ballot needs all lanes).
    for (int64_t p0 = 0; p0 < pairs && next < end; p0 += 32) {
      const int64_t p = p0 + lane;
      const bool mine = p < pairs && local(p) == e;
      const unsigned ballot = __ballot_sync(0xffffffffu, mine);
      if (mine) {
        const int row = next + __popc(ballot & lower_lanes);
        s.row_pair[row] = static_cast<int32_t>(p);
        s.pair_row[p] = row;
      }
      next += __popc(ballot);
    }
  }
}

// y[t, c] = Σ over token t's local terms of weight · out[row, c], added with fma in ascending
// expert order (then slot): exactly the CPU's scatter-add (y = fma(w, v, y) per expert, in
// expert order, from y = 0), so equal per-pair outputs give bit-equal sums. Thread 0 sorts the
// token's (at most top_k) terms into shared memory; every thread then owns one column.
template <typename C>
__global__ void __launch_bounds__(kCombineThreads)
    combine_kernel(const int32_t* ids, const float* weights, const int32_t* pair_row,
                   const C* out, int64_t top_k, int64_t hidden, float* y) {
  extern __shared__ __align__(16) unsigned char smem[];
  int32_t* term_id = reinterpret_cast<int32_t*>(smem);
  int32_t* term_row = term_id + top_k;
  float* term_w = reinterpret_cast<float*>(term_row + top_k);
  __shared__ int n_terms;
  const int64_t t = blockIdx.x;
  if (threadIdx.x == 0) {
    int n = 0;
    for (int64_t j = 0; j < top_k; ++j) {
      const int64_t p = t * top_k + j;
      const int32_t row = pair_row[p];
      if (row < 0) continue;
      // Insertion sort by expert id; equal ids keep slot order (stable).
      int i = n++;
      for (; i > 0 && term_id[i - 1] > ids[p]; --i) {
        term_id[i] = term_id[i - 1];
        term_row[i] = term_row[i - 1];
        term_w[i] = term_w[i - 1];
      }
      term_id[i] = ids[p];
      term_row[i] = row;
      term_w[i] = weights[p];
    }
    n_terms = n;
  }
  __syncthreads();
  const int64_t c = static_cast<int64_t>(blockIdx.y) * kCombineThreads + threadIdx.x;
  if (c >= hidden) return;
  float acc = 0.f;
  for (int i = 0; i < n_terms; ++i)
    acc = fmaf(term_w[i], to_f32(out[static_cast<int64_t>(term_row[i]) * hidden + c]), acc);
  y[t * hidden + c] = acc;
}

}  // namespace

int64_t moe_max_tiles(int64_t pairs, int64_t n_local) {
  if (pairs <= 0 || n_local <= 0) return 0;
  return std::min((pairs + kMoeTileRows - 1) / kMoeTileRows + n_local, pairs);
}

int64_t moe_schedule_ints(int64_t pairs, int64_t n_local) {
  return 1 + 3 * moe_max_tiles(pairs, n_local) + 2 * std::max<int64_t>(pairs, 0);
}

MoeSchedule moe_schedule(int32_t* ws, int64_t pairs, int64_t n_local) {
  MoeSchedule s;
  s.max_tiles = moe_max_tiles(pairs, n_local);
  s.num_tiles = ws;
  s.tile_expert = ws + 1;
  s.tile_begin = s.tile_expert + s.max_tiles;
  s.tile_end = s.tile_begin + s.max_tiles;
  s.row_pair = s.tile_end + s.max_tiles;
  s.pair_row = s.row_pair + pairs;
  return s;
}

void moe_experts(const MoeExpertsArgs& a, cudaStream_t stream) {
  const int64_t pairs = a.tokens * a.top_k;
  MLA_ENSURE(a.tokens >= 0 && a.top_k >= 1 && a.hidden >= 1 && a.inter >= 1 &&
                 a.n_local >= 0 && a.n_local <= kMoeMaxLocalExperts && a.first_expert >= 0 &&
                 a.ldx >= a.hidden,
             kInvalidArgument, "cuda::moe_experts: ", a.tokens, " tokens x top_k ", a.top_k,
             ", hidden ", a.hidden, " (ldx ", a.ldx, "), inter ", a.inter, ", ", a.n_local,
             " local experts from ", a.first_expert);
  // Rows, pairs and tiles are int32 on the device; token rows are grid.x of the combine.
  MLA_ENSURE(a.tokens <= 0x7fffffff / a.top_k, kInvalidArgument, "cuda::moe_experts: ",
             a.tokens, " tokens x top_k ", a.top_k, " routed pairs exceed 2^31");
  const int64_t col_blocks = (a.hidden + kCombineThreads - 1) / kCombineThreads;
  MLA_ENSURE(col_blocks <= 65535, kInvalidArgument, "cuda::moe_experts: hidden ", a.hidden,
             " is too wide for one launch");
  const size_t smem = static_cast<size_t>(a.top_k) * 12;  // the combine's id, row, weight per term
  MLA_ENSURE(smem <= 32 * 1024, kInvalidArgument, "cuda::moe_experts: top_k ", a.top_k,
             " is more than the combine's shared memory holds");
  if (a.tokens == 0) return;
  if (a.n_local == 0) {  // no expert here: nothing routed to this rank
    MLA_CUDA_CHECK(cudaMemsetAsync(a.y, 0, static_cast<size_t>(a.tokens * a.hidden) * 4, stream));
    return;
  }
  const MoeSchedule s = moe_schedule(a.schedule, pairs, a.n_local);

  align_kernel<<<1, kAlignThreads, 0, stream>>>(a.ids, pairs, a.first_expert,
                                                static_cast<int>(a.n_local), s);
  MLA_CUDA_CHECK(cudaGetLastError());

  MoeGateUpArgs g;
  g.schedule = s;
  g.x = a.x;
  g.ldx = a.ldx;
  g.act_bf16 = a.act_bf16;
  g.top_k = a.top_k;
  g.hidden = a.hidden;
  g.inter = a.inter;
  g.gate = a.gate;
  g.gate_stride = a.gate_stride;
  g.up = a.up;
  g.up_stride = a.up_stride;
  g.h = a.h;
  g.tensor_cores = a.tensor_cores;
  moe_gate_up(g, stream);

  MoeDownArgs d;
  d.schedule = s;
  d.h = a.h;
  d.act_bf16 = a.act_bf16;
  d.inter = a.inter;
  d.hidden = a.hidden;
  d.down = a.down;
  d.down_stride = a.down_stride;
  d.out = a.out;
  d.out_bf16 = a.out_bf16;
  d.tensor_cores = a.tensor_cores;
  moe_down(d, stream);

  const dim3 grid(static_cast<unsigned>(a.tokens), static_cast<unsigned>(col_blocks));
  if (a.out_bf16)
    combine_kernel<__nv_bfloat16><<<grid, kCombineThreads, smem, stream>>>(
        a.ids, a.weights, s.pair_row, static_cast<const __nv_bfloat16*>(a.out), a.top_k,
        a.hidden, a.y);
  else
    combine_kernel<float><<<grid, kCombineThreads, smem, stream>>>(
        a.ids, a.weights, s.pair_row, static_cast<const float*>(a.out), a.top_k, a.hidden, a.y);
  MLA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace mlaserve::cuda

#include "kernels/cuda/moe_route.h"

#include <cmath>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_math.cuh"

namespace mlaserve::cuda {
namespace {

// One warp routes one token: E <= 1024 scores fit the warp's slice of shared memory, and the k
// rounds of argmax are warp shuffles. Decode batches are a few hundred tokens at most, prefill
// chunks a few thousand: plenty of warps either way.
constexpr int kWarpsPerBlock = 4;
constexpr int kNone = -1;

// The CPU's selection order: larger score first, ties to the lower index. NaN scores compare
// as -inf so that the order stays total and every lane of the butterfly agrees on the winner.
__device__ __forceinline__ float key(float v) { return isnan(v) ? -INFINITY : v; }
__device__ __forceinline__ bool better(float av, int ai, float bv, int bi) {
  if (ai == kNone) return false;
  if (bi == kNone) return true;
  return av > bv || (av == bv && ai < bi);
}

// Index of the best v[i] with ok[i] != 0 (kNone if none), the same on every lane.
__device__ int warp_argmax(const float* v, const unsigned char* ok, int n, int lane) {
  float bv = -INFINITY;
  int bi = kNone;
  for (int i = lane; i < n; i += 32) {
    if (!ok[i]) continue;
    const float x = key(v[i]);
    if (better(x, i, bv, bi)) bv = x, bi = i;
  }
  for (int offset = 16; offset > 0; offset /= 2) {
    const float ov = __shfl_xor_sync(0xffffffffu, bv, offset);
    const int oi = __shfl_xor_sync(0xffffffffu, bi, offset);
    if (better(ov, oi, bv, bi)) bv = ov, bi = oi;
  }
  return bi;
}

// Bytes of shared memory one warp uses: scores [E] and group scores [G] as floats, then the
// eligibility flags of experts [E] and groups [G]; rounded up to keep the next warp aligned.
__host__ __device__ inline int64_t warp_smem_bytes(int64_t E, int64_t G) {
  return ((E + G) * 4 + E + G + 15) / 16 * 16;
}

__global__ void moe_route_kernel(MoeRouteArgs a) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t t = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + warp;
  if (t >= a.tokens) return;  // whole warps leave together: no shuffle below misses a lane
  const int E = static_cast<int>(a.n_experts);
  const bool grouped = a.n_group > 1;
  const int G = grouped ? static_cast<int>(a.n_group) : 1;
  const int group_size = E / G;
  unsigned char* base = smem + warp * warp_smem_bytes(E, G);
  float* scores = reinterpret_cast<float*>(base);
  float* group_score = scores + E;
  unsigned char* expert_ok = base + (E + G) * 4;  // 1: may still be chosen
  unsigned char* group_open = expert_ok + E;     // 1: not chosen (yet)

  // Softmax as kernels/cpu/softmax: exp(x - max) * (1 / sum); an all -inf row gives zeros.
  const float* row = a.logits + t * a.ld;
  float mx = -INFINITY;
  for (int e = lane; e < E; e += 32) mx = fmaxf(mx, row[e]);
  mx = warp_max(mx);
  float sum = 0.f;
  for (int e = lane; e < E; e += 32) {
    const float v = mx == -INFINITY ? 0.f : expf(row[e] - mx);
    scores[e] = v;
    sum += v;
  }
  sum = warp_sum(sum);
  const float inv = mx == -INFINITY ? 0.f : 1.0f / sum;
  for (int e = lane; e < E; e += 32) scores[e] *= inv;
  __syncwarp();

  // Group limit: keep the topk_group groups with the best max score.
  if (grouped) {
    for (int g = lane; g < G; g += 32) {
      float m = scores[g * group_size];
      for (int e = 1; e < group_size; ++e) {
        const float s = scores[g * group_size + e];
        m = s > m ? s : m;
      }
      group_score[g] = m;
      group_open[g] = 1;
    }
    __syncwarp();
    for (int r = 0; r < a.topk_group; ++r) {
      const int g = warp_argmax(group_score, group_open, G, lane);
      if (lane == 0 && g != kNone) group_open[g] = 0;
      __syncwarp();
    }
  }
  // Eligible: every expert (greedy), or the experts of the chosen groups.
  for (int e = lane; e < E; e += 32) expert_ok[e] = !grouped || group_open[e / group_size] == 0;
  __syncwarp();

  // Top-k among the eligible experts; lane 0 sums the chosen scores in selection order, as the
  // CPU does, so the normalisation divides by the same value.
  int32_t* out_ids = a.ids + t * a.top_k;
  float* out_w = a.weights + t * a.top_k;
  float chosen_sum = 0.f;
  for (int64_t r = 0; r < a.top_k; ++r) {
    const int e = warp_argmax(scores, expert_ok, E, lane);
    if (lane == 0) {
      // kNone cannot happen (the op checks top_k against the eligible experts); keep the output
      // defined anyway.
      out_ids[r] = e;
      out_w[r] = e == kNone ? 0.f : scores[e];
      if (e != kNone) {
        expert_ok[e] = 0;
        chosen_sum += scores[e];
      }
    }
    __syncwarp();
  }
  if (lane == 0) {
    if (a.norm_topk_prob) {
      const float denom = chosen_sum + 1e-20f;
      for (int64_t r = 0; r < a.top_k; ++r) out_w[r] /= denom;
    } else {
      for (int64_t r = 0; r < a.top_k; ++r) out_w[r] *= a.routed_scaling_factor;
    }
  }
}

}  // namespace

void moe_route(const MoeRouteArgs& a, cudaStream_t stream) {
  const bool grouped = a.n_group > 1;
  MLA_ENSURE(a.n_experts >= 1 && a.n_experts <= kMoeRouteMaxExperts && a.top_k >= 1 &&
                 a.top_k <= a.n_experts && a.tokens >= 0 && a.ld >= a.n_experts &&
                 (!grouped || (a.n_experts % a.n_group == 0 && a.topk_group >= 1 &&
                               a.topk_group <= a.n_group)),
             kInvalidArgument, "cuda::moe_route: ", a.tokens, " tokens, ", a.n_experts,
             " experts (ld ", a.ld, "), top_k ", a.top_k, ", n_group ", a.n_group,
             ", topk_group ", a.topk_group);
  if (a.tokens == 0) return;
  const int64_t blocks = (a.tokens + kWarpsPerBlock - 1) / kWarpsPerBlock;
  MLA_ENSURE(blocks <= 0x7fffffff, kInvalidArgument, "cuda::moe_route: ", a.tokens,
             " tokens is more than one launch can cover");
  const int64_t G = grouped ? a.n_group : 1;
  const size_t smem = static_cast<size_t>(kWarpsPerBlock * warp_smem_bytes(a.n_experts, G));
  moe_route_kernel<<<static_cast<unsigned>(blocks), kWarpsPerBlock * 32, smem, stream>>>(a);
  MLA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace mlaserve::cuda

#include "kernels/cuda/moe_grouped_gemm.h"

#include <type_traits>

#include <cuda_bf16.h>
#include <mma.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/moe_experts.h"

namespace mlaserve::cuda {
namespace {

// One block computes a kBM x kBN tile of C = A · Wᵀ for one (expert, m-tile) of the schedule,
// for kMats weight matrices of that expert at once (gate and up share the A tile), stepping
// through K kBK at a time through shared memory. Two ways to multiply, same tiles, same
// epilogues:
//  - CUDA cores (simt_tile): f32 FMA, bf16 weights widened exactly to f32. f32 activations use
//    it, so the f32 path is f32-exact (x is never rounded to bf16) and matches the CPU to
//    summation order.
//  - Tensor cores (wmma_tile, sm_80+): bf16 x bf16 products (exact in f32) accumulated in f32;
//    bf16 activations use it by default.
// Either way each output element depends only on its own A row and W column, never on which
// other rows share the tile, so a token's result does not depend on the batch.
constexpr int kBM = static_cast<int>(kMoeTileRows);
constexpr int kBN = 64;
constexpr int kBK = 32;
constexpr int kThreads = 256;
static_assert(kBM == 32 && kBN == 64 && kThreads == 256, "the thread maps below assume these");

__device__ __forceinline__ float bf16_bits_to_f32(uint16_t bits) {
  return __uint_as_float(static_cast<uint32_t>(bits) << 16);  // exact
}

// v as dtype T would hold it (the CPU rounds each linear output once).
template <typename T>
__device__ __forceinline__ float round_to(float v) {
  return to_f32(from_f32<T>(v));
}

// The operands of one tile: A rows as element offsets into `a` (-1 for rows past the tile's
// end: they read as zeros and are never stored) and the kMats weight matrices of the tile's
// expert, [N, K] row-major each. Columns n0 .. n0 + kBN of C.
template <typename A, int kMats>
struct TileOperands {
  const A* a;
  const int64_t* a_row;  // shared, kBM entries
  const uint16_t* w[kMats];
  int64_t K, N, n0;
};

// Stages A[:, k0 : k0 + kBK] and each W_m[n0 : n0 + kBN, k0 : k0 + kBK] into shared memory as S
// (float for the CUDA-core path, bf16 for tensor cores), zero outside the matrices. Consecutive
// threads read consecutive k of one row: coalesced.
template <typename S, typename A, int kMats, int kLd>
__device__ __forceinline__ void stage(const TileOperands<A, kMats>& op, int64_t k0,
                                      S (*as)[kLd], S (*ws)[kBN][kLd]) {
  const int tid = threadIdx.x;
#pragma unroll
  for (int q = 0; q < kBM * kBK / kThreads; ++q) {
    const int idx = tid + q * kThreads, r = idx / kBK, c = idx % kBK;
    const int64_t k = k0 + c, off = op.a_row[r];
    as[r][c] = from_f32<S>(off >= 0 && k < op.K ? to_f32(op.a[off + k]) : 0.f);
  }
#pragma unroll
  for (int m = 0; m < kMats; ++m)
#pragma unroll
    for (int q = 0; q < kBN * kBK / kThreads; ++q) {
      const int idx = tid + q * kThreads, n = idx / kBK, c = idx % kBK;
      const int64_t k = k0 + c, col = op.n0 + n;
      ws[m][n][c] =
          from_f32<S>(col < op.N && k < op.K ? bf16_bits_to_f32(op.w[m][col * op.K + k]) : 0.f);
    }
}

// CUDA cores. 256 threads as 16 x 16: thread (ty, tx) owns rows ty + 16 i (i < 2) and columns
// tx + 16 j (j < 4), so a warp reads two A rows (broadcast) and 16 distinct W rows (distinct
// banks: shared rows are padded to kBK + 1 floats). Calls emit(row, col, values[kMats]) for each
// owned element, col relative to n0.
template <typename A, int kMats, typename Emit>
__device__ void simt_tile(const TileOperands<A, kMats>& op, const Emit& emit) {
  __shared__ float as[kBM][kBK + 1];
  __shared__ float ws[kMats][kBN][kBK + 1];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  float acc[kMats][2][4] = {};
  for (int64_t k0 = 0; k0 < op.K; k0 += kBK) {
    stage<float, A, kMats, kBK + 1>(op, k0, as, ws);
    __syncthreads();
#pragma unroll
    for (int c = 0; c < kBK; ++c) {
      const float a0 = as[ty][c], a1 = as[ty + 16][c];
#pragma unroll
      for (int m = 0; m < kMats; ++m)
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const float wv = ws[m][tx + 16 * j][c];
          acc[m][0][j] = fmaf(a0, wv, acc[m][0][j]);
          acc[m][1][j] = fmaf(a1, wv, acc[m][1][j]);
        }
    }
    __syncthreads();  // the next step overwrites as / ws
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      float v[kMats];
#pragma unroll
      for (int m = 0; m < kMats; ++m) v[m] = acc[m][i][j];
      emit(ty + 16 * i, tx + 16 * j, v);
    }
}

#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
// Tensor cores (bf16 WMMA 16x16x16). 8 warps as 2 x 4: warp (wm, wn) owns the 16 x 16 block at
// rows 16 wm, columns 16 wn, one accumulator per matrix. B = Wᵀ is W's [n][k] rows read as a
// column-major K x N operand. The accumulators go through shared memory so that the epilogue
// sees one element per (row, col) as in simt_tile. Shared rows are padded to kBK + 8 bf16 (WMMA
// wants ldm % 8 == 0 and 32-byte aligned fragment pointers: 16 rows x 80 bytes and k offsets
// of 32 bytes keep them aligned) and kBN + 4 floats.
template <int kMats, typename Emit>
__device__ void wmma_tile(const TileOperands<__nv_bfloat16, kMats>& op, const Emit& emit) {
  namespace wmma = nvcuda::wmma;
  constexpr int kLd = kBK + 8, kLdc = kBN + 4;
  __shared__ __align__(32) __nv_bfloat16 as[kBM][kLd];
  __shared__ __align__(32) __nv_bfloat16 ws[kMats][kBN][kLd];
  __shared__ __align__(32) float cs[kMats][kBM][kLdc];
  const int warp = threadIdx.x / 32, wm = warp / 4, wn = warp % 4;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[kMats];
#pragma unroll
  for (int m = 0; m < kMats; ++m) wmma::fill_fragment(acc[m], 0.f);
  for (int64_t k0 = 0; k0 < op.K; k0 += kBK) {
    stage<__nv_bfloat16, __nv_bfloat16, kMats, kLd>(op, k0, as, ws);
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
      wmma::load_matrix_sync(a, &as[16 * wm][kk], kLd);
#pragma unroll
      for (int m = 0; m < kMats; ++m) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> b;
        wmma::load_matrix_sync(b, &ws[m][16 * wn][kk], kLd);
        wmma::mma_sync(acc[m], a, b, acc[m]);
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int m = 0; m < kMats; ++m)
    wmma::store_matrix_sync(&cs[m][16 * wm][16 * wn], acc[m], kLdc, wmma::mem_row_major);
  __syncthreads();
  // Consecutive threads take consecutive columns: coalesced stores in the epilogue.
#pragma unroll
  for (int q = 0; q < kBM * kBN / kThreads; ++q) {
    const int idx = static_cast<int>(threadIdx.x) + q * kThreads, r = idx / kBN, c = idx % kBN;
    float v[kMats];
#pragma unroll
    for (int m = 0; m < kMats; ++m) v[m] = cs[m][r][c];
    emit(r, c, v);
  }
}
#endif

template <bool kTensorCores, typename A, int kMats, typename Emit>
__device__ __forceinline__ void tile_product(const TileOperands<A, kMats>& op, const Emit& emit) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
  if constexpr (kTensorCores && std::is_same_v<A, __nv_bfloat16>) wmma_tile<kMats>(op, emit);
  else simt_tile<A, kMats>(op, emit);
#else
  simt_tile<A, kMats>(op, emit);  // no bf16 WMMA before sm_80
#endif
}

// The tile this block works on, or false when blockIdx.x is past the schedule's real tiles.
struct Tile {
  int expert, begin, rows;
};
__device__ __forceinline__ bool load_tile(const MoeSchedule& s, Tile& tile) {
  const int index = static_cast<int>(blockIdx.x);
  if (index >= *s.num_tiles) return false;
  tile.expert = s.tile_expert[index];
  tile.begin = s.tile_begin[index];
  tile.rows = s.tile_end[index] - tile.begin;
  return true;
}

template <typename A, bool kTensorCores>
__global__ void __launch_bounds__(kThreads) gate_up_kernel(MoeGateUpArgs g) {
  Tile tile;
  if (!load_tile(g.schedule, tile)) return;  // uniform over the block
  __shared__ int64_t a_row[kBM];
  if (threadIdx.x < kBM) {
    const int r = static_cast<int>(threadIdx.x);
    // Row r of the tile is pair row_pair[begin + r] = t * top_k + j: x's row t.
    a_row[r] = r < tile.rows
                   ? static_cast<int64_t>(g.schedule.row_pair[tile.begin + r]) / g.top_k * g.ldx
                   : -1;
  }
  __syncthreads();
  const TileOperands<A, 2> op{
      static_cast<const A*>(g.x),
      a_row,
      {g.gate + tile.expert * g.gate_stride, g.up + tile.expert * g.up_stride},
      g.hidden,
      g.inter,
      static_cast<int64_t>(blockIdx.y) * kBN};
  A* h = static_cast<A*>(g.h);
  tile_product<kTensorCores>(op, [&](int r, int c, const float (&v)[2]) {
    const int64_t col = op.n0 + c;
    if (r >= tile.rows || col >= g.inter) return;
    // As ops::mlp: gate and up rounded to the activation dtype, then SiLU(g)·u in f32.
    const float gv = round_to<A>(v[0]), uv = round_to<A>(v[1]);
    h[static_cast<int64_t>(tile.begin + r) * g.inter + col] = from_f32<A>(gv / (1.0f + expf(-gv)) * uv);
  });
}

template <typename A, typename C, bool kTensorCores>
__global__ void __launch_bounds__(kThreads) down_kernel(MoeDownArgs d) {
  Tile tile;
  if (!load_tile(d.schedule, tile)) return;
  __shared__ int64_t a_row[kBM];
  if (threadIdx.x < kBM) {
    const int r = static_cast<int>(threadIdx.x);
    a_row[r] = r < tile.rows ? static_cast<int64_t>(tile.begin + r) * d.inter : -1;
  }
  __syncthreads();
  const TileOperands<A, 1> op{static_cast<const A*>(d.h),
                              a_row,
                              {d.down + tile.expert * d.down_stride},
                              d.inter,
                              d.hidden,
                              static_cast<int64_t>(blockIdx.y) * kBN};
  C* out = static_cast<C*>(d.out);
  tile_product<kTensorCores>(op, [&](int r, int c, const float (&v)[1]) {
    const int64_t col = op.n0 + c;
    if (r >= tile.rows || col >= d.hidden) return;
    out[static_cast<int64_t>(tile.begin + r) * d.hidden + col] = from_f32<C>(v[0]);
  });
}

dim3 grid_for(const MoeSchedule& s, int64_t n, const char* what) {
  const int64_t n_tiles = (n + kBN - 1) / kBN;
  MLA_ENSURE(s.max_tiles >= 1 && s.max_tiles <= 0x7fffffff && n_tiles >= 1 && n_tiles <= 65535,
             kInvalidArgument, "cuda::", what, ": ", s.max_tiles, " tiles x ", n,
             " columns do not fit one launch");
  return dim3(static_cast<unsigned>(s.max_tiles), static_cast<unsigned>(n_tiles));
}

// Tensor cores only for bf16 activations (f32 ones must stay f32-exact).
template <typename A>
void launch_gate_up(const MoeGateUpArgs& g, dim3 grid, cudaStream_t stream) {
  if constexpr (std::is_same_v<A, __nv_bfloat16>) {
    if (g.tensor_cores) {
      gate_up_kernel<A, true><<<grid, kThreads, 0, stream>>>(g);
      return;
    }
  }
  gate_up_kernel<A, false><<<grid, kThreads, 0, stream>>>(g);
}

template <typename A, typename C>
void launch_down(const MoeDownArgs& d, dim3 grid, cudaStream_t stream) {
  if constexpr (std::is_same_v<A, __nv_bfloat16>) {
    if (d.tensor_cores) {
      down_kernel<A, C, true><<<grid, kThreads, 0, stream>>>(d);
      return;
    }
  }
  down_kernel<A, C, false><<<grid, kThreads, 0, stream>>>(d);
}

}  // namespace

void moe_gate_up(const MoeGateUpArgs& g, cudaStream_t stream) {
  const dim3 grid = grid_for(g.schedule, g.inter, "moe_gate_up");
  if (g.act_bf16) launch_gate_up<__nv_bfloat16>(g, grid, stream);
  else launch_gate_up<float>(g, grid, stream);
  MLA_CUDA_CHECK(cudaGetLastError());
}

void moe_down(const MoeDownArgs& d, cudaStream_t stream) {
  const dim3 grid = grid_for(d.schedule, d.hidden, "moe_down");
  if (d.act_bf16 && d.out_bf16) launch_down<__nv_bfloat16, __nv_bfloat16>(d, grid, stream);
  else if (d.act_bf16) launch_down<__nv_bfloat16, float>(d, grid, stream);
  else if (d.out_bf16) launch_down<float, __nv_bfloat16>(d, grid, stream);
  else launch_down<float, float>(d, grid, stream);
  MLA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace mlaserve::cuda

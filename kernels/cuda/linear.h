#pragma once
// Linear layers on CUDA (the contract of ops::linear): y[m, n] = x[m, k] · w[n, k]ᵀ with w bf16
// (the checkpoint's layout) or f32, x and y f32 or bf16 (bf16 as raw uint16_t bits), rows of x
// and y `ldx` / `ldy` elements apart with unit stride inside a row, w contiguous. Products are
// accumulated in f32; a bf16 y is rounded once from the f32 result. Everything is enqueued on
// `stream`, which must be the stream `handle` is bound to; temporaries are stream-ordered, so the
// host never waits.
//
// How each case runs:
// - w bf16, x bf16: one cuBLAS GEMM (bf16 × bf16, f32 compute) straight into y. Exact products;
//   results differ from the CPU only by summation order.
// - w bf16, x f32: cuBLAS has no f32 × bf16 product, and rounding x to bf16 would cost up to 2^-8
//   relative per element (far outside the f32 mode's reference bounds). Instead x is split into
//   hi = bf16(x) and lo = bf16(x - hi), stacked as one [2m, k] bf16 operand, multiplied by w in a
//   single GEMM (w is read once) into an f32 [2m, n] scratch, and y = hi·wᵀ + lo·wᵀ.
//   Error bound: with round to nearest, a bf16 rounding (8 significant bits) errs by at most
//   2^-8 relative. x - hi is exact in f32 and |x - hi| <= 2^-8 |x|; lo rounds it, so
//   |x - (hi + lo)| <= 2^-8 |x - hi| <= 2^-16 |x| (~1.5e-5) per element. Hence
//   |y - ŷ| <= 2^-16 · Σ_p |x_p w_p| + the f32 accumulation error. The element errors have
//   random signs, so in the reference metric (max |Δy| / max |y|) a simulation over uniform
//   data gives 2-3e-6 for k = 128..12288, against ~1.7e-3 for x rounded to bf16 and 0.3-4e-6
//   for a plain f32 loop. Non-finite x: lo is 0 when hi is
//   ±inf/NaN, so infinities propagate as on the CPU (x beyond bf16's largest finite value,
//   ~3.39e38, becomes inf: irrelevant for activations).
//   Rows are processed in chunks whose scratch stays under kSplitScratchBytes (one chunk for
//   any decode batch); a larger prefill reads w once per chunk.
// - w f32: plain f32 GEMM (CUBLAS_COMPUTE_32F, no TF32); a bf16 x is widened into an f32
//   scratch first and a bf16 y is rounded from an f32 scratch afterwards.
#include <cstddef>
#include <cstdint>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

namespace mlaserve::cuda {

struct LinearArgs {
  const void* x = nullptr;
  bool x_bf16 = false;
  int64_t ldx = 0;  // >= k unless m == 1
  const void* w = nullptr;  // [n, k], contiguous
  bool w_bf16 = true;
  void* y = nullptr;  // must not overlap x or w
  bool y_bf16 = false;
  int64_t ldy = 0;  // >= n unless m == 1
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
};

// Scratch budget of the split path (hi/lo operand plus the f32 [2·rows, n] product).
inline constexpr size_t kSplitScratchBytes = size_t{256} << 20;

void linear(const LinearArgs& args, cublasHandle_t handle, cudaStream_t stream);

}  // namespace mlaserve::cuda

#include "kernels/cuda/gemm.h"

#include <climits>

#include "kernels/cuda/cuda_check.h"

namespace mlaserve::cuda {
namespace {

bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

// Sets the handle's math mode for one call and restores the caller's afterwards: the handle is
// shared by every op on the device, so no op leaves its own mode behind.
class ScopedMathMode {
 public:
  ScopedMathMode(cublasHandle_t handle, unsigned extra_flags) : handle_(handle) {
    MLA_CUBLAS_CHECK(cublasGetMathMode(handle_, &previous_));
    const auto mode = static_cast<cublasMath_t>(static_cast<unsigned>(previous_) | extra_flags);
    MLA_CUBLAS_CHECK(cublasSetMathMode(handle_, mode));
  }
  ~ScopedMathMode() { cublasSetMathMode(handle_, previous_); }
  ScopedMathMode(const ScopedMathMode&) = delete;
  ScopedMathMode& operator=(const ScopedMathMode&) = delete;

 private:
  cublasHandle_t handle_;
  cublasMath_t previous_ = CUBLAS_DEFAULT_MATH;
};

}  // namespace

void gemm_nt(cublasHandle_t handle, const GemmArgs& a) {
  MLA_ENSURE(handle != nullptr, kInvalidArgument, "gemm_nt: no cuBLAS handle");
  MLA_ENSURE(fits_int(a.m) && fits_int(a.n) && a.k > 0 && fits_int(a.k), kInvalidArgument,
             "gemm_nt shape m=", a.m, " n=", a.n, " k=", a.k,
             ": need m, n >= 0 and k > 0, all within cuBLAS's int range");
  const bool bf16_inputs = a.x_type == CUDA_R_16BF && a.w_type == CUDA_R_16BF &&
                           (a.y_type == CUDA_R_16BF || a.y_type == CUDA_R_32F);
  const bool f32_inputs =
      a.x_type == CUDA_R_32F && a.w_type == CUDA_R_32F && a.y_type == CUDA_R_32F;
  MLA_ENSURE(bf16_inputs || f32_inputs, kInvalidArgument,
             "gemm_nt: unsupported cudaDataType combination x=", static_cast<int>(a.x_type),
             " w=", static_cast<int>(a.w_type), " y=", static_cast<int>(a.y_type),
             " (need bf16, bf16 -> bf16/f32 or f32, f32 -> f32)");
  if (a.m == 0 || a.n == 0) return;
  // A single row's leading dimension is never used; cuBLAS still checks it, so pass a legal one.
  const int64_t ldx = a.m == 1 ? a.k : a.ldx;
  const int64_t ldy = a.m == 1 ? a.n : a.ldy;
  const int64_t ldw = a.n == 1 ? a.k : a.ldw;
  MLA_ENSURE(ldx >= a.k && fits_int(ldx) && ldw >= a.k && fits_int(ldw) && ldy >= a.n &&
                 fits_int(ldy),
             kInvalidArgument, "gemm_nt: leading dimensions ldx=", a.ldx, " ldw=", a.ldw,
             " ldy=", a.ldy, " must cover rows of k=", a.k, " (x, w) and n=", a.n,
             " (y) elements and fit an int");
  MLA_ENSURE(a.x != nullptr && a.w != nullptr && a.y != nullptr, kInvalidArgument,
             "gemm_nt: null operand");

  // cuBLAS is column-major, where a row-major [r, c] matrix reads as its [c, r] transpose. So
  // compute yᵀ[n, m] = w[n, k] · xᵀ[k, m]: w is stored as [k, n] (op T), x as [k, m] (op N).
  const float alpha = 1.f, beta = 0.f;
  ScopedMathMode mode(handle, CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION);
  MLA_CUBLAS_CHECK(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(a.n),
                                static_cast<int>(a.m), static_cast<int>(a.k), &alpha, a.w,
                                a.w_type, static_cast<int>(ldw), a.x, a.x_type,
                                static_cast<int>(ldx), &beta, a.y, a.y_type,
                                static_cast<int>(ldy), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace mlaserve::cuda

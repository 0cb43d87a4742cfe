#include "kernels/cpu/gemm.h"

#include <cblas.h>

#include <algorithm>
#include <mutex>

#include "kernels/cpu/convert.h"

namespace mlaserve::cpu {

void blas_use_one_thread() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

void gemm_bf16(const float* x, int64_t ldx, int64_t m, const uint16_t* w, int64_t ldw, int64_t k,
               float* y, int64_t ldy, int64_t n_begin, int64_t n_end, float* scratch) {
  blas_use_one_thread();
  for (int64_t j = n_begin; j < n_end; j += kGemmPanelRows) {
    const int64_t rows = std::min(kGemmPanelRows, n_end - j);
    for (int64_t r = 0; r < rows; ++r) bf16_to_f32(w + (j + r) * ldw, scratch + r * k, k);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m),
                static_cast<int>(rows), static_cast<int>(k), 1.0f, x, static_cast<int>(ldx),
                scratch, static_cast<int>(k), 0.0f, y + j, static_cast<int>(ldy));
  }
}

void gemm_f32(const float* x, int64_t ldx, int64_t m, const float* w, int64_t ldw, int64_t k,
              float* y, int64_t ldy, int64_t n_begin, int64_t n_end) {
  blas_use_one_thread();
  for (int64_t j = n_begin; j < n_end; j += kGemmPanelRows) {
    const int64_t rows = std::min(kGemmPanelRows, n_end - j);
    if (m == 1) {
      cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(rows), static_cast<int>(k), 1.0f,
                  w + j * ldw, static_cast<int>(ldw), x, 1, 0.0f, y + j, 1);
    } else {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m),
                  static_cast<int>(rows), static_cast<int>(k), 1.0f, x, static_cast<int>(ldx),
                  w + j * ldw, static_cast<int>(ldw), 0.0f, y + j, static_cast<int>(ldy));
    }
  }
}

}  // namespace mlaserve::cpu

#include "kernels/cuda/elementwise.h"

#include "kernels/cuda/row_map.cuh"

namespace mlaserve::cuda {
namespace {

// __fadd_rn / __fmul_rn keep nvcc from contracting into an FMA where the CPU rounds twice.
struct Add {
  __device__ float operator()(float y, float x) const { return __fadd_rn(y, x); }
};
struct Axpy {
  float alpha;
  __device__ float operator()(float y, float x) const { return fmaf(alpha, x, y); }
};
struct Scale {
  float s;
  __device__ float operator()(float y) const { return __fmul_rn(y, s); }
};
struct Identity {
  __device__ float operator()(float v) const { return v; }
};

// Strided rows of any dtype, moved as unsigned words of the element's size.
template <typename Word>
__global__ void copy_rows_kernel(Word* dst, int64_t ldd, const Word* src, int64_t lds,
                                 int64_t cols) {
  Word* d = dst + int64_t{blockIdx.x} * ldd;
  const Word* s = src + int64_t{blockIdx.x} * lds;
  for_row_columns(cols, [&](int64_t c) { d[c] = s[c]; });
}

template <typename Word>
void launch_copy(void* dst, int64_t ldd, const void* src, int64_t lds, int64_t rows, int64_t cols,
                 cudaStream_t stream) {
  copy_rows_kernel<Word><<<row_grid(rows, cols), kRowThreads, 0, stream>>>(
      static_cast<Word*>(dst), ldd, static_cast<const Word*>(src), lds, cols);
}

}  // namespace

void add(FloatRows y, FloatRows x, int64_t rows, int64_t cols, cudaStream_t stream) {
  map2_rows("add_", y, y, x, rows, cols, Add{}, stream);
}

void axpy(FloatRows y, FloatRows x, float alpha, int64_t rows, int64_t cols,
          cudaStream_t stream) {
  map2_rows("add_scaled_", y, y, x, rows, cols, Axpy{alpha}, stream);
}

void scale(FloatRows y, float s, int64_t rows, int64_t cols, cudaStream_t stream) {
  map1_rows("scale_", y, y, rows, cols, Scale{s}, stream);
}

void convert(FloatRows dst, FloatRows src, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (dst.bf16 == src.bf16) {
    copy_rows(dst.data, dst.ld, src.data, src.ld, rows, cols, dst.bf16 ? 2 : 4, stream);
    return;
  }
  map1_rows("copy_", dst, src, rows, cols, Identity{}, stream);
}

void copy_rows(void* dst, int64_t ldd, const void* src, int64_t lds, int64_t rows, int64_t cols,
               size_t elem_bytes, cudaStream_t stream) {
  check_row_shape("copy_", rows, cols);
  if (rows == 0 || cols == 0 || (dst == src && ldd == lds)) return;
  const bool dense = (rows == 1 || (ldd == cols && lds == cols));
  if (dense) {  // one block of bytes: the copy engine
    MLA_CUDA_CHECK(cudaMemcpyAsync(dst, src, static_cast<size_t>(rows * cols) * elem_bytes,
                                   cudaMemcpyDeviceToDevice, stream));
    return;
  }
  switch (elem_bytes) {
    case 1: launch_copy<uint8_t>(dst, ldd, src, lds, rows, cols, stream); break;
    case 2: launch_copy<uint16_t>(dst, ldd, src, lds, rows, cols, stream); break;
    case 4: launch_copy<uint32_t>(dst, ldd, src, lds, rows, cols, stream); break;
    case 8: launch_copy<uint64_t>(dst, ldd, src, lds, rows, cols, stream); break;
    default:
      fail(ErrorCode::kInvalidArgument, "copy_: elements of ", elem_bytes, " bytes");
  }
  MLA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace mlaserve::cuda

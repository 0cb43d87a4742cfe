#pragma once
// Helpers for op tests: tensors filled with deterministic data, read back as doubles, and a
// runner that evaluates an op with 1 and 2 threads.
#include <cstring>
#include <functional>
#include <vector>

#include "runtime/core/tensor.h"
#include "runtime/core/thread_pool.h"
#include "tests/support/random_data.h"

namespace mlaserve::ops::testing {

// A [shape] tensor of `dtype` (f32 or bf16) with uniform values in [lo, hi].
inline Tensor random_tensor(const Shape& shape, DType dtype, uint32_t seed, float lo = -1,
                            float hi = 1) {
  const auto f = mlaserve::testing::random_floats(shape_numel(shape), seed, lo, hi);
  Tensor t = Tensor::empty(shape, dtype);
  convert_from_float(f.data(), dtype, t.raw_data(), f.size());
  return t;
}

// Values of any f32/bf16 tensor (strided allowed) in row-major order, as doubles.
inline std::vector<double> values(const Tensor& t) {
  const Tensor c = t.contiguous();
  std::vector<float> f(static_cast<size_t>(c.numel()));
  convert_to_float(c.dtype(), c.raw_data(), f.data(), f.size());
  return std::vector<double>(f.begin(), f.end());
}

inline bool same_bits(const Tensor& a, const Tensor& b) {
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  return ca.nbytes() == cb.nbytes() && std::memcmp(ca.raw_data(), cb.raw_data(), ca.nbytes()) == 0;
}

// Runs make() with a 1-thread and a 2-thread global pool; returns both results.
inline std::pair<Tensor, Tensor> with_1_and_2_threads(const std::function<Tensor()>& make) {
  ThreadPool::set_global_num_threads(1);
  Tensor one = make();
  ThreadPool::set_global_num_threads(2);
  Tensor two = make();
  return {one, two};
}

}  // namespace mlaserve::ops::testing

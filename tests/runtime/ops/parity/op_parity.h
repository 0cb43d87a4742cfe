#pragma once
// The op-parity suite (as llama.cpp's test-backend-ops): every op case is written once, runs on
// the CPU and on each other backend with the same inputs, and the backend's result is compared
// with the CPU's. Tests are TEST_P(OpParity, ...) over the backends in op_parity.cc; each builds
// its inputs on the CPU (deterministic random data), calls run(...) with a lambda that applies
// the op to inputs on a given device, and compares. Without a CUDA device (or in a build without
// the CUDA backend) every test skips with a message saying so.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/core/tensor.h"
#include "runtime/ops/transfer.h"
#include "tests/runtime/ops/test_tensors.h"

namespace mlaserve::ops::testing {

class OpParity : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override;
  Device device() const { return GetParam(); }

  // `cpu_inputs` copied to `d` (CPU tensors stay as they are there).
  static std::vector<Tensor> on(Device d, const std::vector<Tensor>& cpu_inputs);

  // Runs `op` on the CPU and on device() with the same inputs; returns {cpu outputs, device
  // outputs copied back to the CPU}. `op` gets the inputs on the device it should run on.
  using Op = std::function<std::vector<Tensor>(const std::vector<Tensor>& inputs)>;
  std::pair<std::vector<Tensor>, std::vector<Tensor>> run(const std::vector<Tensor>& cpu_inputs,
                                                           const Op& op) const;
};

// The metric of the reference cases: max |got - want| / max |want| over all elements (want all
// zero: max |got|). f32/bf16 tensors of equal shape.
double rel_error(const Tensor& want, const Tensor& got);
// EXPECT: shapes equal and rel_error <= tol; `what` names the case in the failure.
void expect_close(const Tensor& want, const Tensor& got, double tol, const std::string& what);
// EXPECT: same shape, dtype and bytes (integer outputs: ids, tokens).
void expect_equal(const Tensor& want, const Tensor& got, const std::string& what);

// Tolerances by output dtype for ops computed in f32 on both sides: f32 results differ only by
// summation order; bf16 results by at most one rounding of an f32 value that itself differs.
inline double tolerance(DType out_dtype) { return out_dtype == DType::kBF16 ? 1e-2 : 1e-5; }

}  // namespace mlaserve::ops::testing

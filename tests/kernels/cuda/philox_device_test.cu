// The shared sampling arithmetic (kernels/philox.h, kernels/sampling_math.h) evaluated in a
// kernel must give the host's bits: Random123's known answers for Philox4x32-10 (the vectors of
// tests/kernels/cpu/philox_test.cc), and the uniform, scaled logit and exp of the sampling rule
// for many inputs. This is what makes CPU and GPU sample the same tokens.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cuda/backend.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/stream.h"
#include "kernels/philox.h"
#include "kernels/sampling_math.h"
#include "tests/kernels/cuda/cuda_test_util.h"

namespace mlaserve::cuda {
namespace {

using testing::to_device;
using testing::to_host;

// in: 6 words per case (counter, key); out: 4 words per case.
__global__ void philox_kernel(const uint32_t* in, uint32_t* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const uint32_t* w = in + 6 * i;
  const philox::Counter c = philox::philox4x32_10({{w[0], w[1], w[2], w[3]}}, {{w[4], w[5]}});
  for (int k = 0; k < 4; ++k) out[4 * i + k] = c.v[k];
}

// For input i: uniform(seed_i, position_i), exp_nonpositive(x_i), scaled_logit(l_i, t_i).
__global__ void rule_kernel(const uint64_t* seeds, const uint64_t* positions, const double* x,
                            const float* logits, const double* temperatures, double* uniforms,
                            double* exps, float* scaled, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  uniforms[i] = sampling::uniform(seeds[i], positions[i]);
  exps[i] = sampling::exp_nonpositive(x[i]);
  scaled[i] = sampling::scaled_logit(logits[i], temperatures[i]);
}

TEST(PhiloxDevice, MatchesRandom123KnownAnswers) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  CudaStream stream;
  // Random123 tests/kat_vectors, the three "philox4x32 10" lines: counter, key -> expected.
  // clang-format off
  const std::vector<uint32_t> in = {
      0, 0, 0, 0, 0, 0,
      0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
      0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0};
  // clang-format on
  const std::vector<uint32_t> want = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8,
                                      0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd,
                                      0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1};
  const Tensor in_d = to_device(in, DType::kI32, stream.get());
  Tensor out_d = Tensor::empty({12}, DType::kI32, Device::cuda(0));
  philox_kernel<<<1, 32, 0, stream.get()>>>(static_cast<const uint32_t*>(in_d.raw_data()),
                                            static_cast<uint32_t*>(out_d.raw_data()), 3);
  MLA_CUDA_CHECK(cudaGetLastError());
  const std::vector<int32_t> got = to_host<int32_t>(out_d, stream.get());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(static_cast<uint32_t>(got[i]), want[i]) << i;
}

TEST(PhiloxDevice, SamplingArithmeticHasTheHostsBits) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  CudaStream stream;
  const int n = 20000;
  std::vector<uint64_t> seeds(n), positions(n);
  std::vector<double> x(n), temperatures(n);
  std::vector<float> logits(n);
  for (int i = 0; i < n; ++i) {
    seeds[i] = 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(i + 1);
    positions[i] = static_cast<uint64_t>(i) * 7919u + (i % 3 == 0 ? uint64_t{1} << 40 : 0);
    x[i] = -0.037 * i;  // 0 down to -740: the whole range, underflow included
    logits[i] = static_cast<float>(i % 2001 - 1000) / 37.0f;
    temperatures[i] = 0.05 + 0.0001 * i;
  }
  // Doubles travel as I64 bit patterns (the test helpers move raw bytes).
  auto bits = [](const auto& v) {
    std::vector<int64_t> b(v.size());
    std::memcpy(b.data(), v.data(), v.size() * 8);
    return b;
  };
  std::vector<int32_t> logit_bits(n);
  std::memcpy(logit_bits.data(), logits.data(), n * 4);
  const Tensor seeds_d = to_device(bits(seeds), DType::kI64, stream.get());
  const Tensor positions_d = to_device(bits(positions), DType::kI64, stream.get());
  const Tensor x_d = to_device(bits(x), DType::kI64, stream.get());
  const Tensor t_d = to_device(bits(temperatures), DType::kI64, stream.get());
  const Tensor l_d = to_device(logit_bits, DType::kI32, stream.get());
  Tensor u_d = Tensor::empty({n}, DType::kI64, Device::cuda(0));
  Tensor e_d = Tensor::empty({n}, DType::kI64, Device::cuda(0));
  Tensor s_d = Tensor::empty({n}, DType::kI32, Device::cuda(0));
  rule_kernel<<<(n + 255) / 256, 256, 0, stream.get()>>>(
      static_cast<const uint64_t*>(seeds_d.raw_data()),
      static_cast<const uint64_t*>(positions_d.raw_data()),
      static_cast<const double*>(x_d.raw_data()), static_cast<const float*>(l_d.raw_data()),
      static_cast<const double*>(t_d.raw_data()), static_cast<double*>(u_d.raw_data()),
      static_cast<double*>(e_d.raw_data()), static_cast<float*>(s_d.raw_data()), n);
  MLA_CUDA_CHECK(cudaGetLastError());
  std::vector<double> want_u(n), want_e(n);
  std::vector<float> want_s(n);
  for (int i = 0; i < n; ++i) {
    want_u[i] = sampling::uniform(seeds[i], positions[i]);
    want_e[i] = sampling::exp_nonpositive(x[i]);
    want_s[i] = sampling::scaled_logit(logits[i], temperatures[i]);
  }
  EXPECT_EQ(to_host<int64_t>(u_d, stream.get()), bits(want_u)) << "uniform";
  EXPECT_EQ(to_host<int64_t>(e_d, stream.get()), bits(want_e)) << "exp_nonpositive";
  const std::vector<int32_t> got_s = to_host<int32_t>(s_d, stream.get());
  EXPECT_EQ(std::memcmp(got_s.data(), want_s.data(), n * 4), 0) << "scaled_logit";
}

}  // namespace
}  // namespace mlaserve::cuda

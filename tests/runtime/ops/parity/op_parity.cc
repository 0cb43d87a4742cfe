#include "tests/runtime/ops/parity/op_parity.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace mlaserve::ops::testing {

void OpParity::SetUp() {
  if (device().is_cpu()) return;
  const int count = cuda_device_count();
  if (count <= device().index)
    GTEST_SKIP() << "no CUDA device " << device().index << " (cuda_device_count() = " << count
                 << "; a build without the CUDA backend always reports 0)";
  init_device(device());
}

std::vector<Tensor> OpParity::on(Device d, const std::vector<Tensor>& cpu_inputs) {
  std::vector<Tensor> out;
  for (const Tensor& t : cpu_inputs) out.push_back(t.defined() ? to_device(t, d) : t);
  return out;
}

std::pair<std::vector<Tensor>, std::vector<Tensor>> OpParity::run(
    const std::vector<Tensor>& cpu_inputs, const Op& op) const {
  std::vector<Tensor> want = op(cpu_inputs);
  std::vector<Tensor> got_device = op(on(device(), cpu_inputs));
  std::vector<Tensor> got;
  for (const Tensor& t : got_device) {
    if (t.defined()) {
      EXPECT_EQ(t.device(), device()) << "an output is not on the inputs' device: " << t.describe();
    }
    got.push_back(t.defined() ? to_cpu(t) : t);
  }
  return {std::move(want), std::move(got)};
}

double rel_error(const Tensor& want, const Tensor& got) {
  const std::vector<double> w = values(want), g = values(got);
  double max_diff = 0, max_ref = 0;
  for (size_t i = 0; i < w.size() && i < g.size(); ++i) {
    const double d = std::abs(w[i] - g[i]);
    max_diff = std::isnan(d) ? INFINITY : std::max(max_diff, d);
    max_ref = std::max(max_ref, std::abs(w[i]));
  }
  return max_ref > 0 ? max_diff / max_ref : max_diff;
}

void expect_close(const Tensor& want, const Tensor& got, double tol, const std::string& what) {
  ASSERT_TRUE(want.defined() && got.defined()) << what;
  ASSERT_EQ(want.shape(), got.shape()) << what << ": " << want.describe() << " vs " << got.describe();
  EXPECT_EQ(want.dtype(), got.dtype()) << what;
  const double rel = rel_error(want, got);
  EXPECT_LE(rel, tol) << what << ": rel error " << rel << " over " << want.describe();
}

void expect_equal(const Tensor& want, const Tensor& got, const std::string& what) {
  ASSERT_TRUE(want.defined() && got.defined()) << what;
  ASSERT_EQ(want.shape(), got.shape()) << what << ": " << want.describe() << " vs " << got.describe();
  ASSERT_EQ(want.dtype(), got.dtype()) << what;
  const Tensor a = want.contiguous(), b = got.contiguous();
  EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()), 0) << what << ": contents differ";
}

// Every backend other than the CPU, checked against the CPU. One CUDA device suffices: ops run
// on the inputs' device, and device 0 stands for any.
INSTANTIATE_TEST_SUITE_P(Backends, OpParity, ::testing::Values(Device::cuda(0)),
                         [](const ::testing::TestParamInfo<Device>& info) {
                           return info.param.is_cpu() ? std::string("cpu")
                                                      : "cuda" + std::to_string(info.param.index);
                         });

}  // namespace mlaserve::ops::testing

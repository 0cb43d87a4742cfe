// kernels/cuda/moe_experts against a double-precision host model of the same math (with the
// same roundings to the activation / out dtype), on shapes that are no multiple of any tile:
// an expert with several m-tiles, experts with no token, tokens with no local expert, a strided
// x. The bf16 activations run both multipliers (tensor cores and CUDA cores).
#include "kernels/cuda/moe_experts.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/cuda/context.h"
#include "kernels/cuda/device.h"
#include "runtime/core/dtype.h"
#include "tests/kernels/cuda/cuda_test_util.h"

namespace mlaserve::cuda {
namespace {

using testing::to_device;
using testing::to_host;

// 9 experts in all, this rank holds 2..6; hidden and inter are no multiple of 32 or 64.
constexpr int64_t kTokens = 70, kTopK = 3, kHidden = 200, kInter = 72, kLdx = kHidden + 8;
constexpr int64_t kExperts = 9, kFirst = 2, kLocal = 5;

float round_bf16(float v) { return bf16_to_float(float_to_bf16(v)); }

struct Problem {
  std::vector<float> x;                // [T, kLdx], bf16-representable when the act is bf16
  std::vector<int32_t> ids;            // [T, k]
  std::vector<float> weights;          // [T, k]
  std::vector<uint16_t> gate, up, down;  // stacked [kLocal, ...] bf16 bits
};

Problem make_problem(bool act_bf16) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> unit(-1.f, 1.f);
  Problem p;
  p.x.resize(kTokens * kLdx);
  for (float& v : p.x) v = act_bf16 ? round_bf16(2 * unit(rng)) : 2 * unit(rng);
  // Slot 0 of every token is expert 2 (local 0): 70 rows, three m-tiles. The other slots are
  // random distinct experts, some held elsewhere; tokens 0 and 1 have none held here.
  for (int64_t t = 0; t < kTokens; ++t) {
    std::vector<int32_t> pool;
    for (int32_t e = 0; e < kExperts; ++e) pool.push_back(e);
    std::shuffle(pool.begin(), pool.end(), rng);
    std::vector<int32_t> chosen;
    if (t < 2) chosen = {0, 1, 8};
    else {
      chosen.push_back(2);
      for (int32_t e : pool)
        if (e != 2 && static_cast<int64_t>(chosen.size()) < kTopK) chosen.push_back(e);
    }
    for (int32_t e : chosen) {
      p.ids.push_back(e);
      p.weights.push_back(0.2f + (unit(rng) + 1) / 2);
    }
  }
  const auto weights = [&](int64_t n, float scale) {
    std::vector<uint16_t> w(n);
    for (uint16_t& b : w) b = float_to_bf16(scale * unit(rng));
    return w;
  };
  p.gate = weights(kLocal * kInter * kHidden, 2 / std::sqrt(float{kHidden}));
  p.up = weights(kLocal * kInter * kHidden, 2 / std::sqrt(float{kHidden}));
  p.down = weights(kLocal * kHidden * kInter, 2 / std::sqrt(float{kInter}));
  return p;
}

std::vector<double> reference(const Problem& p, bool act_bf16, bool out_bf16) {
  const auto act = [&](double v) { return act_bf16 ? round_bf16(static_cast<float>(v)) : v; };
  std::vector<double> y(kTokens * kHidden, 0.0);
  for (int64_t t = 0; t < kTokens; ++t)
    for (int64_t j = 0; j < kTopK; ++j) {
      const int64_t e = p.ids[t * kTopK + j] - kFirst;
      if (e < 0 || e >= kLocal) continue;
      std::vector<double> h(kInter);
      for (int64_t n = 0; n < kInter; ++n) {
        double g = 0, u = 0;
        for (int64_t k = 0; k < kHidden; ++k) {
          g += p.x[t * kLdx + k] * double{bf16_to_float(p.gate[(e * kInter + n) * kHidden + k])};
          u += p.x[t * kLdx + k] * double{bf16_to_float(p.up[(e * kInter + n) * kHidden + k])};
        }
        g = act(g);
        u = act(u);
        h[n] = act(g / (1 + std::exp(-g)) * u);
      }
      for (int64_t c = 0; c < kHidden; ++c) {
        double o = 0;
        for (int64_t n = 0; n < kInter; ++n)
          o += h[n] * double{bf16_to_float(p.down[(e * kHidden + c) * kInter + n])};
        if (out_bf16) o = round_bf16(static_cast<float>(o));
        y[t * kHidden + c] += p.weights[t * kTopK + j] * o;
      }
    }
  return y;
}

std::vector<float> run(const Problem& p, bool act_bf16, bool out_bf16, bool tensor_cores) {
  const cudaStream_t stream = compute_stream(0);
  std::vector<uint16_t> x16(p.x.size());
  for (size_t i = 0; i < p.x.size(); ++i) x16[i] = float_to_bf16(p.x[i]);
  const Tensor x = act_bf16 ? to_device(x16, DType::kBF16, stream) : to_device(p.x, DType::kF32, stream);
  const Tensor ids = to_device(p.ids, DType::kI32, stream);
  const Tensor weights = to_device(p.weights, DType::kF32, stream);
  const Tensor gate = to_device(p.gate, DType::kBF16, stream);
  const Tensor up = to_device(p.up, DType::kBF16, stream);
  const Tensor down = to_device(p.down, DType::kBF16, stream);
  const int64_t pairs = kTokens * kTopK;
  const Tensor schedule =
      Tensor::empty({moe_schedule_ints(pairs, kLocal)}, DType::kI32, Device::cuda(0));
  const Tensor h = Tensor::empty({pairs, kInter}, act_bf16 ? DType::kBF16 : DType::kF32, Device::cuda(0));
  const Tensor out = Tensor::empty({pairs, kHidden}, out_bf16 ? DType::kBF16 : DType::kF32, Device::cuda(0));
  const Tensor y = Tensor::empty({kTokens, kHidden}, DType::kF32, Device::cuda(0));
  MoeExpertsArgs a;
  a.x = x.raw_data();
  a.act_bf16 = act_bf16;
  a.ldx = kLdx;
  a.ids = ids.data<int32_t>();
  a.weights = weights.data<float>();
  a.tokens = kTokens;
  a.top_k = kTopK;
  a.hidden = kHidden;
  a.inter = kInter;
  a.first_expert = kFirst;
  a.n_local = kLocal;
  a.gate = gate.data<uint16_t>();
  a.gate_stride = kInter * kHidden;
  a.up = up.data<uint16_t>();
  a.up_stride = kInter * kHidden;
  a.down = down.data<uint16_t>();
  a.down_stride = kHidden * kInter;
  a.out_bf16 = out_bf16;
  a.tensor_cores = tensor_cores;
  a.y = y.data<float>();
  a.schedule = schedule.data<int32_t>();
  a.h = h.raw_data();
  a.out = out.raw_data();
  moe_experts(a, stream);
  return to_host<float>(y, stream);
}

// max |got - want| / max |want|, the op-parity metric.
double rel_error(const std::vector<double>& want, const std::vector<float>& got) {
  double diff = 0, ref = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, std::abs(got[i] - want[i]));
    ref = std::max(ref, std::abs(want[i]));
  }
  return diff / ref;
}

TEST(MoeExperts, MatchesTheHostModel) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  for (bool act_bf16 : {false, true})
    for (bool out_bf16 : {false, true})
      for (bool tensor_cores : {false, true}) {
        if (!act_bf16 && tensor_cores) continue;  // f32 activations always use CUDA cores
        const Problem p = make_problem(act_bf16);
        const std::vector<double> want = reference(p, act_bf16, out_bf16);
        const std::vector<float> got = run(p, act_bf16, out_bf16, tensor_cores);
        const double tol = act_bf16 || out_bf16 ? 1e-2 : 1e-5;
        EXPECT_LE(rel_error(want, got), tol)
            << "act " << (act_bf16 ? "bf16" : "f32") << ", out " << (out_bf16 ? "bf16" : "f32")
            << (tensor_cores ? ", tensor cores" : ", CUDA cores");
        for (int64_t c = 0; c < 2 * kHidden; ++c)  // tokens 0 and 1: no local expert
          ASSERT_EQ(got[c], 0.f) << c;
      }
}

TEST(MoeExperts, NoLocalExpertsGiveZeros) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  const cudaStream_t stream = compute_stream(0);
  const Problem p = make_problem(false);
  const Tensor x = to_device(p.x, DType::kF32, stream);
  const Tensor ids = to_device(p.ids, DType::kI32, stream);
  const Tensor weights = to_device(p.weights, DType::kF32, stream);
  const Tensor y = to_device(std::vector<float>(kTokens * kHidden, 1.f), DType::kF32, stream);
  MoeExpertsArgs a;
  a.x = x.raw_data();
  a.ldx = kLdx;
  a.ids = ids.data<int32_t>();
  a.weights = weights.data<float>();
  a.tokens = kTokens;
  a.top_k = kTopK;
  a.hidden = kHidden;
  a.inter = kInter;
  a.n_local = 0;
  a.y = y.data<float>();
  moe_experts(a, stream);
  for (float v : to_host<float>(y, stream)) ASSERT_EQ(v, 0.f);
}

}  // namespace
}  // namespace mlaserve::cuda

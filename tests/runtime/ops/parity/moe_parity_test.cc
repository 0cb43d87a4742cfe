// DeepSeekMoE on every backend against the CPU: the gate (moe_route: greedy and group-limited,
// renormalised or scaled, exact ties, masked rows, strided logits) and the routed experts
// (moe_experts: f32 / bf16 activations and outputs, every expert or an EP block of them, tokens
// routed to none of the local experts, T = 1, 5, 300, tiny-v2's dims and a wider layer).
#include <cmath>
#include <limits>
#include <string>

#include "runtime/ops/moe_experts.h"
#include "runtime/ops/moe_route.h"
#include "tests/runtime/ops/parity/op_parity.h"

namespace mlaserve::ops::testing {
namespace {

// Router logits on a 1/64 grid: distinct logits are far apart (no near-ties that rounding could
// reorder between devices) and equal logits tie exactly, so expert choices must match exactly,
// ties included (lower index first).
Tensor grid_logits(int64_t T, int64_t E, uint32_t seed) {
  Tensor t = random_tensor({T, E}, DType::kF32, seed, -4, 4);
  float* p = t.data<float>();
  for (int64_t i = 0; i < T * E; ++i) p[i] = std::round(p[i] * 64) / 64;
  return t;
}

struct RouteCase {
  const char* name;
  int64_t experts;
  MoeRouteOptions options;
};
const RouteCase kRouteCases[] = {
    {"greedy scaled", 16, {.top_k = 4, .n_group = 1, .topk_group = 1, .norm_topk_prob = false,
                           .routed_scaling_factor = 2.5}},
    {"greedy normalised (V2-Lite)", 64, {.top_k = 6, .n_group = 1, .topk_group = 1,
                                          .norm_topk_prob = true, .routed_scaling_factor = 1}},
    {"group-limited (tiny-v2)", 16, {.top_k = 4, .n_group = 4, .topk_group = 2,
                                     .norm_topk_prob = false, .routed_scaling_factor = 16}},
    {"group-limited (236B)", 160, {.top_k = 6, .n_group = 8, .topk_group = 3,
                                   .norm_topk_prob = false, .routed_scaling_factor = 16}},
    {"group-limited normalised", 64, {.top_k = 8, .n_group = 8, .topk_group = 4,
                                      .norm_topk_prob = true, .routed_scaling_factor = 1}},
};

TEST_P(OpParity, MoeRoute) {
  uint32_t seed = 1;
  for (const RouteCase& c : kRouteCases)
    for (int64_t T : {1, 5, 300}) {
      const Tensor logits = grid_logits(T, c.experts, seed++);
      auto [want, got] = run({logits}, [&](const std::vector<Tensor>& in) {
        const MoeRouting r = moe_route(in[0], c.options);
        return std::vector<Tensor>{r.ids, r.weights};
      });
      const std::string what = str_cat(c.name, ", T ", T);
      expect_equal(want[0], got[0], what + ": ids");
      expect_close(want[1], got[1], 1e-6, what + ": weights");
    }
}

// Rows where everything ties (all equal, all -inf: zero scores), rows with a few tied leaders,
// and logits read as a strided slice of a wider buffer.
TEST_P(OpParity, MoeRouteTiesMaskedRowsAndStridedLogits) {
  constexpr int64_t T = 6, E = 16;
  Tensor wide = grid_logits(T, E + 8, 7);  // [T, E + 8]: the router's columns are the first E
  float* p = wide.data<float>();
  for (int64_t e = 0; e < E + 8; ++e) {
    p[0 * (E + 8) + e] = 0.5f;                                      // all equal
    p[1 * (E + 8) + e] = -std::numeric_limits<float>::infinity();  // fully masked
  }
  for (int64_t e : {3, 6, 9, 12}) p[2 * (E + 8) + e] = 9.f;  // four tied leaders in 4 groups
  for (const RouteCase& c : kRouteCases) {
    if (c.experts != E) continue;
    auto [want, got] = run({wide}, [&](const std::vector<Tensor>& in) {
      const MoeRouting r = moe_route(in[0].slice(1, 0, E), c.options);
      return std::vector<Tensor>{r.ids, r.weights};
    });
    expect_equal(want[0], got[0], str_cat(c.name, ": ids"));
    expect_close(want[1], got[1], 1e-6, str_cat(c.name, ": weights"));
  }
}

// ---- moe_experts -------------------------------------------------------------------------------

struct ExpertDims {
  const char* name;
  int64_t hidden, inter, experts;
  MoeRouteOptions route;
};
const ExpertDims kTinyV2{"tiny-v2", 128, 40, 16,
                         {.top_k = 4, .n_group = 4, .topk_group = 2, .norm_topk_prob = false,
                          .routed_scaling_factor = 16}};
const ExpertDims kWide{"wide", 1024, 256, 16,
                       {.top_k = 6, .n_group = 1, .topk_group = 1, .norm_topk_prob = true,
                        .routed_scaling_factor = 1}};

// bf16 experts scaled like a trained layer (outputs of order one for inputs of order one).
std::vector<MlpWeights> random_experts(const ExpertDims& d, uint32_t seed) {
  std::vector<MlpWeights> experts;
  const float a = 2.f / std::sqrt(static_cast<float>(d.hidden));
  const float b = 2.f / std::sqrt(static_cast<float>(d.inter));
  for (int64_t e = 0; e < d.experts; ++e) {
    const uint32_t s = seed + 3 * static_cast<uint32_t>(e);
    experts.push_back({random_tensor({d.inter, d.hidden}, DType::kBF16, s, -a, a),
                       random_tensor({d.inter, d.hidden}, DType::kBF16, s + 1, -a, a),
                       random_tensor({d.hidden, d.inter}, DType::kBF16, s + 2, -b, b)});
  }
  return experts;
}

std::vector<MlpWeights> block(const std::vector<MlpWeights>& all, int64_t first, int64_t n) {
  return {all.begin() + first, all.begin() + first + n};
}

double experts_tolerance(DType act, DType out_dtype) {
  // f32 all the way: only summation order differs (x is never rounded to bf16).
  return act == DType::kF32 && out_dtype == DType::kF32 ? 1e-5 : 1e-2;
}

// Runs moe_experts on the CPU and on the device with `local` (uploaded once per device).
class ExpertsCase {
 public:
  explicit ExpertsCase(std::vector<MlpWeights> local) : local_(std::move(local)) {}
  const std::vector<MlpWeights>& on(Device d) {
    if (d.is_cpu()) return local_;
    if (uploaded_.empty() && !local_.empty()) uploaded_ = upload_experts(local_, d);
    return uploaded_;
  }

 private:
  std::vector<MlpWeights> local_, uploaded_;
};

TEST_P(OpParity, MoeExperts) {
  for (const ExpertDims& d : {kTinyV2, kWide}) {
    const std::vector<MlpWeights> all = random_experts(d, 100);
    // Every expert (ep 1), and an EP block in the middle (rank 1 of ep 4 holds 4..7).
    for (auto [first, n_local] : {std::pair<int64_t, int64_t>{0, d.experts}, {4, 4}}) {
      ExpertsCase experts(block(all, first, n_local));
      for (int64_t T : {1, 5, 300}) {
        const MoeRouting r = moe_route(grid_logits(T, d.experts, 40 + static_cast<uint32_t>(T)),
                                       d.route);
        for (DType act : {DType::kF32, DType::kBF16})
          for (DType out_dtype : {DType::kF32, DType::kBF16}) {
            const Tensor x = random_tensor({T, d.hidden}, act, 50 + static_cast<uint32_t>(T), -2, 2);
            auto [want, got] = run({x, r.ids, r.weights}, [&](const std::vector<Tensor>& in) {
              return std::vector<Tensor>{moe_experts(in[0], {in[1], in[2]},
                                                     experts.on(in[0].device()), first, out_dtype)};
            });
            expect_close(want[0], got[0], experts_tolerance(act, out_dtype),
                         str_cat(d.name, ", experts ", first, "..", first + n_local - 1, ", T ", T,
                                 ", act ", dtype_name(act), ", out ", dtype_name(out_dtype)));
          }
      }
    }
  }
}

// Tokens whose experts are all held elsewhere get zeros; so does every token on a rank without
// experts. x is a strided row slice (the op reads rows ldx apart).
TEST_P(OpParity, MoeExpertsTokensRoutedElsewhere) {
  const ExpertDims& d = kTinyV2;
  const std::vector<MlpWeights> all = random_experts(d, 200);
  constexpr int64_t T = 5, k = 4, first = 8, n_local = 4;  // this rank holds experts 8..11
  const std::vector<int32_t> id_values = {0, 1, 2, 3,      // none here
                                          12, 13, 14, 15,  // none here
                                          9, 0, 11, 15,    // two here, out of slot order
                                          8, 9, 10, 11,    // all here
                                          11, 4, 5, 6};    // one here
  Tensor ids = Tensor::empty({T, k}, DType::kI32);
  for (size_t i = 0; i < id_values.size(); ++i) ids.data<int32_t>()[i] = id_values[i];
  const Tensor weights = random_tensor({T, k}, DType::kF32, 3, 0.1f, 2.f);
  const Tensor wide_x = random_tensor({T, d.hidden + 32}, DType::kF32, 4, -2, 2);
  for (int64_t held : {n_local, int64_t{0}}) {
    ExpertsCase experts(block(all, first, held));
    for (DType out_dtype : {DType::kF32, DType::kBF16}) {
      auto [want, got] = run({wide_x, ids, weights}, [&](const std::vector<Tensor>& in) {
        const Tensor x = in[0].slice(1, 0, d.hidden);  // [T, hidden], rows hidden + 32 apart
        return std::vector<Tensor>{
            moe_experts(x, {in[1], in[2]}, experts.on(in[0].device()), first, out_dtype)};
      });
      const std::string what = str_cat(held, " experts held, out ", dtype_name(out_dtype));
      expect_close(want[0], got[0], experts_tolerance(DType::kF32, out_dtype), what);
      const std::vector<double> y = values(got[0]);
      for (int64_t c = 0; c < 2 * d.hidden; ++c) ASSERT_EQ(y[c], 0.0) << what << ": element " << c;
    }
  }
}

// On the device a token's result does not depend on the batch (each routed row is computed the
// same whatever tile it lands in, and the combine order is fixed), and runs repeat bitwise.
TEST_P(OpParity, MoeExpertsBatchInvariantAndDeterministic) {
  if (device().is_cpu()) GTEST_SKIP() << "a device property (the CPU picks GEMM kernels by rows)";
  const ExpertDims& d = kWide;
  ExpertsCase experts(random_experts(d, 300));
  const Device dev = device();
  const auto& w = experts.on(dev);
  constexpr int64_t T = 300;
  const MoeRouting r = moe_route(grid_logits(T, d.experts, 9), d.route);
  for (DType act : {DType::kF32, DType::kBF16}) {
    const Tensor x = to_device(random_tensor({T, d.hidden}, act, 10, -2, 2), dev);
    const Tensor ids = to_device(r.ids, dev), weights = to_device(r.weights, dev);
    const Tensor all = to_cpu(moe_experts(x, {ids, weights}, w, 0, DType::kF32));
    const Tensor again = to_cpu(moe_experts(x, {ids, weights}, w, 0, DType::kF32));
    const Tensor five = to_cpu(moe_experts(x.slice(0, 0, 5), {ids.slice(0, 0, 5),
                                           weights.slice(0, 0, 5)}, w, 0, DType::kF32));
    expect_equal(all, again, str_cat("repeat, act ", dtype_name(act)));
    expect_equal(all.slice(0, 0, 5).contiguous(), five, str_cat("5 of 300, act ", dtype_name(act)));
  }
}

// The CUDA experts read one stacked tensor per projection: separately uploaded experts are
// refused with an error naming the op and the layout to use.
TEST_P(OpParity, MoeExpertsRefusesUnstackedWeights) {
  if (device().is_cpu()) GTEST_SKIP() << "the CPU experts need no stack";
  const ExpertDims& d = kTinyV2;
  const Device dev = device();
  std::vector<MlpWeights> loose;
  for (const MlpWeights& e : block(random_experts(d, 400), 0, 3))
    loose.push_back({to_device(e.gate_proj, dev), to_device(e.up_proj, dev),
                     to_device(e.down_proj, dev)});
  const MoeRouting r = moe_route(grid_logits(2, d.experts, 11), d.route);
  const Tensor x = to_device(random_tensor({2, d.hidden}, DType::kF32, 12), dev);
  try {
    moe_experts(x, {to_device(r.ids, dev), to_device(r.weights, dev)}, loose, 0, DType::kF32);
    ADD_FAILURE() << "loose expert weights were accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("upload_experts"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mlaserve::ops::testing

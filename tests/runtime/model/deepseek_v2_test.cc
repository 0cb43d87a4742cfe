// The forward pass against DeepSeek's reference outputs (tests/data/REFERENCE.md), for every
// case of every reference checkpoint: prefill rows, teacher-forced decode through the latent
// cache, free-running greedy tokens, batches, routing and the residual stream per layer.
// Written once for every device: this file builds deepseek_v2_test (CPU) and, with
// MLASERVE_REFERENCE_ON_CUDA, deepseek_v2_cuda_test (label gpu: the model, its cache and every op
// on CUDA device 0, held to the same bounds; skipped without a device).
#include "runtime/model/deepseek_v2.h"

#include <cstdio>
#include <set>

#include "runtime/core/error.h"
#include "runtime/ops/transfer.h"

#include <gtest/gtest.h>

#include "tests/runtime/model/reference_cases.h"

namespace mlaserve {
namespace {

using refcases::argmax;
using refcases::read_json;
using refcases::rel_error;
using refcases::Session;

constexpr double kF32Tolerance = 1e-4;

#if MLASERVE_REFERENCE_ON_CUDA
const Device kDevice = Device::cuda(0);
#else
const Device kDevice = Device::cpu();
#endif

class DeepseekV2Reference : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!kDevice.is_cpu()) {
      if (ops::cuda_device_count() == 0)
        GTEST_SKIP() << "no CUDA device (cuda_device_count() = 0): the reference cases run on "
                        "CUDA only where a GPU is visible (scripts/gpu-check.sh)";
      ops::init_device(kDevice);
    }
    dir_ = refcases::model_dir(GetParam());
    cases_ = read_json(dir_ + "/cases.json");
    model_ = DeepseekV2Model::load(dir_, DType::kF32, {}, kDevice);
    vocab_ = model_->config().vocab_size;
  }
  KvCache make_cache(int64_t block_size = 16, DType dtype = DType::kF32) const {
    return KvCache(model_->config(), 64, block_size, dtype, kDevice);
  }
  std::vector<int64_t> prompt(const nlohmann::json& c) const {
    return c["prompt"].get<std::vector<int64_t>>();
  }

  std::string dir_;
  nlohmann::json cases_;
  std::unique_ptr<DeepseekV2Model> model_;
  int64_t vocab_ = 0;
};

TEST_P(DeepseekV2Reference, PrefillEveryRowMatches) {
  KvCache cache = make_cache(64);
  for (const auto& c : cases_["cases"]) {
    Session session(*model_, cache);
    const auto p = prompt(c);
    Tensor logits = session.feed(p, /*all_logits=*/true);  // [len, vocab]
    ASSERT_EQ(logits.shape(), (Shape{static_cast<int64_t>(p.size()), vocab_}));
    double worst = 0;
    if (!c["prefill_all_logits"].is_null()) {
      const auto all = c["prefill_all_logits"].get<std::vector<std::vector<float>>>();
      for (size_t r = 0; r < p.size(); ++r)
        worst = std::max(worst, rel_error(logits.data<float>() + r * vocab_, all[r]));
    }
    const double last = rel_error(logits.data<float>() + (p.size() - 1) * vocab_,
                                  c["prefill_logits"].get<std::vector<float>>());
    std::printf("[%s %s] prefill: last row rel %.3g, worst row rel %.3g\n", GetParam().c_str(),
                c["id"].get<std::string>().c_str(), last, worst);
    EXPECT_LE(last, kF32Tolerance) << c["id"];
    EXPECT_LE(worst, kF32Tolerance) << c["id"];
  }
}

TEST_P(DeepseekV2Reference, LastRowOnlyEqualsLastOfAllRows) {
  KvCache cache = make_cache();
  const auto& c = cases_["cases"].back();
  Session all(*model_, cache);
  Tensor every = all.feed(prompt(c), true);
  Session last(*model_, cache);
  Tensor one = last.feed(prompt(c), false);
  ASSERT_EQ(one.shape(), (Shape{1, vocab_}));
  const float* want = every.data<float>() + (every.dim(0) - 1) * vocab_;
  for (int64_t j = 0; j < vocab_; ++j) ASSERT_NEAR(one.data<float>()[j], want[j], 1e-5f) << j;
}

TEST_P(DeepseekV2Reference, TeacherForcedDecodeThroughCacheMatches) {
  KvCache cache = make_cache(16);  // small blocks: contexts span several
  for (const auto& c : cases_["cases"]) {
    Session session(*model_, cache);
    session.feed(prompt(c));
    const auto greedy = c["greedy_tokens"].get<std::vector<int64_t>>();
    const auto decode = c["decode_logits"].get<std::vector<std::vector<float>>>();
    double worst = 0;
    for (size_t i = 0; i < decode.size(); ++i) {
      Tensor logits = session.feed({greedy[i]});
      worst = std::max(worst, rel_error(logits.data<float>(), decode[i]));
    }
    std::printf("[%s %s] teacher-forced decode: worst row rel %.3g\n", GetParam().c_str(),
                c["id"].get<std::string>().c_str(), worst);
    EXPECT_LE(worst, kF32Tolerance) << c["id"];
  }
}

TEST_P(DeepseekV2Reference, ChunkedPrefillAfterCachedContextMatches) {
  // The prompt fed in three pieces: later pieces attend to cached context and to themselves.
  KvCache cache = make_cache(16);
  for (const auto& c : cases_["cases"]) {
    const auto p = prompt(c);
    if (p.size() < 3) continue;
    Session session(*model_, cache);
    const size_t a = p.size() / 3, b = 2 * p.size() / 3;
    session.feed({p.begin(), p.begin() + a});
    session.feed({p.begin() + a, p.begin() + b});
    Tensor logits = session.feed({p.begin() + b, p.end()});
    EXPECT_LE(rel_error(logits.data<float>(), c["prefill_logits"].get<std::vector<float>>()),
              kF32Tolerance)
        << c["id"];
  }
}

TEST_P(DeepseekV2Reference, FreeRunningGreedyTokensExact) {
  KvCache cache = make_cache(64);
  for (const auto& c : cases_["cases"]) {
    Session session(*model_, cache);
    const auto want = c["greedy_tokens"].get<std::vector<int64_t>>();
    std::vector<int64_t> got;
    Tensor logits = session.feed(prompt(c));
    while (got.size() < want.size()) {
      got.push_back(argmax(logits.data<float>(), vocab_));
      if (got.size() < want.size()) logits = session.feed({got.back()});
    }
    EXPECT_EQ(got, want) << c["id"];
  }
}

TEST_P(DeepseekV2Reference, RaggedBatchEqualsSingleRuns) {
  // Every batch case: prefill all prompts in one ragged step, then decode them together; each
  // row must match the reference (which equals that prompt decoded alone).
  for (const auto& bc : cases_["batch_cases"]) {
    KvCache cache = make_cache(16);
    const auto prompts = bc["prompts"].get<std::vector<std::vector<int64_t>>>();
    const size_t n = prompts.size();
    std::vector<std::vector<int32_t>> tables(n);
    std::vector<int64_t> pos(n, 0);
    std::vector<std::vector<int64_t>> feed = prompts;
    double worst = 0;
    for (int step = 0; step < 16; ++step) {
      ForwardBatch batch;
      for (size_t r = 0; r < n; ++r) {
        cache.reserve(tables[r], pos[r] + static_cast<int64_t>(feed[r].size()));
        batch.sequences.push_back({feed[r], pos[r], &tables[r]});
      }
      Tensor logits = ops::to_cpu(model_->forward(batch, cache));  // [n, vocab]
      ASSERT_EQ(logits.dim(0), static_cast<int64_t>(n));
      for (size_t r = 0; r < n; ++r) {
        const auto& row = bc["rows"][r];
        const float* got = logits.data<float>() + r * vocab_;
        worst = std::max(worst, rel_error(got, row["step_logits"][step].get<std::vector<float>>()));
        const int64_t token = argmax(got, vocab_);
        EXPECT_EQ(token, row["greedy_tokens"][step].get<int64_t>()) << "row " << r << " step " << step;
        pos[r] += static_cast<int64_t>(feed[r].size());
        feed[r] = {token};
      }
    }
    std::printf("[%s batch] worst row rel %.3g\n", GetParam().c_str(), worst);
    EXPECT_LE(worst, kF32Tolerance);
  }
}

TEST_P(DeepseekV2Reference, ResidualStreamAndRoutingMatchDebugTrace) {
  const auto debug = read_json(dir_ + "/debug.json");
  const auto p = debug["prompt"].get<std::vector<int64_t>>();
  const int64_t T = static_cast<int64_t>(p.size()), hidden = model_->config().hidden_size;
  KvCache cache = make_cache(64);
  std::vector<int32_t> table;
  cache.reserve(table, T);
  ForwardBatch batch;
  batch.sequences.push_back({p, 0, &table});
  batch.all_logits = true;
  ForwardTrace trace;
  model_->forward(batch, cache, &trace);

  auto check_stream = [&](const Tensor& got, const nlohmann::json& want, const std::string& what) {
    ASSERT_EQ(got.shape(), (Shape{T, hidden})) << what;
    double worst = 0;
    for (int64_t t = 0; t < T; ++t)
      worst = std::max(worst, rel_error(got.data<float>() + t * hidden,
                                        want[t].get<std::vector<float>>()));
    std::printf("[%s] %s: worst token rel %.3g\n", GetParam().c_str(), what.c_str(), worst);
    EXPECT_LE(worst, kF32Tolerance) << what;
  };
  ASSERT_EQ(trace.residual.size(), debug["layers"].size() + 1);
  check_stream(trace.residual[0], debug["embed"], "embedding");
  for (size_t l = 0; l < debug["layers"].size(); ++l)
    check_stream(trace.residual[l + 1], debug["layers"][l], "after layer " + std::to_string(l));
  check_stream(trace.final_norm, debug["final_norm"], "final norm");

  for (const auto& r : debug["routing"]) {
    const int64_t layer = r["layer"].get<int64_t>();
    const ops::MoeRouting& got = trace.routing[layer];
    ASSERT_TRUE(got.ids.defined()) << "layer " << layer << " should be MoE";
    const int64_t k = got.ids.dim(1);
    for (int64_t t = 0; t < T; ++t) {
      const auto want_ids = r["experts"][t].get<std::vector<int32_t>>();
      const auto want_w = r["weights"][t].get<std::vector<float>>();
      ASSERT_EQ(static_cast<int64_t>(want_ids.size()), k);
      std::set<int32_t> want_set(want_ids.begin(), want_ids.end()), got_set;
      for (int64_t j = 0; j < k; ++j) got_set.insert(got.ids.data<int32_t>()[t * k + j]);
      EXPECT_EQ(got_set, want_set) << "layer " << layer << " token " << t;
      for (int64_t j = 0; j < k; ++j)
        for (int64_t i = 0; i < k; ++i)
          if (got.ids.data<int32_t>()[t * k + j] == want_ids[i])
            EXPECT_NEAR(got.weights.data<float>()[t * k + j], want_w[i], 1e-4 * (1 + std::fabs(want_w[i])));
    }
  }
}

TEST_P(DeepseekV2Reference, Bf16ActivationsAndCacheStayClose) {
  auto bf16_model = DeepseekV2Model::load(dir_, DType::kBF16, {}, kDevice);
  KvCache cache(bf16_model->config(), 64, 16, DType::kBF16, kDevice);
  for (const auto& c : cases_["cases"]) {
    Session session(*bf16_model, cache);
    const auto greedy = c["greedy_tokens"].get<std::vector<int64_t>>();
    std::vector<std::vector<float>> refs = {c["prefill_logits"].get<std::vector<float>>()};
    for (const auto& row : c["decode_logits"]) refs.push_back(row.get<std::vector<float>>());
    std::vector<double> rels;
    int agree = 0;
    for (size_t i = 0; i < refs.size(); ++i) {
      Tensor logits = i == 0 ? session.feed(prompt(c)) : session.feed({greedy[i - 1]});
      rels.push_back(rel_error(logits.data<float>(), refs[i]));
      agree += argmax(logits.data<float>(), vocab_) == greedy[i];
    }
    const double median = refcases::percentile(rels, 0.5), p90 = refcases::percentile(rels, 0.9);
    const double agreement = static_cast<double>(agree) / refs.size();
    std::printf("[%s %s] bf16: median rel %.3g, p90 %.3g, argmax agreement %.0f%%\n",
                GetParam().c_str(), c["id"].get<std::string>().c_str(), median, p90,
                100 * agreement);
    EXPECT_LE(median, 1.5e-2) << c["id"];
    EXPECT_LE(p90, 3e-2) << c["id"];
    EXPECT_GE(agreement, 0.95) << c["id"];
    EXPECT_GT(median, 0.0) << "bf16 mode should not be bit-identical to f32";
  }
}

TEST_P(DeepseekV2Reference, BadInputIsRejectedByName) {
  KvCache cache = make_cache();
  std::vector<int32_t> table;
  cache.reserve(table, 4);
  auto expect_invalid = [&](ForwardBatch batch, const std::string& needle) {
    try {
      model_->forward(batch, cache);
      ADD_FAILURE() << "expected an error mentioning " << needle;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_invalid({{{{5, vocab_}, 0, &table}}}, "vocabulary");
  expect_invalid({{{{5, -1}, 0, &table}}}, "vocabulary");
  expect_invalid({{{{}, 0, &table}}}, "no new tokens");
  expect_invalid({{{{5, 6}, model_->config().max_position_embeddings - 1, &table}}},
                 "max_position_embeddings");
  // The table holds one block of 16 positions; 17 tokens overrun it.
  expect_invalid({{{std::vector<int64_t>(17, 5), 0, &table}}}, "block table");
}

INSTANTIATE_TEST_SUITE_P(ReferenceCheckpoints, DeepseekV2Reference,
                         ::testing::Values("tiny-v2", "tiny-lite"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace mlaserve

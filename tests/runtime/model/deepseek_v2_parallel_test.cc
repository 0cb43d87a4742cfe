// The sharded model (DESIGN.md "Sharding") against DeepSeek's reference outputs: T ranks run as
// T threads of this process, each with a real Gloo communicator over loopback TCP, meeting
// through a MemoryStore. For every reference checkpoint and layout tp ∈ {1, 2, 4} × ep ∈ {1, tp}:
// prefill and teacher-forced decode logits within the single-rank tolerance, greedy tokens and
// routed expert sets equal to tp = 1, every rank returning the same logits, a second run
// bit-identical to the first, and each rank reading only replicated + its share of the bytes.
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "parallel/gloo_communicator.h"
#include "parallel/memory_store.h"
#include "runtime/core/error.h"
#include "runtime/model/deepseek_v2.h"
#include "runtime/model/make_model.h"
#include "tests/runtime/model/reference_cases.h"

namespace mlaserve {
namespace {

using refcases::argmax;
using refcases::read_json;
using refcases::rel_error;
using refcases::Session;
using ::testing::HasSubstr;

constexpr double kF32Tolerance = 1e-4;  // the single-rank tolerance (deepseek_v2_test.cc)

struct Layout {
  std::string model;
  int tp = 1;
  int ep = 1;
};

std::string layout_name(const Layout& l) {
  std::string name = l.model + "_tp" + std::to_string(l.tp) + "_ep" + std::to_string(l.ep);
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}
void PrintTo(const Layout& l, std::ostream* out) { *out << layout_name(l); }

// Runs fn(model parallel of rank r) on `tp` threads, one per rank of a fresh Gloo group (none
// for tp == 1); rethrows the first rank's failure.
void run_ranks(int tp, int ep, const std::function<void(const ModelParallel&)>& fn) {
  static std::atomic<int> groups{0};
  const std::string group = "tp-test-" + std::to_string(groups++);
  auto store = std::make_shared<parallel::MemoryStore>();
  std::vector<std::string> errors(tp);
  std::vector<std::thread> threads;
  for (int r = 0; r < tp; ++r)
    threads.emplace_back([&, r] {
      try {
        std::unique_ptr<parallel::Communicator> comm;
        ModelParallel p{parallel::WorldConfig::create(tp, r, tp, ep)};
        if (tp > 1) {
          comm = parallel::connect_gloo(store, r, tp, {.name = group});
          p.tp_group = comm.get();
        }
        fn(p);
        // Gloo's rendezvous can return on one rank while a peer is still finishing its own: a
        // rank that closed its sockets right away made that peer fail ("closed by peer").
        if (comm) comm->barrier();
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (int r = 0; r < tp; ++r)
    if (!errors[r].empty())
      throw std::runtime_error("rank " + std::to_string(r) + ": " + errors[r]);
}

// What one rank computed for one reference case.
struct CaseRun {
  Tensor prefill;               // [len, vocab], every prompt row
  std::vector<Tensor> decode;   // teacher-forced rows after greedy_tokens[i]: [1, vocab] each
  std::vector<int64_t> greedy;  // argmax of the last prefill row and of every decode row
};
struct RankRun {
  std::vector<CaseRun> cases;
  std::vector<std::vector<int32_t>> routing;  // debug prompt, per layer: expert ids [T * k]
  uint64_t bytes_read = 0;
};

// Every case of cases.json at once, to keep the number of collectives (and the test's time) low:
// one ragged prefill of all prompts with every row's logits, then teacher-forced decode steps of
// all cases together (the reference's rows equal single runs; deepseek_v2_test checks batches).
// `act` is the activation and cache dtype.
RankRun run_rank(const std::string& model_name, const ModelParallel& p, DType act = DType::kF32) {
  const std::string dir = refcases::model_dir(model_name);
  const auto cases = read_json(dir + "/cases.json")["cases"];
  const auto debug = read_json(dir + "/debug.json");
  auto model = DeepseekV2Model::load(dir, act, p);
  const int64_t vocab = model->config().vocab_size;
  RankRun run;
  run.bytes_read = model->checkpoint_bytes_read();
  KvCache cache(model->config(), 64, 16, act);  // small blocks: contexts span several
  const size_t n = cases.size();
  std::vector<std::vector<int64_t>> prompts(n), greedy(n);
  std::vector<std::vector<int32_t>> tables(n);
  ForwardBatch prefill{.all_logits = true};
  for (size_t i = 0; i < n; ++i) {
    prompts[i] = cases[i]["prompt"].get<std::vector<int64_t>>();
    greedy[i] = cases[i]["greedy_tokens"].get<std::vector<int64_t>>();
    cache.reserve(tables[i], static_cast<int64_t>(prompts[i].size() + greedy[i].size()));
    prefill.sequences.push_back({prompts[i], 0, &tables[i]});
  }
  Tensor all = model->forward(prefill, cache);  // [sum of prompt lengths, vocab]
  run.cases.resize(n);
  for (size_t i = 0, row = 0; i < n; row += prompts[i].size(), ++i) {
    CaseRun& cr = run.cases[i];
    cr.prefill = all.slice(0, row, row + prompts[i].size());  // [len, vocab]
    cr.greedy.push_back(argmax(cr.prefill.data<float>() + (cr.prefill.dim(0) - 1) * vocab, vocab));
  }
  for (size_t step = 0; step + 1 < greedy[0].size(); ++step) {
    ForwardBatch decode;
    for (size_t i = 0; i < n; ++i)
      decode.sequences.push_back(
          {{greedy[i][step]}, static_cast<int64_t>(prompts[i].size() + step), &tables[i]});
    Tensor rows = model->forward(decode, cache);  // [n, vocab]
    for (size_t i = 0; i < n; ++i) {
      run.cases[i].decode.push_back(rows.slice(0, i, i + 1));  // [1, vocab]
      run.cases[i].greedy.push_back(argmax(rows.data<float>() + i * vocab, vocab));
    }
  }
  for (auto& table : tables) cache.release(table);
  const auto prompt = debug["prompt"].get<std::vector<int64_t>>();
  std::vector<int32_t> table;
  cache.reserve(table, static_cast<int64_t>(prompt.size()));
  ForwardTrace trace;
  model->forward({{{prompt, 0, &table}}}, cache, &trace);
  cache.release(table);
  for (const auto& r : trace.routing) {
    const int32_t* ids = r.ids.defined() ? r.ids.data<int32_t>() : nullptr;  // dense: none
    run.routing.emplace_back(ids, ids ? ids + r.ids.numel() : nullptr);
  }
  return run;
}

std::vector<RankRun> run_layout(const Layout& l, DType act = DType::kF32) {
  std::vector<RankRun> runs(l.tp);
  run_ranks(l.tp, l.ep, [&](const ModelParallel& p) {
    runs[p.world.tp_rank()] = run_rank(l.model, p, act);
  });
  return runs;
}

// The single-rank run, once per model: what every layout is compared with.
const RankRun& single_rank(const std::string& model) {
  static std::mutex mu;
  static std::map<std::string, RankRun> runs;
  std::lock_guard lock(mu);
  auto it = runs.find(model);
  if (it == runs.end()) it = runs.emplace(model, run_layout({model, 1, 1})[0]).first;
  return it->second;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}
bool same_bits(const RankRun& a, const RankRun& b) {
  if (a.cases.size() != b.cases.size() || a.routing != b.routing) return false;
  for (size_t i = 0; i < a.cases.size(); ++i) {
    if (!same_bits(a.cases[i].prefill, b.cases[i].prefill)) return false;
    for (size_t j = 0; j < a.cases[i].decode.size(); ++j)
      if (!same_bits(a.cases[i].decode[j], b.cases[i].decode[j])) return false;
  }
  return true;
}

std::vector<int32_t> sorted_per_token(std::vector<int32_t> ids, size_t k) {
  for (size_t t = 0; t < ids.size(); t += k) std::sort(ids.begin() + t, ids.begin() + t + k);
  return ids;
}

class ShardedReference : public ::testing::TestWithParam<Layout> {};

TEST_P(ShardedReference, MatchesReferenceAndSingleRankAndRepeatsBitForBit) {
  const Layout& l = GetParam();
  const std::string dir = refcases::model_dir(l.model);
  const auto cases = read_json(dir + "/cases.json")["cases"];
  const auto debug = read_json(dir + "/debug.json");
  const int64_t vocab = load_model_config(dir).vocab_size;
  const int64_t k = load_model_config(dir).num_experts_per_tok;
  const RankRun& single = single_rank(l.model);

  const std::vector<RankRun> first = run_layout(l);
  const RankRun& got = first[0];
  double worst_prefill = 0, worst_decode = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const CaseRun& cr = got.cases[i];
    const auto all = c["prefill_all_logits"].get<std::vector<std::vector<float>>>();
    for (size_t r = 0; r < all.size(); ++r)
      worst_prefill =
          std::max(worst_prefill, rel_error(cr.prefill.data<float>() + r * vocab, all[r]));
    const auto decode = c["decode_logits"].get<std::vector<std::vector<float>>>();
    ASSERT_EQ(cr.decode.size(), decode.size());
    for (size_t j = 0; j < decode.size(); ++j)
      worst_decode = std::max(worst_decode, rel_error(cr.decode[j].data<float>(), decode[j]));
    EXPECT_EQ(cr.greedy, c["greedy_tokens"].get<std::vector<int64_t>>()) << c["id"];
    EXPECT_EQ(cr.greedy, single.cases[i].greedy) << c["id"] << ": tokens differ from tp = 1";
  }
  std::printf("[%s] prefill worst row rel %.3g, teacher-forced decode worst row rel %.3g\n",
              layout_name(l).c_str(), worst_prefill, worst_decode);
  EXPECT_LE(worst_prefill, kF32Tolerance);
  EXPECT_LE(worst_decode, kF32Tolerance);

  // Routed expert sets: as the reference, and as tp = 1.
  for (const auto& r : debug["routing"]) {
    const auto layer = r["layer"].get<size_t>();
    std::vector<int32_t> want;
    for (const auto& token : r["experts"])
      for (int32_t e : token.get<std::vector<int32_t>>()) want.push_back(e);
    EXPECT_EQ(sorted_per_token(got.routing[layer], k), sorted_per_token(want, k))
        << "layer " << layer;
    EXPECT_EQ(sorted_per_token(got.routing[layer], k), sorted_per_token(single.routing[layer], k))
        << "layer " << layer;
  }

  for (int r = 1; r < l.tp; ++r)
    EXPECT_TRUE(same_bits(first[r], got)) << "rank " << r << " returned other logits than rank 0";
  const std::vector<RankRun> second = run_layout(l);
  for (int r = 0; r < l.tp; ++r)
    EXPECT_TRUE(same_bits(second[r], first[r])) << "rank " << r << ": run 2 differs from run 1";
}

// bf16 activations and cache: partial sums are reduced in f32 and rounded once, so the sharded
// model stays within the single-rank bf16 bounds (deepseek_v2_test's
// Bf16ActivationsAndCacheStayClose).
TEST(ShardedBf16, StaysWithinTheSingleRankBf16Bounds) {
  for (const Layout& l : {Layout{"tiny-v2", 2, 2}, Layout{"tiny-v2", 4, 1}}) {
    const auto cases = read_json(refcases::model_dir(l.model) + "/cases.json")["cases"];
    const std::vector<RankRun> runs = run_layout(l, DType::kBF16);
    for (size_t i = 0; i < cases.size(); ++i) {
      const auto& c = cases[i];
      const CaseRun& cr = runs[0].cases[i];
      const int64_t vocab = cr.prefill.dim(1);
      const float* last = cr.prefill.data<float>() + (cr.prefill.dim(0) - 1) * vocab;
      std::vector<double> rels = {rel_error(last, c["prefill_logits"].get<std::vector<float>>())};
      const auto decode = c["decode_logits"].get<std::vector<std::vector<float>>>();
      for (size_t j = 0; j < decode.size(); ++j)
        rels.push_back(rel_error(cr.decode[j].data<float>(), decode[j]));
      const auto want = c["greedy_tokens"].get<std::vector<int64_t>>();
      int agree = 0;
      for (size_t j = 0; j < want.size(); ++j) agree += cr.greedy[j] == want[j];
      const double median = refcases::percentile(rels, 0.5), p90 = refcases::percentile(rels, 0.9);
      std::printf("[%s bf16 %s] median rel %.3g, p90 %.3g, argmax agreement %d/%zu\n",
                  layout_name(l).c_str(), c["id"].get<std::string>().c_str(), median, p90, agree,
                  want.size());
      EXPECT_LE(median, 1.5e-2) << layout_name(l) << " " << c["id"];
      EXPECT_LE(p90, 3e-2) << layout_name(l) << " " << c["id"];
      EXPECT_GE(agree, 0.95 * want.size()) << layout_name(l) << " " << c["id"];
    }
    for (int r = 1; r < l.tp; ++r) EXPECT_TRUE(same_bits(runs[r], runs[0])) << "rank " << r;
  }
}

// Bytes rank `rank` should read, from the checkpoint's tensor sizes alone: replicated tensors
// whole; per-head, vocabulary, dense and shared MLP tensors 1/tp; routed experts whole for the
// rank's block of experts (ep == tp) or 1/tp of each (ep == 1). Assumes tp divides every split
// dimension, as in the reference checkpoints.
struct ExpectedBytes {
  uint64_t replicated = 0, sharded = 0, rank = 0;
};
ExpectedBytes expected_bytes(const std::string& dir, int tp, int ep, int rank) {
  const Checkpoint ckpt = Checkpoint::open(dir);
  const int64_t experts = load_model_config(dir).n_routed_experts;
  const auto has = [](const std::string& name, const char* part) {
    return name.find(part) != std::string::npos;
  };
  ExpectedBytes b;
  for (const std::string& name : ckpt.tensor_names()) {
    const TensorInfo& t = ckpt.info(name);
    const uint64_t bytes = t.end - t.begin;
    if (has(name, ".experts.")) {
      const int64_t e = std::stoll(name.substr(name.find(".experts.") + 9));
      b.sharded += bytes;
      if (ep == 1) b.rank += bytes / tp;
      else if (e / (experts / ep) == rank) b.rank += bytes;
    } else if (has(name, "q_proj.") || has(name, "q_b_proj.") || has(name, "kv_b_proj.") ||
               has(name, "o_proj.") || has(name, "embed_tokens.") || has(name, "lm_head.") ||
               has(name, "gate_proj.") || has(name, "up_proj.") || has(name, "down_proj.")) {
      b.sharded += bytes;
      b.rank += bytes / tp;
    } else {
      b.replicated += bytes;
      b.rank += bytes;
    }
  }
  return b;
}

TEST_P(ShardedReference, EachRankReadsReplicatedPlusItsShare) {
  const Layout& l = GetParam();
  const std::string dir = refcases::model_dir(l.model);
  std::vector<uint64_t> read(l.tp);
  run_ranks(l.tp, l.ep, [&](const ModelParallel& p) {
    read[p.world.tp_rank()] = DeepseekV2Model::load(dir, DType::kF32, p)->checkpoint_bytes_read();
  });
  for (int r = 0; r < l.tp; ++r) {
    const ExpectedBytes want = expected_bytes(dir, l.tp, l.ep, r);
    EXPECT_EQ(read[r], want.rank) << "rank " << r;
    EXPECT_EQ(want.rank, want.replicated + want.sharded / l.tp) << "rank " << r;
    std::printf("[%s] rank %d read %llu bytes = replicated %llu + sharded %llu / %d\n",
                layout_name(l).c_str(), r, static_cast<unsigned long long>(read[r]),
                static_cast<unsigned long long>(want.replicated),
                static_cast<unsigned long long>(want.sharded), l.tp);
  }
}

std::vector<Layout> layouts() {
  std::vector<Layout> out;
  for (const char* model : {"tiny-lite", "tiny-v2"}) {
    out.push_back({model, 1, 1});
    for (int tp : {2, 4}) {
      out.push_back({model, tp, 1});
      out.push_back({model, tp, tp});
    }
  }
  return out;
}
INSTANTIATE_TEST_SUITE_P(Layouts, ShardedReference, ::testing::ValuesIn(layouts()),
                         [](const auto& info) { return layout_name(info.param); });

// The launcher's shape: a world of 4 ranks is 2 replicas of tp 2, each TP group split from the
// world. Ranks 2 and 3 hold the same slices as 0 and 1, and both replicas compute the same bits.
TEST(ShardedReplicas, TwoReplicasOfTp2SplitFromTheWorldAgree) {
  const std::string dir = refcases::model_dir("tiny-v2");
  const auto c = read_json(dir + "/cases.json")["cases"][3];
  const auto prompt = c["prompt"].get<std::vector<int64_t>>();
  auto store = std::make_shared<parallel::MemoryStore>();
  std::vector<Tensor> logits(4);
  std::vector<uint64_t> read(4);
  std::vector<std::string> errors(4);
  std::vector<std::thread> threads;
  for (int r = 0; r < 4; ++r)
    threads.emplace_back([&, r] {
      try {
        auto world = parallel::connect_gloo(store, r, 4, {.name = "tp-test-replicas"});
        const auto layout = parallel::WorldConfig::create(4, r, 2, 2);
        auto group = world->split(layout.replica(), layout.tp_rank());
        auto model = DeepseekV2Model::load(dir, DType::kF32, {layout, group.get()});
        read[r] = model->checkpoint_bytes_read();
        KvCache cache(model->config(), 16, 16, DType::kF32);
        logits[r] = Session(*model, cache).feed(prompt);
        world->barrier();
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (int r = 0; r < 4; ++r) ASSERT_EQ(errors[r], "") << "rank " << r;
  EXPECT_LE(rel_error(logits[0].data<float>(), c["prefill_logits"].get<std::vector<float>>()),
            kF32Tolerance);
  for (int r = 1; r < 4; ++r) EXPECT_TRUE(same_bits(logits[r], logits[0])) << "rank " << r;
  for (int r = 0; r < 4; ++r)
    EXPECT_EQ(read[r], expected_bytes(dir, 2, 2, r % 2).rank) << "rank " << r;
}

// Bad input is rejected on every rank before the first collective, so no rank waits on another,
// and the group stays usable.
TEST(ShardedInput, BadTokenFailsOnEveryRankWithoutBreakingTheGroup) {
  const std::string dir = refcases::model_dir("tiny-lite");
  run_ranks(2, 2, [&](const ModelParallel& p) {
    auto model = DeepseekV2Model::load(dir, DType::kF32, p);
    KvCache cache(model->config(), 4, 16, DType::kF32);
    std::vector<int32_t> table;
    cache.reserve(table, 2);
    const int64_t vocab = model->config().vocab_size;
    try {
      model->forward({{{{5, vocab}, 0, &table}}}, cache);
      ADD_FAILURE() << "rank " << p.world.tp_rank() << ": token " << vocab << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
      EXPECT_THAT(e.what(), HasSubstr("vocabulary"));
    }
    EXPECT_EQ(model->forward({{{{5, 6}, 0, &table}}}, cache).shape(), (Shape{1, vocab}));
  });
}

// A directory holding only config.json: loading must fail on the layout before it looks for
// weights (there are none, so any read would fail differently).
class BadLayout : public ::testing::Test {
 protected:
  std::filesystem::path config_only(const std::string& model,
                                    const std::function<void(nlohmann::json&)>& edit) {
    auto config = read_json(refcases::model_dir(model) + "/config.json");
    edit(config);
    dir_ = std::filesystem::temp_directory_path() /
           ("mlaserve-bad-layout-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "config.json") << config.dump();
    return dir_;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static void expect_invalid(const std::filesystem::path& dir, const ModelParallel& p,
                             const std::string& message) {
    try {
      DeepseekV2Model::load(dir, DType::kF32, p);
      ADD_FAILURE() << "expected an error mentioning " << message;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
      EXPECT_THAT(e.what(), HasSubstr(message));
    }
  }
  std::filesystem::path dir_;
};

TEST_F(BadLayout, TpNotDividingHeadsFailsBeforeLoading) {
  const auto dir = config_only("tiny-v2", [](nlohmann::json&) {});
  expect_invalid(dir, {parallel::WorldConfig::create(3, 0, 3, 3)},
                 "--tp 3 does not divide num_attention_heads 8");
}

TEST_F(BadLayout, EpNotDividingExpertsFailsBeforeLoading) {
  const auto dir = config_only("tiny-lite", [](nlohmann::json& c) { c["n_routed_experts"] = 6; });
  expect_invalid(dir, {parallel::WorldConfig::create(4, 1, 4, 4)},
                 "--ep 4 does not divide n_routed_experts 6");
}

TEST_F(BadLayout, TpNotDividingAnMlpWidthFailsBeforeLoading) {
  // Two shared experts of width 50 (100 in all) split fine over 4; one expert of 50 does not.
  const auto dir = config_only("tiny-lite", [](nlohmann::json& c) {
    c["moe_intermediate_size"] = 50;
    c["n_shared_experts"] = 2;
  });
  expect_invalid(dir, {parallel::WorldConfig::create(4, 0, 4, 1)},
                 "--tp 4 does not divide moe_intermediate_size (with --ep 1) 50");
}

TEST_F(BadLayout, TpNotDividingTheSharedExpertsFailsBeforeLoading) {
  const auto dir =
      config_only("tiny-lite", [](nlohmann::json& c) { c["moe_intermediate_size"] = 50; });
  expect_invalid(dir, {parallel::WorldConfig::create(4, 0, 4, 4)},
                 "--tp 4 does not divide the shared experts' width "
                 "n_shared_experts * moe_intermediate_size 50");
}

TEST_F(BadLayout, MissingTpGroupFailsBeforeLoading) {
  const auto dir = config_only("tiny-lite", [](nlohmann::json&) {});
  expect_invalid(dir, {parallel::WorldConfig::create(2, 0, 2, 1)}, "needs a TP group");
}

// A vocabulary tp does not divide: blocks of ceil(vocab / tp) rows, the last rank gets fewer.
// Random weights (no reference): tp = 4 must agree with tp = 1.
TEST(ShardedVocabulary, RemainderRowsOnTheLastRankGiveTheSameLogits) {
  ModelConfig config = load_model_config(refcases::model_dir("tiny-lite"));
  config.vocab_size = 250;  // blocks of 63: the last rank holds 61 rows
  const auto dir = std::filesystem::temp_directory_path() /
                   ("mlaserve-vocab250-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  make_random_model(config, /*seed=*/7, dir);
  const std::vector<int64_t> prompt = {5, 249, 17, 188, 189, 190, 3, 62, 63, 126};
  auto logits_for = [&](int tp) {
    std::vector<Tensor> out(tp);
    run_ranks(tp, 1, [&](const ModelParallel& p) {
      auto model = DeepseekV2Model::load(dir, DType::kF32, p);
      KvCache cache(model->config(), 8, 16, DType::kF32);
      Session session(*model, cache);
      out[p.world.tp_rank()] = session.feed(prompt, /*all_logits=*/true);
    });
    return out;
  };
  const Tensor want = logits_for(1)[0];
  const std::vector<Tensor> got = logits_for(4);
  std::filesystem::remove_all(dir);
  ASSERT_EQ(got[0].shape(), want.shape());
  for (int64_t r = 0; r < want.dim(0); ++r) {
    const float* w = want.data<float>() + r * config.vocab_size;
    EXPECT_LE(rel_error(got[0].data<float>() + r * config.vocab_size,
                        std::vector<float>(w, w + config.vocab_size)),
              kF32Tolerance)
        << "row " << r;
    EXPECT_EQ(argmax(got[0].data<float>() + r * config.vocab_size, config.vocab_size),
              argmax(w, config.vocab_size))
        << "row " << r;
  }
  for (int r = 1; r < 4; ++r) EXPECT_TRUE(same_bits(got[r], got[0])) << "rank " << r;
}

// Figures for docs: MLASERVE_SHARD_MODEL=<dir> (e.g. make-model of configs/models/small-v2.json)
// prints and checks each rank's bytes for tp 1, 2, 4 with ep 1 and ep tp.
TEST(ShardedBytes, ModelFromEnvironment) {
  const char* dir = std::getenv("MLASERVE_SHARD_MODEL");
  if (!dir) GTEST_SKIP() << "set MLASERVE_SHARD_MODEL to a checkpoint directory";
  for (int tp : {1, 2, 4})
    for (int ep : tp == 1 ? std::vector<int>{1} : std::vector<int>{1, tp}) {
      std::vector<uint64_t> read(tp);
      run_ranks(tp, ep, [&](const ModelParallel& p) {
        auto model = DeepseekV2Model::load(dir, DType::kF32, p);
        read[p.world.tp_rank()] = model->checkpoint_bytes_read();
      });
      for (int r = 0; r < tp; ++r) {
        const ExpectedBytes want = expected_bytes(dir, tp, ep, r);
        EXPECT_EQ(read[r], want.rank) << "tp " << tp << " ep " << ep << " rank " << r;
        std::printf("tp %d ep %d rank %d: read %llu bytes "
                    "(replicated %llu + sharded %llu / %d = %llu)\n",
                    tp, ep, r, static_cast<unsigned long long>(read[r]),
                    static_cast<unsigned long long>(want.replicated),
                    static_cast<unsigned long long>(want.sharded), tp,
                    static_cast<unsigned long long>(want.replicated + want.sharded / tp));
      }
    }
}

}  // namespace
}  // namespace mlaserve

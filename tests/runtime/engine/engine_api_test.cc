// The Engine's request API: validation names the field, aborts free blocks at once and report
// "abort", stop tokens and eos finish with "stop", a request larger than the whole cache ends
// with an error naming its need, and a seeded request samples the same tokens alone or batched, under any id.
#include <algorithm>
#include <functional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/core/error.h"
#include "runtime/engine/engine.h"
#include "tests/runtime/model/reference_cases.h"

namespace mlaserve {
namespace {

using ::testing::HasSubstr;

class EngineApi : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = DeepseekV2Model::load(refcases::model_dir("tiny-lite"), DType::kF32);
    local_ = std::make_unique<LocalStepExecutor>(*model_);
  }
  std::unique_ptr<Engine> make(int64_t num_blocks = 32, int64_t block_size = 4) {
    EngineConfig c;
    c.num_blocks = num_blocks;
    c.block_size = block_size;
    return std::make_unique<Engine>(*model_, *local_, c);
  }
  std::unique_ptr<DeepseekV2Model> model_;
  std::unique_ptr<LocalStepExecutor> local_;
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    return e.what();
  }
  return "no error";
}

TEST_F(EngineApi, InvalidRequestsNameTheField) {
  EngineConfig c;
  c.num_blocks = 8;
  Engine engine(*model_, *local_, c);
  auto req = [](std::vector<int64_t> prompt) {
    EngineRequest r;
    r.prompt = std::move(prompt);
    return r;
  };
  EXPECT_THAT(error_of([&] { engine.add_request(1, req({})); }), HasSubstr("prompt is empty"));
  EXPECT_THAT(error_of([&] { engine.add_request(1, req({5, 300})); }), HasSubstr("vocabulary"));
  EngineRequest r = req({5});
  r.max_tokens = 0;
  EXPECT_THAT(error_of([&] { engine.add_request(1, r); }), HasSubstr("max_tokens"));
  r.max_tokens = 600;
  EXPECT_THAT(error_of([&] { engine.add_request(1, r); }), HasSubstr("max_position_embeddings"));
  r = req({5});
  r.sampling.top_p = 0;
  EXPECT_THAT(error_of([&] { engine.add_request(1, r); }), HasSubstr("top_p"));
  r = req({5});
  r.top_logprobs = -1;
  EXPECT_THAT(error_of([&] { engine.add_request(1, r); }), HasSubstr("top_logprobs"));
  r = req({5});
  r.stop_token_ids = {999};
  EXPECT_THAT(error_of([&] { engine.add_request(1, r); }), HasSubstr("stop_token_ids"));
  EXPECT_FALSE(engine.has_unfinished());
}

TEST_F(EngineApi, AbortFreesBlocksAtOnce) {
  auto engine = make();
  EngineRequest r;
  r.prompt = {5, 6, 7, 8, 9, 10, 11};
  r.max_tokens = 20;
  r.ignore_eos = true;
  engine->add_request(7, r);
  engine->step();
  EXPECT_GT(engine->stats().blocks.in_use, 0);
  EXPECT_TRUE(engine->abort(7));
  EXPECT_EQ(engine->stats().blocks.in_use, 0);
  EXPECT_FALSE(engine->abort(7));
  const auto outs = engine->step();
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_TRUE(outs[0].finished);
  EXPECT_EQ(outs[0].finish_reason, "abort");
  EXPECT_FALSE(engine->has_unfinished());
}

TEST_F(EngineApi, StopTokenFinishesWithStop) {
  // Greedy tokens of the first run become the stop token of the second.
  auto engine = make();
  EngineRequest r;
  r.prompt = {5, 6, 7};
  r.max_tokens = 6;
  r.ignore_eos = true;
  engine->add_request(0, r);
  std::vector<int64_t> tokens;
  while (engine->has_unfinished())
    for (const auto& o : engine->step()) tokens.insert(tokens.end(), o.new_tokens.begin(), o.new_tokens.end());
  ASSERT_EQ(tokens.size(), 6u);
  r.stop_token_ids = {tokens[2]};
  engine->add_request(1, r);
  std::vector<int64_t> got;
  std::string reason;
  while (engine->has_unfinished())
    for (const auto& o : engine->step()) {
      got.insert(got.end(), o.new_tokens.begin(), o.new_tokens.end());
      if (o.finished) reason = o.finish_reason;
    }
  const auto first = std::find(tokens.begin(), tokens.end(), tokens[2]);
  EXPECT_EQ(got, std::vector<int64_t>(tokens.begin(), first + 1));
  EXPECT_EQ(reason, "stop");
}

TEST_F(EngineApi, RequestLargerThanTheCacheEndsWithAnError) {
  auto engine = make(/*num_blocks=*/4, /*block_size=*/4);
  EngineRequest r;
  r.prompt = std::vector<int64_t>(30, 5);
  r.max_tokens = 4;
  engine->add_request(3, r);
  const auto outs = engine->step();
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_EQ(outs[0].finish_reason, "error");
  EXPECT_THAT(outs[0].error, HasSubstr("needs 9 cache blocks"));
  EXPECT_FALSE(engine->has_unfinished());
}

TEST_F(EngineApi, SeededSamplingDoesNotDependOnTheBatchOrTheRequestId) {
  EngineRequest r;
  r.prompt = {5, 6, 7};
  r.max_tokens = 10;
  r.ignore_eos = true;
  r.sampling = {1.0, 50, 0.9, 7};
  auto run = [&](bool with_others) {
    auto engine = make(64, 4);
    if (with_others)
      for (RequestId id = 10; id < 14; ++id) {
        EngineRequest o = r;
        o.prompt = {9, 10, 11, 12, 13};
        engine->add_request(id, o);
      }
    // A different id and arrival order too: the stream comes from the seed alone.
    const RequestId id = with_others ? 20 : 1;
    engine->add_request(id, r);
    std::vector<int64_t> got;
    while (engine->has_unfinished())
      for (const auto& o : engine->step())
        if (o.id == id) got.insert(got.end(), o.new_tokens.begin(), o.new_tokens.end());
    return got;
  };
  const auto alone = run(false);
  EXPECT_EQ(alone.size(), 10u);
  EXPECT_EQ(run(true), alone);
}

}  // namespace
}  // namespace mlaserve

namespace mlaserve {
namespace {

// warm_up runs one forward and leaves nothing behind: no stats, every block free, and the
// reference case that follows (whose first block is the one the warm-up wrote) is unchanged.
TEST(EngineWarmUp, LeavesNoTraceAndDoesNotChangeResults) {
  const std::string dir = refcases::model_dir("tiny-v2");
  const auto cases = refcases::read_json(dir + "/cases.json")["cases"];
  auto model = DeepseekV2Model::load(dir, DType::kF32);
  LocalStepExecutor local(*model);
  EngineConfig c;
  c.num_blocks = 16;
  c.block_size = 16;
  Engine engine(*model, local, c);
  engine.warm_up();
  const EngineStats after = engine.stats();
  EXPECT_EQ(after.steps, 0u);
  EXPECT_EQ(after.computed_tokens, 0u);
  EXPECT_EQ(after.blocks.free, 16);
  EXPECT_FALSE(engine.has_unfinished());

  EngineRequest r;
  r.prompt = cases[0]["prompt"].get<std::vector<int64_t>>();
  r.max_tokens = 16;
  r.ignore_eos = true;
  engine.add_request(7, r);
  EXPECT_THROW(engine.warm_up(), Error) << "warm_up with a request waiting must be refused";
  std::vector<int64_t> tokens;
  while (engine.has_unfinished())
    for (const RequestOutput& out : engine.step())
      tokens.insert(tokens.end(), out.new_tokens.begin(), out.new_tokens.end());
  EXPECT_EQ(tokens, cases[0]["greedy_tokens"].get<std::vector<int64_t>>());
}

}  // namespace
}  // namespace mlaserve

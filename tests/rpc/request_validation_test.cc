// rpc/request_validation: a GenerateRequest becomes the EngineRequest the leader runs, with
// vLLM's defaults for unset fields, or kInvalidArgument naming the field.
#include "rpc/request_validation.h"

#include <gtest/gtest.h>

#include "runtime/core/error.h"

namespace mlaserve::rpc {
namespace {

const RequestLimits kLimits{/*vocab_size=*/100, /*max_model_len=*/50};

v1::GenerateRequest prompt(std::initializer_list<int64_t> ids) {
  v1::GenerateRequest r;
  for (int64_t id : ids) r.add_prompt_token_ids(id);
  return r;
}

void expect_invalid(const v1::GenerateRequest& r, const std::string& needle) {
  try {
    to_engine_request(r, kLimits);
    ADD_FAILURE() << "accepted; expected an error naming " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(RequestValidation, UnsetFieldsTakeVllmDefaults) {
  const EngineRequest e = to_engine_request(prompt({3, 4}), kLimits);
  EXPECT_EQ(e.prompt, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(e.max_tokens, 16);
  EXPECT_EQ(e.sampling.temperature, 1.0);
  EXPECT_EQ(e.sampling.top_k, 0);
  EXPECT_EQ(e.sampling.top_p, 1.0);
  EXPECT_EQ(e.sampling.seed, 0u);
  EXPECT_FALSE(e.ignore_eos);
  EXPECT_EQ(e.top_logprobs, 0);
}

TEST(RequestValidation, SetFieldsAreCarriedOver) {
  v1::GenerateRequest r = prompt({0, 99});
  r.set_max_tokens(48);  // 2 + 48 = max_model_len: just fits
  r.mutable_sampling()->set_temperature(0);
  r.mutable_sampling()->set_top_k(5);
  r.mutable_sampling()->set_top_p(0.5);
  r.mutable_sampling()->set_seed(9);
  r.add_stop_token_ids(7);
  r.set_ignore_eos(true);
  r.set_top_logprobs(20);
  const EngineRequest e = to_engine_request(r, kLimits);
  EXPECT_EQ(e.max_tokens, 48);
  EXPECT_EQ(e.sampling.temperature, 0.0);
  EXPECT_EQ(e.sampling.top_k, 5);
  EXPECT_EQ(e.sampling.top_p, 0.5);
  EXPECT_EQ(e.sampling.seed, 9u);
  EXPECT_EQ(e.stop_token_ids, (std::vector<int64_t>{7}));
  EXPECT_TRUE(e.ignore_eos);
  EXPECT_EQ(e.top_logprobs, 20);
}

TEST(RequestValidation, BadFieldsAreNamed) {
  expect_invalid(prompt({}), "prompt_token_ids is empty");
  expect_invalid(prompt({1, 100}), "prompt_token_ids[1] = 100 is outside the vocabulary [0, 100)");
  expect_invalid(prompt({-1}), "prompt_token_ids[0] = -1");
  v1::GenerateRequest longest = prompt({});
  for (int i = 0; i < 50; ++i) longest.add_prompt_token_ids(1);
  expect_invalid(longest, "prompt_token_ids holds 50 tokens; the model allows at most 49");
  auto r = prompt({1, 2});
  r.set_max_tokens(0);
  expect_invalid(r, "max_tokens must be >= 1, got 0");
  r.set_max_tokens(49);
  expect_invalid(r, "max_tokens 49 is too large");
  r = prompt({1});
  r.mutable_sampling()->set_top_p(0);
  expect_invalid(r, "sampling.top_p must be in (0, 1], got 0");
  r.mutable_sampling()->set_top_p(1.01);
  expect_invalid(r, "sampling.top_p");
  r = prompt({1});
  r.mutable_sampling()->set_temperature(-1);
  expect_invalid(r, "sampling.temperature");
  r = prompt({1});
  r.mutable_sampling()->set_top_k(-2);
  expect_invalid(r, "sampling.top_k");
  r = prompt({1});
  r.set_top_logprobs(21);
  expect_invalid(r, "top_logprobs must be in [0, 20]");
  r = prompt({1});
  r.add_stop_token_ids(100);
  expect_invalid(r, "stop_token_ids[0] = 100");
}

}  // namespace
}  // namespace mlaserve::rpc

// Seeded fuzzing of the coordinator's request check (rpc/request_validation). Two sources of
// requests: the serialized bytes of valid requests under flips, truncations, insertions and
// splices (whatever protobuf still parses), and requests built field by field from extremes.
// The check must accept a request or throw mlaserve::Error with kInvalidArgument; an accepted
// one is compared against the documented limits by an independent check (and must carry the
// request's values), since an accepted bad request would reach the leader's Engine.
// The seed is fixed; the time budget (MLASERVE_FUZZ_SECONDS, default 5) bounds the iterations.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "rpc/request_validation.h"
#include "runtime/core/error.h"

namespace mlaserve::rpc {
namespace {

const RequestLimits kLimits{/*vocab_size=*/100, /*max_model_len=*/24};

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
const std::vector<int64_t> kIntegers = {kMin, kMin + 1, -1, 0, 1, 2, 15, 16, 20, 22, 23, 24,
                                        25, 99, 100, 101, 1 << 20, kMax - 1, kMax};
const std::vector<double> kDoubles = {-std::numeric_limits<double>::infinity(),
                                      -1.0,
                                      -0.0,
                                      0.0,
                                      std::numeric_limits<double>::denorm_min(),
                                      1e-300,
                                      0.5,
                                      1.0,
                                      std::nextafter(1.0, 2.0),
                                      2.0,
                                      1e300,
                                      std::numeric_limits<double>::infinity(),
                                      std::numeric_limits<double>::quiet_NaN()};

v1::GenerateRequest valid_request(std::mt19937_64& rng) {
  v1::GenerateRequest r;
  const int64_t len = 1 + static_cast<int64_t>(rng() % 8);
  for (int64_t i = 0; i < len; ++i) r.add_prompt_token_ids(static_cast<int64_t>(rng() % 100));
  if (rng() % 2) r.set_max_tokens(1 + static_cast<int64_t>(rng() % (24 - len)));
  if (rng() % 2) r.add_stop_token_ids(static_cast<int64_t>(rng() % 100));
  r.set_ignore_eos(rng() % 2);
  r.set_top_logprobs(static_cast<int64_t>(rng() % 21));
  r.set_request_id("fuzz-" + std::to_string(rng() % 1000));
  if (rng() % 2) r.mutable_sampling()->set_temperature(0.7);
  if (rng() % 2) r.mutable_sampling()->set_top_k(5);
  if (rng() % 2) r.mutable_sampling()->set_top_p(0.9);
  if (rng() % 2) r.mutable_sampling()->set_seed(rng());
  return r;
}

template <typename T>
const T& pick(const std::vector<T>& values, std::mt19937_64& rng) {
  return values[rng() % values.size()];
}

// Field values from the extremes; the ranges are deliberately wider than the limits.
v1::GenerateRequest extreme_request(std::mt19937_64& rng) {
  v1::GenerateRequest r;
  const int64_t len = static_cast<int64_t>(rng() % 30);
  for (int64_t i = 0; i < len; ++i)
    r.add_prompt_token_ids(rng() % 4 == 0 ? pick(kIntegers, rng)
                                          : static_cast<int64_t>(rng() % 100));
  for (int64_t n = static_cast<int64_t>(rng() % 3); n > 0; --n)
    r.add_stop_token_ids(rng() % 2 ? pick(kIntegers, rng) : static_cast<int64_t>(rng() % 100));
  if (rng() % 2) r.set_max_tokens(pick(kIntegers, rng));
  if (rng() % 2) r.set_top_logprobs(pick(kIntegers, rng));
  v1::SamplingParams* s = r.mutable_sampling();
  if (rng() % 2) s->set_temperature(pick(kDoubles, rng));
  if (rng() % 2) s->set_top_k(pick(kIntegers, rng));
  if (rng() % 2) s->set_top_p(pick(kDoubles, rng));
  if (rng() % 2) s->set_seed(rng());
  return r;
}

void mutate(std::string& bytes, const std::string& other, std::mt19937_64& rng) {
  const size_t pos = bytes.empty() ? 0 : rng() % (bytes.size() + 1);
  switch (rng() % 6) {
    case 0:
      if (!bytes.empty()) bytes[rng() % bytes.size()] ^= static_cast<char>(1u << (rng() % 8));
      break;
    case 1:
      if (!bytes.empty()) bytes[rng() % bytes.size()] = static_cast<char>(rng());
      break;
    case 2:
      bytes.resize(pos);
      break;
    case 3:
      for (size_t n = 1 + rng() % 8; n > 0; --n)
        bytes.insert(rng() % (bytes.size() + 1), 1, static_cast<char>(rng()));
      break;
    case 4:
      bytes.erase(pos, rng() % 16);
      break;
    case 5:  // our prefix, another request's suffix: repeated and conflicting fields
      bytes = bytes.substr(0, pos) + other.substr(rng() % (other.size() + 1));
      break;
  }
}

// The documented limits (inference.proto, request_validation.h), checked without the validator.
void expect_within_limits(const v1::GenerateRequest& r, const EngineRequest& e) {
  const std::string input = r.ShortDebugString();
  const int64_t len = r.prompt_token_ids_size();
  ASSERT_GE(len, 1) << input;
  ASSERT_LT(len, kLimits.max_model_len) << input;
  for (int64_t id : r.prompt_token_ids()) ASSERT_TRUE(id >= 0 && id < kLimits.vocab_size) << input;
  for (int64_t id : r.stop_token_ids()) ASSERT_TRUE(id >= 0 && id < kLimits.vocab_size) << input;
  const int64_t max_tokens = r.has_max_tokens() ? r.max_tokens() : kLimits.default_max_tokens;
  ASSERT_GE(max_tokens, 1) << input;
  ASSERT_LE(len + max_tokens, kLimits.max_model_len) << input;
  ASSERT_TRUE(r.top_logprobs() >= 0 && r.top_logprobs() <= kLimits.max_top_logprobs) << input;
  const v1::SamplingParams& s = r.sampling();
  const double temperature = s.has_temperature() ? s.temperature() : 1.0;
  const double top_p = s.has_top_p() ? s.top_p() : 1.0;
  ASSERT_TRUE(std::isfinite(temperature) && temperature >= 0) << input;
  ASSERT_GE(s.has_top_k() ? s.top_k() : 0, 0) << input;
  ASSERT_TRUE(top_p > 0 && top_p <= 1) << input;

  ASSERT_EQ(e.prompt, std::vector<int64_t>(r.prompt_token_ids().begin(),
                                           r.prompt_token_ids().end()));
  ASSERT_EQ(e.stop_token_ids,
            std::vector<int64_t>(r.stop_token_ids().begin(), r.stop_token_ids().end()));
  ASSERT_EQ(e.max_tokens, max_tokens);
  ASSERT_EQ(e.top_logprobs, r.top_logprobs());
  ASSERT_EQ(e.ignore_eos, r.ignore_eos());
  ASSERT_EQ(e.sampling.temperature, temperature);
  ASSERT_EQ(e.sampling.top_p, top_p);
}

TEST(RequestValidationFuzz, MutatedAndExtremeRequestsAreValidOrInvalidArgument) {
  const char* env = std::getenv("MLASERVE_FUZZ_SECONDS");
  const double budget_s = env != nullptr ? std::atof(env) : 5.0;
  std::mt19937_64 rng(0x5EC0DEu);

  const auto start = std::chrono::steady_clock::now();
  uint64_t iterations = 0, parsed = 0, accepted = 0, rejected = 0;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() <
         budget_s) {
    ++iterations;
    v1::GenerateRequest request;
    if (iterations % 2 == 0) {
      std::string bytes = valid_request(rng).SerializeAsString();
      const std::string other = valid_request(rng).SerializeAsString();
      for (size_t n = 1 + rng() % 4; n > 0; --n) mutate(bytes, other, rng);
      if (!request.ParseFromString(bytes)) continue;  // protobuf's refusal, not ours to test
      ++parsed;
    } else {
      request = extreme_request(rng);
    }
    try {
      const EngineRequest engine_request = to_engine_request(request, kLimits);
      ++accepted;
      ASSERT_NO_FATAL_FAILURE(expect_within_limits(request, engine_request));
    } catch (const Error& e) {
      ++rejected;
      ASSERT_EQ(e.code(), ErrorCode::kInvalidArgument)
          << e.what() << "\ninput: " << request.ShortDebugString();
    } catch (const std::exception& e) {
      FAIL() << "iteration " << iterations << " threw a non-mlaserve exception: " << e.what()
             << "\ninput: " << request.ShortDebugString();
    }
  }
  std::cout << "request validation fuzz: " << iterations << " requests (" << parsed
            << " mutated ones parsed, " << accepted << " accepted, " << rejected
            << " rejected) in " << budget_s << " s\n";
  RecordProperty("iterations", static_cast<int>(iterations));
  EXPECT_GT(iterations, 1000u) << "the budget should allow far more iterations";
  EXPECT_GT(accepted, 0u) << "some requests should stay valid";
  EXPECT_GT(rejected, 0u) << "some requests should break a limit";
}

}  // namespace
}  // namespace mlaserve::rpc

// mla_cache_write and mla_attention on every backend against the CPU. Each case writes an earlier
// context ("history", as previous steps would have) and then the step's new tokens through the op
// under test, then attends: decode batches of uneven contexts over shuffled blocks, a chunked
// prefill continuing a cached context beside fresh prompts and decodes, one long context (split-K),
// dims of tiny-v2 and of the 236B (16 local heads), odd dims and head counts, f32 and bf16 caches.
// Both devices hold the same cache bits (checked), so bf16 caches compare as tightly as f32.
#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <string>

#include "runtime/ops/mla_attention.h"
#include "tests/runtime/ops/parity/op_parity.h"

namespace mlaserve::ops::testing {
namespace {

struct MlaDims {
  int64_t heads, nope, rope, v, kv_lora;
};
constexpr MlaDims kTinyV2{8, 16, 16, 24, 64};
constexpr MlaDims kV2Local{16, 128, 64, 128, 512};  // 236B at TP 8
constexpr MlaDims kOdd{7, 9, 6, 5, 21};             // nothing a multiple of 4
constexpr MlaDims kTwoGroups{20, 16, 8, 16, 64};    // 20 heads: two CTA head groups of 10

// Sequences with `cached` positions already in the cache and `fresh` new tokens each; block ids
// handed out from a shuffled pool (plus spare blocks nobody owns).
struct MlaCase {
  MlaDims d;
  int64_t block_size = 16;
  std::vector<int64_t> cached, fresh;
  std::vector<std::vector<int32_t>> tables;
  int64_t num_blocks = 0;

  int64_t latent() const { return d.kv_lora + d.rope; }
  // history: the cached positions of every sequence (from position 0); else the new tokens.
  MlaBatch batch(bool history) const {
    MlaBatch b;
    b.token_start = {0};
    for (size_t s = 0; s < cached.size(); ++s) {
      b.token_start.push_back(b.token_start.back() + (history ? cached[s] : fresh[s]));
      b.pos_start.push_back(history ? 0 : cached[s]);
      b.block_tables.push_back(&tables[s]);
    }
    return b;
  }
};

MlaCase make_case(MlaDims d, int64_t block_size, std::vector<int64_t> cached,
                  std::vector<int64_t> fresh, uint32_t seed) {
  MlaCase c{d, block_size, std::move(cached), std::move(fresh), {}, 0};
  int64_t needed = 0;
  for (size_t s = 0; s < c.cached.size(); ++s)
    needed += (c.cached[s] + c.fresh[s] + block_size - 1) / block_size;
  c.num_blocks = needed + 3;
  std::vector<int32_t> pool(static_cast<size_t>(c.num_blocks));
  std::iota(pool.begin(), pool.end(), 0);
  std::shuffle(pool.begin(), pool.end(), std::mt19937(seed));
  size_t next = 0;
  for (size_t s = 0; s < c.cached.size(); ++s) {
    const int64_t n = (c.cached[s] + c.fresh[s] + block_size - 1) / block_size;
    c.tables.emplace_back(pool.begin() + next, pool.begin() + next + n);
    next += n;
  }
  return c;
}

// OpParity::run, handed to the helpers below by the test bodies (it is protected).
using Outputs = std::pair<std::vector<Tensor>, std::vector<Tensor>>;
using OpFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;
using Runner = std::function<Outputs(const std::vector<Tensor>&, const OpFn&)>;

// Runs the case on the CPU and on the device; returns {out, cache} of both.
Outputs run_case(const Runner& run, const MlaCase& c, DType cache_dtype, uint32_t seed) {
  const MlaDims d = c.d;
  const int64_t t_hist = c.batch(true).num_tokens(), t = c.batch(false).num_tokens();
  const std::vector<Tensor> inputs = {
      random_tensor({t, d.heads, d.nope + d.rope}, DType::kF32, seed),            // q
      random_tensor({d.heads * (d.nope + d.v), d.kv_lora}, DType::kBF16, seed + 1,
                    -0.3f, 0.3f),                                                  // kv_b_proj
      Tensor::zeros({c.num_blocks, c.block_size, c.latent()}, cache_dtype),       // cache
      random_tensor({t_hist, d.kv_lora}, DType::kF32, seed + 2),                  // history c_kv
      random_tensor({t_hist, d.rope}, DType::kF32, seed + 3),                     // history k_pe
      random_tensor({t, d.kv_lora}, DType::kF32, seed + 4),                       // new c_kv
      random_tensor({t, d.rope}, DType::kF32, seed + 5),                          // new k_pe
  };
  const float scale = 1.0f / std::sqrt(static_cast<float>(d.nope + d.rope));
  return run(inputs, [&](const std::vector<Tensor>& in) {
    const Device device = in[0].device();
    const Tensor cache = device.is_cpu() ? in[2].clone() : in[2];  // in[2] is a fresh device copy
    MlaBatch history = c.batch(true);
    upload_batch(history, device);
    if (t_hist > 0) mla_cache_write(cache, in[3], in[4], history);
    MlaBatch step = c.batch(false);
    upload_batch(step, device);
    mla_cache_write(cache, in[5], in[6], step);
    const Tensor per_head = in[1].view({d.heads, d.nope + d.v, d.kv_lora});
    const Tensor w_uk = per_head.slice(1, 0, d.nope);            // [H, nope, kv_lora]
    const Tensor w_uv = per_head.slice(1, d.nope, d.nope + d.v);  // [H, v, kv_lora]
    return std::vector<Tensor>{mla_attention(in[0], w_uk, w_uv, cache, step, scale), cache};
  });
}

std::string describe(const MlaCase& c, DType cache_dtype) {
  std::string s = str_cat("H ", c.d.heads, " nope ", c.d.nope, " rope ", c.d.rope, " v ", c.d.v,
                          " kv_lora ", c.d.kv_lora, " block ", c.block_size, ", ",
                          dtype_name(cache_dtype), " cache, (cached, new):");
  for (size_t i = 0; i < c.cached.size(); ++i)
    s += str_cat(" (", c.cached[i], ", ", c.fresh[i], ")");
  return s;
}

void check_case(const Runner& run, const MlaCase& c, uint32_t seed) {
  for (DType cache_dtype : {DType::kF32, DType::kBF16}) {
    auto [want, got] = run_case(run, c, cache_dtype, seed);
    if (::testing::Test::HasFatalFailure()) return;
    const std::string what = describe(c, cache_dtype);
    expect_equal(want[1], got[1], "cache, " + what);
    expect_close(want[0], got[0], 1e-5, "out, " + what);
  }
}

// OpParity::run as a Runner, inside a test body.
#define MLA_PARITY_RUNNER \
  [this](const std::vector<Tensor>& in, const Op& op) { return run(in, op); }

TEST_P(OpParity, MlaDecodeBatch) {
  // Uneven contexts, block boundaries on both sides, one sequence with nothing cached.
  for (const MlaDims& d : {kTinyV2, kV2Local}) {
    const int64_t block = d.kv_lora == 512 ? 64 : 16;
    check_case(MLA_PARITY_RUNNER,
               make_case(d, block, {0, 15, 16, 37, 130, 300}, {1, 1, 1, 1, 1, 1}, 11), 100);
  }
}

TEST_P(OpParity, MlaChunkedPrefill) {
  // A chunk continuing a cached prompt, a fresh prompt and two decodes in one step; with 8 heads
  // a CTA takes two tokens, and an odd chunk puts tokens of two sequences in one CTA.
  for (const MlaDims& d : {kTinyV2, kV2Local}) {
    const int64_t block = d.kv_lora == 512 ? 64 : 16;
    check_case(MLA_PARITY_RUNNER, make_case(d, block, {100, 0, 50, 7}, {37, 20, 1, 1}, 12), 200);
  }
  // Enough query tokens to fill an H100 without splitting: CTAs write o_lat directly, no merge.
  check_case(MLA_PARITY_RUNNER, make_case(kV2Local, 64, {40}, {300}, 20), 210);
}

TEST_P(OpParity, MlaLongContextSplits) {
  // One sequence over 2048 positions: the decode token and a 64-token chunk both split the
  // context over many CTAs and merge the partials.
  check_case(MLA_PARITY_RUNNER, make_case(kV2Local, 64, {2500}, {1}, 13), 300);
  check_case(MLA_PARITY_RUNNER, make_case(kV2Local, 64, {2048}, {64}, 14), 310);
  check_case(MLA_PARITY_RUNNER, make_case(kTinyV2, 16, {3000, 5}, {1, 3}, 15), 320);
}

TEST_P(OpParity, MlaOddDimsAndHeadGroups) {
  check_case(MLA_PARITY_RUNNER, make_case(kOdd, 4, {9, 0, 33}, {1, 6, 2}, 16), 400);
  check_case(MLA_PARITY_RUNNER, make_case(kTwoGroups, 8, {40, 3}, {1, 9}, 17), 410);
}

// The model writes c_kv as it leaves kv_a_layernorm (f32 or bf16) and k_pe as the rope slice of
// kv_a's output (strided rows): both must reach the cache as the CPU writes them.
TEST_P(OpParity, MlaCacheWriteBf16AndStridedRows) {
  const MlaCase c = make_case(kTinyV2, 16, {0, 0}, {19, 5}, 18);
  for (DType in_dtype : {DType::kF32, DType::kBF16})
    for (DType cache_dtype : {DType::kF32, DType::kBF16}) {
      const int64_t t = c.batch(false).num_tokens();
      const Tensor c_kv = random_tensor({t, c.d.kv_lora}, in_dtype, 21);
      const Tensor kv = random_tensor({t, c.latent() + 8}, in_dtype, 22);  // [c_kv | k_pe | more]
      const Tensor cache0 = Tensor::zeros({c.num_blocks, c.block_size, c.latent()}, cache_dtype);
      auto [want, got] = run({c_kv, kv, cache0}, [&](const std::vector<Tensor>& in) {
        const Device device = in[0].device();
        const Tensor cache = device.is_cpu() ? in[2].clone() : in[2];
        MlaBatch step = c.batch(false);
        upload_batch(step, device);
        mla_cache_write(cache, in[0], in[1].slice(1, c.d.kv_lora, c.latent()), step);
        return std::vector<Tensor>{cache};
      });
      expect_equal(want[0], got[0], str_cat(dtype_name(in_dtype), " rows into a ",
                                            dtype_name(cache_dtype), " cache"));
    }
}

// On a GPU the kernels read the batch's device copy: a batch never uploaded, or changed since,
// is refused before anything is queued.
TEST_P(OpParity, MlaRefusesMissingOrStaleDeviceBatch) {
  if (device().is_cpu()) GTEST_SKIP() << "device batches exist only on GPUs";
  const MlaCase c = make_case(kTinyV2, 16, {4}, {2}, 19);
  const Tensor cache = zeros({c.num_blocks, c.block_size, c.latent()}, DType::kF32, device());
  const Tensor c_kv = zeros({2, c.d.kv_lora}, DType::kF32, device());
  const Tensor k_pe = zeros({2, c.d.rope}, DType::kF32, device());
  MlaBatch step = c.batch(false);
  try {
    mla_cache_write(cache, c_kv, k_pe, step);
    ADD_FAILURE() << "a batch that was never uploaded was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("upload_batch"), std::string::npos) << e.what();
  }
  upload_batch(step, device());
  step.token_start.back() += 1;  // the host batch changes after the upload
  step.pos_start.back() -= 1;
  const Tensor c_kv3 = zeros({3, c.d.kv_lora}, DType::kF32, device());
  const Tensor k_pe3 = zeros({3, c.d.rope}, DType::kF32, device());
  try {
    mla_cache_write(cache, c_kv3, k_pe3, step);
    ADD_FAILURE() << "a stale device batch was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("stale"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mlaserve::ops::testing

// The absorbed MLA kernel against the naive form (decompress K and V per head, then ordinary
// causal attention), written out here independently, on a ragged batch with scattered blocks.
#include "runtime/ops/mla_attention.h"

#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/core/dtype.h"
#include "runtime/core/error.h"
#include "runtime/core/thread_pool.h"
#include "tests/runtime/ops/test_tensors.h"

namespace mlaserve {
namespace {

struct Dims {
  int64_t num_heads, nope_dim, rope_dim, v_dim, kv_lora;
};

struct Problem {
  Dims d{3, 8, 4, 6, 16};
  std::vector<std::vector<int32_t>> tables;
  ops::MlaBatch batch;
  std::vector<float> q;           // [T, H, nope + rope]
  std::vector<uint16_t> kv_b;     // [H * (nope + v), kv_lora]
  std::vector<std::vector<float>> latents;  // per sequence, per position: [kv_lora + rope]
};

Problem make_problem(std::mt19937& rng, Dims dims = {3, 8, 4, 6, 16}) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Problem p;
  p.d = dims;
  // Sequence 0: 5 cached + 3 new (continues a prefill); sequence 1: fresh 7-token prefill;
  // sequence 2: one decode token after 9 cached.
  const std::vector<int64_t> cached = {5, 0, 9}, fresh = {3, 7, 1};
  p.batch.token_start = {0};
  // Blocks of 4, handed out out of order so the block table matters.
  p.tables = {{7, 2, 0}, {5, 1}, {3, 6, 4}};
  for (size_t s = 0; s < cached.size(); ++s) {
    p.batch.pos_start.push_back(cached[s]);
    p.batch.token_start.push_back(p.batch.token_start.back() + fresh[s]);
    p.batch.block_tables.push_back(&p.tables[s]);
    std::vector<float> lat((cached[s] + fresh[s]) * (p.d.kv_lora + p.d.rope_dim));
    for (auto& v : lat) v = normal(rng);
    p.latents.push_back(lat);
  }
  p.q.resize(p.batch.num_tokens() * p.d.num_heads * (p.d.nope_dim + p.d.rope_dim));
  for (auto& v : p.q) v = normal(rng);
  p.kv_b.resize(p.d.num_heads * (p.d.nope_dim + p.d.v_dim) * p.d.kv_lora);
  for (auto& v : p.kv_b) v = float_to_bf16(0.3f * normal(rng));
  return p;
}

// Naive MLA: k_h = [c_kv · W_UKᵀ | k_pe], v_h = c_kv · W_UVᵀ, softmax(q·k·scale)·v.
std::vector<float> naive(const Problem& p, float scale) {
  const auto& d = p.d;
  const int64_t latent = d.kv_lora + d.rope_dim, qdim = d.nope_dim + d.rope_dim;
  std::vector<float> out;
  for (int64_t s = 0; s < p.batch.num_sequences(); ++s) {
    for (int64_t row = p.batch.token_start[s]; row < p.batch.token_start[s + 1]; ++row) {
      const int64_t pos = p.batch.pos_start[s] + row - p.batch.token_start[s];
      for (int64_t h = 0; h < d.num_heads; ++h) {
        const float* q = &p.q[(row * d.num_heads + h) * qdim];
        std::vector<double> scores, values;
        for (int64_t j = 0; j <= pos; ++j) {
          const float* lat = &p.latents[s][j * latent];
          double score = 0;
          for (int64_t n = 0; n < d.nope_dim; ++n) {
            double k = 0;
            for (int64_t c = 0; c < d.kv_lora; ++c)
              k += lat[c] * bf16_to_float(p.kv_b[(h * (d.nope_dim + d.v_dim) + n) * d.kv_lora + c]);
            score += q[n] * k;
          }
          for (int64_t r = 0; r < d.rope_dim; ++r) score += q[d.nope_dim + r] * lat[d.kv_lora + r];
          scores.push_back(score * scale);
        }
        double mx = scores[0], denom = 0;
        for (double sc : scores) mx = std::max(mx, sc);
        for (double& sc : scores) denom += (sc = std::exp(sc - mx));
        for (int64_t v = 0; v < d.v_dim; ++v) {
          double acc = 0;
          for (int64_t j = 0; j <= pos; ++j) {
            double val = 0;
            for (int64_t c = 0; c < d.kv_lora; ++c)
              val += p.latents[s][j * latent + c] *
                     bf16_to_float(p.kv_b[(h * (d.nope_dim + d.v_dim) + d.nope_dim + v) * d.kv_lora + c]);
            acc += scores[j] / denom * val;
          }
          out.push_back(static_cast<float>(acc));
        }
      }
    }
  }
  return out;
}

// Writes every position's latent (cached and new) through the op, as the model would.
Tensor fill_cache(const Problem& p, DType dtype) {
  Tensor cache = Tensor::zeros({8, 4, p.d.kv_lora + p.d.rope_dim}, dtype);
  for (int64_t s = 0; s < p.batch.num_sequences(); ++s) {
    const int64_t len = p.batch.pos_start[s] + p.batch.token_start[s + 1] - p.batch.token_start[s];
    std::vector<float> ckv, kpe;
    for (int64_t j = 0; j < len; ++j) {
      const float* lat = &p.latents[s][j * (p.d.kv_lora + p.d.rope_dim)];
      ckv.insert(ckv.end(), lat, lat + p.d.kv_lora);
      kpe.insert(kpe.end(), lat + p.d.kv_lora, lat + p.d.kv_lora + p.d.rope_dim);
    }
    ops::MlaBatch one;
    one.token_start = {0, len};
    one.pos_start = {0};
    one.block_tables = {p.batch.block_tables[s]};
    ops::mla_cache_write(cache, Tensor::from_floats({len, p.d.kv_lora}, ckv),
                         Tensor::from_floats({len, p.d.rope_dim}, kpe), one);
  }
  return cache;
}

Tensor run(const Problem& p, const Tensor& cache, float scale,
           int64_t naive_min_tokens = ops::kMlaNaiveAuto) {
  Tensor q = Tensor::from_floats(
      {p.batch.num_tokens(), p.d.num_heads, p.d.nope_dim + p.d.rope_dim}, p.q);
  Tensor kv_b = Tensor::empty({p.d.num_heads * (p.d.nope_dim + p.d.v_dim), p.d.kv_lora}, DType::kBF16);
  std::copy(p.kv_b.begin(), p.kv_b.end(), kv_b.data<uint16_t>());
  // The per-head W_UK / W_UV blocks of kv_b_proj, as the model's weights hold them.
  Tensor per_head = kv_b.view({p.d.num_heads, p.d.nope_dim + p.d.v_dim, p.d.kv_lora});
  Tensor w_uk = per_head.slice(1, 0, p.d.nope_dim);
  Tensor w_uv = per_head.slice(1, p.d.nope_dim, p.d.nope_dim + p.d.v_dim);
  return ops::mla_attention(q, w_uk, w_uv, cache, p.batch, scale, naive_min_tokens);
}

// Every split between the absorbed and the decompressed kernel: all absorbed (huge threshold),
// sequences with >= 3 new tokens decompressed (3), everything decompressed (1), automatic.
class MlaAttentionForms : public ::testing::TestWithParam<int64_t> {};

TEST_P(MlaAttentionForms, MatchesNaiveReferenceOnRaggedPagedBatch) {
  std::mt19937 rng(7);
  Problem p = make_problem(rng);
  const float scale = 0.29f;
  Tensor out = run(p, fill_cache(p, DType::kF32), scale, GetParam());
  const std::vector<float> want = naive(p, scale);
  ASSERT_EQ(out.numel(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(out.data<float>()[i], want[i], 1e-4f * (1.0f + std::fabs(want[i]))) << i;
}

INSTANTIATE_TEST_SUITE_P(Thresholds, MlaAttentionForms,
                         ::testing::Values(int64_t{1} << 40, 3, 1, ops::kMlaNaiveAuto));

// Dims that are not multiples of the kernels' vector width or row tiles, and more heads.
TEST(MlaAttention, OddDimsMatchNaiveReference) {
  std::mt19937 rng(5);
  Problem p = make_problem(rng, {7, 9, 6, 5, 21});
  const float scale = 0.23f;
  const std::vector<float> want = naive(p, scale);
  for (int64_t threshold : {int64_t{1} << 40, int64_t{1}}) {
    Tensor out = run(p, fill_cache(p, DType::kF32), scale, threshold);
    ASSERT_EQ(out.numel(), static_cast<int64_t>(want.size()));
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_NEAR(out.data<float>()[i], want[i], 1e-4f * (1.0f + std::fabs(want[i])))
          << "threshold " << threshold << " element " << i;
  }
}

// The absorbed kernel groups heads per work item depending on the token count and the thread
// count; a head's result must not depend on either, nor on which other sequences share the batch.
TEST(MlaAttention, AbsorbedBitwiseIndependentOfThreadsAndBatch) {
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    std::mt19937 rng(13);
    Problem p = make_problem(rng, {5, 8, 4, 6, 24});
    const Tensor cache = fill_cache(p, dtype);
    const int64_t absorbed = int64_t{1} << 40;
    ThreadPool::set_global_num_threads(1);
    const Tensor ref = run(p, cache, 0.3f, absorbed);
    for (int threads : {2, 3, 8, 16}) {
      ThreadPool::set_global_num_threads(threads);
      EXPECT_TRUE(ops::testing::same_bits(run(p, cache, 0.3f, absorbed), ref)) << threads;
    }
    // Sequence 2's single decode token on its own (few tokens: heads split across items).
    Problem alone = p;
    const int64_t row = p.batch.token_start[2];
    alone.batch.token_start = {0, 1};
    alone.batch.pos_start = {p.batch.pos_start[2]};
    alone.batch.block_tables = {&alone.tables[2]};
    const int64_t qdim = p.d.num_heads * (p.d.nope_dim + p.d.rope_dim);
    alone.q.assign(p.q.begin() + row * qdim, p.q.begin() + (row + 1) * qdim);
    for (int threads : {1, 2, 4}) {
      ThreadPool::set_global_num_threads(threads);
      const Tensor one = run(alone, cache, 0.3f, absorbed);
      const Tensor in_batch = ref.slice(0, row, row + 1);
      EXPECT_TRUE(ops::testing::same_bits(one, in_batch)) << threads;
    }
  }
  ThreadPool::set_global_num_threads(static_cast<int>(std::thread::hardware_concurrency()));
}

TEST(MlaAttention, Bf16CacheStaysClose) {
  std::mt19937 rng(11);
  Problem p = make_problem(rng);
  Tensor out = run(p, fill_cache(p, DType::kBF16), 0.29f);
  const std::vector<float> want = naive(p, 0.29f);
  float max_ref = 0, max_err = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    max_ref = std::max(max_ref, std::fabs(want[i]));
    max_err = std::max(max_err, std::fabs(out.data<float>()[i] - want[i]));
  }
  EXPECT_LT(max_err / max_ref, 2e-2f);
  EXPECT_GT(max_err, 0.0f);  // the cache really is bf16
}

// c_kv may arrive in bf16 and k_pe as the strided rope slice of kv_a's output: the cache gets
// the same bits as from contiguous f32 copies of the same values.
TEST(MlaAttention, CacheWriteAcceptsBf16AndStridedRows) {
  std::mt19937 rng(17);
  Problem p = make_problem(rng);
  const int64_t t = p.batch.num_tokens(), kv_lora = p.d.kv_lora, rope = p.d.rope_dim;
  for (DType in_dtype : {DType::kF32, DType::kBF16})
    for (DType cache_dtype : {DType::kF32, DType::kBF16}) {
      const Tensor kv = ops::testing::random_tensor({t, kv_lora + rope}, in_dtype, 5);
      const Tensor c_kv = kv.slice(1, 0, kv_lora), k_pe = kv.slice(1, kv_lora, kv_lora + rope);
      Tensor got = Tensor::zeros({8, 4, kv_lora + rope}, cache_dtype);
      ops::mla_cache_write(got, c_kv, k_pe, p.batch);
      // The reference: the same values as contiguous f32.
      const std::vector<double> all = ops::testing::values(kv);
      std::vector<float> ckv, kpe;
      for (int64_t r = 0; r < t; ++r)
        for (int64_t c = 0; c < kv_lora + rope; ++c)
          (c < kv_lora ? ckv : kpe).push_back(static_cast<float>(all[r * (kv_lora + rope) + c]));
      Tensor want = Tensor::zeros({8, 4, kv_lora + rope}, cache_dtype);
      ops::mla_cache_write(want, Tensor::from_floats({t, kv_lora}, ckv),
                           Tensor::from_floats({t, rope}, kpe), p.batch);
      EXPECT_TRUE(ops::testing::same_bits(got, want))
          << dtype_name(in_dtype) << " into " << dtype_name(cache_dtype);
    }
}

TEST(MlaAttention, RejectsShortBlockTable) {
  std::mt19937 rng(3);
  Problem p = make_problem(rng);
  Tensor cache = fill_cache(p, DType::kF32);
  p.tables[2].pop_back();  // 10 positions need 3 blocks of 4
  try {
    run(p, cache, 1.0f);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("sequence 2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mlaserve

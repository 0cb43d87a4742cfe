#include "runtime/ops/mla_attention.h"

#include <algorithm>

#include "kernels/cpu/gemm_bf16_kn.h"
#include "kernels/cpu/gemv_bf16.h"
#include "kernels/cpu/mla_attention.h"
#include "runtime/core/error.h"
#include "runtime/core/thread_pool.h"
#include "runtime/ops/dispatch.h"
#include "runtime/ops/mla_attention_cuda.h"
#include "runtime/ops/rows.h"
#include "runtime/ops/work_count.h"

namespace mlaserve::ops {
namespace {

void check_batch(const MlaBatch& batch, int64_t block_size, int64_t num_blocks) {
  const int64_t s = batch.num_sequences();
  MLA_ENSURE(static_cast<int64_t>(batch.token_start.size()) == s + 1 &&
                 static_cast<int64_t>(batch.block_tables.size()) == s,
             kInvalidArgument, "mla batch: token_start must have ", s + 1,
             " entries and block_tables ", s, ", got ", batch.token_start.size(), " and ",
             batch.block_tables.size());
  MLA_ENSURE(batch.token_start[0] == 0, kInvalidArgument, "mla batch: token_start[0] must be 0");
  for (int64_t i = 0; i < s; ++i) {
    const int64_t n = batch.token_start[i + 1] - batch.token_start[i];
    MLA_ENSURE(n >= 0, kInvalidArgument, "mla batch: token_start decreases at sequence ", i);
    MLA_ENSURE(batch.pos_start[i] >= 0, kInvalidArgument, "mla batch: sequence ", i,
               " has negative start position ", batch.pos_start[i]);
    const auto* table = batch.block_tables[i];
    MLA_ENSURE(table != nullptr, kInvalidArgument, "mla batch: sequence ", i, " has no block table");
    const int64_t needed = (batch.pos_start[i] + n + block_size - 1) / block_size;
    MLA_ENSURE(static_cast<int64_t>(table->size()) >= needed, kInvalidArgument,
               "mla batch: sequence ", i, " needs ", needed, " cache blocks for ",
               batch.pos_start[i] + n, " positions, its block table has ", table->size());
    for (int64_t b = 0; b < needed; ++b)
      MLA_ENSURE((*table)[b] >= 0 && (*table)[b] < num_blocks, kInvalidArgument,
                 "mla batch: sequence ", i, " block table entry ", b, " = ", (*table)[b],
                 " is outside the cache's ", num_blocks, " blocks");
  }
}

void check_cache(const Tensor& cache, int64_t latent_dim) {
  MLA_ENSURE(cache.rank() == 3 && cache.dim(2) == latent_dim && cache.is_contiguous() &&
                 (cache.dtype() == DType::kF32 || cache.dtype() == DType::kBF16),
             kInvalidArgument, "mla cache must be a contiguous f32/bf16 [num_blocks, "
             "block_size, ", latent_dim, "] tensor, got ", cache.describe());
}

void check_absorbed_weight(const Tensor& w, const char* name, int64_t heads, int64_t kv_lora) {
  MLA_ENSURE(w.rank() == 3 && w.dim(0) == heads && w.dim(2) == kv_lora &&
                 w.dtype() == DType::kBF16 && w.strides()[2] == 1 && w.strides()[1] == kv_lora,
             kInvalidArgument, "mla_attention: ", name, " must be a bf16 [", heads,
             ", rows, ", kv_lora, "] view with contiguous rows, got ", w.describe());
}

// FLOPs of the dot products each form computes (see kernels/cpu/mla_attention.cc), for the
// benchmark's accounting; w_uk / w_uv are read once per call.
void count_attention_work(int64_t heads, int64_t nope, int64_t rope, int64_t v, int64_t kv_lora,
                          const MlaBatch& batch, int64_t naive_min_tokens, size_t weight_bytes) {
  double flops = 0;
  for (int64_t s = 0; s < batch.num_sequences(); ++s) {
    const int64_t n = batch.token_start[s + 1] - batch.token_start[s];
    const bool naive = naive_min_tokens >= 0 && n >= std::max<int64_t>(naive_min_tokens, 1);
    // Decompressing K_nope and V for the whole context, once per (sequence, head).
    if (naive) flops += 2.0 * static_cast<double>(batch.pos_start[s] + n) * (nope + v) * kv_lora;
    for (int64_t i = 0; i < n; ++i) {
      const double context = static_cast<double>(batch.pos_start[s] + i + 1);
      flops += naive ? 2.0 * context * (nope + rope + v)
                     : 2.0 * (nope * kv_lora + context * (2 * kv_lora + rope) + v * kv_lora);
    }
  }
  count_work(flops * static_cast<double>(heads), static_cast<double>(weight_bytes));
}

// From this many query tokens on, q_nope · W_UK_h and o_lat · W_UV_hᵀ run as one product per
// head over all tokens (each W_h loaded once, register-tiled GEMMs) instead of inside every
// (token, head) work item, where they are vector-times-matrix products re-reading W_h per token.
// Below it the per-item form keeps batch-1 decode to one pass over the weights with no extra
// tensors. Both forms call the same kernels per (token, head), so their results are bitwise
// equal: a token's output does not depend on the batch it was decoded in.
constexpr int64_t kBatchedAbsorbMinTokens = 4;

// q_lat[t, h] = q_nope[t, h] · W_UK_h for every token, one head per task.
void absorb_queries(const cpu::MlaAttentionArgs& a, float* q_lat) {
  parallel_for(0, a.num_heads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t h = begin; h < end; ++h)
      cpu::gemm_bf16_kn(a.q_nope + h * a.q_head_stride, a.q_token_stride, a.num_tokens,
                        a.w_uk + h * a.w_uk_head_stride, a.kv_lora, a.nope_dim,
                        q_lat + h * a.kv_lora, a.num_heads * a.kv_lora, a.kv_lora);
  });
}

// out[t, h] = o_lat[t, h] · W_UV_hᵀ for every token, one head per task.
void project_values(const cpu::MlaAttentionArgs& a, const float* o_lat) {
  parallel_for(0, a.num_heads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t h = begin; h < end; ++h)
      for (int64_t t = 0; t < a.num_tokens; t += cpu::kSmallMMax) {
        const int64_t m = std::min(cpu::kSmallMMax, a.num_tokens - t);
        const int64_t ld = a.num_heads * a.kv_lora;
        cpu::gemm_bf16_small_m(o_lat + t * ld + h * a.kv_lora, ld, m,
                               a.w_uv + h * a.w_uv_head_stride, a.kv_lora, a.kv_lora,
                               a.out + (t * a.num_heads + h) * a.v_dim, a.num_heads * a.v_dim,
                               0, a.v_dim);
      }
  });
}

}  // namespace

void mla_cache_write(const Tensor& cache, const Tensor& c_kv, const Tensor& k_pe,
                     const MlaBatch& batch) {
  constexpr std::string_view kOp = "mla_cache_write";
  const int64_t t = batch.num_tokens();
  const detail::Rows ckv_rows = detail::as_rows(c_kv, kOp, "c_kv");
  const detail::Rows kpe_rows = detail::as_rows(k_pe, kOp, "k_pe");
  detail::ensure_float_dtype(c_kv, kOp, "c_kv");
  detail::ensure_float_dtype(k_pe, kOp, "k_pe");
  MLA_ENSURE(c_kv.rank() == 2 && ckv_rows.rows == t, kInvalidArgument,
             "mla_cache_write: c_kv must be [", t, ", kv_lora], got ", c_kv.describe());
  MLA_ENSURE(k_pe.rank() == 2 && kpe_rows.rows == t, kInvalidArgument,
             "mla_cache_write: k_pe must be [", t, ", rope], got ", k_pe.describe());
  const Device device =
      detail::common_device(kOp, {{"cache", &cache}, {"c_kv", &c_kv}, {"k_pe", &k_pe}});
  const int64_t kv_lora = ckv_rows.cols, rope = kpe_rows.cols;
  check_cache(cache, kv_lora + rope);
  check_batch(batch, cache.dim(1), cache.dim(0));
  if (!device.is_cpu()) {
    MLA_CUDA_OP(kOp, detail::mla_cache_write_cuda(cache, ckv_rows, kpe_rows, batch));
    return;
  }
  // bf16 rows are widened to f32 one row at a time; f32 rows are written as they are.
  std::vector<float> ckv_f32(c_kv.dtype() == DType::kBF16 ? kv_lora : 0);
  std::vector<float> kpe_f32(k_pe.dtype() == DType::kBF16 ? rope : 0);
  auto row_of = [](const detail::Rows& r, int64_t row, std::vector<float>& staged) {
    if (r.dtype == DType::kF32) return static_cast<const float*>(r.data) + row * r.ld;
    convert_to_float(DType::kBF16, static_cast<const uint16_t*>(r.data) + row * r.ld,
                     staged.data(), staged.size());
    return static_cast<const float*>(staged.data());
  };
  for (int64_t s = 0; s < batch.num_sequences(); ++s)
    for (int64_t row = batch.token_start[s]; row < batch.token_start[s + 1]; ++row)
      cpu::mla_cache_write(cache.raw_data(), cache.dtype() == DType::kBF16, cache.dim(1),
                                    kv_lora + rope, batch.block_tables[s]->data(),
                                    batch.pos_start[s] + row - batch.token_start[s],
                                    row_of(ckv_rows, row, ckv_f32), kv_lora,
                                    row_of(kpe_rows, row, kpe_f32), rope);
}

Tensor mla_attention(const Tensor& q, const Tensor& w_uk, const Tensor& w_uv, const Tensor& cache,
                     const MlaBatch& batch, float softmax_scale, int64_t naive_min_tokens) {
  constexpr std::string_view kOp = "mla_attention";
  const int64_t t = batch.num_tokens();
  MLA_ENSURE(w_uk.rank() == 3 && w_uv.rank() == 3, kInvalidArgument,
             "mla_attention: w_uk and w_uv must be [H, rows, kv_lora], got ", w_uk.describe(),
             " and ", w_uv.describe());
  struct {
    int64_t num_heads, nope_dim, rope_dim, v_dim, kv_lora;
  } d{w_uk.dim(0), w_uk.dim(1), 0, w_uv.dim(1), w_uk.dim(2)};
  check_absorbed_weight(w_uk, "w_uk", d.num_heads, d.kv_lora);
  check_absorbed_weight(w_uv, "w_uv", d.num_heads, d.kv_lora);
  MLA_ENSURE(q.rank() == 3 && q.dim(0) == t && q.dim(1) == d.num_heads &&
                 q.dim(2) > d.nope_dim && q.dtype() == DType::kF32 && q.is_contiguous(),
             kInvalidArgument, "mla_attention: q must be contiguous f32 [", t, ", ", d.num_heads,
             ", ", d.nope_dim, " + rope], got ", q.describe());
  d.rope_dim = q.dim(2) - d.nope_dim;
  check_cache(cache, d.kv_lora + d.rope_dim);
  check_batch(batch, cache.dim(1), cache.dim(0));
  const Device device = detail::common_device(
      kOp, {{"q", &q}, {"w_uk", &w_uk}, {"w_uv", &w_uv}, {"cache", &cache}});
  if (!device.is_cpu()) {
    // Always absorbed on CUDA (mla_attention.h says why): count it that way.
    count_attention_work(d.num_heads, d.nope_dim, d.rope_dim, d.v_dim, d.kv_lora, batch,
                         /*naive_min_tokens=*/-1, w_uk.nbytes() + w_uv.nbytes());
    Tensor out;
    MLA_CUDA_OP(kOp, out = detail::mla_attention_cuda(q, w_uk, w_uv, cache, batch,
                                                      softmax_scale));
    return out;
  }

  std::vector<int64_t> token_seq(t);
  std::vector<const int32_t*> tables(batch.num_sequences());
  int64_t max_context = 0;
  for (int64_t s = 0; s < batch.num_sequences(); ++s) {
    for (int64_t row = batch.token_start[s]; row < batch.token_start[s + 1]; ++row)
      token_seq[row] = s;
    tables[s] = batch.block_tables[s]->data();
    max_context = std::max(max_context, batch.pos_start[s] + batch.token_start[s + 1] -
                                            batch.token_start[s]);
  }

  Tensor out = Tensor::empty({t, d.num_heads, d.v_dim}, DType::kF32);
  cpu::MlaAttentionArgs args;
  args.q_nope = q.data<float>();
  args.q_pe = args.q_nope + d.nope_dim;
  args.q_token_stride = d.num_heads * (d.nope_dim + d.rope_dim);
  args.q_head_stride = d.nope_dim + d.rope_dim;
  args.w_uk = w_uk.data<uint16_t>();
  args.w_uk_head_stride = w_uk.strides()[0];
  args.w_uv = w_uv.data<uint16_t>();
  args.w_uv_head_stride = w_uv.strides()[0];
  args.cache = cache.raw_data();
  args.cache_bf16 = cache.dtype() == DType::kBF16;
  args.block_size = cache.dim(1);
  args.seq_token_start = batch.token_start.data();
  args.seq_pos_start = batch.pos_start.data();
  args.block_tables = tables.data();
  args.token_seq = token_seq.data();
  args.num_tokens = t;
  args.num_heads = d.num_heads;
  args.nope_dim = d.nope_dim;
  args.rope_dim = d.rope_dim;
  args.v_dim = d.v_dim;
  args.kv_lora = d.kv_lora;
  args.softmax_scale = softmax_scale;
  args.out = out.data<float>();

  if (naive_min_tokens == kMlaNaiveAuto) {
    const int64_t saved_per_pair = std::max<int64_t>(1, 2 * d.kv_lora - d.nope_dim - d.v_dim);
    naive_min_tokens = (d.nope_dim + d.v_dim) * d.kv_lora / saved_per_pair + 1;
  }
  count_attention_work(d.num_heads, d.nope_dim, d.rope_dim, d.v_dim, d.kv_lora, batch,
                       naive_min_tokens, w_uk.nbytes() + w_uv.nbytes());

  std::vector<uint8_t> skip(t, 0);
  std::vector<int64_t> naive_seqs;
  for (int64_t s = 0; s < batch.num_sequences(); ++s)
    if (naive_min_tokens >= 0 &&
        batch.token_start[s + 1] - batch.token_start[s] >= std::max<int64_t>(naive_min_tokens, 1)) {
      naive_seqs.push_back(s);
      std::fill(skip.begin() + batch.token_start[s], skip.begin() + batch.token_start[s + 1], 1);
    }
  if (!naive_seqs.empty()) {
    args.skip_token = skip.data();
    const int64_t naive_scratch = cpu::mla_attention_naive_scratch_floats(args, max_context);
    const int64_t units = static_cast<int64_t>(naive_seqs.size()) * d.num_heads;
    parallel_for_uneven(0, units, 1, [&](int64_t begin, int64_t end) {
      std::vector<float> scratch(naive_scratch);
      for (int64_t u = begin; u < end; ++u)
        cpu::mla_attention_naive(args, naive_seqs[u / d.num_heads], u % d.num_heads,
                                 scratch.data());
    });
    if (static_cast<int64_t>(naive_seqs.size()) == batch.num_sequences()) return out;
  }

  // Items (token, head group) are independent and each is computed whole inside one chunk; a
  // head's result does not depend on its group, so neither the thread count nor the grouping
  // (picked here from the token count so that a small batch still fills every thread) changes
  // the output. One group per token reads each cache row once per token; splitting heads costs
  // one more pass over the rows per extra group, so only split when tokens are scarce.
  const int64_t threads = ThreadPool::global().num_threads();
  int64_t head_groups = 1;
  if (t < 2 * threads)
    head_groups = std::clamp<int64_t>((2 * threads + t - 1) / std::max<int64_t>(t, 1), 1,
                                      d.num_heads);
  const int64_t items = t * head_groups;
  const int64_t scratch_floats = cpu::mla_attention_scratch_floats(args, max_context);
  const bool batched_absorb = naive_seqs.empty() && t >= kBatchedAbsorbMinTokens;
  Tensor q_lat, o_lat;
  if (batched_absorb) {
    q_lat = Tensor::empty({t, d.num_heads, d.kv_lora}, DType::kF32);  // [T, H, kv_lora]
    o_lat = Tensor::empty({t, d.num_heads, d.kv_lora}, DType::kF32);  // [T, H, kv_lora]
    absorb_queries(args, q_lat.data<float>());
    args.q_lat = q_lat.data<float>();
    args.o_lat = o_lat.data<float>();
  }
  parallel_for_uneven(0, items, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(scratch_floats);
    cpu::mla_attention_items(args, head_groups, begin, end, scratch.data(), max_context);
  });
  if (batched_absorb) project_values(args, o_lat.data<float>());
  return out;
}

}  // namespace mlaserve::ops

#include "runtime/ops/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/cpu/sampling.h"
#include "runtime/core/error.h"
#include "runtime/core/thread_pool.h"
#include "runtime/ops/dispatch.h"
#include "runtime/ops/rows.h"

#if MLASERVE_WITH_CUDA
#include "kernels/cuda/sampling.h"
#endif

namespace mlaserve::ops {
namespace {

constexpr int64_t kMaxVocab = 0x7fffffff;  // token ids are i32

// logits as f32 rows [R, V] (any device).
detail::Rows logits_rows(const Tensor& logits, std::string_view op) {
  MLA_ENSURE(logits.defined(), kInvalidArgument, op, ": logits is undefined");
  MLA_ENSURE(logits.rank() == 2 && logits.dtype() == DType::kF32, kInvalidArgument, op,
             ": logits ", logits.describe(), " must be [rows, vocab] f32");
  const detail::Rows r = detail::as_rows(logits, op, "logits");
  MLA_ENSURE(r.cols >= 1 && r.cols <= kMaxVocab, kInvalidArgument, op, ": logits ",
             logits.describe(), " must have 1 .. 2^31 - 1 columns (token ids are i32)");
  return r;
}

sampling::RowParams checked(const SamplingRow& row, size_t i) {
  MLA_ENSURE(std::isfinite(row.temperature) && row.temperature >= 0, kInvalidArgument,
             "sample_tokens: rows[", i, "].temperature must be >= 0, got ", row.temperature);
  MLA_ENSURE(row.top_k >= 0, kInvalidArgument, "sample_tokens: rows[", i,
             "].top_k must be >= 0 (0 = no limit), got ", row.top_k);
  MLA_ENSURE(row.top_p > 0 && row.top_p <= 1, kInvalidArgument, "sample_tokens: rows[", i,
             "].top_p must be in (0, 1], got ", row.top_p);
  MLA_ENSURE(row.position >= 0, kInvalidArgument, "sample_tokens: rows[", i,
             "].position must be >= 0, got ", row.position);
  return {row.temperature, row.top_k, row.top_p, row.seed, static_cast<uint64_t>(row.position)};
}

// Reused by each thread across calls (the candidate list grows to the vocabulary once).
cpu::SamplingScratch& thread_scratch() {
  thread_local cpu::SamplingScratch scratch;
  return scratch;
}

}  // namespace

Tensor sample_tokens(const Tensor& logits, const std::vector<SamplingRow>& rows) {
  constexpr std::string_view kOp = "sample_tokens";
  const detail::Rows lr = logits_rows(logits, kOp);
  MLA_ENSURE(static_cast<int64_t>(rows.size()) == lr.rows, kInvalidArgument, kOp, ": ",
             rows.size(), " sampling rows for logits ", logits.describe());
  std::vector<sampling::RowParams> params;
  params.reserve(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) params.push_back(checked(rows[i], i));
  Tensor tokens = Tensor::empty({lr.rows}, DType::kI32, logits.device());
  if (lr.rows == 0) return tokens;
  if (!logits.device().is_cpu()) {
    MLA_CUDA_OP(kOp, cuda::sample_tokens({static_cast<const float*>(lr.data), lr.ld, lr.rows,
                                          lr.cols, params.data(), tokens.data<int32_t>()},
                                         detail::stream_for(logits)));
    return tokens;
  }
  const float* x = static_cast<const float*>(lr.data);
  int32_t* out = tokens.data<int32_t>();
  parallel_for(0, lr.rows, 1, [&](int64_t begin, int64_t end) {
    cpu::SamplingScratch& scratch = thread_scratch();
    for (int64_t r = begin; r < end; ++r)
      out[r] = static_cast<int32_t>(cpu::sample_row(x + r * lr.ld, lr.cols, params[r], scratch));
  });
  return tokens;
}

TopLogprobs top_logprobs(const Tensor& logits, int64_t k) {
  MLA_ENSURE(logits.defined(), kInvalidArgument, "top_logprobs: logits is undefined");
  std::vector<int64_t> rows(static_cast<size_t>(logits.rank() == 2 ? logits.dim(0) : 0));
  std::iota(rows.begin(), rows.end(), int64_t{0});
  return top_logprobs(logits, k, rows);
}

TopLogprobs top_logprobs(const Tensor& logits, int64_t k, const std::vector<int64_t>& rows) {
  constexpr std::string_view kOp = "top_logprobs";
  const detail::Rows lr = logits_rows(logits, kOp);
  MLA_ENSURE(k >= 1, kInvalidArgument, kOp, ": k must be >= 1, got ", k);
  for (size_t i = 0; i < rows.size(); ++i)
    MLA_ENSURE(rows[i] >= 0 && rows[i] < lr.rows, kInvalidArgument, kOp, ": rows[", i, "] = ",
               rows[i], " is outside logits ", logits.describe());
  k = std::min(k, lr.cols);
  const int64_t n = static_cast<int64_t>(rows.size());
  TopLogprobs out{Tensor::empty({n, k}, DType::kI32, logits.device()),
                  Tensor::empty({n, k}, DType::kF32, logits.device())};
  if (n == 0) return out;
  if (!logits.device().is_cpu()) {
    MLA_CUDA_OP(kOp, cuda::top_logprobs({static_cast<const float*>(lr.data), lr.ld, lr.cols,
                                         rows.data(), n, k, out.ids.data<int32_t>(),
                                         out.logprobs.data<float>()},
                                        detail::stream_for(logits)));
    return out;
  }
  const float* x = static_cast<const float*>(lr.data);
  int32_t* ids = out.ids.data<int32_t>();
  float* logprobs = out.logprobs.data<float>();
  parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    cpu::SamplingScratch& scratch = thread_scratch();
    std::vector<int64_t> row_ids(static_cast<size_t>(k));
    for (int64_t i = begin; i < end; ++i) {
      cpu::top_logprobs_row(x + rows[i] * lr.ld, lr.cols, k, row_ids.data(), logprobs + i * k,
                            scratch);
      for (int64_t j = 0; j < k; ++j) ids[i * k + j] = static_cast<int32_t>(row_ids[j]);
    }
  });
  return out;
}

}  // namespace mlaserve::ops

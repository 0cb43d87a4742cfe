#include "kernels/cuda/sampling.h"

#include <cub/device/device_segmented_radix_sort.cuh>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "kernels/cuda/copy.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/stream_buffer.h"
#include "kernels/cuda/device_math.cuh"

namespace mlaserve::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kChunk = sampling::kSumChunk;
constexpr int64_t kMaxInt32 = 0x7fffffff;

// A device copy of host values (from pageable memory the copy has left `host` on return).
template <typename T>
StreamBuffer upload(const T* host, int64_t count, cudaStream_t stream) {
  const size_t bytes = static_cast<size_t>(count) * sizeof(T);
  StreamBuffer buffer(bytes, stream);
  if (bytes > 0) copy_host_to_device(buffer.as<void>(), host, bytes, stream);
  return buffer;
}

unsigned grid_for(int64_t elements) {
  return static_cast<unsigned>(std::clamp<int64_t>((elements + kThreads - 1) / kThreads, 1, 4096));
}

// ---- greedy: argmax, lower id on ties -------------------------------------------------------

// (v, j) beats (best, best_j): larger value, or equal value and lower id. NaN never beats
// anything and nothing beats a NaN at id 0 — exactly cpu::argmax's `x[j] > x[best]` scan.
__device__ __forceinline__ bool beats(float v, int64_t j, float best, int64_t best_j) {
  return v > best || (v == best && j < best_j);
}

__global__ void argmax_rows_kernel(const float* logits, int64_t ld, int64_t vocab,
                                   const int64_t* rows, int32_t* tokens) {
  const int64_t row = rows[blockIdx.x];
  const float* x = logits + row * ld;
  float best = x[0];
  int64_t best_j = 0;
  for (int64_t j = threadIdx.x; j < vocab; j += kThreads)
    if (beats(x[j], j, best, best_j)) {
      best = x[j];
      best_j = j;
    }
  for (int offset = 16; offset > 0; offset /= 2) {
    const float v = __shfl_xor_sync(0xffffffffu, best, offset);
    const int64_t j = __shfl_xor_sync(0xffffffffu, best_j, offset);
    if (beats(v, j, best, best_j)) {
      best = v;
      best_j = j;
    }
  }
  __shared__ float warp_best[kThreads / 32];
  __shared__ int64_t warp_j[kThreads / 32];
  if (threadIdx.x % 32 == 0) {
    warp_best[threadIdx.x / 32] = best;
    warp_j[threadIdx.x / 32] = best_j;
  }
  __syncthreads();
  if (threadIdx.x != 0) return;
  for (int w = 1; w < kThreads / 32; ++w)
    if (beats(warp_best[w], warp_j[w], best, best_j)) {
      best = warp_best[w];
      best_j = warp_j[w];
    }
  tokens[row] = static_cast<int32_t>(best_j);
}

// ---- the sort input: one segment of `vocab` (key, id) pairs per row -------------------------

// keys = the row's logits, scaled as the rule scales them when `params` is given; ids = 0..vocab-1
// (the sort is stable, so equal keys keep ascending ids).
__global__ void fill_sort_input_kernel(const float* logits, int64_t ld, int64_t vocab,
                                       const int64_t* rows, const sampling::RowParams* params,
                                       int64_t n, float* keys, int32_t* ids) {
  const int64_t total = n * vocab;
  const int64_t stride = int64_t{gridDim.x} * kThreads;
  for (int64_t e = int64_t{blockIdx.x} * kThreads + threadIdx.x; e < total; e += stride) {
    const int64_t s = e / vocab, j = e - s * vocab;
    const float x = logits[rows[s] * ld + j];
    keys[e] = params != nullptr ? sampling::scaled_logit(x, params[s].temperature) : x;
    ids[e] = static_cast<int32_t>(j);
  }
}

__global__ void segment_offsets_kernel(int64_t n, int64_t vocab, int32_t* offsets) {
  const int64_t stride = int64_t{gridDim.x} * kThreads;
  for (int64_t s = int64_t{blockIdx.x} * kThreads + threadIdx.x; s <= n; s += stride)
    offsets[s] = static_cast<int32_t>(s * vocab);  // n * vocab <= 2^31 - 1 (checked on the host)
}

// Sorts each of the n segments of `vocab` pairs by key, descending (stable). Caller: n * vocab
// <= 2^31 - 1.
void sort_segments(const float* keys_in, float* keys_out, const int32_t* ids_in, int32_t* ids_out,
                   int64_t n, int64_t vocab, cudaStream_t stream) {
  const int64_t elements = n * vocab;
  StreamBuffer offsets((static_cast<size_t>(n) + 1) * sizeof(int32_t), stream);
  segment_offsets_kernel<<<grid_for(n + 1), kThreads, 0, stream>>>(n, vocab,
                                                                    offsets.as<int32_t>());
  MLA_CUDA_CHECK(cudaGetLastError());
  const int32_t* begin = offsets.as<int32_t>();
  size_t temp_bytes = 0;
  MLA_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortPairsDescending(
      nullptr, temp_bytes, keys_in, keys_out, ids_in, ids_out, static_cast<int>(elements),
      static_cast<int>(n), begin, begin + 1, 0, static_cast<int>(sizeof(float) * 8), stream));
  StreamBuffer temp(temp_bytes, stream);
  MLA_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortPairsDescending(
      temp.as<void>(), temp_bytes, keys_in, keys_out, ids_in, ids_out, static_cast<int>(elements),
      static_cast<int>(n), begin, begin + 1, 0, static_cast<int>(sizeof(float) * 8), stream));
}

// ---- sampled rows: weights, chunked prefix sums, top-p cut, inverse CDF ---------------------

// B_c = ((0 + T_0) + T_1) + ... + T_(c-1) in place of T_c; returns the sum of all (the total).
__device__ double exclusive_chunk_scan(double* sums, int64_t chunks) {
  double base = 0;
  for (int64_t c = 0; c < chunks; ++c) {
    const double t = sums[c];
    sums[c] = base;
    base += t;
  }
  return base;
}

// One block per sampled row, over its candidates sorted by scaled logit (keys, ids). The order
// of every double operation is that of cpu::sample_row (sampling_math.h "chunked prefix sums"):
// the whole-chunk sums are computed by one thread per chunk, in parallel; the scans over chunk
// sums and the one or two chunks where a threshold is crossed run on thread 0. P and Q are
// nondecreasing, so the first chunk whose end value crosses a threshold holds the first index.
// weights: [n, vocab] doubles; chunk_sums: [n, 2 * max_chunks] doubles.
__global__ void sample_sorted_kernel(const float* keys, const int32_t* ids, int64_t vocab,
                                     const int64_t* rows, const sampling::RowParams* params,
                                     double* weights, double* chunk_sums, int64_t max_chunks,
                                     int32_t* tokens) {
  const int64_t s = blockIdx.x;
  const sampling::RowParams p = params[s];
  const float* key = keys + s * vocab;
  double* w = weights + s * vocab;
  double* pbase = chunk_sums + s * 2 * max_chunks;
  double* qbase = pbase + max_chunks;
  const int64_t keep = sampling::kept(p.top_k, vocab);
  const int64_t chunks = (keep + kChunk - 1) / kChunk;
  const double top = key[0];

  for (int64_t c = threadIdx.x; c < chunks; c += kThreads) {
    const int64_t end = min(c * kChunk + kChunk, keep);
    double local = 0;
    for (int64_t i = c * kChunk; i < end; ++i) {
      w[i] = sampling::exp_nonpositive(static_cast<double>(key[i]) - top);
      local += w[i];
    }
    pbase[c] = local;
  }
  __syncthreads();
  __shared__ double total_shared;
  if (threadIdx.x == 0) total_shared = exclusive_chunk_scan(pbase, chunks);
  __syncthreads();
  const double total = total_shared;

  const bool cut = p.top_p < 1.0;  // the same for the whole block
  if (cut) {
    for (int64_t c = threadIdx.x; c < chunks; c += kThreads) {
      const int64_t end = min(c * kChunk + kChunk, keep);
      double local = 0;
      for (int64_t i = c * kChunk; i < end; ++i) local += w[i] / total;
      qbase[c] = local;
    }
    __syncthreads();
  }
  if (threadIdx.x != 0) return;

  // top_p: n = 1 + the first i with Q_i >= top_p (keep when none).
  int64_t n = keep;
  if (cut) {
    double base = 0;
    for (int64_t c = 0; c < chunks; ++c) {
      if (base + qbase[c] >= p.top_p) {  // Q at the end of chunk c: the crossing is inside it
        const int64_t end = min(c * kChunk + kChunk, keep);
        double local = 0;
        n = end;  // reached by the last element at the latest (same sum as qbase[c])
        for (int64_t i = c * kChunk; i < end; ++i) {
          local += w[i] / total;
          if (base + local >= p.top_p) {
            n = i + 1;
            break;
          }
        }
        break;
      }
      base += qbase[c];
    }
  }

  // The kept mass P_(n-1), the uniform scaled to it, and the first i < n with u < P_i.
  const int64_t last = (n - 1) / kChunk;
  double local = 0;
  for (int64_t i = last * kChunk; i < n; ++i) local += w[i];
  const double mass = pbase[last] + local;
  const double u = sampling::uniform(p.seed, p.position) * mass;
  int64_t pick = n - 1;
  for (int64_t c = 0; c <= last; ++c) {
    const double end_value = c < last ? pbase[c + 1] : mass;  // P at the end of chunk c
    if (u < end_value) {
      const int64_t end = min(c * kChunk + kChunk, n);
      double running = 0;
      for (int64_t i = c * kChunk; i < end; ++i) {
        running += w[i];
        if (u < pbase[c] + running) {
          pick = i;
          break;
        }
      }
      break;
    }
  }
  tokens[rows[s]] = ids[s * vocab + pick];
}

// Sorts and samples n rows (n * vocab <= 2^31 - 1).
void sample_group(const SampleTokensArgs& a, const int64_t* rows, const sampling::RowParams* params,
                  int64_t n, cudaStream_t stream) {
  const int64_t elements = n * a.vocab;
  const int64_t max_chunks = (a.vocab + kChunk - 1) / kChunk;
  const StreamBuffer rows_d = upload(rows, n, stream);
  const StreamBuffer params_d = upload(params, n, stream);
  const size_t e = static_cast<size_t>(elements);
  StreamBuffer keys_in(e * sizeof(float), stream), keys_out(e * sizeof(float), stream);
  StreamBuffer ids_in(e * sizeof(int32_t), stream), ids_out(e * sizeof(int32_t), stream);
  fill_sort_input_kernel<<<grid_for(elements), kThreads, 0, stream>>>(
      a.logits, a.ld, a.vocab, rows_d.as<int64_t>(), params_d.as<sampling::RowParams>(), n,
      keys_in.as<float>(), ids_in.as<int32_t>());
  MLA_CUDA_CHECK(cudaGetLastError());
  sort_segments(keys_in.as<float>(), keys_out.as<float>(), ids_in.as<int32_t>(),
                ids_out.as<int32_t>(), n, a.vocab, stream);
  StreamBuffer weights(e * sizeof(double), stream);
  StreamBuffer chunk_sums(static_cast<size_t>(n * 2 * max_chunks) * sizeof(double), stream);
  sample_sorted_kernel<<<static_cast<unsigned>(n), kThreads, 0, stream>>>(
      keys_out.as<float>(), ids_out.as<int32_t>(), a.vocab, rows_d.as<int64_t>(),
      params_d.as<sampling::RowParams>(), weights.as<double>(), chunk_sums.as<double>(),
      max_chunks, a.tokens);
  MLA_CUDA_CHECK(cudaGetLastError());
}

// ---- top logprobs -----------------------------------------------------------------------------

__device__ __forceinline__ double warp_sum_double(double v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// log_z[s] = max + log(sum_j exp(x_j - max)) of row rows[s], in double (one block per row).
__global__ void log_partition_kernel(const float* logits, int64_t ld, int64_t vocab,
                                     const int64_t* rows, double* log_z) {
  const float* x = logits + rows[blockIdx.x] * ld;
  __shared__ float max_partial[kThreads / 32];
  __shared__ double sum_partial[kThreads / 32];
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < vocab; j += kThreads) mx = fmaxf(mx, x[j]);
  mx = block_max<kThreads>(mx, max_partial);
  double sum = 0;
  for (int64_t j = threadIdx.x; j < vocab; j += kThreads)
    sum += exp(static_cast<double>(x[j]) - mx);
  sum = warp_sum_double(sum);
  if (threadIdx.x % 32 == 0) sum_partial[threadIdx.x / 32] = sum;
  __syncthreads();
  if (threadIdx.x != 0) return;
  double total = 0;
  for (int w = 0; w < kThreads / 32; ++w) total += sum_partial[w];
  log_z[blockIdx.x] = mx + log(total);
}

// The first k sorted pairs of each of n segments, as ids and log-probabilities.
__global__ void write_top_kernel(const float* keys, const int32_t* sorted_ids, int64_t vocab,
                                 const double* log_z, int64_t n, int64_t k, int32_t* ids,
                                 float* logprobs) {
  const int64_t total = n * k;
  const int64_t stride = int64_t{gridDim.x} * kThreads;
  for (int64_t e = int64_t{blockIdx.x} * kThreads + threadIdx.x; e < total; e += stride) {
    const int64_t s = e / k, i = e - s * k;
    ids[e] = sorted_ids[s * vocab + i];
    logprobs[e] = static_cast<float>(static_cast<double>(keys[s * vocab + i]) - log_z[s]);
  }
}

void check_rows(const char* op, const float* logits, int64_t ld, int64_t vocab) {
  MLA_ENSURE(logits != nullptr && vocab >= 1 && vocab <= kMaxInt32 && ld >= vocab,
             kInvalidArgument, op, ": rows of ", vocab, " logits ", ld,
             " apart (the vocabulary must be 1 .. 2^31 - 1, ld >= vocabulary)");
}

}  // namespace

void sample_tokens(const SampleTokensArgs& a, cudaStream_t stream) {
  check_rows("sample_tokens", a.logits, a.ld, a.vocab);
  MLA_ENSURE(a.rows >= 0 && a.rows <= kMaxInt32, kInvalidArgument, "sample_tokens: ", a.rows,
             " rows (at most 2^31 - 1)");
  if (a.rows == 0) return;
  std::vector<int64_t> greedy, sampled;
  std::vector<sampling::RowParams> sampled_params;
  for (int64_t r = 0; r < a.rows; ++r) {
    if (a.params[r].temperature == 0.0) {
      greedy.push_back(r);
    } else {
      sampled.push_back(r);
      sampled_params.push_back(a.params[r]);
    }
  }
  if (!greedy.empty()) {
    const StreamBuffer rows = upload(greedy.data(), static_cast<int64_t>(greedy.size()), stream);
    argmax_rows_kernel<<<static_cast<unsigned>(greedy.size()), kThreads, 0, stream>>>(
        a.logits, a.ld, a.vocab, rows.as<int64_t>(), a.tokens);
    MLA_CUDA_CHECK(cudaGetLastError());
  }
  const int64_t group = std::max<int64_t>(1, kMaxSortElements / a.vocab);
  const int64_t count = static_cast<int64_t>(sampled.size());
  for (int64_t g = 0; g < count; g += group)
    sample_group(a, sampled.data() + g, sampled_params.data() + g, std::min(group, count - g),
                 stream);
}

void top_logprobs(const TopLogprobsArgs& a, cudaStream_t stream) {
  check_rows("top_logprobs", a.logits, a.ld, a.vocab);
  MLA_ENSURE(a.num_rows >= 0 && a.num_rows <= kMaxInt32 && a.k >= 1 && a.k <= a.vocab,
             kInvalidArgument, "top_logprobs: ", a.num_rows, " rows, k = ", a.k,
             " (k must be 1 .. ", a.vocab, ")");
  const int64_t group = std::max<int64_t>(1, kMaxSortElements / a.vocab);
  for (int64_t g = 0; g < a.num_rows; g += group) {
    const int64_t n = std::min(group, a.num_rows - g);
    const size_t e = static_cast<size_t>(n * a.vocab);
    const StreamBuffer rows = upload(a.rows + g, n, stream);
    StreamBuffer log_z(static_cast<size_t>(n) * sizeof(double), stream);
    log_partition_kernel<<<static_cast<unsigned>(n), kThreads, 0, stream>>>(
        a.logits, a.ld, a.vocab, rows.as<int64_t>(), log_z.as<double>());
    MLA_CUDA_CHECK(cudaGetLastError());
    StreamBuffer keys_in(e * sizeof(float), stream), keys_out(e * sizeof(float), stream);
    StreamBuffer ids_in(e * sizeof(int32_t), stream), ids_out(e * sizeof(int32_t), stream);
    fill_sort_input_kernel<<<grid_for(n * a.vocab), kThreads, 0, stream>>>(
        a.logits, a.ld, a.vocab, rows.as<int64_t>(), nullptr, n, keys_in.as<float>(),
        ids_in.as<int32_t>());
    MLA_CUDA_CHECK(cudaGetLastError());
    sort_segments(keys_in.as<float>(), keys_out.as<float>(), ids_in.as<int32_t>(),
                  ids_out.as<int32_t>(), n, a.vocab, stream);
    write_top_kernel<<<grid_for(n * a.k), kThreads, 0, stream>>>(
        keys_out.as<float>(), ids_out.as<int32_t>(), a.vocab, log_z.as<double>(), n, a.k,
        a.ids + g * a.k, a.logprobs + g * a.k);
    MLA_CUDA_CHECK(cudaGetLastError());
  }
}

}  // namespace mlaserve::cuda

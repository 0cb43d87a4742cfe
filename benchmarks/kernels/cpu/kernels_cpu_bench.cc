// CPU kernel benchmarks: bf16 GEMV against a memory-bandwidth probe, small-m GEMM against
// OpenBLAS sgemm on the same shape, and the thread pool's per-call overhead.
//   build/benchmarks/kernels/cpu/kernels_cpu_bench --benchmark_repetitions=5 \
//     --benchmark_report_aggregates_only=true
// Threads: MLASERVE_NUM_THREADS (default: all cores) for our kernels; OpenBLAS baselines use
// the same count through its own threads.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemv_bf16.h"
#include "runtime/core/thread_pool.h"
#include "runtime/ops/linear.h"
#include "tests/support/random_data.h"

namespace mlaserve {
namespace {

int threads() { return ThreadPool::global().num_threads(); }

// STREAM-like triad a = b + s*c over 3 x 64 MiB, split over our pool; bytes counted as STREAM
// does (two reads, one write).
void BM_TriadBandwidth(benchmark::State& state) {
  const int64_t n = 16 << 20;
  std::vector<float> a(n), b(n, 1.0f), c(n, 2.0f);
  parallel_for(0, n, 1 << 16, [&](int64_t s, int64_t e) {  // first touch by the same threads
    for (int64_t i = s; i < e; ++i) a[i] = 0;
  });
  for (auto _ : state) {
    parallel_for(0, n, 1 << 16, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) a[i] = b[i] + 3.0f * c[i];
    });
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * n * 12);
  state.counters["threads"] = threads();
}
BENCHMARK(BM_TriadBandwidth)->Unit(benchmark::kMillisecond)->UseRealTime();

Tensor bf16_weights(int64_t n, int64_t k) {
  const auto w = testing::random_bf16(n * k, 1, -0.05f, 0.05f);
  Tensor t = Tensor::empty({n, k}, DType::kBF16);
  std::copy(w.begin(), w.end(), t.data<uint16_t>());
  return t;
}

// y = W x through ops::linear (m = 1: the bf16 GEMV), counting weight bytes read.
void BM_GemvBf16(benchmark::State& state) {
  const int64_t n = state.range(0), k = state.range(1);
  const Tensor w = bf16_weights(n, k);
  const Tensor x = Tensor::from_floats({1, k}, testing::random_floats(k, 2));
  const Tensor y = Tensor::empty({1, n}, DType::kF32);
  for (auto _ : state) ops::linear(x, w, y);
  state.SetBytesProcessed(state.iterations() * n * k * 2);
}
BENCHMARK(BM_GemvBf16)->Args({4096, 4096})->Args({1408, 512})->Args({512, 1408})
    ->Unit(benchmark::kMicrosecond)->UseRealTime();

// f32 sgemv of the same matrix with OpenBLAS's own threads: the library baseline.
void BM_SgemvF32Blas(benchmark::State& state) {
  const int64_t n = state.range(0), k = state.range(1);
  const auto w = testing::random_floats(n * k, 1);
  const auto x = testing::random_floats(k, 2);
  std::vector<float> y(n);
  openblas_set_num_threads(threads());
  for (auto _ : state)
    cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0f, w.data(), k, x.data(), 1, 0.0f, y.data(), 1);
  openblas_set_num_threads(1);
  state.SetBytesProcessed(state.iterations() * n * k * 4);
}
BENCHMARK(BM_SgemvF32Blas)->Args({4096, 4096})->Unit(benchmark::kMicrosecond)->UseRealTime();

// Y = X Wᵀ through ops::linear, which picks small-m or sgemm panels by m.
void BM_LinearBf16(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const Tensor w = bf16_weights(n, k);
  const Tensor x = Tensor::from_floats({m, k}, testing::random_floats(m * k, 2));
  const Tensor y = Tensor::empty({m, n}, DType::kF32);
  for (auto _ : state) ops::linear(x, w, y);
  state.counters["FLOP/s"] =
      benchmark::Counter(2.0 * m * n * k * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_LinearBf16)
    ->Args({8, 1408, 512})->Args({32, 1408, 512})->Args({8, 512, 1408})->Args({32, 512, 1408})
    ->Args({8, 4096, 4096})->Args({32, 4096, 4096})
    ->Unit(benchmark::kMicrosecond)->UseRealTime();

// The two bf16 kernels forced, to place the small-m / sgemm crossover (kSmallMMax).
void BM_SmallMKernel(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const Tensor w = bf16_weights(n, k);
  const auto x = testing::random_floats(m * k, 2);
  std::vector<float> y(m * n);
  for (auto _ : state)
    parallel_for(0, n, 48, [&](int64_t b, int64_t e) {
      cpu::gemm_bf16_small_m(x.data(), k, m, w.data<uint16_t>(), k, k, y.data(), n, b, e);
    });
  state.counters["FLOP/s"] =
      benchmark::Counter(2.0 * m * n * k * state.iterations(), benchmark::Counter::kIsRate);
}
void BM_PanelSgemmKernel(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const Tensor w = bf16_weights(n, k);
  const auto x = testing::random_floats(m * k, 2);
  std::vector<float> y(m * n);
  for (auto _ : state)
    parallel_for(0, n, cpu::kGemmPanelRows, [&](int64_t b, int64_t e) {
      thread_local std::vector<float> scratch;
      scratch.resize(cpu::kGemmPanelRows * k);
      cpu::gemm_bf16(x.data(), k, m, w.data<uint16_t>(), k, k, y.data(), n, b, e, scratch.data());
    });
  state.counters["FLOP/s"] =
      benchmark::Counter(2.0 * m * n * k * state.iterations(), benchmark::Counter::kIsRate);
}
#define CROSSOVER_ARGS ->Args({8, 1408, 512})->Args({16, 1408, 512})->Args({24, 1408, 512}) \
    ->Args({32, 1408, 512})->Args({64, 1408, 512})->Unit(benchmark::kMicrosecond)->UseRealTime()
BENCHMARK(BM_SmallMKernel) CROSSOVER_ARGS;
BENCHMARK(BM_PanelSgemmKernel) CROSSOVER_ARGS;

// cblas_sgemm on f32 copies of the same shapes with OpenBLAS's own threads: the FLOP/s target.
void BM_SgemmF32Blas(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const auto w = testing::random_floats(n * k, 1);
  const auto x = testing::random_floats(m * k, 2);
  std::vector<float> y(m * n);
  openblas_set_num_threads(threads());
  for (auto _ : state)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, x.data(), k, w.data(), k,
                0.0f, y.data(), n);
  openblas_set_num_threads(1);
  state.counters["FLOP/s"] =
      benchmark::Counter(2.0 * m * n * k * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SgemmF32Blas)
    ->Args({8, 1408, 512})->Args({32, 1408, 512})->Args({8, 512, 1408})->Args({32, 512, 1408})
    ->Args({32, 4096, 4096})->Args({1024, 1024, 1024})
    ->Unit(benchmark::kMicrosecond)->UseRealTime();

// One parallel_for whose chunks do nothing: the fixed cost a kernel call pays for threading.
void BM_PoolOverhead(benchmark::State& state) {
  std::atomic<int64_t> sink{0};
  for (auto _ : state)
    parallel_for(0, 1024, 1, [&](int64_t b, int64_t e) { sink.fetch_add(e - b, std::memory_order_relaxed); });
  state.counters["threads"] = threads();
}
BENCHMARK(BM_PoolOverhead)->UseRealTime();

}  // namespace
}  // namespace mlaserve

BENCHMARK_MAIN();

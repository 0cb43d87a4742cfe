#include "kernels/cuda/probes.h"

#include <algorithm>
#include <climits>
#include <vector>

#include <cuda_bf16.h>

#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/stream_buffer.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/gemm.h"

namespace mlaserve::cuda {
namespace {

constexpr int kReadThreads = 512;
constexpr int kFillThreads = 256;
constexpr unsigned kMaxIterations = 10000;

// Reads every 16-byte word of `data` once, four independent loads in flight per thread so the
// memory system sees enough outstanding requests, and folds them into one word per thread. The
// store is never taken in practice but depends on every load, so none can be optimised away.
__global__ void read_kernel(const uint4* __restrict__ data, size_t words, unsigned* sink) {
  const size_t stride = size_t{gridDim.x} * kReadThreads;
  size_t i = blockIdx.x * size_t{kReadThreads} + threadIdx.x;
  unsigned acc = 0;
  for (; i + 3 * stride < words; i += 4 * stride) {
    const uint4 a = data[i], b = data[i + stride], c = data[i + 2 * stride], d = data[i + 3 * stride];
    acc ^= (a.x ^ a.y ^ a.z ^ a.w) + (b.x ^ b.y ^ b.z ^ b.w) + (c.x ^ c.y ^ c.z ^ c.w) +
           (d.x ^ d.y ^ d.z ^ d.w);
  }
  for (; i < words; i += stride) {
    const uint4 a = data[i];
    acc ^= a.x ^ a.y ^ a.z ^ a.w;
  }
  if (acc == 0x9e3779b9u) *sink = acc;
}

// Pseudo-random bf16 values in [-1, 1) from a hash of the index (no state, any size).
__global__ void fill_kernel(__nv_bfloat16* p, size_t count, unsigned seed) {
  for (size_t i = blockIdx.x * size_t{kFillThreads} + threadIdx.x; i < count;
       i += size_t{gridDim.x} * kFillThreads) {
    unsigned h = static_cast<unsigned>(i) * 2654435761u ^ static_cast<unsigned>(i >> 32) ^ seed;
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    h *= 0x846ca68bu;
    h ^= h >> 16;
    p[i] = __float2bfloat16_rn(static_cast<float>(h >> 8) * (2.0f / 16777216.0f) - 1.0f);
  }
}

// The probe's device must exist (kUnavailable naming it otherwise).
void ensure_device(int device) {
  const int count = cuda_device_count();
  MLA_ENSURE(device >= 0 && device < count, kUnavailable, "probe: no CUDA device ", device,
             " (", count, " available)");
}

class Event {
 public:
  Event() { MLA_CUDA_CHECK(cudaEventCreate(&event_)); }
  ~Event() { cudaEventDestroy(event_); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

// Runs `launch` once untimed (clocks up, code loaded), then `iterations` times back to back,
// each between its own pair of events; returns the median time in seconds.
template <typename Launch>
double median_seconds(cudaStream_t stream, int iterations, const Launch& launch) {
  launch();
  std::vector<Event> start(static_cast<size_t>(iterations)), stop(static_cast<size_t>(iterations));
  for (int i = 0; i < iterations; ++i) {
    MLA_CUDA_CHECK(cudaEventRecord(start[i].get(), stream));
    launch();
    MLA_CUDA_CHECK(cudaEventRecord(stop[i].get(), stream));
  }
  MLA_CUDA_CHECK(cudaStreamSynchronize(stream));
  std::vector<double> seconds;
  for (int i = 0; i < iterations; ++i) {
    float ms = 0;
    MLA_CUDA_CHECK(cudaEventElapsedTime(&ms, start[i].get(), stop[i].get()));
    seconds.push_back(ms * 1e-3);
  }
  std::sort(seconds.begin(), seconds.end());
  const size_t mid = seconds.size() / 2;
  const double median =
      seconds.size() % 2 == 1 ? seconds[mid] : (seconds[mid - 1] + seconds[mid]) / 2;
  MLA_ENSURE(median > 0, kInternal, "probe: measured a median time of ", median, " s");
  return median;
}

void check_iterations(int iterations, const char* probe) {
  MLA_ENSURE(iterations >= 1 && static_cast<unsigned>(iterations) <= kMaxIterations,
             kInvalidArgument, probe, ": iterations ", iterations, " must be in [1, ",
             kMaxIterations, "]");
}

void fill(__nv_bfloat16* p, size_t count, unsigned seed, cudaStream_t stream) {
  const size_t blocks = std::min<size_t>((count + kFillThreads - 1) / kFillThreads, 4096);
  fill_kernel<<<static_cast<unsigned>(blocks), kFillThreads, 0, stream>>>(p, count, seed);
  MLA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

double hbm_read_gbps(int device, size_t bytes, int iterations) {
  check_iterations(iterations, "hbm_read_gbps");
  MLA_ENSURE(bytes >= (size_t{1} << 20), kInvalidArgument, "hbm_read_gbps: ", bytes,
             " bytes is too small to measure memory bandwidth (need >= 1 MiB; use ~1 GiB)");
  ensure_device(device);
  const DeviceScope scope(device);
  cudaStream_t stream = compute_stream(device);
  const size_t words = bytes / sizeof(uint4);
  const StreamBuffer data(words * sizeof(uint4), stream);
  const StreamBuffer sink(sizeof(unsigned), stream);
  // Written once so every page is backed and the reads see real data.
  MLA_CUDA_CHECK(cudaMemsetAsync(data.as<void>(), 0x5a, words * sizeof(uint4), stream));

  // Enough resident blocks to fill every SM, no more: each thread then strides far apart.
  int sms = 0, per_sm = 0;
  MLA_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  MLA_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, read_kernel, kReadThreads, 0));
  const unsigned blocks = static_cast<unsigned>(std::max(1, sms * std::max(1, per_sm)));
  const double seconds = median_seconds(stream, iterations, [&] {
    read_kernel<<<blocks, kReadThreads, 0, stream>>>(data.as<const uint4>(), words,
                                                     sink.as<unsigned>());
    MLA_CUDA_CHECK(cudaGetLastError());
  });
  return static_cast<double>(words * sizeof(uint4)) / seconds / 1e9;
}

double bf16_gemm_tflops(int device, int64_t m, int64_t n, int64_t k, int iterations) {
  check_iterations(iterations, "bf16_gemm_tflops");
  MLA_ENSURE(m >= 1 && n >= 1 && k >= 1 && m <= INT_MAX && n <= INT_MAX && k <= INT_MAX,
             kInvalidArgument, "bf16_gemm_tflops: m=", m, " n=", n, " k=", k,
             " must each be in [1, ", INT_MAX, "]");
  // Element counts in double first: the int64 products may overflow before cudaMalloc refuses.
  const double elements = static_cast<double>(m) * static_cast<double>(k) +
                          static_cast<double>(n) * static_cast<double>(k) +
                          static_cast<double>(m) * static_cast<double>(n);
  MLA_ENSURE(elements * 2 < 0x1p50, kInvalidArgument, "bf16_gemm_tflops: m=", m, " n=", n,
             " k=", k, " needs ", elements * 2, " bytes of operands");
  ensure_device(device);
  const DeviceScope scope(device);
  cudaStream_t stream = compute_stream(device);
  cublasHandle_t handle = cublas_handle(device);
  const size_t x_count = static_cast<size_t>(m * k), w_count = static_cast<size_t>(n * k);
  const StreamBuffer x(x_count * 2, stream);
  const StreamBuffer w(w_count * 2, stream);
  const StreamBuffer y(static_cast<size_t>(m * n) * 2, stream);
  fill(x.as<__nv_bfloat16>(), x_count, 1, stream);
  fill(w.as<__nv_bfloat16>(), w_count, 2, stream);
  const GemmArgs args{x.as<void>(), CUDA_R_16BF, k, w.as<void>(), CUDA_R_16BF, k,
                      y.as<void>(), CUDA_R_16BF, n, m, n, k};
  const double seconds = median_seconds(stream, iterations, [&] { gemm_nt(handle, args); });
  return 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) /
         seconds / 1e12;
}

}  // namespace mlaserve::cuda

#pragma once
// Roofline probes: what this GPU actually delivers, measured the way the model uses it, so a GPU
// run of `bench decode --device cuda` can state its step times against the machine's real
// bandwidth and GEMM throughput rather than a datasheet (an H100 SXM's 3.35 TB/s and 989 TFLOP/s
// bf16 dense are upper bounds a kernel rarely reaches).
//
// Both run on the device's compute stream (context.h), after whatever is already queued there,
// time each iteration with CUDA events and return the median; they wait on the host, so call
// them between steps, never inside one. Device memory they need is allocated stream-ordered and
// freed before they return. The calling thread's current device is left unchanged.
// Errors: kInvalidArgument for bad sizes (checked before touching the device), kUnavailable when
// the device does not exist, kResourceExhausted when the buffers do not fit.
#include <cstddef>
#include <cstdint>

namespace mlaserve::cuda {

// HBM read bandwidth in GB/s (1e9 bytes/s): a read-and-reduce kernel streams `bytes` (rounded
// down to a multiple of 16) of device memory once per iteration. Use a buffer much larger than
// the L2 cache (40 MiB on A100, 50 MiB on H100) — 1 GiB is a good default — or the probe
// measures L2. Needs bytes >= 1 MiB and iterations >= 1 (one untimed warm-up run precedes them).
double hbm_read_gbps(int device, size_t bytes, int iterations);

// Dense bf16 GEMM throughput in TFLOP/s (2·m·n·k flops per iteration), through the same cuBLAS
// call as linear layers (ops::linear: bf16 × bf16, f32 accumulation, bf16 output) on
// pseudo-random data (zeros would let the tensor cores run cooler and faster than real weights).
// Needs m, n, k in [1, INT_MAX] and iterations >= 1 (one untimed warm-up run precedes them).
double bf16_gemm_tflops(int device, int64_t m, int64_t n, int64_t k, int iterations);

}  // namespace mlaserve::cuda

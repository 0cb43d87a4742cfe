#pragma once
// How a GPU rank splits its memory (vLLM's --gpu-memory-utilization): the share U of the GPU's
// total memory this rank may occupy — weights, latent cache and workspace together. Measured
// after the weights are uploaded, so what is in use then (weights, the CUDA context, NCCL, any
// other process on the GPU) is known rather than estimated; the workspace for a step's
// activations is estimated from the shapes (gpu_workspace_bytes) and the cache gets the rest.
#include <cstdint>
#include <string>

#include "runtime/core/dtype.h"
#include "runtime/model/config.h"

namespace mlaserve {

struct GpuMemoryPlan {
  double utilization = 0;     // U
  int64_t total_bytes = 0;    // the GPU's memory
  int64_t in_use_bytes = 0;   // total − free when planned: weights, contexts, other processes
  int64_t workspace_bytes = 0;
  int64_t cache_bytes = 0;    // what the latent cache may take
  // "U 0.90 of 141.0 GiB: 12.3 GiB in use (weights, context), workspace 1.5 GiB, cache 113.1 GiB"
  std::string describe() const;
};

// `requested_cache_bytes` 0: the cache takes everything left under U; else exactly that much,
// which must fit (kInvalidArgument naming --kv-cache-memory and --gpu-memory-utilization).
// kInvalidArgument unless 0 < utilization <= 1; kResourceExhausted, naming the figures, when
// nothing is left for the cache.
GpuMemoryPlan plan_gpu_memory(double utilization, int64_t free_bytes, int64_t total_bytes,
                              int64_t workspace_bytes, int64_t requested_cache_bytes);

// Device memory one forward step of up to `max_tokens` tokens may allocate on a rank of TP size
// `tp` (activations of every op alive at once, f32 throughout, with a 2x margin), plus a fixed
// 512 MiB for cuBLAS / NCCL workspaces. An estimate: a GPU run reports the pool's peak to check
// it against (docs/cuda.md).
int64_t gpu_workspace_bytes(const ModelConfig& config, int tp, int64_t max_tokens);

}  // namespace mlaserve

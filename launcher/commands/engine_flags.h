#pragma once
// The engine's flags (docs/engine.md "Flags"), shared by `generate` and `bench throughput` and
// forwarded verbatim to their TP workers.
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/dtype.h"
#include "runtime/engine/generator.h"

namespace CLI {
class App;
}

namespace mlaserve {

struct EngineFlags {
  int64_t max_num_batched_tokens = 2048;
  int64_t max_num_seqs = 256;
  std::string kv_cache_memory;   // bytes (see parse_byte_size); empty: enough for all prompts
  double kv_cache_fraction = 0;  // of MemAvailable, instead of --kv-cache-memory; 0: unset
  int64_t block_size = 64;
  bool no_prefix_caching = false;
  double gpu_memory_utilization = 0.9;  // --device cuda: share of the GPU for this worker
};

void add_engine_options(CLI::App& cmd, EngineFlags& flags);
// Every engine flag, even at its default: a worker must not depend on defaults matching.
std::vector<std::string> engine_args(const EngineFlags& flags);
// The settings the flags ask for, the cache in `cache_dtype` (kInvalidArgument naming the flag).
// --kv-cache-fraction is resolved against this process's MemAvailable now.
GenerateOptions engine_options(const EngineFlags& flags, DType cache_dtype);

}  // namespace mlaserve

#pragma once
// The flags a serving replica runs with (model, dtype, the engine flags of engine_flags.h),
// shared by `mlaserve serve` (which checks them and hands them to its workers) and
// `mlaserve worker ... serve` (which runs a replica with them).
#include <cstdint>
#include <string>
#include <vector>

#include "launcher/commands/engine_flags.h"
#include "runtime/engine/engine.h"

namespace CLI {
class App;
}

namespace mlaserve {

struct ServeJobFlags {
  std::string model;
  std::string dtype = "float32";
  EngineFlags engine;
};

// Without --kv-cache-memory / --kv-cache-fraction a CPU replica's latent cache gets this budget
// (`generate`'s default, enough for its known prompts, has no meaning for a server); a GPU
// replica's takes what --gpu-memory-utilization leaves.
constexpr int64_t kDefaultServeKvCacheBytes = int64_t{256} << 20;

void add_serve_job_options(CLI::App& cmd, ServeJobFlags& flags);
// The flags as arguments add_serve_job_options parses back (every one, defaults included).
std::vector<std::string> serve_job_args(const ServeJobFlags& flags);

// kInvalidArgument naming the flag.
DType serve_job_dtype(const ServeJobFlags& flags);
EngineConfig serve_engine_config(const ServeJobFlags& flags, const ModelConfig& config,
                                 Device device = Device::cpu());

}  // namespace mlaserve

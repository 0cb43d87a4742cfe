#include "launcher/commands/serve_job.h"

#include "CLI/CLI.hpp"
#include "runtime/core/error.h"
#include "runtime/engine/cache_budget.h"

namespace mlaserve {

void add_serve_job_options(CLI::App& cmd, ServeJobFlags& f) {
  cmd.add_option("--model", f.model, "Checkpoint directory (config.json + safetensors)")
      ->required();
  cmd.add_option("--dtype", f.dtype, "Activations and KV cache: float32 or bfloat16")
      ->capture_default_str();
  add_engine_options(cmd, f.engine);
  // generate's default (enough for its known prompts) has no meaning for a server.
  cmd.get_option("--kv-cache-memory")
      ->description("Latent-cache budget per replica, e.g. 512MiB (default: 256MiB)");
}

std::vector<std::string> serve_job_args(const ServeJobFlags& f) {
  std::vector<std::string> a = {"--model", f.model, "--dtype", f.dtype};
  const std::vector<std::string> engine = engine_args(f.engine);
  a.insert(a.end(), engine.begin(), engine.end());
  return a;
}

DType serve_job_dtype(const ServeJobFlags& f) {
  const DType dtype = parse_dtype(f.dtype);
  MLA_ENSURE(dtype == DType::kF32 || dtype == DType::kBF16, kInvalidArgument,
             "--dtype must be float32 or bfloat16, got ", f.dtype);
  return dtype;
}

EngineConfig serve_engine_config(const ServeJobFlags& f, const ModelConfig& config,
                                 Device device) {
  const GenerateOptions o = engine_options(f.engine, serve_job_dtype(f));
  EngineConfig c;
  c.cache_dtype = o.cache_dtype;
  c.block_size = o.block_size;
  c.gpu_memory_utilization = o.gpu_memory_utilization;
  // A GPU worker's cache, like vLLM's, takes what --gpu-memory-utilization leaves (num_blocks 0)
  // unless --kv-cache-memory names a size.
  const bool fill_gpu = !device.is_cpu() && o.kv_cache_bytes == 0;
  c.num_blocks = fill_gpu ? 0
                          : blocks_for_budget(config, c.cache_dtype, c.block_size,
                                              o.kv_cache_bytes > 0 ? o.kv_cache_bytes
                                                                   : kDefaultServeKvCacheBytes);
  c.prefix_caching = o.prefix_caching;
  c.scheduler = o.scheduler;
  return c;
}

}  // namespace mlaserve

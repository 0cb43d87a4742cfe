// `mlaserve make-model`: a random-weight checkpoint for a config, in the HF layout.
#include <cstdio>
#include <memory>

#include "CLI/CLI.hpp"
#include "launcher/commands/commands.h"
#include "launcher/exit_code.h"
#include "runtime/model/make_model.h"

namespace mlaserve {

void add_make_model_command(CLI::App& app, std::function<int()>& action) {
  struct Options {
    std::string config;
    uint64_t seed = 0;
    std::string out;
    uint64_t shard_size = 0;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "make-model", "Write a random-weight bf16 checkpoint (HF DeepSeek-V2 layout) for a config");
  cmd->add_option("--config", opts->config, "config.json (or a directory holding one)")->required();
  cmd->add_option("--seed", opts->seed, "Random seed; the same seed gives identical files")->required();
  cmd->add_option("--out", opts->out, "Output directory (must not exist or be empty)")->required();
  cmd->add_option("--shard-size", opts->shard_size,
                  "Split into shards of at most this many bytes, with model.safetensors.index.json");
  cmd->callback([opts, &action] {
    action = [opts] {
      const ModelConfig config = load_model_config(opts->config);
      const std::optional<uint64_t> shard =
          opts->shard_size > 0 ? std::optional<uint64_t>(opts->shard_size) : std::nullopt;
      const MakeModelResult r = make_random_model(config, opts->seed, opts->out, shard);
      std::printf("wrote %s: %llu bytes of bf16 weights in %d file%s\n", opts->out.c_str(),
                  static_cast<unsigned long long>(r.total_bytes), r.num_files,
                  r.num_files == 1 ? "" : "s");
      return kExitOk;
    };
  });
}

}  // namespace mlaserve

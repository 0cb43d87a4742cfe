// `mlaserve generate`: offline generation on the CPU or a GPU for one prompt or a file of prompts
// (all submitted to the engine at once), greedy or sampled, with optional logits dumps and
// logprobs. With --tp T > 1 (or --ep > 1) this process becomes the launcher: it checks the
// layout, the GPUs and the prompts, then runs T workers (launcher/local_launch.h) and forwards
// rank 0's output.
#include "CLI/CLI.hpp"
#include "launcher/commands/commands.h"
#include "launcher/commands/device_flag.h"
#include "launcher/commands/generate_job.h"
#include "launcher/commands/parallel_flags.h"
#include "launcher/local_launch.h"
#include "launcher/worker_device.h"
#include "runtime/core/error.h"
#include "runtime/engine/step_executor.h"
#include "runtime/model/deepseek_v2.h"

namespace mlaserve {
namespace {

int run_generate(const GenerateFlags& f, const ParallelFlags& p, const std::string& device) {
  // Bad input is reported before any model is loaded or any process is spawned.
  const DType dtype = generate_job_dtype(f);
  generate_job_options(f);
  generate_job_requests(f);
  if (p.single_process()) {
    const Device on = prepare_single_process_device(device);
    auto model = DeepseekV2Model::load(f.model, dtype, {}, on);
    LocalStepExecutor local(*model);
    return run_generate_job(f, *model, local);
  }
  LocalLaunch launch{p.tp, p.ep, p.timeout_s, device, {"generate"}};
  const std::vector<std::string> args = generate_job_args(f);
  launch.job_args.insert(launch.job_args.end(), args.begin(), args.end());
  return launch_local_workers(f.model, launch);
}

}  // namespace

void add_generate_command(CLI::App& app, std::function<int()>& action) {
  auto flags = std::make_shared<GenerateFlags>();
  auto parallel = std::make_shared<ParallelFlags>();
  auto device = std::make_shared<std::string>("cpu");
  CLI::App* cmd = app.add_subcommand("generate", "Generate tokens for prompts of token ids");
  add_generate_job_options(*cmd, *flags);
  add_parallel_options(*cmd, *parallel,
                       "Tensor-parallel ranks: > 1 runs that many worker processes");
  add_device_option(*cmd, *device);
  cmd->callback([flags, parallel, device, &action] {
    action = [flags, parallel, device] { return run_generate(*flags, *parallel, *device); };
  });
}

}  // namespace mlaserve

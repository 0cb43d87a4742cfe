// `mlaserve generate`: offline generation on CPU for one prompt or a file of prompts (all
// submitted to the engine at once), greedy or sampled, with optional logits dumps and logprobs.
// With --tp T > 1 (or --ep > 1) this process becomes the launcher: it checks the layout and the
// prompts, then runs T workers (launcher/local_launch.h) and forwards rank 0's output.
#include "CLI/CLI.hpp"
#include "launcher/commands/commands.h"
#include "launcher/commands/generate_job.h"
#include "launcher/commands/parallel_flags.h"
#include "launcher/local_launch.h"
#include "runtime/core/error.h"
#include "runtime/engine/step_executor.h"
#include "runtime/model/deepseek_v2.h"

namespace mlaserve {
namespace {

int run_generate(const GenerateFlags& f, const ParallelFlags& p) {
  // Bad input is reported before any model is loaded or any process is spawned.
  const DType dtype = generate_job_dtype(f);
  generate_job_options(f);
  generate_job_requests(f);
  if (p.single_process()) {
    auto model = DeepseekV2Model::load(f.model, dtype);
    LocalStepExecutor local(*model);
    return run_generate_job(f, *model, local);
  }
  LocalLaunch launch{p.tp, p.ep, p.timeout_s, {"generate"}};
  const std::vector<std::string> args = generate_job_args(f);
  launch.job_args.insert(launch.job_args.end(), args.begin(), args.end());
  return launch_local_workers(f.model, launch);
}

}  // namespace

void add_generate_command(CLI::App& app, std::function<int()>& action) {
  auto flags = std::make_shared<GenerateFlags>();
  auto parallel = std::make_shared<ParallelFlags>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate tokens on CPU for prompts of token ids");
  add_generate_job_options(*cmd, *flags);
  add_parallel_options(*cmd, *parallel,
                       "Tensor-parallel ranks: > 1 runs that many worker processes");
  cmd->callback([flags, parallel, &action] {
    action = [flags, parallel] { return run_generate(*flags, *parallel); };
  });
}

}  // namespace mlaserve

// `mlaserve worker [rank flags] generate [generate flags]`: one rank of a TP job. Started by the
// launcher (generate --tp T) or by a cluster scheduler (srun / mpirun: rank from the env).
// Rank 0 runs the job and prints exactly what single-process generate prints; the other ranks
// follow its step plans and print nothing on stdout.
#include <cstdio>

#include "CLI/CLI.hpp"
#include "launcher/commands/commands.h"
#include "launcher/commands/generate_job.h"
#include "launcher/rank_model.h"
#include "launcher/worker_session.h"
#include "runtime/core/error.h"
#include "runtime/engine/replicated_steps.h"

namespace mlaserve {
namespace {

int run_worker_generate(const WorkerFlags& wf, const GenerateFlags& gf) {
  const DType dtype = generate_job_dtype(gf);
  WorkerSession s = join_world(wf);
  auto model = load_model_for_rank(gf.model, dtype, s.world, *s.tp_group);
  if (!s.world.is_leader()) {
    const int64_t steps = run_follower(*model, *s.control, /*root=*/0);
    std::fprintf(stderr, "follower done after %lld forward steps\n",
                 static_cast<long long>(steps));
    return 0;
  }
  LeaderStepExecutor leader(*model, *s.control);
  int rc = 0;
  try {
    rc = run_generate_job(gf, *model, leader);
  } catch (const Error&) {
    // Release the followers so they exit cleanly instead of waiting out their timeout; if the
    // group itself is broken this fails too, and the original error is the one to report.
    try {
      leader.stop();
    } catch (const Error&) {
    }
    throw;
  }
  leader.stop();
  return rc;
}

}  // namespace

void add_worker_command(CLI::App& app, std::function<int()>& action) {
  auto wf = std::make_shared<WorkerFlags>();
  auto gf = std::make_shared<GenerateFlags>();
  CLI::App* cmd = app.add_subcommand(
      "worker", "One rank of a tensor-parallel job (started by the launcher, srun or mpirun)");
  add_worker_options(*cmd, *wf);
  cmd->require_subcommand(1);
  CLI::App* gen = cmd->add_subcommand("generate", "The generate job (flags as for generate)");
  add_generate_job_options(*gen, *gf);
  gen->callback([wf, gf, &action] { action = [wf, gf] { return run_worker_generate(*wf, *gf); }; });
}

}  // namespace mlaserve

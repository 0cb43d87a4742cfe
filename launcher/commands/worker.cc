// `mlaserve worker [rank flags] generate [generate flags]` (or `bench decode|throughput [bench
// flags]`): one rank of a TP job. Started by the launcher (generate / bench --tp T) or by a
// cluster scheduler (srun / mpirun: rank from the env).
// Rank 0 runs the job and prints exactly what single-process generate prints; the other ranks
// follow its step plans and print nothing on stdout.
#include <cstdio>

#include "CLI/CLI.hpp"
#include "launcher/commands/bench_job.h"
#include "launcher/commands/commands.h"
#include "launcher/commands/device_flag.h"
#include "launcher/commands/generate_job.h"
#include "launcher/decode_step_report.h"
#include "launcher/rank_model.h"
#include "launcher/worker_session.h"
#include "runtime/core/error.h"
#include "runtime/engine/replicated_steps.h"

namespace mlaserve {
namespace {

// Runs `job` (the leader's side of it) and releases the followers however it ends.
template <typename Job>
int lead(LeaderStepExecutor& leader, Job&& job) {
  int rc = 0;
  try {
    rc = job();
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

// "kv cache checksum rank R: HEX" on stderr: every rank of a job prints one at the end, and they
// must agree (the followers mirror the leader's block tables; tests compare them).
void print_cache_checksum(int rank, uint64_t checksum) {
  std::fprintf(stderr, "kv cache checksum rank %d: %016llx\n", rank,
               static_cast<unsigned long long>(checksum));
}

int follow(const DeepseekV2Model& model, WorkerSession& s, const FollowerStepObserver& observer) {
  uint64_t checksum = 0;
  const int64_t steps = run_follower(model, *s.control, /*root=*/0, observer, &checksum);
  std::fprintf(stderr, "follower done after %lld forward steps\n", static_cast<long long>(steps));
  print_cache_checksum(s.world.rank(), checksum);
  return 0;
}

int run_worker_generate(const WorkerFlags& wf, const GenerateFlags& gf) {
  const DType dtype = generate_job_dtype(gf);
  WorkerSession s = join_world(wf);
  auto model = load_model_for_rank(gf.model, dtype, s.world, *s.tp_group, s.device);
  if (!s.world.is_leader()) return follow(*model, s, {});
  LeaderStepExecutor leader(*model, *s.control);
  uint64_t checksum = 0;
  const int rc = lead(leader, [&] { return run_generate_job(gf, *model, leader, &checksum); });
  print_cache_checksum(s.world.rank(), checksum);
  return rc;
}

int run_worker_bench_decode(const WorkerFlags& wf, const BenchFlags& bf) {
  const DType dtype = bench_dtype(bf);
  WorkerSession s = join_world(wf);
  auto model = load_model_for_rank(bf.model, dtype, s.world, *s.tp_group, s.device);
  if (s.world.is_leader()) {
    LeaderStepExecutor leader(*model, *s.control);
    const BenchGroups groups{s.tp_group.get(), s.control.get(), s.world.rank(), s.world.tp()};
    return lead(leader, [&] { return run_bench_decode_job(bf, *model, leader, groups); });
  }
  // Followers report their own decode steps (one token per sequence) on stderr. The TP group is
  // used only inside forward, so its stats between two observed steps belong to one forward.
  DecodeStepReport report;
  parallel::CommunicationStats last = s.tp_group->stats();
  follow(*model, s, [&](const StepPlan& plan, double seconds) {
    const parallel::CommunicationStats now = s.tp_group->stats();
    bool decode = true;
    for (const auto& seq : plan.sequences) decode = decode && seq.tokens.size() == 1;
    if (decode)
      report.record(static_cast<int64_t>(plan.sequences.size()), seconds, now - last, {});
    last = now;
  });
  report.print(stderr, model->config(), s.world.rank(), s.world.tp());
  return 0;
}

int run_worker_bench_throughput(const WorkerFlags& wf, const ThroughputFlags& tf) {
  const DType dtype = bench_throughput_dtype(tf);
  WorkerSession s = join_world(wf);
  auto model = load_model_for_rank(tf.model, dtype, s.world, *s.tp_group, s.device);
  if (!s.world.is_leader()) return follow(*model, s, {});
  LeaderStepExecutor leader(*model, *s.control);
  return lead(leader, [&] { return run_bench_throughput_job(tf, *model, leader); });
}

}  // namespace

void add_worker_command(CLI::App& app, std::function<int()>& action) {
  auto wf = std::make_shared<WorkerFlags>();
  auto gf = std::make_shared<GenerateFlags>();
  CLI::App* cmd = app.add_subcommand(
      "worker", "One rank of a tensor-parallel job (started by the launcher, srun or mpirun)");
  add_worker_options(*cmd, *wf);
  add_device_option(*cmd, wf->device);
  cmd->require_subcommand(1);
  CLI::App* gen = cmd->add_subcommand("generate", "The generate job (flags as for generate)");
  add_generate_job_options(*gen, *gf);
  gen->callback([wf, gf, &action] { action = [wf, gf] { return run_worker_generate(*wf, *gf); }; });
  auto bf = std::make_shared<BenchFlags>();
  CLI::App* bench = cmd->add_subcommand("bench", "A benchmark job (flags as for bench)");
  bench->require_subcommand(1);
  CLI::App* decode = bench->add_subcommand("decode", "The bench decode job");
  add_bench_decode_options(*decode, *bf);
  decode->callback(
      [wf, bf, &action] { action = [wf, bf] { return run_worker_bench_decode(*wf, *bf); }; });
  auto tf = std::make_shared<ThroughputFlags>();
  CLI::App* throughput = bench->add_subcommand("throughput", "The bench throughput job");
  add_bench_throughput_options(*throughput, *tf);
  throughput->callback(
      [wf, tf, &action] { action = [wf, tf] { return run_worker_bench_throughput(*wf, *tf); }; });
  add_worker_serve_command(*cmd, wf, action);
}

}  // namespace mlaserve

// `mlaserve worker [rank flags] serve [serve flags] --replica K --coordinator HOST:PORT`: one
// rank of a serving replica, spawned by `mlaserve serve`. Every rank loads its shard; the
// replica's leader (TP rank 0) then registers with the coordinator and runs the Engine
// (rpc/replica_leader.h) while the followers mirror its step plans, until the coordinator sends
// Shutdown. With every heartbeat (1 s) the leader also sends its followers a keep-alive plan, so
// their --timeout bounds a dead leader even when the replica idles.
#include <csignal>
#include <cstdio>

#include "CLI/CLI.hpp"
#include "launcher/commands/commands.h"
#include "launcher/commands/serve_job.h"
#include "launcher/rank_model.h"
#include "launcher/worker_session.h"
#include "rpc/auth_token.h"
#include "rpc/replica_leader.h"
#include "runtime/core/error.h"
#include "runtime/engine/replicated_steps.h"

namespace mlaserve {
namespace {

struct ReplicaFlags {
  int replica = 0;
  std::string coordinator;
  double heartbeat_s = 1.0;
};

int run_worker_serve(const WorkerFlags& wf, const ServeJobFlags& sf, const ReplicaFlags& rf) {
  // Ctrl-C in the terminal reaches the whole process group; `serve` decides when its workers
  // stop (after draining), so they leave SIGINT to it.
  std::signal(SIGINT, SIG_IGN);
  const DType dtype = serve_job_dtype(sf);
  WorkerSession s = join_world(wf);
  auto model = load_model_for_rank(sf.model, dtype, s.world, *s.tp_group, s.device);
  if (!s.world.is_leader()) {
    const int64_t steps = run_follower(*model, *s.control, /*root=*/0);
    std::fprintf(stderr, "follower done after %lld forward steps\n",
                 static_cast<long long>(steps));
    return 0;
  }
  const EngineConfig config = serve_engine_config(sf, model->config(), s.device);
  LeaderStepExecutor executor(*model, *s.control);
  try {
    Engine engine(*model, executor, config);
    engine.warm_up();  // before registering: the first request must not pay the first step
    rpc::LeaderOptions options;
    options.coordinator = rf.coordinator;
    options.token = rpc::cluster_token_from_env();  // from `serve`: argv would show it in ps
    options.replica = rf.replica;
    options.num_blocks = engine.config().num_blocks;
    options.block_size = engine.config().block_size;
    options.heartbeat_interval =
        std::chrono::milliseconds(static_cast<int64_t>(rf.heartbeat_s * 1000));
    options.on_heartbeat = [&executor] { executor.keep_alive(); };
    run_replica_leader(engine, options);
  } catch (const Error&) {
    // Release the followers so they exit at once rather than at their timeout; if the group is
    // what broke, this fails too and the original error is the one to report.
    try {
      executor.stop();
    } catch (const Error&) {
    }
    throw;
  }
  executor.stop();
  return 0;
}

}  // namespace

void add_worker_serve_command(CLI::App& worker, std::shared_ptr<WorkerFlags> wf,
                              std::function<int()>& action) {
  auto sf = std::make_shared<ServeJobFlags>();
  auto rf = std::make_shared<ReplicaFlags>();
  CLI::App* cmd = worker.add_subcommand("serve", "A serving replica's rank (started by serve)");
  add_serve_job_options(*cmd, *sf);
  cmd->add_option("--replica", rf->replica, "Which replica this rank belongs to")->required();
  cmd->add_option("--coordinator", rf->coordinator, "The coordinator's HOST:PORT")->required();
  cmd->add_option("--heartbeat", rf->heartbeat_s,
                  "Seconds between the leader's heartbeats (and its followers' keep-alives); "
                  "keep it well below --timeout")
      ->capture_default_str();
  cmd->callback([wf, sf, rf, &action] {
    action = [wf, sf, rf] { return run_worker_serve(*wf, *sf, *rf); };
  });
}

}  // namespace mlaserve

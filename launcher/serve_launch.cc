#include "launcher/serve_launch.h"

#include "launcher/worker_device.h"
#include "runtime/core/error.h"

namespace mlaserve {

void check_serve_layout(const ServeLayout& l) {
  MLA_ENSURE(l.tp >= 1, kInvalidArgument, "--tp must be >= 1, got ", l.tp);
  MLA_ENSURE(l.replicas >= 1, kInvalidArgument, "--replicas must be >= 1, got ", l.replicas);
  MLA_ENSURE(l.nnodes >= 1, kInvalidArgument, "--nnodes must be >= 1, got ", l.nnodes);
  MLA_ENSURE(l.node_rank >= 0 && l.node_rank < l.nnodes, kInvalidArgument,
             "--node-rank must be in [0, ", l.nnodes, "), got ", l.node_rank);
  MLA_ENSURE(l.replicas * l.tp % l.nnodes == 0, kInvalidArgument, "--replicas ", l.replicas,
             " x --tp ", l.tp, " = ", l.replicas * l.tp,
             " workers do not split evenly over --nnodes ", l.nnodes);
}

namespace {

WorkerProcess worker(const ServeLayout& l, const ServeWorkerArgs& a, int local, int generation) {
  const int per_node = l.replicas * l.tp / l.nnodes;
  const int global = l.node_rank * per_node + local;
  const int replica = global / l.tp, tp_rank = global % l.tp;
  std::string job = a.job + "/replica-" + std::to_string(replica);
  if (generation > 0) job += "/gen-" + std::to_string(generation);
  WorkerProcess w;
  w.argv = {a.executable, "worker", "--rank", std::to_string(tp_rank), "--world-size",
            std::to_string(l.tp), "--local-rank", std::to_string(l.cuda ? 0 : local), "--tp",
            std::to_string(l.tp), "--ep", std::to_string(l.ep), "--store", a.coordinator,
            "--job", job, "--timeout", std::to_string(a.timeout_s), "--gloo-host", a.gloo_host,
            "--device", l.cuda ? "cuda" : "cpu", "serve"};
  w.argv.insert(w.argv.end(), a.job_args.begin(), a.job_args.end());
  w.argv.insert(w.argv.end(), {"--replica", std::to_string(replica), "--coordinator",
                               a.coordinator});
  std::vector<std::string> overrides = a.env_overrides;
  if (l.cuda) overrides.push_back(cuda_visible_devices_env(local));
  w.env = environment_with(overrides);
  return w;
}

}  // namespace

std::vector<WorkerProcess> serve_workers(const ServeLayout& l, const ServeWorkerArgs& a) {
  check_serve_layout(l);
  std::vector<WorkerProcess> workers;
  for (int local = 0; local < l.replicas * l.tp / l.nnodes; ++local)
    workers.push_back(worker(l, a, local, 0));
  return workers;
}

std::vector<WorkerProcess> replica_workers(const ServeLayout& l, const ServeWorkerArgs& a,
                                           int replica, int generation) {
  check_serve_layout(l);
  MLA_ENSURE(replica >= 0 && replica < l.replicas && generation >= 0, kInvalidArgument,
             "replica ", replica, " generation ", generation, " is outside the layout");
  const int per_node = l.replicas * l.tp / l.nnodes;
  std::vector<WorkerProcess> workers;
  for (int local = 0; local < per_node; ++local)
    if ((l.node_rank * per_node + local) / l.tp == replica)
      workers.push_back(worker(l, a, local, generation));
  return workers;
}

}  // namespace mlaserve

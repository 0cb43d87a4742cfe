// `mlaserve serve`: the coordinator (node 0) plus this node's share of the replicas × tp worker
// processes. It waits until every replica has loaded and registered (the workers' load progress
// shows on stderr), reports SERVING on grpc.health.v1, prints "mlaserve: serving on HOST:PORT"
// on stdout (the public port; the workers use a separate cluster port, docs/serve.md
// "Security"), and serves until SIGTERM / SIGINT: then it drains the requests in flight, tells the
// leaders to exit, and exits 0. A worker that dies while serving takes only its replica down: the
// replica's workers are restarted (launcher/replica_supervisor.h) up to --max-restarts times;
// serve exits 1 once no replica is left (docs/serve.md "Failures and restarts").
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "CLI/CLI.hpp"
#include "launcher/commands/commands.h"
#include "launcher/commands/device_flag.h"
#include "launcher/commands/serve_job.h"
#include "launcher/local_launch.h"
#include "launcher/process_supervisor.h"
#include "launcher/replica_supervisor.h"
#include "launcher/rank_model.h"
#include "launcher/serve_launch.h"
#include "launcher/shutdown_signal.h"
#include "launcher/worker_device.h"
#include "parallel/world.h"
#include "rpc/auth_token.h"
#include "rpc/coordinator.h"
#include "rpc/tls_files.h"
#include "runtime/core/error.h"
#include "runtime/model/config.h"

namespace mlaserve {
namespace {

using Clock = std::chrono::steady_clock;

struct ServeFlags {
  ServeJobFlags job;
  int tp = 1, ep = 1, replicas = 1;
  std::string host = "127.0.0.1";
  int port = 50051;
  std::string device = "cpu";
  int nnodes = 1, node_rank = 0;
  std::string coordinator;  // HOST:PORT of node 0's cluster port (required on the other nodes)
  // Security (docs/serve.md "Security").
  std::string tls_cert_file, tls_key_file, auth_token_file;
  std::string cluster_host = "127.0.0.1";
  int cluster_port = 0;
  std::string cluster_token_file;
  std::string gloo_host = "127.0.0.1";  // this node's workers' collective address
  int64_t max_queued_requests = 1024;
  // The workers' rendezvous and collective timeout. Idle leaders send their followers a
  // keep-alive plan every second, so it bounds a dead peer even while the server idles; longer
  // than generate's 10 s because a serving step (a long prefill chunk) may take a while.
  double timeout_s = 60;
  double load_timeout_s = 1800;
  double drain_timeout_s = 30;
  double heartbeat_timeout_s = 30;
  RestartPolicy restarts;
};

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// Workers that will not exit are killed with us (they run with PR_SET_PDEATHSIG = SIGKILL).
[[noreturn]] void abandon_workers(const char* why) {
  std::fprintf(stderr, "mlaserve: error: %s; exiting (the workers are killed with us)\n", why);
  std::fflush(stderr);
  _exit(1);
}

// The workers run under run_supervised on their own thread (it returns once all have exited).
class SupervisedWorkers {
 public:
  explicit SupervisedWorkers(std::vector<WorkerProcess> workers)
      : thread_([this, w = std::move(workers)] {
          outcome_ = run_supervised(w);
          done_ = true;
        }) {}
  ~SupervisedWorkers() {
    if (!done_) abandon_workers("leaving while the workers still run");
    if (thread_.joinable()) thread_.join();
  }
  bool done() const { return done_; }
  // True when every worker exited before `deadline`.
  bool wait(Clock::time_point deadline) {
    while (!done_ && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (done_ && thread_.joinable()) thread_.join();
    return done_;
  }
  const JobOutcome& outcome() const { return outcome_; }

 private:
  JobOutcome outcome_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// What run_serve read from the security flags' files before starting anything.
struct ServeSecrets {
  rpc::TlsKeyPair tls;     // empty: plaintext public port
  std::string auth_token;  // empty: Inference open
  std::string cluster_token;
};

bool any_interface(const std::string& host) {
  return host == "0.0.0.0" || host == "::" || host == "[::]";
}

bool is_loopback(const std::string& host) {
  return host.rfind("127.", 0) == 0 || host == "localhost" || host == "::1";
}

// Until SIGTERM / SIGINT: health follows whether any replica can take a request, and a replica
// the coordinator took out of service while its workers live (its leader went silent) has them
// recycled. False when every replica is down for good.
bool watch_replicas(rpc::Coordinator& coordinator, ReplicaSupervisor& workers, int replicas) {
  std::vector<bool> attached(replicas, true);
  bool serving = true;
  while (shutdown_signal() == 0) {
    if (workers.replicas_down() == replicas) return false;
    const auto status = coordinator.pool().status();
    bool any_healthy = false;
    for (int k = 0; k < replicas; ++k) {
      any_healthy = any_healthy || status[k].healthy;
      if (attached[k] && !status[k].attached) workers.recycle(k);
      attached[k] = status[k].attached;
    }
    if (any_healthy != serving) coordinator.set_serving(serving = any_healthy);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

int serve_node_zero(const ServeFlags& f, const ServeSecrets& secrets, const ModelConfig& config,
                    const ServeLayout& layout, ServeWorkerArgs args) {
  rpc::CoordinatorOptions options;
  options.host = f.host;
  options.port = f.port;
  options.tls_cert_pem = secrets.tls.cert_pem;
  options.tls_key_pem = secrets.tls.key_pem;
  options.auth_token = secrets.auth_token;
  options.cluster_host = f.cluster_host;
  options.cluster_port = f.cluster_port;
  options.cluster_token = secrets.cluster_token;
  options.pool.replicas = f.replicas;
  options.pool.max_queued_requests = f.max_queued_requests;
  options.pool.heartbeat_timeout = millis(f.heartbeat_timeout_s);
  options.model.name = std::filesystem::path(f.job.model).lexically_normal().filename().string();
  if (options.model.name.empty())
    options.model.name = std::filesystem::path(f.job.model).parent_path().filename().string();
  options.model.dtype = f.job.dtype;
  options.model.tp = f.tp;
  options.model.ep = f.ep;
  options.model.bos_token_id = config.bos_token_id;
  options.model.eos_token_id = config.eos_token_id;
  options.model.limits = rpc::request_limits(config);
  auto coordinator = rpc::Coordinator::start(options);
  // Local workers reach the cluster port over loopback when it listens on every interface.
  args.coordinator = (any_interface(f.cluster_host) ? "127.0.0.1" : f.cluster_host) + ":" +
                     std::to_string(coordinator->cluster_port());
  std::fprintf(stderr,
               "mlaserve: coordinator on %s (%s%s), cluster services on %s; starting %d "
               "replica(s) x tp %d (ep %d)\n",
               coordinator->address().c_str(), secrets.tls.cert_pem.empty() ? "plaintext" : "TLS",
               secrets.auth_token.empty() ? "" : ", bearer token required",
               coordinator->cluster_address().c_str(), f.replicas, f.tp, f.ep);
  // A replica spread over several nodes cannot be respawned from one of them (docs/serve.md).
  RestartPolicy policy = f.restarts;
  if (f.nnodes > 1) policy.max_restarts = 0;
  ReplicaSupervisor workers(
      f.replicas, [&](int replica, int generation) {
        return replica_workers(layout, args, replica, generation);
      },
      policy);

  const auto start = Clock::now();
  const auto load_deadline = start + millis(f.load_timeout_s);
  auto next_report = start + std::chrono::seconds(5);
  while (coordinator->pool().attached_replicas() < f.replicas) {
    if (shutdown_signal() != 0) abandon_workers("interrupted while the replicas were loading");
    if (workers.replicas_down() > 0) {
      std::fprintf(stderr, "mlaserve: error: a replica's workers exited before it served\n");
      return workers.exit_code() == 0 ? 1 : workers.exit_code();
    }
    if (Clock::now() >= load_deadline)
      abandon_workers(str_cat("only ", coordinator->pool().attached_replicas(), " of ",
                              f.replicas, " replicas registered within --load-timeout ",
                              f.load_timeout_s, " s").c_str());
    if (Clock::now() >= next_report) {
      std::fprintf(stderr, "mlaserve: %d of %d replicas ready after %.0f s\n",
                   coordinator->pool().attached_replicas(), f.replicas,
                   std::chrono::duration<double>(Clock::now() - start).count());
      next_report += std::chrono::seconds(5);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  workers.set_restarting(true);
  coordinator->set_serving(true);
  std::printf("mlaserve: serving %s on %s (%d replica(s) x tp %d, ep %d) after %.1f s\n",
              options.model.name.c_str(), coordinator->address().c_str(), f.replicas, f.tp, f.ep,
              std::chrono::duration<double>(Clock::now() - start).count());
  std::fflush(stdout);

  if (!watch_replicas(*coordinator, workers, f.replicas)) {
    std::fprintf(stderr, "mlaserve: error: every replica is down and out of restarts; "
                 "shutting down\n");
    workers.set_restarting(false);
    coordinator->shutdown(Clock::now() + std::chrono::seconds(1));
    return 1;
  }
  workers.set_restarting(false);
  std::fprintf(stderr, "mlaserve: signal %d: draining %lld request(s) in flight (at most %.0f s)\n",
               shutdown_signal(), static_cast<long long>(coordinator->pool().in_flight()),
               f.drain_timeout_s);
  if (!coordinator->drain(Clock::now() + millis(f.drain_timeout_s)))
    std::fprintf(stderr, "mlaserve: --drain-timeout passed with %lld request(s) unfinished; "
                 "cancelling them\n", static_cast<long long>(coordinator->pool().in_flight()));
  coordinator->shutdown(Clock::now() + std::chrono::seconds(2));
  if (!workers.wait(Clock::now() + std::chrono::seconds(30)))
    abandon_workers("the workers did not exit within 30 s of shutdown");
  std::fprintf(stderr, "mlaserve: stopped\n");
  return workers.exit_code();
}

// Nodes other than 0 only run their workers; those exit when the coordinator shuts down.
int serve_other_node(const ServeFlags& f, const ServeLayout& layout, ServeWorkerArgs args) {
  args.coordinator = f.coordinator;
  SupervisedWorkers workers(serve_workers(layout, args));
  while (shutdown_signal() == 0 && !workers.done())
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (!workers.done() && !workers.wait(Clock::now() + millis(f.drain_timeout_s) +
                                       std::chrono::seconds(30)))
    abandon_workers("the workers did not exit after the signal");
  workers.wait(Clock::now());
  return workers.outcome().exit_code;
}

int run_serve(const ServeFlags& f) {
  // Everything the user can get wrong is reported before a port is opened or a worker spawned.
  const DeviceType device = parse_device_flag(f.device);
  ServeLayout layout{f.tp, f.ep, f.replicas, f.nnodes, f.node_rank, device == DeviceType::kCUDA};
  check_serve_layout(layout);
  // One GPU per worker of this node (serve_launch.h), all visible here.
  const int per_node = f.replicas * f.tp / f.nnodes;
  check_gpus_visible(device, per_node,
                     str_cat("--replicas ", f.replicas, " x --tp ", f.tp,
                             f.nnodes > 1 ? str_cat(" over --nnodes ", f.nnodes) : ""));
  MLA_ENSURE(f.node_rank == 0 || !f.coordinator.empty(), kInvalidArgument,
             "--node-rank ", f.node_rank, " needs --coordinator HOST:PORT (node 0's cluster address)");
  // A replica split over nodes has peers that cannot reach this node's loopback.
  MLA_ENSURE(f.replicas * f.tp / f.nnodes % f.tp == 0 || !is_loopback(f.gloo_host),
             kInvalidArgument, "--replicas ", f.replicas, " x --tp ", f.tp, " over --nnodes ",
             f.nnodes, " splits a replica's ranks over nodes: --gloo-host must be this node's "
             "address on the network between them, not ", f.gloo_host);
  MLA_ENSURE(f.port >= 0 && f.port < 65536, kInvalidArgument, "--port must be in [0, 65535], got ",
             f.port);
  MLA_ENSURE(f.cluster_port >= 0 && f.cluster_port < 65536, kInvalidArgument,
             "--cluster-port must be in [0, 65535], got ", f.cluster_port);
  MLA_ENSURE(f.tls_cert_file.empty() == f.tls_key_file.empty(), kInvalidArgument,
             "--tls-cert and --tls-key go together (got only ",
             f.tls_cert_file.empty() ? "--tls-key" : "--tls-cert", ")");
  // Other nodes cannot learn a token node 0 made up, so a multi-node server shares a file.
  MLA_ENSURE(f.nnodes == 1 || !f.cluster_token_file.empty(), kInvalidArgument,
             "--nnodes ", f.nnodes, " needs --cluster-token-file (the same file on every node)");
  ServeSecrets secrets;
  if (!f.tls_cert_file.empty())
    secrets.tls = rpc::load_tls_key_pair(f.tls_cert_file, f.tls_key_file);
  if (!f.auth_token_file.empty())
    secrets.auth_token = rpc::read_token_file(f.auth_token_file, "--auth-token-file");
  secrets.cluster_token = f.cluster_token_file.empty()
                              ? rpc::random_token()
                              : rpc::read_token_file(f.cluster_token_file, "--cluster-token-file");
  MLA_ENSURE(f.max_queued_requests >= 1, kInvalidArgument,
             "--max-queued-requests must be >= 1, got ", f.max_queued_requests);
  MLA_ENSURE(f.timeout_s > 2, kInvalidArgument,
             "--timeout must exceed 2 s (idle leaders send keep-alives every second), got ",
             f.timeout_s);
  MLA_ENSURE(f.restarts.max_restarts >= 0, kInvalidArgument, "--max-restarts must be >= 0, got ",
             f.restarts.max_restarts);
  MLA_ENSURE(f.load_timeout_s > 0 && f.drain_timeout_s >= 0 && f.heartbeat_timeout_s > 0,
             kInvalidArgument, "--load-timeout and --heartbeat-timeout must be positive, "
             "--drain-timeout >= 0");
  const ModelConfig config = load_model_config(f.job.model);
  validate_layout(f.job.model, parallel::WorldConfig::create(f.tp, 0, f.tp, f.ep));
  serve_engine_config(f.job, config);

  install_shutdown_handlers();
  ServeWorkerArgs args;
  args.executable = self_executable();
  // Every node derives the same job id: the ranks of a replica that spans nodes meet under it
  // in node 0's store, which lives exactly as long as this serving run.
  args.job = "serve";
  args.gloo_host = f.gloo_host;
  args.timeout_s = f.timeout_s;
  args.job_args = serve_job_args(f.job);
  args.env_overrides = {worker_threads_env(f.replicas * f.tp / f.nnodes),
                        std::string(rpc::kClusterTokenEnv) + "=" + secrets.cluster_token};
  if (f.node_rank == 0) return serve_node_zero(f, secrets, config, layout, args);
  return serve_other_node(f, layout, args);
}

}  // namespace

void add_serve_command(CLI::App& app, std::function<int()>& action) {
  auto f = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Serve the model over gRPC (mlaserve.v1.Inference) with replicas x tp workers");
  add_serve_job_options(*cmd, f->job);
  cmd->add_option("--tp", f->tp, "Tensor-parallel ranks per replica")->capture_default_str();
  cmd->add_option("--ep", f->ep, "Expert-parallel size: 1 or --tp")->capture_default_str();
  cmd->add_option("--replicas", f->replicas, "Copies of the model; requests go to the least "
                  "loaded")->capture_default_str();
  cmd->add_option("--host", f->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", f->port, "Port to listen on (0: a free one, printed at start)")
      ->capture_default_str();
  add_device_option(*cmd, f->device);
  cmd->add_option("--nnodes", f->nnodes, "Nodes the workers are spread over")
      ->capture_default_str();
  cmd->add_option("--node-rank", f->node_rank, "This node (0 hosts the coordinator)")
      ->capture_default_str();
  cmd->add_option("--coordinator", f->coordinator,
                  "Node 0's --cluster-host:--cluster-port (on nodes other than 0)");
  cmd->add_option("--tls-cert", f->tls_cert_file,
                  "PEM certificate (chain): serve the public port over TLS (with --tls-key)");
  cmd->add_option("--tls-key", f->tls_key_file, "PEM private key of --tls-cert");
  cmd->add_option("--auth-token-file", f->auth_token_file,
                  "File whose first line is a token every Inference call must send as "
                  "'authorization: Bearer <token>' (health and reflection stay open)");
  cmd->add_option("--cluster-host", f->cluster_host,
                  "Address of the internal port the workers use (Dispatch, Store)")
      ->capture_default_str();
  cmd->add_option("--gloo-host", f->gloo_host,
                  "Address this node's workers listen on for their collectives and advertise to "
                  "their peers (with a replica split over nodes: this node's address on the "
                  "network between them)")
      ->capture_default_str();
  cmd->add_option("--cluster-port", f->cluster_port,
                  "Internal port (0: a free one, printed at start)")
      ->capture_default_str();
  cmd->add_option("--cluster-token-file", f->cluster_token_file,
                  "File whose first line is the token the workers use on the internal port "
                  "(default: a random one; required with --nnodes > 1, the same on every node)");
  cmd->add_option("--max-queued-requests", f->max_queued_requests,
                  "Requests admitted and not finished, over all replicas; more get "
                  "RESOURCE_EXHAUSTED")
      ->capture_default_str();
  cmd->add_option("--timeout", f->timeout_s,
                  "Seconds for the workers' rendezvous and every collective (> 2: idle leaders "
                  "send keep-alives every second)")
      ->capture_default_str();
  cmd->add_option("--load-timeout", f->load_timeout_s,
                  "Seconds for every replica to load and register")
      ->capture_default_str();
  cmd->add_option("--drain-timeout", f->drain_timeout_s,
                  "On SIGTERM, seconds to let requests in flight finish")
      ->capture_default_str();
  cmd->add_option("--heartbeat-timeout", f->heartbeat_timeout_s,
                  "Seconds a replica leader may stay silent before it is taken out of service")
      ->capture_default_str();
  cmd->add_option("--max-restarts", f->restarts.max_restarts,
                  "Times each replica's workers are restarted after one of them dies (0: never; "
                  "--nnodes 1 only)")
      ->capture_default_str();
  cmd->callback([f, &action] { action = [f] { return run_serve(*f); }; });
}

}  // namespace mlaserve

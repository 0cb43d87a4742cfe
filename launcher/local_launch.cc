#include "launcher/local_launch.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "launcher/process_supervisor.h"
#include "launcher/rank_model.h"
#include "launcher/worker_device.h"
#include "parallel/world.h"
#include "rpc/store_service.h"
#include "runtime/core/error.h"

namespace mlaserve {

std::string self_executable() {
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  MLA_ENSURE(n > 0, kInternal, "cannot read /proc/self/exe to re-execute the workers");
  return std::string(path, n);
}

std::string worker_threads_env(int ranks) {
  if (const char* v = std::getenv("MLASERVE_NUM_THREADS"); v != nullptr && *v != '\0')
    return std::string("MLASERVE_NUM_THREADS=") + v;
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return "MLASERVE_NUM_THREADS=" + std::to_string(std::max(1, hw / ranks));
}

int launch_local_workers(const std::filesystem::path& model_dir, const LocalLaunch& launch) {
  const DeviceType device = parse_device_flag(launch.device);
  check_gpus_visible(device, launch.tp, str_cat("--tp ", launch.tp));
  const auto world = parallel::WorldConfig::create(launch.tp, 0, launch.tp, launch.ep);
  validate_layout(model_dir, world);

  const auto server = rpc::start_store_server("127.0.0.1", 0);
  const std::string exe = self_executable();
  const std::string job = "job-" + std::to_string(getpid());
  std::vector<WorkerProcess> workers;
  for (int r = 0; r < launch.tp; ++r) {
    WorkerProcess w;
    w.argv = {exe, "worker", "--rank", std::to_string(r), "--world-size",
              std::to_string(launch.tp), "--tp", std::to_string(launch.tp), "--ep",
              std::to_string(launch.ep), "--store", server->address(), "--job", job,
              "--timeout", std::to_string(launch.timeout_s), "--device", launch.device};
    std::vector<std::string> env = {worker_threads_env(launch.tp)};
    if (device == DeviceType::kCUDA) {
      // One GPU per worker, as `serve` places them: inside the worker it is device 0.
      w.argv.insert(w.argv.end(), {"--local-rank", "0"});
      env.push_back(cuda_visible_devices_env(r));
    }
    w.argv.insert(w.argv.end(), launch.job_args.begin(), launch.job_args.end());
    w.env = environment_with(env);
    workers.push_back(std::move(w));
  }
  return run_supervised(workers).exit_code;
}

}  // namespace mlaserve

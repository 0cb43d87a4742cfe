#include "launcher/worker_device.h"

#include <cstdlib>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/ops/transfer.h"

namespace mlaserve {
namespace {

// What the user can act on when no GPU is visible: a CPU-only build never sees one.
std::string no_gpu_hint() {
#if MLASERVE_WITH_CUDA
  return "check the driver and CUDA_VISIBLE_DEVICES, or use --device cpu";
#else
  return "this mlaserve was built without the CUDA backend (configure with -DMLASERVE_CUDA=ON); "
         "use --device cpu";
#endif
}

std::string visible_devices_note() {
  const char* v = std::getenv("CUDA_VISIBLE_DEVICES");
  return v == nullptr ? std::string() : str_cat(", CUDA_VISIBLE_DEVICES='", v, "'");
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> items;
  size_t start = 0;
  for (;;) {
    const size_t comma = s.find(',', start);
    items.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) return items;
    start = comma + 1;
  }
}

}  // namespace

DeviceType parse_device_flag(const std::string& flag) {
  if (flag == "cpu") return DeviceType::kCPU;
  if (flag == "cuda") return DeviceType::kCUDA;
  fail(ErrorCode::kInvalidArgument, "--device must be cpu or cuda, got '", flag, "'");
}

void check_gpus_visible(DeviceType type, int gpus_needed, const std::string& layout) {
  if (type == DeviceType::kCPU) return;
  check_gpus_visible(type, gpus_needed, layout, ops::cuda_device_count());
}

void check_gpus_visible(DeviceType type, int gpus_needed, const std::string& layout,
                        int visible) {
  if (type == DeviceType::kCPU) return;
  MLA_ENSURE(visible > 0, kFailedPrecondition,
             "--device cuda: no CUDA device is visible on this machine (CUDA device count 0",
             visible_devices_note(), "); ", no_gpu_hint());
  MLA_ENSURE(gpus_needed <= visible, kFailedPrecondition, "--device cuda: ", layout, " needs ",
             gpus_needed, " GPUs on this node, one per worker, but only ", visible,
             " CUDA device", visible == 1 ? " is" : "s are", " visible (CUDA device count ",
             visible, visible_devices_note(), ")");
}

std::string cuda_visible_devices_for(int local, const char* launcher_value) {
  MLA_ENSURE(local >= 0, kInvalidArgument, "worker index ", local, " is negative");
  if (launcher_value == nullptr) return std::to_string(local);
  const std::vector<std::string> entries = split_commas(launcher_value);
  // The CUDA runtime stops at the first entry it cannot use, so the count check before the
  // spawn has already made sure the first `local + 1` entries are devices.
  MLA_ENSURE(static_cast<size_t>(local) < entries.size() && !entries[local].empty(),
             kFailedPrecondition, "worker ", local, " needs the GPU at position ", local,
             " of CUDA_VISIBLE_DEVICES='", launcher_value, "', which lists ", entries.size());
  return entries[local];
}

std::string cuda_visible_devices_env(int local) {
  return "CUDA_VISIBLE_DEVICES=" +
         cuda_visible_devices_for(local, std::getenv("CUDA_VISIBLE_DEVICES"));
}

Device worker_device(DeviceType type, int local_rank) {
  if (type == DeviceType::kCPU) return Device::cpu();
  return worker_device(type, local_rank, ops::cuda_device_count());
}

Device worker_device(DeviceType type, int local_rank, int visible) {
  if (type == DeviceType::kCPU) return Device::cpu();
  MLA_ENSURE(visible > 0, kFailedPrecondition,
             "--device cuda: this worker sees no CUDA device (CUDA device count 0",
             visible_devices_note(), "); ", no_gpu_hint());
  if (visible == 1) return Device::cuda(0);  // its one GPU, whatever its local rank
  MLA_ENSURE(local_rank >= 0 && local_rank < visible, kFailedPrecondition,
             "--device cuda: local rank ", local_rank, " picks CUDA device ", local_rank,
             ", but this worker sees ", visible, " CUDA devices", visible_devices_note(),
             " (bind one GPU to each worker, or let it see local rank + 1 of them)");
  return Device::cuda(local_rank);
}

Device prepare_worker_device(DeviceType type, int local_rank) {
  const Device device = worker_device(type, local_rank);
  ops::init_device(device);
  return device;
}

Device prepare_single_process_device(const std::string& device_flag) {
  const DeviceType type = parse_device_flag(device_flag);
  check_gpus_visible(type, 1, "one process");
  return prepare_worker_device(type, 0);
}

}  // namespace mlaserve

#include "launcher/commands/device_flag.h"

namespace mlaserve {

void add_device_option(CLI::App& cmd, std::string& device) {
  cmd.add_option("--device", device,
                 "cpu, or cuda: one GPU per worker process (the node's GPUs in order, within "
                 "CUDA_VISIBLE_DEVICES)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
}

}  // namespace mlaserve

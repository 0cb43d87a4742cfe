#pragma once
#include <string>

namespace mlaserve {

enum class DeviceType { kCPU, kCUDA };

struct Device {
  DeviceType type = DeviceType::kCPU;
  int index = 0;

  static Device cpu() { return {DeviceType::kCPU, 0}; }
  static Device cuda(int index) { return {DeviceType::kCUDA, index}; }
  bool is_cpu() const { return type == DeviceType::kCPU; }
  bool operator==(const Device&) const = default;
  std::string name() const {
    return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
  }
};

}  // namespace mlaserve

#pragma once
// Device discovery. Safe to call on machines without a GPU or driver.
namespace mlaserve::cuda {

// Number of usable CUDA devices; 0 (never an error) when there is no driver or no device, so
// callers and tests can decide to run on CPU or skip.
int cuda_device_count();
// Makes `index` the calling thread's current device; throws kUnavailable if it does not exist.
void set_cuda_device(int index);

// Makes `device` current for the scope and restores the caller's device at its end: ranks may
// be threads of one process, each on its own device, and a call must not move its caller.
class DeviceScope {
 public:
  explicit DeviceScope(int device);
  ~DeviceScope();  // restores unchecked: no throw from a destructor
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = 0;
};

}  // namespace mlaserve::cuda

#pragma once
// Device discovery. Safe to call on machines without a GPU or driver.
namespace mlaserve::cuda {

// Number of usable CUDA devices; 0 (never an error) when there is no driver or no device, so
// callers and tests can decide to run on CPU or skip.
int cuda_device_count();
// Makes `index` the calling thread's current device; throws kUnavailable if it does not exist.
void set_cuda_device(int index);

}  // namespace mlaserve::cuda

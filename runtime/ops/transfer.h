#pragma once
// Moving tensors between devices, and the few device facts ops users need. Copies are queued on
// the device's compute stream (kernels/cuda/context.h); a copy to the CPU waits for it, so its
// result is ready to read on return.
#include "runtime/core/tensor.h"

namespace mlaserve::ops {

// A contiguous copy of `t` on `device` (t itself when it is already a contiguous tensor there).
// Strided sources are made contiguous on their own device first.
Tensor to_device(const Tensor& t, Device device);
inline Tensor to_cpu(const Tensor& t) { return to_device(t, Device::cpu()); }

// A tensor of zeros on `device` (any dtype).
Tensor zeros(const Shape& shape, DType dtype, Device device);
// Sets every element of a contiguous tensor to zero, on its device.
void zero_(const Tensor& t);

// Usable CUDA devices: 0 in a build without the CUDA backend, and on machines without a driver
// or device. Never throws.
int cuda_device_count();
// Prepares `device` for tensors (registers the CUDA allocator) and makes it the calling thread's
// current device (kernels launch there: one thread drives one GPU); kUnavailable naming the
// device and the count when it does not exist, kUnimplemented in a build without CUDA. CPU: no-op.
void init_device(Device device);
// Memory of a GPU as the driver reports it now (cudaMemGetInfo); kInvalidArgument for the CPU.
struct DeviceMemory {
  int64_t free_bytes = 0;
  int64_t total_bytes = 0;
};
DeviceMemory device_memory(Device device);
// Waits for every op queued on `device` (no-op on the CPU). Throws what a kernel failed with.
void synchronize(Device device);

}  // namespace mlaserve::ops

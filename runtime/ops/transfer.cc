#include "runtime/ops/transfer.h"

#include <cstring>

#include "runtime/core/error.h"
#include "runtime/ops/dispatch.h"

#if MLASERVE_WITH_CUDA
#include "kernels/cuda/backend.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/copy.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device.h"
#endif

namespace mlaserve::ops {

Tensor to_device(const Tensor& t, Device device) {
  constexpr std::string_view kOp = "to_device";
  MLA_ENSURE(t.defined(), kInvalidArgument, "to_device: the tensor is undefined");
  if (t.device() == device && t.is_contiguous()) return t;
  if (t.device().is_cpu() && device.is_cpu()) return t.contiguous();
  MLA_ENSURE(t.is_contiguous() || t.device().is_cpu(), kUnimplemented, "to_device: ",
             t.describe(), " is strided on a GPU; copy it to a contiguous tensor first");
  const Tensor src = t.contiguous();  // CPU sources only
  Tensor out = Tensor::empty(src.shape(), src.dtype(), device);
  if (src.nbytes() == 0) return out;
  MLA_CUDA_OP(kOp, {
    if (device.is_cpu()) {
      cudaStream_t stream = detail::stream_for(src);
      cuda::copy_device_to_host(out.raw_data(), src.raw_data(), src.nbytes(), stream);
      MLA_CUDA_CHECK(cudaStreamSynchronize(stream));
    } else if (src.device().is_cpu()) {
      // From pageable memory the copy has left the host buffer when cudaMemcpyAsync returns.
      cuda::copy_host_to_device(out.raw_data(), src.raw_data(), src.nbytes(),
                                detail::stream_for(device));
    } else {
      MLA_ENSURE(src.device() == device, kUnimplemented, "to_device: ", src.describe(), " to ",
                 device.name(), ": copies between GPUs go through NCCL");
      cuda::copy_device_to_device(out.raw_data(), src.raw_data(), src.nbytes(),
                                  detail::stream_for(device));
    }
  });
  return out;
}

Tensor zeros(const Shape& shape, DType dtype, Device device) {
  if (device.is_cpu()) return Tensor::zeros(shape, dtype);
  Tensor t = Tensor::empty(shape, dtype, device);
  zero_(t);
  return t;
}

void zero_(const Tensor& t) {
  MLA_ENSURE(t.defined() && t.is_contiguous(), kInvalidArgument, "zero_: ",
             t.defined() ? t.describe() : "undefined", " must be a contiguous tensor");
  if (t.nbytes() == 0) return;
  if (t.device().is_cpu()) {
    std::memset(t.raw_data(), 0, t.nbytes());
    return;
  }
  MLA_CUDA_OP("zero_", MLA_CUDA_CHECK(cudaMemsetAsync(t.raw_data(), 0, t.nbytes(),
                                                       detail::stream_for(t))));
}

int cuda_device_count() {
#if MLASERVE_WITH_CUDA
  return cuda::cuda_device_count();
#else
  return 0;
#endif
}

void init_device(Device device) {
  if (device.is_cpu()) return;
#if MLASERVE_WITH_CUDA
  const int count = cuda::cuda_device_count();
  MLA_ENSURE(device.index >= 0 && device.index < count, kUnavailable, "CUDA device ",
             device.index, " does not exist: this machine has ", count,
             count == 1 ? " CUDA device" : " CUDA devices",
             " (CUDA_VISIBLE_DEVICES and the driver decide which are visible)");
  cuda::init_cuda_backend();
  // Kernels launch on the calling thread's current device: a worker drives one GPU, so it
  // becomes current here, once, before any op runs.
  cuda::set_cuda_device(device.index);
  cuda::compute_stream(device.index);
#else
  detail::no_cuda_backend("init_device");
#endif
}

DeviceMemory device_memory(Device device) {
  MLA_ENSURE(!device.is_cpu(), kInvalidArgument, "device_memory: ", device.name(),
             " is not a GPU");
  DeviceMemory m;
  MLA_CUDA_OP("device_memory", {
    const cuda::DeviceScope scope(device.index);
    size_t free_bytes = 0, total_bytes = 0;
    MLA_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    m.free_bytes = static_cast<int64_t>(free_bytes);
    m.total_bytes = static_cast<int64_t>(total_bytes);
  });
  return m;
}

void synchronize(Device device) {
  if (device.is_cpu()) return;
  MLA_CUDA_OP("synchronize", cuda::synchronize(device.index));
}

}  // namespace mlaserve::ops

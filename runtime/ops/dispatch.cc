#include "runtime/ops/dispatch.h"

#include "runtime/core/error.h"

#if MLASERVE_WITH_CUDA
#include "kernels/cuda/context.h"
#endif

namespace mlaserve::ops::detail {

Device common_device(std::string_view op,
                     std::initializer_list<std::pair<std::string_view, const Tensor*>> tensors) {
  const Tensor* first = nullptr;
  std::string_view first_name;
  for (const auto& [name, t] : tensors) {
    if (t == nullptr || !t->defined()) continue;
    if (first == nullptr) {
      first = t;
      first_name = name;
      continue;
    }
    MLA_ENSURE(t->device() == first->device(), kInvalidArgument, op, ": ", name, " ",
               t->describe(), " is not on the device of ", first_name, " ", first->describe());
  }
  return first != nullptr ? first->device() : Device::cpu();
}

void no_cuda_backend(std::string_view op) {
  fail(ErrorCode::kUnimplemented, op, ": this build has no CUDA backend (configure with "
       "-DMLASERVE_CUDA=ON where nvcc, cuBLAS and NCCL are installed)");
}

#if MLASERVE_WITH_CUDA
cudaStream_t stream_for(Device device) { return cuda::compute_stream(device.index); }
cudaStream_t stream_for(const Tensor& t) { return stream_for(t.device()); }
#endif

}  // namespace mlaserve::ops::detail

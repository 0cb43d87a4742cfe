#include "kernels/cuda/nccl_util.h"

#include <cstring>

#include "kernels/cuda/cuda_check.h"

namespace mlaserve::cuda {

int nccl_version() {
  int version = 0;
  MLA_NCCL_CHECK(ncclGetVersion(&version));
  return version;
}

std::string nccl_unique_id_bytes() {
  ncclUniqueId id;
  MLA_NCCL_CHECK(ncclGetUniqueId(&id));
  return std::string(id.internal, sizeof id.internal);
}

ncclUniqueId nccl_unique_id_from_bytes(std::string_view bytes) {
  ncclUniqueId id;
  MLA_ENSURE(bytes.size() == sizeof id.internal, kInvalidArgument, "an NCCL unique id is ",
             sizeof id.internal, " bytes, got ", bytes.size());
  std::memcpy(id.internal, bytes.data(), sizeof id.internal);
  return id;
}

}  // namespace mlaserve::cuda

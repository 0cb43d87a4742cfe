#pragma once
// The parts of NCCL needed before a communicator exists: its version, and the unique id that
// rank 0 creates and every rank receives through the rendezvous Store as plain bytes.
#include <string>
#include <string_view>

#include <nccl.h>

namespace mlaserve::cuda {

int nccl_version();  // e.g. 22805 for 2.28.5
std::string nccl_unique_id_bytes();  // a fresh ncclUniqueId, NCCL_UNIQUE_ID_BYTES long
// Throws kInvalidArgument unless `bytes` is exactly NCCL_UNIQUE_ID_BYTES long.
ncclUniqueId nccl_unique_id_from_bytes(std::string_view bytes);

}  // namespace mlaserve::cuda

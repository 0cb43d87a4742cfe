#pragma once
// The one place a worker turns its rank into a model: the layout is checked against the
// checkpoint's config, and the rank's shard is loaded onto its device with the TP group it
// computes with.
#include <filesystem>
#include <memory>

#include "parallel/communicator.h"
#include "parallel/world.h"
#include "runtime/model/deepseek_v2.h"

namespace mlaserve {

// kInvalidArgument naming --tp / --ep when the heads or routed experts do not split evenly.
void validate_layout(const std::filesystem::path& model_dir, const parallel::WorldConfig& world);

// `device`: the rank's prepared device (WorkerSession::device).
std::unique_ptr<DeepseekV2Model> load_model_for_rank(const std::filesystem::path& model_dir,
                                                     DType activation_dtype,
                                                     const parallel::WorldConfig& world,
                                                     parallel::Communicator& tp_group,
                                                     Device device);

}  // namespace mlaserve

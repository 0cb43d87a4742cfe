#include "launcher/rank_model.h"

#include "runtime/core/logging.h"
#include "runtime/model/config.h"
#include "runtime/model/model_parallel.h"

namespace mlaserve {

void validate_layout(const std::filesystem::path& model_dir, const parallel::WorldConfig& world) {
  const ModelConfig c = load_model_config(model_dir / "config.json");
  mlaserve::validate_layout(c, world);
}

std::unique_ptr<DeepseekV2Model> load_model_for_rank(const std::filesystem::path& model_dir,
                                                     DType activation_dtype,
                                                     const parallel::WorldConfig& world,
                                                     parallel::Communicator& tp_group,
                                                     Device device) {
  validate_layout(model_dir, world);
  auto model = DeepseekV2Model::load(model_dir, activation_dtype, ModelParallel{world, &tp_group},
                                     device);
  // Shows that each rank read only its own slices (replicated + 1/tp of the sharded weights).
  MLA_LOG(Info) << "loaded " << world.describe() << " on " << device.name() << ": read "
                << model->checkpoint_bytes_read() << " bytes of the checkpoint";
  return model;
}

}  // namespace mlaserve

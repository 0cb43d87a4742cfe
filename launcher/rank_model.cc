#include "launcher/rank_model.h"

#include "runtime/model/config.h"

namespace mlaserve {

void validate_layout(const std::filesystem::path& model_dir, const parallel::WorldConfig& world) {
  const ModelConfig c = load_model_config(model_dir / "config.json");
  world.validate_model(c.num_attention_heads, c.n_routed_experts);
}

std::unique_ptr<DeepseekV2Model> load_model_for_rank(const std::filesystem::path& model_dir,
                                                     DType activation_dtype,
                                                     const parallel::WorldConfig& world,
                                                     parallel::Communicator& tp_group) {
  validate_layout(model_dir, world);
  // TODO(tp-merge): pass ModelParallel{world, &tp_group} as the third argument so each rank
  // loads only its heads / experts / vocabulary rows and forward() runs its collectives on
  // tp_group. Until then every rank loads the full weights and computes the whole forward
  // (tp = 1 semantics): the step plan keeps the ranks in lockstep and the tokens are the same.
  // After the merge, also log model->checkpoint_bytes_read() per rank to stderr: it shows that
  // each rank read only its own slices.
  (void)tp_group;
  return DeepseekV2Model::load(model_dir, activation_dtype);
}

}  // namespace mlaserve

#include "runtime/model/rope_options.h"

namespace mlaserve {

ops::RopeOptions rope_options(const ModelConfig& config) {
  ops::RopeOptions o;
  o.dim = config.qk_rope_head_dim;
  o.base = config.rope_theta;
  if (config.rope_scaling) {
    const YarnScaling& y = *config.rope_scaling;
    o.yarn = true;
    o.factor = y.factor;
    o.original_max_positions = y.original_max_position_embeddings;
    o.beta_fast = y.beta_fast;
    o.beta_slow = y.beta_slow;
    o.mscale = yarn_mscale(y.factor, y.mscale) / yarn_mscale(y.factor, y.mscale_all_dim);
  }
  return o;
}

}  // namespace mlaserve

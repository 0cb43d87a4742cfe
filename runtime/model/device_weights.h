#pragma once
// Putting a rank's weights on its device: every tensor this rank viewed in the checkpoint is
// uploaded once (only its slices: the CPU views are already sharded), and the structs keep the
// same shapes and the same view relations — w_uk / w_uv stay views of the uploaded kv_b_proj,
// the routed experts become views into one stacked tensor per projection (what the grouped
// expert GEMMs index), lm_head stays embed_tokens when the embeddings are tied.
#include <cstdint>

#include "runtime/core/tensor.h"
#include "runtime/model/weights.h"

namespace mlaserve {

// `cpu`: weights as load_weights returns them. Returns them on `device` (a copy of the structs,
// sharing nothing with `cpu`); `device` must have been initialised (ops::init_device).
ModelWeights upload_weights(const ModelWeights& cpu, const ModelConfig& config, Device device);

// Bytes of tensor data a ModelWeights holds, on any device (w_uk / w_uv are views of kv_b_proj
// and a tied lm_head is embed_tokens: each counted once). For the CPU views load_weights
// returns, this is what upload_weights will put on the device: the fit check runs on it before
// anything is uploaded.
int64_t weight_bytes(const ModelWeights& weights);

}  // namespace mlaserve

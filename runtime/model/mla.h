#pragma once
// Multi-head latent attention block (DESIGN.md "Model math"): projects queries and the latent
// (c_kv, k_pe), caches the latent, attends in the absorbed form, applies o_proj.
#include "runtime/core/tensor.h"
#include "runtime/model/step_context.h"
#include "runtime/model/weights.h"

namespace mlaserve {

// x: [T, hidden] (normed input); cache: this layer's [num_blocks, block_size, kv_lora + rope].
// Attends over the heads `w` holds and writes the whole latent (every rank of a TP group caches
// the same latents). Returns [T, hidden] in ctx.act, summed over the TP group: a collective.
Tensor mla_forward(const StepContext& ctx, const MlaWeights& w, const Tensor& x,
                   const Tensor& cache);

}  // namespace mlaserve

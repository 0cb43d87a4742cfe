#pragma once
// What every layer of one forward step shares: the ragged batch layout, token positions, the
// RoPE table, the activation dtype and the TP group the blocks sum their partial outputs over.
#include "parallel/communicator.h"
#include "runtime/core/tensor.h"
#include "runtime/model/config.h"
#include "runtime/ops/mla_attention.h"
#include "runtime/ops/rope.h"

namespace mlaserve {

struct StepContext {
  const ModelConfig& config;
  const ops::MlaBatch& batch;  // sequences' rows, start positions, block tables
  const Tensor& positions;     // [T] i64, absolute position of every new token
  const ops::RopeTable& rope;
  DType act;                   // dtype of activations between ops: kF32 or kBF16
  float softmax_scale;
  parallel::Communicator* tp_group = nullptr;  // null when tp == 1: no collectives at all
};

}  // namespace mlaserve

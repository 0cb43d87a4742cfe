#include <map>

#include "runtime/core/error.h"
#include "runtime/model/checkpoint_layout.h"
#include "runtime/model/safetensors.h"

namespace mlaserve {

std::string CheckpointReport::summary(size_t max_lines) const {
  if (ok()) return "ok";
  std::string text;
  size_t shown = 0, total = 0;
  for (const auto* list : {&missing, &unexpected, &bad_shape, &bad_dtype}) {
    for (const std::string& line : *list) {
      ++total;
      if (shown < max_lines) {
        text += line + "\n";
        ++shown;
      }
    }
  }
  if (total > shown) text += str_cat("... and ", total - shown, " more problems\n");
  return text;
}

CheckpointReport validate_checkpoint(const Checkpoint& checkpoint, const ModelConfig& config) {
  CheckpointReport report;
  std::map<std::string, const ExpectedTensor*> expected;
  const std::vector<ExpectedTensor> layout = checkpoint_layout(config);
  for (const ExpectedTensor& t : layout) expected[t.name] = &t;

  // The reference dtype: the embedding's, else (when it is missing) the first tensor's.
  const std::vector<std::string> names = checkpoint.tensor_names();
  std::string reference = "model.embed_tokens.weight";
  if (!checkpoint.contains(reference) && !names.empty()) reference = names.front();
  const DType dtype = checkpoint.contains(reference) ? checkpoint.info(reference).dtype : DType::kBF16;
  for (const ExpectedTensor& t : layout)
    if (!checkpoint.contains(t.name)) report.missing.push_back("missing tensor " + t.name + " " + shape_string(t.shape));

  for (const std::string& name : names) {
    const TensorInfo& info = checkpoint.info(name);
    const std::string where = name + " (in " + info.file.filename().string() + ")";
    auto it = expected.find(name);
    if (it == expected.end()) {
      report.unexpected.push_back("unexpected tensor " + where);
      continue;
    }
    if (info.shape != it->second->shape)
      report.bad_shape.push_back(str_cat("tensor ", where, " has shape ", shape_string(info.shape),
                                         ", expected ", shape_string(it->second->shape)));
    const bool floating = info.dtype == DType::kBF16 || info.dtype == DType::kF16 || info.dtype == DType::kF32;
    if (!floating || info.dtype != dtype)
      report.bad_dtype.push_back(str_cat("tensor ", where, " has dtype ", dtype_name(info.dtype),
                                         ", expected ", dtype_name(dtype), " (that of ", reference, ")"));
  }
  return report;
}

void ensure_checkpoint_matches(const Checkpoint& checkpoint, const ModelConfig& config) {
  const CheckpointReport report = validate_checkpoint(checkpoint, config);
  MLA_ENSURE(report.ok(), kInvalidArgument, checkpoint.path().string(),
             ": checkpoint does not match its config:\n", report.summary());
}

}  // namespace mlaserve

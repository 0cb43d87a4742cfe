// libFuzzer entry for the step plan decoder: the input bytes are the int64 words a follower
// would receive. A decoded plan must re-encode to the same words; a rejected one must throw
// mlaserve::Error with kDataLoss. Anything else aborts, which libFuzzer reports with the input.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/engine/step_plan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<int64_t> words(size / sizeof(int64_t));
  std::memcpy(words.data(), data, words.size() * sizeof(int64_t));
  if (!words.empty() && (data[0] & 1)) words[0] = mlaserve::kStepPlanMagic;  // get past the magic
  try {
    const mlaserve::StepPlan plan = mlaserve::decode_step_plan(words);
    if (mlaserve::encode_step_plan(plan) != words) std::abort();
  } catch (const mlaserve::Error& e) {
    if (e.code() != mlaserve::ErrorCode::kDataLoss) std::abort();
  }
  return 0;
}

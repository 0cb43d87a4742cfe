// libFuzzer entry for the coordinator's request check: the input bytes are a serialized
// GenerateRequest from the public port. A request protobuf parses must be accepted or refused
// with mlaserve::Error kInvalidArgument; anything else aborts, which libFuzzer reports with the
// input. (The CTest fuzz test, tests/rpc/request_validation_fuzz_test.cc, also checks accepted
// requests against the limits.)
#include <cstdint>
#include <cstdlib>

#include "rpc/request_validation.h"
#include "runtime/core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mlaserve::v1::GenerateRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  const mlaserve::rpc::RequestLimits limits{/*vocab_size=*/100, /*max_model_len=*/24};
  try {
    const mlaserve::EngineRequest r = mlaserve::rpc::to_engine_request(request, limits);
    if (r.prompt.empty() || static_cast<int64_t>(r.prompt.size()) + r.max_tokens > 24) std::abort();
  } catch (const mlaserve::Error& e) {
    if (e.code() != mlaserve::ErrorCode::kInvalidArgument) std::abort();
  }
  return 0;
}

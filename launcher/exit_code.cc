#include "launcher/exit_code.h"

namespace mlaserve {

int exit_code_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kNotFound:
    case ErrorCode::kOutOfRange:
    case ErrorCode::kDataLoss:
    case ErrorCode::kFailedPrecondition:
      return kExitBadInput;
    default:
      return kExitFailure;
  }
}

}  // namespace mlaserve

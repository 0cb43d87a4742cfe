#pragma once
#include "runtime/core/error.h"

namespace mlaserve {

// Process exit codes: 0 success, 2 bad input from the user (flags, files, requests), 1 anything
// else (a peer died, a deadline passed, a bug).
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitBadInput = 2;

int exit_code_for(ErrorCode code);

}  // namespace mlaserve

#pragma once
// --tp / --ep / --timeout of the commands that run one job on T local worker processes
// (`generate`, `bench decode`, `bench throughput`): one definition, one help text.
#include <string>

#include "CLI/CLI.hpp"

namespace mlaserve {

struct ParallelFlags {
  int tp = 1;
  int ep = 1;
  double timeout_s = 10;

  bool single_process() const { return tp == 1 && ep == 1; }
};

// `tp_help` says what --tp > 1 does for this command.
void add_parallel_options(CLI::App& cmd, ParallelFlags& flags, const std::string& tp_help);

}  // namespace mlaserve

#include "launcher/commands/parallel_flags.h"

namespace mlaserve {

void add_parallel_options(CLI::App& cmd, ParallelFlags& flags, const std::string& tp_help) {
  cmd.add_option("--tp", flags.tp, tp_help)->capture_default_str();
  cmd.add_option("--ep", flags.ep, "Expert-parallel size: 1 or --tp")->capture_default_str();
  cmd.add_option("--timeout", flags.timeout_s,
                 "With --tp: seconds for the workers' rendezvous and every collective")
      ->capture_default_str();
}

}  // namespace mlaserve

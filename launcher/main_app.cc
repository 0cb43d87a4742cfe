#include "launcher/main_app.h"

#include <cstdio>
#include <functional>

#include "CLI/CLI.hpp"
#include "launcher/commands/commands.h"
#include "launcher/exit_code.h"
#include "runtime/core/error.h"

namespace mlaserve {

int run_main(int argc, char** argv) {
  CLI::App app{"mlaserve: serves DeepSeek-V2-class models (MLA + DeepSeekMoE) across processes"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  std::function<int()> action;
  add_commands(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitBadInput;
  }
  try {
    return action ? action() : kExitOk;
  } catch (const Error& e) {
    std::fprintf(stderr, "mlaserve: error: %s\n", e.what());
    return exit_code_for(e.code());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mlaserve: internal error: %s\n", e.what());
    return kExitFailure;
  }
}

}  // namespace mlaserve

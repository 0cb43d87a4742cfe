#include "launcher/commands/commands.h"

#include "CLI/CLI.hpp"

namespace mlaserve {

void add_commands(CLI::App& app, std::function<int()>& action) {
  add_make_model_command(app, action);
  add_inspect_command(app, action);
  add_generate_command(app, action);
  add_bench_command(app, action);
  add_bench_serve_command(app, action);
  add_worker_command(app, action);
  add_serve_command(app, action);
  add_client_command(app, action);
}

}  // namespace mlaserve

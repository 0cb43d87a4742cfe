#pragma once
#include <functional>

namespace CLI {
class App;
}

namespace mlaserve {

// Registers every subcommand on `app`; the parsed one stores its body in `action`.
void add_commands(CLI::App& app, std::function<int()>& action);
void add_make_model_command(CLI::App& app, std::function<int()>& action);
void add_inspect_command(CLI::App& app, std::function<int()>& action);

void add_generate_command(CLI::App& app, std::function<int()>& action);  // generate.cc
void add_bench_command(CLI::App& app, std::function<int()>& action);     // bench.cc
void add_worker_command(CLI::App& app, std::function<int()>& action);    // worker.cc

}  // namespace mlaserve

#pragma once
#include <functional>
#include <memory>

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
void add_serve_command(CLI::App& app, std::function<int()>& action);     // serve.cc
void add_client_command(CLI::App& app, std::function<int()>& action);    // client.cc
// `bench serve` (bench_serve.cc), added to the `bench` command after add_bench_command.
void add_bench_serve_command(CLI::App& app, std::function<int()>& action);
// `worker ... serve`: a serving replica's rank (worker_serve.cc), a subcommand of `worker`.
struct WorkerFlags;
void add_worker_serve_command(CLI::App& worker, std::shared_ptr<WorkerFlags> flags,
                              std::function<int()>& action);

}  // namespace mlaserve

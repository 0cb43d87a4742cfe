#pragma once
// The `mlaserve` command line: one binary, one subcommand per job. Each subcommand lives in
// launcher/commands/<name>.cc and registers itself through an add_*_command function.
namespace mlaserve {

int run_main(int argc, char** argv);

}  // namespace mlaserve

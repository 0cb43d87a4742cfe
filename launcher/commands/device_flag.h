#pragma once
// --device of `generate`, `bench decode`, `bench throughput`, `serve` and `worker`: one
// definition, one help text. Anything but cpu or cuda is refused while parsing (exit 2, the
// flag named). What a GPU job then needs is checked by launcher/worker_device.h.
#include <string>

#include "CLI/CLI.hpp"

namespace mlaserve {

void add_device_option(CLI::App& cmd, std::string& device);

}  // namespace mlaserve

#pragma once
// SIGTERM / SIGINT as a request to stop: the handler only records the signal; the serving loop
// polls it, drains in-flight requests, then exits (docs/serve.md "Shutdown").
namespace mlaserve {

void install_shutdown_handlers();
int shutdown_signal();  // the first SIGTERM / SIGINT received, 0 while none

}  // namespace mlaserve

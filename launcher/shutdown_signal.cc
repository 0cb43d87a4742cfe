#include "launcher/shutdown_signal.h"

#include <csignal>

namespace mlaserve {
namespace {

volatile std::sig_atomic_t received = 0;

void record(int signal) {
  if (received == 0) received = signal;
}

}  // namespace

void install_shutdown_handlers() {
  struct sigaction action = {};
  action.sa_handler = record;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // gRPC's and the supervisor's system calls carry on
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

int shutdown_signal() { return received; }

}  // namespace mlaserve

#pragma once
// Test helpers for real child processes: fork + exec (no gRPC or thread state crosses the fork
// into anything but exec) and a bounded wait that kills a child past its deadline.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace mlaserve::testing {

// Runs args[0] with `args`; the child's pid (exit code 127 if exec failed).
inline pid_t spawn_process(const std::vector<std::string>& args) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// Exit status of `pid` (128 + signal when killed), or -1 if it has not exited by `deadline`
// (then it is killed and reaped).
inline int wait_exit(pid_t pid, std::chrono::steady_clock::time_point deadline) {
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

}  // namespace mlaserve::testing

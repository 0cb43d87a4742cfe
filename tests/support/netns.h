#pragma once
// Test-only: two "nodes" on one machine as network namespaces joined by a veth pair
// (10.231.0.1/24 in the first, 10.231.0.2/24 in the second, lo up in each), so that multi-node
// code meets real addresses, a real link and real link failures. Names carry our pid, so tests
// running at once do not collide; the destructor deletes both namespaces (and with them the veth
// pair). Needs root or CAP_NET_ADMIN and iproute2's `ip`: where it cannot, `skip_reason()` says
// why and the test skips.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "tests/launcher/run_cli.h"

namespace mlaserve::testing {

// `command` under a hard deadline (coreutils timeout), with its exit code and output.
inline CliResult run_shell(const std::string& command, int deadline_s = 10) {
  CliResult r;
  const std::string bounded = "timeout -s KILL " + std::to_string(deadline_s) + " " + command +
                              " 2>&1";
  std::FILE* pipe = ::popen(bounded.c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class NetnsPair {
 public:
  static constexpr const char* kAddressA = "10.231.0.1";
  static constexpr const char* kAddressB = "10.231.0.2";

  NetnsPair()
      : a_("mlaserve-a-" + std::to_string(getpid())),
        b_("mlaserve-b-" + std::to_string(getpid())),
        veth_a_("mla" + std::to_string(getpid()) + "a"),
        veth_b_("mla" + std::to_string(getpid()) + "b") {
    if (run_shell("ip -V").exit_code != 0) {
      skip_reason_ = "iproute2's `ip` is not installed";
      return;
    }
    const CliResult add = run_shell("ip netns add " + a_);
    if (add.exit_code != 0) {
      skip_reason_ = "cannot create a network namespace (needs root or CAP_NET_ADMIN): " +
                     add.output;
      return;
    }
    created_a_ = true;
    created_b_ = run_shell("ip netns add " + b_).exit_code == 0;
    for (const std::string& step :
         {"ip link add " + veth_a_ + " type veth peer name " + veth_b_,
          "ip link set " + veth_a_ + " netns " + a_, "ip link set " + veth_b_ + " netns " + b_,
          in(a_, "ip addr add " + std::string(kAddressA) + "/24 dev " + veth_a_),
          in(b_, "ip addr add " + std::string(kAddressB) + "/24 dev " + veth_b_),
          in(a_, "ip link set lo up"), in(b_, "ip link set lo up"),
          in(a_, "ip link set " + veth_a_ + " up"), in(b_, "ip link set " + veth_b_ + " up")}) {
      const CliResult r = created_b_ ? run_shell(step) : CliResult{1, "second namespace"};
      if (r.exit_code != 0) {
        setup_error_ = step + ": " + r.output;
        run_shell("ip link del " + veth_a_);  // still in the root namespace if the move failed
        return;
      }
    }
  }

  ~NetnsPair() {
    if (created_a_) run_shell("ip netns del " + a_);
    if (created_b_) run_shell("ip netns del " + b_);
  }

  NetnsPair(const NetnsPair&) = delete;
  NetnsPair& operator=(const NetnsPair&) = delete;

  // Non-empty: the machine does not let us build namespaces (skip, not fail).
  const std::string& skip_reason() const { return skip_reason_; }
  // Non-empty: we could create namespaces but not wire them (a failure).
  const std::string& setup_error() const { return setup_error_; }

  const std::string& a() const { return a_; }
  const std::string& b() const { return b_; }

  // The argv prefix that runs a command inside namespace `ns`.
  static std::vector<std::string> exec_in(const std::string& ns) {
    return {"ip", "netns", "exec", ns};
  }

  // Takes node B off the network without a word to its peers: no FIN, no RST, just silence.
  CliResult cut_b() { return run_shell(in(b_, "ip link set " + veth_b_ + " down")); }

 private:
  static std::string in(const std::string& ns, const std::string& command) {
    return "ip netns exec " + ns + " " + command;
  }

  std::string a_, b_, veth_a_, veth_b_;
  bool created_a_ = false, created_b_ = false;
  std::string skip_reason_, setup_error_;
};

// `mlaserve args...` inside namespace `ns`, killed past `deadline_s`.
inline CliResult run_mlaserve_in(const std::string& ns, const std::vector<std::string>& args,
                                 int deadline_s) {
  std::string command = "ip netns exec " + ns + " '" MLASERVE_BINARY "'";
  for (const std::string& a : args) command += " '" + a + "'";  // test arguments hold no quotes
  return run_shell(command, deadline_s);
}

// Runs `fn` in a child process that has joined namespace `ns` (network namespaces are per
// thread, and gRPC connects from its own threads, so the whole process must move: call this
// before the test process starts gRPC). Returns what `fn` returned, or "timeout"/"failed: ..."
// past `deadline`, when the child is killed.
inline std::string run_in_netns(const std::string& ns, const std::function<std::string()>& fn,
                                std::chrono::seconds deadline) {
  int out[2];
  if (pipe(out) != 0) return "failed: pipe";
  const pid_t pid = fork();
  if (pid == 0) {
    close(out[0]);
    const int fd = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    std::string result = fd >= 0 && setns(fd, CLONE_NEWNET) == 0 ? fn() : "failed: setns";
    const char* p = result.data();
    for (size_t left = result.size(); left > 0;) {
      const ssize_t n = write(out[1], p, left);
      if (n <= 0) break;
      p += n;
      left -= static_cast<size_t>(n);
    }
    _exit(0);
  }
  close(out[1]);
  std::string result;
  const auto end = std::chrono::steady_clock::now() + deadline;
  bool done = false;
  while (!done && std::chrono::steady_clock::now() < end) {
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    const ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) done = true;
    else result.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  if (!done) kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return done ? result : "timeout";
}

}  // namespace mlaserve::testing

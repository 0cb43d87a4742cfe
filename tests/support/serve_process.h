#pragma once
// Test-only: the real `mlaserve serve` as a child process (on loopback unless Options say
// another address or a wrapper such as `ip netns exec`). The constructor returns
// once the server printed "serving ... on HOST:PORT" (every replica loaded), or fails the test at
// the deadline with what the server logged. The destructor stops it with
// SIGTERM and, past a deadline, SIGKILL.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace mlaserve::testing {

class ServeProcess {
 public:
  struct Options {
    int port = 0;  // 0: a free one
    // Nodes other than 0 of a multi-node server host no coordinator and never print the line.
    bool wait_until_serving = true;
    std::chrono::seconds ready_within{120};
    std::string host = "127.0.0.1";
    // Runs `serve` under this command (e.g. `ip netns exec NS`), which must exec it in place.
    std::vector<std::string> exec_prefix = {};
  };
  // `args` follow `mlaserve serve`; --host and --port are added.
  explicit ServeProcess(const std::vector<std::string>& args) : ServeProcess(args, Options{}) {}
  ServeProcess(const std::vector<std::string>& args, const Options& options) {
    log_path_ = ::testing::TempDir() + "mlaserve_serve_" + std::to_string(getpid()) + "_" +
                std::to_string(counter()++) + ".log";
    std::vector<std::string> argv = options.exec_prefix;
    argv.insert(argv.end(), {MLASERVE_BINARY, "serve", "--host", options.host, "--port",
                             std::to_string(options.port)});
    argv.insert(argv.end(), args.begin(), args.end());
    int out[2];
    if (pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);  // its own group: a SIGKILL at the deadline reaches any worker left too
      // A test that crashes must not leave a server (and its workers) running: SIGTERM drains
      // and stops it like the destructor would.
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      const int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(out[1], STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
      close(out[0]);
      std::vector<char*> c;
      for (auto& a : argv) c.push_back(a.data());
      c.push_back(nullptr);
      execvp(c[0], c.data());
      _exit(127);
    }
    close(out[1]);
    stdout_fd_ = out[0];
    if (!options.wait_until_serving) return;
    const auto deadline = std::chrono::steady_clock::now() + options.ready_within;
    const std::regex serving("serving .* on ([0-9.]+:[0-9]+)");
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{stdout_fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      const ssize_t n = read(stdout_fd_, buf, sizeof buf);
      if (n <= 0) break;  // the server exited
      stdout_.append(buf, n);
      std::smatch m;
      if (std::regex_search(stdout_, m, serving)) {
        address_ = m[1];
        return;
      }
    }
    ADD_FAILURE() << "mlaserve serve did not become ready; stdout:\n" << stdout_ << "\nstderr:\n"
                  << log();
  }

  ~ServeProcess() {
    if (pid_ > 0 && exit_status_ < 0) stop(std::chrono::seconds(60));
    if (stdout_fd_ >= 0) close(stdout_fd_);
  }

  bool ready() const { return !address_.empty(); }
  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }
  std::string log() const {
    std::ifstream in(log_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // SIGTERM, then waits; SIGKILL past `grace`. Returns the exit code (-1: killed by a signal).
  int stop(std::chrono::seconds grace) {
    if (exit_status_ >= 0 || pid_ <= 0) return exit_code();
    kill(pid_, SIGTERM);
    return wait(grace);
  }
  int wait(std::chrono::seconds grace) {
    const auto deadline = std::chrono::steady_clock::now() + grace;
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        ADD_FAILURE() << "mlaserve serve did not exit within " << grace.count() << " s";
        kill(-pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      usleep(20000);
    }
    exit_status_ = status;
    return exit_code();
  }
  // A port nothing listens on now (bound and released: a test's best guess for a fixed port).
  static int free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
  }
  int exit_code() const {
    return exit_status_ >= 0 && WIFEXITED(exit_status_) ? WEXITSTATUS(exit_status_) : -1;
  }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int exit_status_ = -1;
  std::string stdout_, address_, log_path_;
};

}  // namespace mlaserve::testing

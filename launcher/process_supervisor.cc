#include "launcher/process_supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>

#include "runtime/core/error.h"

extern char** environ;

namespace mlaserve {
namespace {

using Clock = std::chrono::steady_clock;

struct Child {
  int rank = 0;
  std::string label;     // "rank 3", "replica 1 rank 0"
  pid_t pid = -1;
  int stderr_fd = -1;    // read end; -1 once at EOF
  std::string partial;   // a line not yet terminated
  bool exited = false;
  int status = 0;
  bool failed_on_its_own = false;
};

std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// fork + execve. Everything the child needs is prepared before fork: the launcher hosts a
// multi-threaded gRPC server, so the child may only make async-signal-safe calls until exec.
Child spawn(int rank, const WorkerProcess& w) {
  int fds[2];
  MLA_ENSURE(pipe2(fds, O_CLOEXEC) == 0, kInternal, "pipe2: ", std::strerror(errno));
  std::vector<char*> argv = c_strings(w.argv), envp = c_strings(w.env);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  MLA_ENSURE(pid >= 0, kResourceExhausted, "fork for rank ", rank, ": ", std::strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the launcher died before prctl took effect
    dup2(fds[1], STDERR_FILENO);          // dup2 clears O_CLOEXEC on the copy
    if (rank != 0) dup2(fds[1], STDOUT_FILENO);
    execve(argv[0], argv.data(), envp.data());
    static const char msg[] = "mlaserve: exec of the worker binary failed\n";
    (void)!write(fds[1], msg, sizeof msg - 1);
    _exit(127);
  }
  close(fds[1]);
  Child c;
  c.rank = rank;
  c.pid = pid;
  c.stderr_fd = fds[0];
  return c;
}

void emit_lines(Child& c, bool flush_partial) {
  size_t start = 0;
  std::string out;
  for (size_t nl; (nl = c.partial.find('\n', start)) != std::string::npos; start = nl + 1)
    out += "[" + c.label + "] " + c.partial.substr(start, nl + 1 - start);
  c.partial.erase(0, start);
  if (flush_partial && !c.partial.empty()) {
    out += "[" + c.label + "] " + c.partial + "\n";
    c.partial.clear();
  }
  if (!out.empty()) {
    std::fwrite(out.data(), 1, out.size(), stderr);
    std::fflush(stderr);
  }
}

// Forwards whatever the children wrote, waiting at most `wait` for something to arrive.
void pump(std::vector<Child>& children, std::chrono::milliseconds wait) {
  std::vector<pollfd> fds;
  std::vector<Child*> owners;
  for (Child& c : children)
    if (c.stderr_fd >= 0) {
      fds.push_back({c.stderr_fd, POLLIN, 0});
      owners.push_back(&c);
    }
  if (fds.empty()) return;
  if (poll(fds.data(), fds.size(), static_cast<int>(wait.count())) <= 0) return;
  char buf[65536];
  for (size_t i = 0; i < fds.size(); ++i) {
    if (fds[i].revents == 0) continue;
    Child& c = *owners[i];
    const ssize_t n = read(c.stderr_fd, buf, sizeof buf);
    if (n > 0) {
      c.partial.append(buf, n);
      emit_lines(c, false);
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      emit_lines(c, true);
      close(c.stderr_fd);
      c.stderr_fd = -1;
    }
  }
}

// Reaps children that have exited; returns the ones newly found failed.
std::vector<Child*> reap(std::vector<Child>& children) {
  std::vector<Child*> failed;
  for (Child& c : children) {
    if (c.exited) continue;
    int status = 0;
    if (waitpid(c.pid, &status, WNOHANG) != c.pid) continue;
    c.exited = true;
    c.status = status;
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) failed.push_back(&c);
  }
  return failed;
}

bool all_exited(const std::vector<Child>& children) {
  return std::all_of(children.begin(), children.end(), [](const Child& c) { return c.exited; });
}

std::string describe_death(const Child& c) {
  const std::string how = WIFSIGNALED(c.status)
                              ? "killed by signal " + std::to_string(WTERMSIG(c.status))
                              : "exited with code " + std::to_string(WEXITSTATUS(c.status));
  return str_cat(c.label, " (pid ", c.pid, ") died: ", how);
}

void signal_running(std::vector<Child>& children, int sig) {
  for (Child& c : children)
    if (!c.exited) kill(c.pid, sig);
}

// Pumps output and reaps until every child has exited or `deadline` passes.
void wait_all(std::vector<Child>& children, Clock::time_point deadline) {
  while (!all_exited(children) && Clock::now() < deadline) {
    pump(children, std::chrono::milliseconds(20));
    reap(children);
  }
}

}  // namespace

std::vector<std::string> environment_with(const std::vector<std::string>& overrides) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    const bool overridden = std::any_of(overrides.begin(), overrides.end(), [&](const auto& o) {
      return o.compare(0, name.size() + 1, name + "=") == 0;
    });
    if (!overridden) env.push_back(entry);
  }
  env.insert(env.end(), overrides.begin(), overrides.end());
  return env;
}

JobOutcome run_supervised(const std::vector<WorkerProcess>& workers,
                          const SupervisorOptions& options) {
  std::fflush(stdout);  // nothing buffered may be written twice by a child
  std::fflush(stderr);
  std::vector<Child> children;
  children.reserve(workers.size());
  try {
    for (size_t r = 0; r < workers.size(); ++r) {
      children.push_back(spawn(static_cast<int>(r), workers[r]));
      children.back().label = str_cat(options.rank_label, " ", r);
      std::fprintf(stderr, "[launcher] %s pid %d\n", children.back().label.c_str(),
                   static_cast<int>(children.back().pid));
    }
  } catch (const Error&) {
    signal_running(children, SIGKILL);
    wait_all(children, Clock::now() + options.reap_deadline);
    throw;
  }
  std::fflush(stderr);

  std::vector<Child*> failed;
  auto stopped = [&] { return options.stop != nullptr && options.stop->load(); };
  while (failed.empty() && !all_exited(children) && !stopped()) {
    pump(children, std::chrono::milliseconds(50));
    failed = reap(children);
  }
  if (failed.empty() && !all_exited(children)) {
    signal_running(children, SIGTERM);
    wait_all(children, Clock::now() + options.term_grace);
    signal_running(children, SIGKILL);
    wait_all(children, Clock::now() + options.reap_deadline);
  }
  if (!failed.empty()) {
    // Ranks that fail together (a peer's death breaks every collective) are all reported, but
    // the one that died by a signal is usually the cause: it goes first.
    const auto settle_until = Clock::now() + options.settle;
    while (Clock::now() < settle_until && !all_exited(children)) {
      pump(children, std::chrono::milliseconds(10));
      for (Child* c : reap(children)) failed.push_back(c);
    }
    for (Child* c : failed) c->failed_on_its_own = true;
    std::stable_sort(failed.begin(), failed.end(), [](const Child* a, const Child* b) {
      return WIFSIGNALED(a->status) && !WIFSIGNALED(b->status);
    });
    signal_running(children, SIGTERM);
    wait_all(children, Clock::now() + options.term_grace);
    signal_running(children, SIGKILL);
    wait_all(children, Clock::now() + options.reap_deadline);
  }
  // Whatever is still in the pipes (a dying rank's last words) comes out before our verdict.
  const auto drain_until = Clock::now() + std::chrono::milliseconds(500);
  auto pipes_open = [&] {
    return std::any_of(children.begin(), children.end(),
                       [](const Child& c) { return c.stderr_fd >= 0; });
  };
  while (Clock::now() < drain_until && pipes_open()) pump(children, std::chrono::milliseconds(20));
  for (Child& c : children)
    if (c.stderr_fd >= 0) {
      emit_lines(c, true);
      close(c.stderr_fd);
    }

  JobOutcome outcome;
  for (const Child* c : failed) {
    outcome.failures.push_back(describe_death(*c));
    std::fprintf(stderr, "mlaserve: error: %s\n", outcome.failures.back().c_str());
  }
  for (const Child& c : children)
    if (!c.exited)
      std::fprintf(stderr, "mlaserve: error: %s (pid %d) could not be reaped\n",
                   c.label.c_str(), static_cast<int>(c.pid));
  if (!failed.empty()) {
    const Child& first = *failed.front();
    outcome.exit_code = WIFEXITED(first.status) && WEXITSTATUS(first.status) == 2 ? 2 : 1;
  }
  return outcome;
}

}  // namespace mlaserve

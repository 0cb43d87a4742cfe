#pragma once
// Test-only: runs the real `mlaserve` binary with a shell-quoted argument list and returns its
// exit code and combined stdout + stderr.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>
#include <vector>

namespace mlaserve::testing {

struct CliResult {
  int exit_code = -1;
  std::string output;
};

inline CliResult run_cli(const std::vector<std::string>& args) {
  std::string command = "'" MLASERVE_BINARY "'";
  for (const std::string& a : args) command += " '" + a + "'";  // test arguments hold no quotes
  command += " 2>&1";
  CliResult r;
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace mlaserve::testing

#pragma once
// Test-only helpers shared by the CLI tests: where the reference data lives, and the JSON lines
// of `generate --json` / `client --json` output (other lines — logs, stats — are skipped).
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mlaserve::testing {

inline std::string test_data(const std::string& name) {
  return std::string(MLASERVE_TEST_DATA_DIR) + "/" + name;
}

inline std::vector<nlohmann::json> json_lines(const std::string& out) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line[0] == '{') lines.push_back(nlohmann::json::parse(line));
  return lines;
}

}  // namespace mlaserve::testing

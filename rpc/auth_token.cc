#include "rpc/auth_token.h"

#include <cstdlib>
#include <fstream>

#include "runtime/core/error.h"

namespace mlaserve::rpc {

std::string read_token_file(const std::string& path, const std::string& flag) {
  std::ifstream in(path);
  MLA_ENSURE(in.good(), kInvalidArgument, flag, " ", path, ": cannot read the file");
  std::string line;
  std::getline(in, line);
  const char* space = " \t\r\n\f\v";
  const size_t first = line.find_first_not_of(space);
  MLA_ENSURE(first != std::string::npos, kInvalidArgument, flag, " ", path,
             ": the first line (the token) is empty");
  return line.substr(first, line.find_last_not_of(space) - first + 1);
}

std::string random_token() {
  std::ifstream in("/dev/urandom", std::ios::binary);
  unsigned char bytes[32];
  in.read(reinterpret_cast<char*>(bytes), sizeof bytes);
  MLA_ENSURE(in.gcount() == static_cast<std::streamsize>(sizeof bytes), kInternal,
             "cannot read /dev/urandom for the cluster token");
  static const char* hex = "0123456789abcdef";
  std::string token;
  for (unsigned char b : bytes) {
    token += hex[b >> 4];
    token += hex[b & 15];
  }
  return token;
}

std::string cluster_token_from_env() {
  const char* token = std::getenv(kClusterTokenEnv);
  return token == nullptr ? std::string() : std::string(token);
}

bool tokens_equal(std::string_view given, std::string_view expected) {
  unsigned diff = given.size() == expected.size() ? 0u : 1u;
  for (size_t i = 0; i < given.size(); ++i) {
    const unsigned char e = i < expected.size() ? expected[i] : 0;
    diff |= static_cast<unsigned char>(given[i]) ^ e;
  }
  return diff == 0;
}

}  // namespace mlaserve::rpc

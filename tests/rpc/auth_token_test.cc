// Token files, random cluster tokens and their comparison (rpc/auth_token.h).
#include "rpc/auth_token.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "runtime/core/error.h"

namespace mlaserve::rpc {
namespace {

std::string write(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "auth_token_" + std::to_string(getpid()) + "_" +
                           name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

TEST(AuthToken, FileGivesItsFirstLineTrimmed) {
  const std::string path = write("ok", " \tabc-123 \r\nnot this line\n");
  EXPECT_EQ(read_token_file(path, "--auth-token-file"), "abc-123");
  std::filesystem::remove(path);
}

TEST(AuthToken, EmptyOrUnreadableFileIsRefusedNamingFlagAndFile) {
  const std::string empty = write("empty", "   \nsecond\n");
  const std::string missing = ::testing::TempDir() + "auth_token_nowhere";
  for (const std::string& path : {empty, missing}) {
    try {
      read_token_file(path, "--cluster-token-file");
      ADD_FAILURE() << path << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("--cluster-token-file " + path), std::string::npos)
          << e.what();
    }
  }
  std::filesystem::remove(empty);
}

TEST(AuthToken, RandomTokensAre64HexDigitsAndDiffer) {
  std::set<std::string> seen;
  for (int i = 0; i < 16; ++i) {
    const std::string t = random_token();
    EXPECT_EQ(t.size(), 64u);
    EXPECT_EQ(t.find_first_not_of("0123456789abcdef"), std::string::npos) << t;
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 16u);
}

TEST(AuthToken, EqualOnlyWhenEveryByteAndTheLengthMatch) {
  EXPECT_TRUE(tokens_equal("secret", "secret"));
  EXPECT_FALSE(tokens_equal("secreT", "secret"));
  EXPECT_FALSE(tokens_equal("Secret", "secret"));
  EXPECT_FALSE(tokens_equal("secret", "secret2"));
  EXPECT_FALSE(tokens_equal("secret2", "secret"));
  EXPECT_FALSE(tokens_equal("", "secret"));
  EXPECT_FALSE(tokens_equal(std::string("secret\0", 7), "secret"));
}

}  // namespace
}  // namespace mlaserve::rpc

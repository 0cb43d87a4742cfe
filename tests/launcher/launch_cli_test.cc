// `mlaserve generate --tp/--ep` as real processes on loopback: the launcher's workers give the
// same tokens as one process, a bad layout is refused before anything is spawned, a killed rank
// fails the job within seconds and leaves no process behind, a rank that never arrives turns into
// a deadline naming it, and killing the launcher takes its workers with it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "rpc/store_service.h"
#include "tests/launcher/cli_output.h"
#include "tests/launcher/run_cli.h"

namespace mlaserve {
namespace {

using testing::test_data;

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;
using testing::run_cli;

// The reference prompts of `model`'s cases.json as a prompts file.
std::string reference_prompts_file(const std::string& model) {
  std::ifstream in(test_data(model) + "/cases.json");
  const auto cases = nlohmann::json::parse(in)["cases"];
  const auto path = std::filesystem::temp_directory_path() /
                    ("mlaserve_launch_" + model + "_" + std::to_string(getpid()) + ".jsonl");
  std::ofstream out(path);
  for (const auto& c : cases) out << nlohmann::json{{"prompt_ids", c["prompt"]}}.dump() << "\n";
  return path.string();
}

// stdout only (stderr to `stderr_path`, discarded by default) and the exit code.
testing::CliResult run_stdout(const std::string& args,
                              const std::string& stderr_path = "/dev/null") {
  const std::string command =
      std::string("'") + MLASERVE_BINARY + "' " + args + " 2>'" + stderr_path + "'";
  testing::CliResult r;
  std::FILE* pipe = ::popen(command.c_str(), "r");
  std::array<char, 4096> buf;
  while (size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) r.output.append(buf.data(), n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

TEST(LaunchCli, TensorParallelLayoutsGiveTheSameTokensAsOneProcess) {
  for (const std::string model : {"tiny-lite", "tiny-v2"}) {
    const std::string base = "generate --model " + test_data(model) + " --prompts-file " +
                             reference_prompts_file(model) +
                             " --max-new-tokens 8 --ignore-eos --json --top-logprobs 2";
    const auto single = run_stdout(base);
    ASSERT_EQ(single.exit_code, 0) << single.output;
    ASSERT_THAT(single.output, HasSubstr("\"tokens\""));
    const auto want = json_lines(single.output);
    for (const std::string layout : {"--tp 2 --ep 1", "--tp 2 --ep 2", "--tp 4"}) {
      // rank 0's stdout: followers print nothing there, the launcher neither. The same lines with
      // the same tokens; logprobs differ only by f32 summation order across ranks.
      const auto tp = run_stdout(base + " " + layout);
      EXPECT_EQ(tp.exit_code, 0) << model << " " << layout;
      const auto got = json_lines(tp.output);
      ASSERT_EQ(got.size(), want.size()) << model << " " << layout << "\n" << tp.output;
      for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(got[i]["index"], want[i]["index"]);
        EXPECT_EQ(got[i]["prompt_ids"], want[i]["prompt_ids"]);
        EXPECT_EQ(got[i]["tokens"], want[i]["tokens"]) << model << " " << layout << " line " << i;
        EXPECT_EQ(got[i]["finish_reason"], want[i]["finish_reason"]);
        const auto& a = got[i]["top_logprobs"];
        const auto& b = want[i]["top_logprobs"];
        ASSERT_EQ(a.size(), b.size());
        for (size_t step = 0; step < a.size(); ++step)
          for (size_t k = 0; k < b[step].size(); ++k) {
            EXPECT_EQ(a[step][k][0], b[step][k][0]) << model << " " << layout;
            EXPECT_NEAR(a[step][k][1].get<double>(), b[step][k][1].get<double>(), 1e-4)
                << model << " " << layout << " line " << i << " step " << step;
          }
      }
    }
  }
}

// stdout, and stderr in `err`.
testing::CliResult run_split(const std::string& args, std::string& err) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("mlaserve_launch_stderr_" + std::to_string(getpid()) + ".txt");
  testing::CliResult r = run_stdout(args, path.string());
  std::ifstream in(path);
  err.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  std::filesystem::remove(path);
  return r;
}

// The "kv cache checksum rank R: HEX" lines every rank prints at the end, by rank.
std::map<int, std::string> cache_checksums(const std::string& err) {
  std::map<int, std::string> sums;
  const std::regex line("kv cache checksum rank (\\d+): ([0-9a-f]+)");
  for (auto it = std::sregex_iterator(err.begin(), err.end(), line); it != std::sregex_iterator();
       ++it)
    sums[std::stoi((*it)[1])] = (*it)[2];
  return sums;
}

// The engine line generate prints on stderr: {preemptions, prefix cache hits}.
std::pair<int64_t, int64_t> engine_counts(const std::string& err) {
  std::smatch m;
  const std::regex line("(\\d+) preemptions, prefix cache hits (\\d+)/");
  if (!std::regex_search(err, m, line)) return {-1, -1};
  return {std::stoll(m[1]), std::stoll(m[2])};
}

// The reference prompts under four engine settings (default; chunked prefill of 16 tokens; a
// cache budget so small the engine must preempt; every prompt twice, the copies hitting the
// prefix cache), each in one process and as --tp 2 --ep 2: the same greedy tokens as the default
// single process (itself checked against the reference in GenerateCli) and logprobs within
// 1e-4, and every rank ends with the same cache checksum (followers mirror the block tables).
TEST(LaunchCli, EngineSettingsUnderTp2Ep2MatchOneProcessAndRankCachesAgree) {
  for (const std::string model : {"tiny-lite", "tiny-v2"}) {
    const std::string prompts = reference_prompts_file(model);
    const std::string twice = prompts + ".twice.jsonl";
    {
      std::ifstream in(prompts);
      const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      std::ofstream(twice) << text << text;
    }
    std::ifstream config_in(test_data(model) + "/config.json");
    const auto config = nlohmann::json::parse(config_in);
    // The longest prompt plus its 15 fed tokens needs 4 blocks of 16 (tiny-lite) or 29 of 4
    // (tiny-v2); these budgets hold just a little more, too little for the prompts admitted
    // together to grow to 16 tokens each (found by trying: smaller blocks admit more at once).
    const int64_t block_size = model == "tiny-lite" ? 16 : 4;
    const int64_t blocks = model == "tiny-lite" ? 5 : 32;
    const int64_t small_budget = blocks * block_size * 4 *
                                 config["num_hidden_layers"].get<int64_t>() *
                                 (config["kv_lora_rank"].get<int64_t>() +
                                  config["qk_rope_head_dim"].get<int64_t>());
    const std::string common = "generate --model " + test_data(model) +
                               " --max-new-tokens 16 --ignore-eos --json --top-logprobs 2";
    std::string err;
    const auto reference = run_split(common + " --prompts-file " + prompts, err);
    ASSERT_EQ(reference.exit_code, 0) << err;
    const auto want = json_lines(reference.output);
    ASSERT_FALSE(want.empty());

    struct Setting {
      std::string name, flags;
      bool twice = false;
    };
    const std::vector<Setting> settings = {
        {"default", ""},
        {"chunked prefill", "--max-num-batched-tokens 16"},
        {"preemption", "--block-size " + std::to_string(block_size) + " --kv-cache-memory " +
                           std::to_string(small_budget)},
        // The copies wait for a free sequence slot, so they start after the originals' prompt
        // blocks are computed and published (copies admitted in the same step could not share).
        {"prefix cache", "--block-size 16 --max-num-seqs " + std::to_string(want.size()), true},
    };
    for (const Setting& setting : settings) {
      const std::string args =
          common + " --prompts-file " + (setting.twice ? twice : prompts) + " " + setting.flags;
      for (const std::string layout : {"", "--tp 2 --ep 2"}) {
        const std::string what = model + ", " + setting.name + ", '" + layout + "'";
        const auto got_run = run_split(args + " " + layout, err);
        ASSERT_EQ(got_run.exit_code, 0) << what << "\n" << err;
        const auto got = json_lines(got_run.output);
        ASSERT_EQ(got.size(), want.size() * (setting.twice ? 2 : 1)) << what;
        for (size_t i = 0; i < got.size(); ++i) {
          const auto& w = want[i % want.size()];
          EXPECT_EQ(got[i]["tokens"], w["tokens"]) << what << " line " << i;
          const auto& a = got[i]["top_logprobs"];
          const auto& b = w["top_logprobs"];
          ASSERT_EQ(a.size(), b.size()) << what;
          for (size_t step = 0; step < a.size(); ++step)
            for (size_t k = 0; k < b[step].size(); ++k)
              EXPECT_NEAR(a[step][k][1].get<double>(), b[step][k][1].get<double>(), 1e-4)
                  << what << " line " << i << " step " << step;
        }
        const auto [preemptions, prefix_hits] = engine_counts(err);
        if (setting.name == "preemption") {
          EXPECT_GT(preemptions, 0) << what << "\n" << err;
        }
        if (setting.twice) {
          EXPECT_GT(prefix_hits, 0) << what << "\n" << err;
        }
        if (layout.empty()) continue;
        const auto sums = cache_checksums(err);
        ASSERT_EQ(sums.size(), 2u) << what << "\n" << err;
        EXPECT_EQ(sums.at(0), sums.at(1)) << what;
      }
    }
    std::filesystem::remove(twice);
  }
}

// The sampler runs on the leader from the request's seed: the layout does not change the tokens.
TEST(LaunchCli, SeededSamplingGivesTheSameTokensUnderTp2Ep2) {
  const std::string args = "generate --model " + test_data("tiny-v2") + " --prompts-file " +
                           reference_prompts_file("tiny-v2") +
                           " --max-new-tokens 16 --ignore-eos --json --temperature 0.8 "
                           "--top-k 40 --top-p 0.95 --seed 7";
  const auto single = run_stdout(args);
  ASSERT_EQ(single.exit_code, 0);
  const auto tp = run_stdout(args + " --tp 2 --ep 2");
  ASSERT_EQ(tp.exit_code, 0);
  const auto want = json_lines(single.output), got = json_lines(tp.output);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i]["tokens"], want[i]["tokens"]) << i;
}

TEST(LaunchCli, StderrIsPrefixedByRank) {
  const auto r = run_cli({"generate", "--model", test_data("tiny-lite"), "--prompt-ids", "1,2,3",
                          "--max-new-tokens", "2", "--tp", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("[launcher] rank 0 pid "));
  EXPECT_THAT(r.output, HasSubstr("[launcher] rank 1 pid "));
  EXPECT_THAT(r.output, HasSubstr("[rank 1] joined group 'world' as rank 1/2"));
  EXPECT_THAT(r.output, HasSubstr("[rank 1] follower done after 2 forward steps"));
}

TEST(LaunchCli, BenchDecodeReportsCommunicationPerRank) {
  const auto r = run_cli({"bench", "decode", "--model", test_data("tiny-v2"), "--batch", "2",
                          "--prompt-len", "4", "--new-tokens", "3", "--prefill-len", "8", "--tp",
                          "2"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("decode batch   2:"));
  // The leader on stdout, the follower on its prefixed stderr; theory as in
  // decode_step_report_test (tiny-v2, batch 2, tp 2).
  EXPECT_THAT(r.output, HasSubstr("\nrank 0 decode batch   2:"));
  EXPECT_THAT(r.output, HasSubstr("[rank 1] rank 1 decode batch   2:"));
  EXPECT_THAT(r.output,
              HasSubstr("(theory 8.7 KB: 7 all-reduces 7.2 KB + logits all-gather 1.5 KB)"));
}

TEST(LaunchCli, BadLayoutOrPromptsExitWith2BeforeSpawning) {
  // tiny-lite has 4 heads and 8 routed experts.
  const auto heads = run_cli({"generate", "--model", test_data("tiny-lite"), "--prompt-ids", "1,2",
                              "--tp", "3"});
  EXPECT_EQ(heads.exit_code, 2);
  EXPECT_THAT(heads.output, HasSubstr("--tp 3 does not divide num_attention_heads 4"));
  EXPECT_THAT(heads.output, Not(HasSubstr("[launcher]")));
  const auto ep = run_cli({"generate", "--model", test_data("tiny-lite"), "--prompt-ids", "1,2",
                           "--tp", "2", "--ep", "4"});
  EXPECT_EQ(ep.exit_code, 2);
  EXPECT_THAT(ep.output, HasSubstr("--ep 4 must be 1 or equal to --tp 2"));
  EXPECT_THAT(ep.output, Not(HasSubstr("[launcher]")));
  const auto prompts = run_cli({"generate", "--model", test_data("tiny-lite"), "--prompt-ids", "1,x",
                                "--tp", "2"});
  EXPECT_EQ(prompts.exit_code, 2);
  EXPECT_THAT(prompts.output, HasSubstr("--prompt-ids: 'x'"));
  EXPECT_THAT(prompts.output, Not(HasSubstr("[launcher]")));
}

// A launcher with its stderr on a pipe we read line by line.
class RunningLauncher {
 public:
  explicit RunningLauncher(const std::vector<std::string>& args) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDERR_FILENO);
      const int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, STDOUT_FILENO);
      close(fds[0]);
      std::vector<char*> argv = {const_cast<char*>(MLASERVE_BINARY)};
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    fd_ = fds[0];
  }
  ~RunningLauncher() {
    if (!exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(fd_);
  }

  // Reads stderr until `pattern` appears (true) or `deadline` passes / EOF (false).
  bool read_until(const std::string& pattern, Clock::time_point deadline) {
    while (output_.find(pattern) == std::string::npos) {
      if (!read_some(deadline)) return false;
    }
    return true;
  }
  // Worker pids from the "[launcher] rank r pid P" lines seen so far.
  std::map<int, pid_t> worker_pids() const {
    std::map<int, pid_t> pids;
    const std::regex line(R"(\[launcher\] rank (\d+) pid (\d+))");
    for (std::sregex_iterator it(output_.begin(), output_.end(), line), end; it != end; ++it)
      pids[std::stoi((*it)[1])] = std::stoi((*it)[2]);
    return pids;
  }
  // Exit status (as wait_exit in the rpc tests) or -1 when still running at `deadline`.
  int wait_exit(Clock::time_point deadline) {
    while (Clock::now() < deadline) {
      read_some(Clock::now() + 20ms);
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        while (read_some(Clock::now() + 200ms)) {
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
    }
    return -1;
  }
  void kill_launcher() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    exited_ = true;
  }
  const std::string& output() const { return output_; }

 private:
  bool read_some(Clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[4096];
    const ssize_t n = read(fd_, buf, sizeof buf);
    if (n <= 0) return false;
    output_.append(buf, n);
    return true;
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  bool exited_ = false;
  std::string output_;
};

// Gone, or a zombie waiting for a reaper that is not ours to be.
bool process_gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.good()) return true;
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'Z';
}

bool all_gone_by(const std::map<int, pid_t>& pids, Clock::time_point deadline) {
  while (true) {
    bool gone = true;
    for (const auto& [rank, pid] : pids) gone = gone && process_gone(pid);
    if (gone) return true;
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

std::vector<std::string> long_generation() {
  return {"generate", "--model", test_data("tiny-v2"), "--prompt-ids", "1,2,3", "--max-new-tokens",
          "2500", "--ignore-eos", "--tp", "2"};
}

TEST(LaunchCli, AKilledRankFailsTheJobWithinTenSecondsAndLeavesNoProcess) {
  RunningLauncher launcher(long_generation());
  ASSERT_TRUE(launcher.read_until("[rank 1] joined group", Clock::now() + 20s))
      << launcher.output();
  ASSERT_TRUE(launcher.read_until("[rank 0] joined group", Clock::now() + 20s))
      << launcher.output();
  std::this_thread::sleep_for(200ms);  // into the generation loop
  const auto pids = launcher.worker_pids();
  ASSERT_EQ(pids.size(), 2u) << launcher.output();
  const auto killed_at = Clock::now();
  ASSERT_EQ(kill(pids.at(1), SIGKILL), 0);
  const int code = launcher.wait_exit(Clock::now() + 10s);
  const double seconds = std::chrono::duration<double>(Clock::now() - killed_at).count();
  EXPECT_NE(code, -1) << "launcher still running 10 s after the kill\n" << launcher.output();
  EXPECT_EQ(code, 1) << launcher.output();
  EXPECT_THAT(launcher.output(),
              HasSubstr("mlaserve: error: rank 1 (pid " + std::to_string(pids.at(1)) +
                        ") died: killed by signal 9"));
  EXPECT_TRUE(all_gone_by(pids, Clock::now() + 1s));
  std::printf("launcher exited %.3f s after kill -9 of rank 1\n", seconds);
}

TEST(LaunchCli, KillingTheLauncherTakesItsWorkersWithIt) {
  RunningLauncher launcher(long_generation());
  ASSERT_TRUE(launcher.read_until("[rank 1] joined group", Clock::now() + 20s))
      << launcher.output();
  const auto pids = launcher.worker_pids();
  ASSERT_EQ(pids.size(), 2u) << launcher.output();
  const auto killed_at = Clock::now();
  launcher.kill_launcher();
  EXPECT_TRUE(all_gone_by(pids, Clock::now() + 5s)) << launcher.output();
  std::printf("workers gone %.3f s after kill -9 of the launcher\n",
              std::chrono::duration<double>(Clock::now() - killed_at).count());
}

TEST(LaunchCli, ARankThatNeverArrivesIsNamedWithinTheTimeout) {
  auto server = rpc::start_store_server("127.0.0.1", 0);
  const auto start = Clock::now();
  const auto r = run_cli({"worker", "--rank", "0", "--world-size", "2", "--tp", "2", "--store",
                          server->address(), "--timeout", "2", "generate", "--model",
                          test_data("tiny-lite"), "--prompt-ids", "1,2"});
  const auto elapsed = Clock::now() - start;
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("rank(s) 1 of 2 did not join"));
  EXPECT_LT(elapsed, 10s);
}

TEST(LaunchCli, WorkersPlacedBySlurmOrMpirunFindTheirRanksInTheEnvironment) {
  // As srun / mpirun would start them: no --rank, the scheduler's variables instead (rank 0 as a
  // Slurm task, rank 1 as an Open MPI one), meeting through a store this test hosts.
  auto server = rpc::start_store_server("127.0.0.1", 0);
  const std::string job = " --tp 2 --store " + server->address() +
                          " --job envtest generate --model " + test_data("tiny-lite") +
                          " --prompt-ids 5,6,7 --max-new-tokens 6 --json";
  const std::string bin = std::string("'") + MLASERVE_BINARY + "'";
  const std::string command = "OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=2 " + bin + " worker" +
                              job + " 2>/dev/null & SLURM_PROCID=0 SLURM_NTASKS=2 " + bin +
                              " worker" + job + " 2>/dev/null; wait";
  testing::CliResult r;
  std::FILE* pipe = ::popen(command.c_str(), "r");
  std::array<char, 4096> buf;
  while (size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) r.output.append(buf.data(), n);
  ::pclose(pipe);
  const auto single = run_stdout("generate --model " + test_data("tiny-lite") +
                                 " --prompt-ids 5,6,7 --max-new-tokens 6 --json");
  ASSERT_THAT(single.output, HasSubstr("\"tokens\""));
  EXPECT_EQ(r.output, single.output);
}

// Sets an environment variable for the scope (the CLI runs as a child and inherits it).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// --device cuda where no GPU is visible (CUDA_VISIBLE_DEVICES="" hides every GPU, so this runs the
// same on a GPU machine): exit 2 naming the device count, before a model is loaded or a worker
// spawned, with and without --tp. --device bogus is refused naming the flag.
TEST(LaunchCli, DeviceCudaWithoutAVisibleGpuExits2NamingTheDeviceCount) {
  const ScopedEnv no_gpu("CUDA_VISIBLE_DEVICES", "");
  const std::string model = test_data("tiny-lite");
  const std::vector<std::vector<std::string>> jobs = {
      {"generate", "--model", model, "--prompt-ids", "1,2"},
      {"bench", "decode", "--model", model, "--batch", "1", "--new-tokens", "1"},
      {"bench", "throughput", "--model", model, "--num-prompts", "1"},
  };
  for (const auto& job : jobs) {
    for (const std::vector<std::string>& layout :
         {std::vector<std::string>{}, std::vector<std::string>{"--tp", "2"}}) {
      std::vector<std::string> args = job;
      args.insert(args.end(), layout.begin(), layout.end());
      args.insert(args.end(), {"--device", "cuda"});
      const auto r = run_cli(args);
      EXPECT_EQ(r.exit_code, 2) << args[0] << " " << args[1] << "\n" << r.output;
      EXPECT_THAT(r.output, HasSubstr("--device cuda: no CUDA device is visible on this machine "
                                      "(CUDA device count 0"));
      EXPECT_THAT(r.output, Not(HasSubstr("[launcher]")));
      args.back() = "bogus";
      const auto bogus = run_cli(args);
      EXPECT_EQ(bogus.exit_code, 2) << bogus.output;
      EXPECT_THAT(bogus.output, HasSubstr("--device"));
      EXPECT_THAT(bogus.output, HasSubstr("bogus"));
      EXPECT_THAT(bogus.output, Not(HasSubstr("[launcher]")));
    }
  }
  // A worker placed by a scheduler checks for its GPU before it reaches for the store (nobody
  // listens on port 1: that would be exit 1).
  const auto worker = run_cli({"worker", "--rank", "0", "--world-size", "1", "--store",
                               "127.0.0.1:1", "--device", "cuda", "generate", "--model", model,
                               "--prompt-ids", "1"});
  EXPECT_EQ(worker.exit_code, 2) << worker.output;
  EXPECT_THAT(worker.output, HasSubstr("this worker sees no CUDA device (CUDA device count 0"));
}

TEST(LaunchCli, AWorkerWithoutRankOrSchedulerVariablesSaysWhatItLacks) {
  // Without --rank and without scheduler variables the worker says what it lacks.
  const auto r = run_cli({"worker", "--store", "127.0.0.1:1", "generate", "--model",
                          test_data("tiny-lite"), "--prompt-ids", "1"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("--rank not given and neither SLURM_PROCID"));
}

}  // namespace
}  // namespace mlaserve

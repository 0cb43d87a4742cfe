#include "launcher/decode_step_report.h"

#include <gtest/gtest.h>

namespace mlaserve {
namespace {

ModelConfig config(int64_t hidden, int64_t layers, int64_t vocab) {
  ModelConfig c;
  c.hidden_size = hidden;
  c.num_hidden_layers = layers;
  c.vocab_size = vocab;
  return c;
}

TEST(DecodeCommTheory, CountsTwoAllReducesPerLayerTheEmbeddingAndTheLogitsGather) {
  // tiny-v2: hidden 128, 3 layers, vocab 384; batch 2 on 2 ranks.
  const DecodeCommTheory t = decode_comm_theory(config(128, 3, 384), 2, 2);
  EXPECT_EQ(t.all_reduces, 7);
  EXPECT_EQ(t.all_reduce_bytes, 7u * 1024u);  // 2(n-1)/n * (2 * 128 * 4 B) = 1024 B each
  EXPECT_EQ(t.all_gather_bytes, 1536u);       // (n-1) * (2 * 192 * 4 B)
  // 4 ranks: all-reduce 2*3/4 of the activation, all-gather 3 slices of vocab/4.
  const DecodeCommTheory four = decode_comm_theory(config(128, 3, 384), 2, 4);
  EXPECT_EQ(four.all_reduce_bytes, 7u * 1536u);
  EXPECT_EQ(four.all_gather_bytes, 3u * 2u * 96u * 4u);
  EXPECT_EQ(decode_comm_theory(config(128, 3, 384), 2, 1).total(), 0u);  // no TP, no traffic
}

TEST(DecodeStepReport, AveragesPerStepAndSeparatesCommunication) {
  DecodeStepReport report;
  parallel::CommunicationStats tp;
  tp.by_collective[static_cast<size_t>(parallel::Collective::kAllReduceSum)] = {7, 0.002, 7168};
  report.record(2, 0.010, tp, {});
  report.record(2, 0.010, tp, {});
  char buf[1024] = {};
  std::FILE* out = fmemopen(buf, sizeof buf, "w");
  report.print(out, config(128, 3, 384), 1, 2);
  std::fclose(out);
  const std::string line = buf;
  EXPECT_NE(line.find("rank 1 decode batch   2: 8.000 ms/step compute, 2.000 ms/step TP "
                      "communication (7.0 all-reduce, 0.0 all-gather per step)"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("TP sent 7.2 KB/step/rank (theory 8.7 KB"), std::string::npos) << line;
}

}  // namespace
}  // namespace mlaserve

// launcher/worker_device: --device parsed, the launcher's GPU count check, the
// CUDA_VISIBLE_DEVICES each worker gets and the GPU a worker takes, for given device counts (the
// machine's own count is not used, so these run the same with or without a GPU).
#include "launcher/worker_device.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include "runtime/core/error.h"

namespace mlaserve {
namespace {

using ::testing::HasSubstr;

// The error `fn` throws (code and message); kInternal "no error" when it throws none.
Error error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e;
  }
  return Error(ErrorCode::kInternal, "no error");
}

TEST(WorkerDevice, ParsesCpuAndCudaAndNamesTheFlagOtherwise) {
  EXPECT_EQ(parse_device_flag("cpu"), DeviceType::kCPU);
  EXPECT_EQ(parse_device_flag("cuda"), DeviceType::kCUDA);
  const Error e = error_of([] { parse_device_flag("tpu"); });
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(e.what(), HasSubstr("--device must be cpu or cuda, got 'tpu'"));
}

TEST(WorkerDevice, TheCpuNeedsNoGpu) {
  check_gpus_visible(DeviceType::kCPU, 8, "--tp 8", 0);
  EXPECT_EQ(worker_device(DeviceType::kCPU, 3, 0), Device::cpu());
}

TEST(WorkerDevice, NoVisibleGpuIsAFailedPreconditionNamingTheCount) {
  const Error e = error_of([] { check_gpus_visible(DeviceType::kCUDA, 1, "one process", 0); });
  EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);  // exit 2: the user's machine or flags
  EXPECT_THAT(e.what(), HasSubstr("--device cuda: no CUDA device is visible"));
  EXPECT_THAT(e.what(), HasSubstr("CUDA device count 0"));
  const Error w = error_of([] { worker_device(DeviceType::kCUDA, 0, 0); });
  EXPECT_EQ(w.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(w.what(), HasSubstr("CUDA device count 0"));
}

TEST(WorkerDevice, ALayoutNeedingMoreGpusThanVisibleNamesBothNumbers) {
  check_gpus_visible(DeviceType::kCUDA, 4, "--replicas 2 x --tp 2", 4);
  const Error e =
      error_of([] { check_gpus_visible(DeviceType::kCUDA, 4, "--replicas 2 x --tp 2", 1); });
  EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(e.what(), HasSubstr("--device cuda: --replicas 2 x --tp 2 needs 4 GPUs on this "
                                  "node, one per worker, but only 1 CUDA device is visible"));
  const Error three = error_of([] { check_gpus_visible(DeviceType::kCUDA, 8, "--tp 8", 3); });
  EXPECT_THAT(three.what(), HasSubstr("needs 8 GPUs on this node, one per worker, but only 3 CUDA "
                                      "devices are visible"));
}

TEST(WorkerDevice, EachWorkerGetsTheNodesGpuAtItsIndexWithinTheLaunchersList) {
  EXPECT_EQ(cuda_visible_devices_for(0, nullptr), "0");
  EXPECT_EQ(cuda_visible_devices_for(3, nullptr), "3");
  // A user's restriction is honoured: worker i gets the i-th GPU the launcher may use.
  EXPECT_EQ(cuda_visible_devices_for(0, "4,5,6,7"), "4");
  EXPECT_EQ(cuda_visible_devices_for(2, "4,5,6,7"), "6");
  EXPECT_EQ(cuda_visible_devices_for(1, "GPU-8f2c,MIG-11aa"), "MIG-11aa");
  const Error e = error_of([] { cuda_visible_devices_for(2, "4,5"); });
  EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(e.what(), HasSubstr("CUDA_VISIBLE_DEVICES='4,5'"));
}

TEST(WorkerDevice, TheLocalRankPicksTheGpuUnlessExactlyOneIsVisible) {
  EXPECT_EQ(worker_device(DeviceType::kCUDA, 0, 8), Device::cuda(0));
  EXPECT_EQ(worker_device(DeviceType::kCUDA, 5, 8), Device::cuda(5));
  // One GPU bound per worker (our launchers, srun --gpus-per-task 1): it is the worker's.
  EXPECT_EQ(worker_device(DeviceType::kCUDA, 5, 1), Device::cuda(0));
  const Error e = error_of([] { worker_device(DeviceType::kCUDA, 5, 4); });
  EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(e.what(), HasSubstr("local rank 5 picks CUDA device 5, but this worker sees 4"));
}

}  // namespace
}  // namespace mlaserve

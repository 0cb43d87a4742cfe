#include "parallel/nccl_communicator.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <atomic>
#include <thread>

#include "kernels/cuda/backend.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/nccl_util.h"
#include "parallel/collective_checks.h"
#include "runtime/core/error.h"

// ncclCommSplit (and its NCCL_SPLIT_NOCOLOR) arrived in 2.18; the non-blocking config in 2.14.
static_assert(NCCL_VERSION_CODE >= NCCL_VERSION(2, 18, 0), "the NCCL backend needs NCCL >= 2.18");

namespace mlaserve::parallel {
namespace {

using Clock = std::chrono::steady_clock;

// NCCL's own words for a failure: the code's string plus this thread's last detailed message.
std::string nccl_detail(ncclResult_t result) {
  const char* last = ncclGetLastError(nullptr);
  return str_cat(ncclGetErrorString(result),
                 last != nullptr && *last != '\0' ? str_cat(": ", last) : std::string());
}

// Backs off from spinning to short sleeps: collectives are usually done within microseconds, but
// a deadline wait of seconds must not burn a core that a peer rank (a thread here) may need.
class Backoff {
 public:
  void pause() {
    if (++polls_ < 256) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

 private:
  int polls_ = 0;
};

// The outcome of waiting for a non-blocking NCCL communicator (and optionally a stream).
struct WaitResult {
  bool timed_out = false;
  ncclResult_t nccl = ncclSuccess;  // the first asynchronous NCCL error, if any
  cudaError_t cuda = cudaSuccess;   // the stream's error, if any
  std::string detail;               // captured before any abort frees the communicator
  bool ok() const { return !timed_out && nccl == ncclSuccess && cuda == cudaSuccess; }
};

// Polls ncclCommGetAsyncError (and cudaStreamQuery once NCCL has left ncclInProgress) until
// both report completion, one reports an error, or `deadline` passes. Never blocks inside NCCL
// or CUDA, so a peer that never arrives turns into a timeout the caller can act on.
WaitResult wait_until_done(ncclComm_t comm, cudaStream_t stream, Clock::time_point deadline) {
  WaitResult result;
  Backoff backoff;
  for (;;) {
    ncclResult_t state = ncclSuccess;
    const ncclResult_t query = ncclCommGetAsyncError(comm, &state);
    if (query != ncclSuccess) state = query;
    if (state != ncclSuccess && state != ncclInProgress) {
      result.nccl = state;
      result.detail = nccl_detail(state);
      return result;
    }
    if (state == ncclSuccess) {
      if (stream == nullptr) return result;
      const cudaError_t done = cudaStreamQuery(stream);
      if (done == cudaSuccess) return result;
      if (done != cudaErrorNotReady) {
        cudaGetLastError();  // leave no non-sticky error behind for the next call
        result.cuda = done;
        result.detail = str_cat(cudaGetErrorName(done), " (", cudaGetErrorString(done), ")");
        return result;
      }
    }
    if (Clock::now() >= deadline) {
      result.timed_out = true;
      // Which half was still pending tells a stuck launch from a kernel waiting on peers.
      result.detail = state == ncclInProgress
                          ? "NCCL was still enqueuing the operation"
                          : "the compute stream still had work queued, a collective waiting on "
                            "its peers or the ops around it";
      return result;
    }
    backoff.pause();
  }
}

// A config for a non-blocking communicator: every NCCL call returns at once and we poll, which
// is what lets a deadline (and ncclCommAbort) end a wait on a rank that never comes.
// commName is left unset: our group name is in every error we throw, and NCCL's handling of
// that pointer's lifetime across an asynchronous init is not worth depending on.
ncclConfig_t non_blocking_config() {
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  return config;
}

class NcclCommunicator final : public Communicator {
 public:
  // Takes ownership of `comm`, a communicator whose initialization has completed.
  NcclCommunicator(std::shared_ptr<Store> store, ncclComm_t comm, NcclOptions options)
      : store_(std::move(store)), options_(std::move(options)), comm_(comm) {
    cuda::DeviceScope scope(options_.device);
    try {
      MLA_NCCL_CHECK(ncclCommUserRank(comm_, &rank_));
      MLA_NCCL_CHECK(ncclCommCount(comm_, &size_));
      // The device's compute stream, shared with every op: a collective is ordered after the
      // ops that produced its input and before the ops that read its output, with no host wait.
      stream_ = cuda::compute_stream(options_.device);
      barrier_scratch_ = Tensor::empty({1}, DType::kF32, Device::cuda(options_.device));
      // Its sum is never read, but a defined value keeps compute-sanitizer's initcheck quiet.
      MLA_CUDA_CHECK(cudaMemsetAsync(barrier_scratch_.raw_data(), 0, sizeof(float),
                                     cuda::compute_stream(options_.device)));
    } catch (...) {
      ncclCommAbort(comm_);
      throw;
    }
  }

  ~NcclCommunicator() override {
    if (comm_ == nullptr) return;  // aborted after a failure
    // Finalize flushes outstanding work and waits for the peers to quiesce; bounded by the
    // timeout so a destructor never hangs on a dead peer (then the communicator is aborted).
    // Nothing may escape a destructor, so the device switch is unchecked here.
    int previous = 0;
    const bool switched = cudaGetDevice(&previous) == cudaSuccess &&
                          cudaSetDevice(options_.device) == cudaSuccess;
    const ncclResult_t r = ncclCommFinalize(comm_);
    const bool finalized =
        (r == ncclSuccess || r == ncclInProgress) &&
        wait_until_done(comm_, nullptr, Clock::now() + options_.timeout).ok();
    if (finalized) {
      ncclCommDestroy(comm_);
    } else {
      ncclCommAbort(comm_);
    }
    if (switched) cudaSetDevice(previous);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const std::string& name() const override { return options_.name; }
  uint64_t bytes_sent() const override { return bytes_sent_.load(); }

  void all_reduce_sum(Tensor& tensor) override {
    check_dense(tensor, "all_reduce_sum");
    MLA_ENSURE(tensor.dtype() == DType::kF32, kInvalidArgument, "all_reduce_sum in group '",
               name(), "' takes f32, got ", tensor.describe());
    check_usable("all_reduce_sum");
    if (tensor.numel() == 0) return;
    // NCCL picks ring or tree (and a protocol) from the size, the topology and the version; for a
    // fixed choice the reduction order is fixed, so results are identical on every rank and run
    // to run. Pin NCCL_ALGO / NCCL_PROTO when that must also hold across machines or versions.
    void* data = tensor.raw_data();
    run("all_reduce_sum", [&] {
      return ncclAllReduce(data, data, static_cast<size_t>(tensor.numel()), ncclFloat32, ncclSum,
                           comm_, stream());
    });
    count_sent(2 * tensor.nbytes() * (size() - 1) / size());  // ring schedule, as Gloo's
  }

  Tensor all_gather(const Tensor& tensor) override {
    check_dense(tensor, "all_gather");
    MLA_ENSURE(tensor.rank() >= 1, kInvalidArgument, "all_gather in group '", name(),
               "' needs a tensor with a row dimension, got ", tensor.describe());
    check_usable("all_gather");
    Tensor out = Tensor::empty(with_rows(tensor.shape(), tensor.dim(0) * size()), tensor.dtype(),
                               tensor.device());
    if (tensor.nbytes() == 0) return out;
    const void* in = tensor.raw_data();
    void* dst = out.raw_data();
    // Bytes, not elements: NCCL then places rank r's block at r * nbytes, i.e. rows in rank order.
    run("all_gather",
        [&] { return ncclAllGather(in, dst, tensor.nbytes(), ncclUint8, comm_, stream()); });
    count_sent(tensor.nbytes() * (size() - 1));  // ring: forwards n-1 blocks
    return out;
  }

  void broadcast(Tensor& tensor, int root) override {
    check_dense(tensor, "broadcast");
    MLA_ENSURE(root >= 0 && root < size(), kInvalidArgument, "broadcast in group '", name(),
               "': root ", root, " is outside a group of size ", size());
    check_usable("broadcast");
    if (tensor.nbytes() == 0) return;
    void* data = tensor.raw_data();
    run("broadcast", [&] {
      return ncclBroadcast(data, data, tensor.nbytes(), ncclUint8, root, comm_, stream());
    });
    // NCCL broadcasts along a ring (chain) from the root: n-1 of the n ranks forward B each, and
    // which rank ends the chain depends on the topology NCCL found. Each rank counts the average.
    count_sent(tensor.nbytes() * (size() - 1) / size());
  }

  Tensor all_to_all_v(const Tensor& input, const std::vector<int64_t>& send_counts,
                      const std::vector<int64_t>& recv_counts) override {
    check_dense(input, "all_to_all_v");
    const size_t n = static_cast<size_t>(size());
    const auto [send_rows, recv_rows] = check_all_to_all_v(*this, input, send_counts, recv_counts);
    check_usable("all_to_all_v");
    Tensor out = Tensor::empty(with_rows(input.shape(), recv_rows), input.dtype(), input.device());
    const size_t row_bytes = static_cast<size_t>(shape_numel(with_rows(input.shape(), 1))) *
                             dtype_size(input.dtype());
    if (row_bytes == 0 || (send_rows == 0 && recv_rows == 0)) return out;
    const char* in = static_cast<const char*>(send_rows ? input.raw_data() : nullptr);
    char* dst = static_cast<char*>(recv_rows ? out.raw_data() : nullptr);
    // One group of point-to-point calls: NCCL schedules them together, so the order of the
    // sends and receives cannot deadlock. Only the rows move; the counts are already agreed.
    run("all_to_all_v", [&] {
      ncclResult_t first_error = ncclGroupStart();
      if (first_error != ncclSuccess) return first_error;
      size_t send_offset = 0, recv_offset = 0;
      for (size_t r = 0; r < n; ++r) {
        const size_t send_bytes = static_cast<size_t>(send_counts[r]) * row_bytes;
        const size_t recv_bytes = static_cast<size_t>(recv_counts[r]) * row_bytes;
        const int peer = static_cast<int>(r);
        // ncclInProgress is not an error in non-blocking mode: the call was queued.
        auto note = [&](ncclResult_t s) {
          if (first_error == ncclSuccess && s != ncclSuccess && s != ncclInProgress)
            first_error = s;
        };
        if (send_bytes > 0)
          note(ncclSend(in + send_offset, send_bytes, ncclUint8, peer, comm_, stream()));
        if (recv_bytes > 0)
          note(ncclRecv(dst + recv_offset, recv_bytes, ncclUint8, peer, comm_, stream()));
        send_offset += send_bytes;
        recv_offset += recv_bytes;
      }
      const ncclResult_t end = ncclGroupEnd();  // always closes the group, even after an error
      return first_error != ncclSuccess ? first_error : end;
    });
    count_sent(static_cast<uint64_t>(send_rows - send_counts[rank()]) * row_bytes);
    return out;
  }

  void barrier() override {
    check_usable("barrier");
    // A one-element all-reduce completes on a rank only after every rank has entered it; waiting
    // for it on the host makes it a barrier. Not counted in bytes_sent (as Gloo's barrier).
    void* data = barrier_scratch_.raw_data();
    run("barrier",
        [&] { return ncclAllReduce(data, data, 1, ncclFloat32, ncclSum, comm_, stream()); });
    wait_for_stream("barrier");
  }

  void synchronize() override {
    check_usable("synchronize");
    wait_for_stream("synchronize");
  }

  std::unique_ptr<Communicator> split(int color, int key) override {
    check_usable("split");
    // Not stream-ordered: let the collectives issued so far finish first, so a failure among
    // them is reported as theirs and the split starts on a quiet communicator.
    wait_for_stream("split");
    const int split_index = splits_++;
    NcclOptions sub = options_;
    sub.name = str_cat(options_.name, "/split", split_index, "/color", color);
    cuda::DeviceScope scope(options_.device);
    // ncclCommSplit exchanges (color, key) itself and orders each new group by (key, parent
    // rank), which is the interface's order; nothing goes through the store. The child handle
    // is written by NCCL's init job when it completes, so it lives on the heap: on a timeout the
    // job may still hold its address after we give up (then it is deliberately leaked).
    auto child = std::make_unique<ncclComm_t>(nullptr);
    ncclConfig_t config = non_blocking_config();
    const ncclResult_t r =
        ncclCommSplit(comm_, color < 0 ? NCCL_SPLIT_NOCOLOR : color, key, child.get(), &config);
    if (r != ncclSuccess && r != ncclInProgress) break_now("split", r, nccl_detail(r));
    const Clock::time_point deadline = Clock::now() + options_.timeout;
    // The split runs as a job of the parent: polling the parent completes it and fills *child.
    WaitResult parent = wait_until_done(comm_, nullptr, deadline);
    if (!parent.ok()) {
      (void)child.release();  // NCCL's job may still write it: leaked on purpose
      fail_after_wait("split", parent);
    }
    if (color < 0) return nullptr;
    MLA_ENSURE(*child != nullptr, kInternal, "split in group '", name(), "' at rank ", rank_,
               ": NCCL completed the split without a communicator for color ", color);
    WaitResult done = wait_until_done(*child, nullptr, deadline);
    if (!done.ok()) {
      ncclCommAbort(*child);
      const std::string why = done.timed_out
                                  ? str_cat(" within ", options_.timeout.count(), " ms")
                                  : ": NCCL " + done.detail;
      fail(done.timed_out ? ErrorCode::kDeadlineExceeded : ErrorCode::kUnavailable,
           "split in group '", name(), "' at rank ", rank_, ": the new group '", sub.name,
           "' did not initialize", why);
    }
    return std::make_unique<NcclCommunicator>(store_, *child, std::move(sub));
  }

 private:
  cudaStream_t stream() const { return stream_; }

  void check_dense(const Tensor& t, const char* op) const {
    MLA_ENSURE(t.defined() && t.device() == Device::cuda(options_.device) && t.is_contiguous(),
               kInvalidArgument, op, " in group '", options_.name,
               "' takes a contiguous tensor on cuda:", options_.device, ", got ",
               t.defined() ? t.describe() : std::string("an undefined tensor"));
  }

  void check_usable(const char* op) const {
    if (!broken_.empty())
      fail(ErrorCode::kUnavailable, op, " in group '", options_.name, "' at rank ", rank_,
           ": the group is broken by an earlier failure: ", broken_);
  }

  // Enqueues one NCCL call on the compute stream and returns once NCCL has enqueued it; the
  // collective itself completes on the stream (synchronize() waits for it). In non-blocking
  // mode a call may return ncclInProgress before its work is on the stream, and the
  // communicator must leave that state before the next NCCL call; that wait is short, except
  // on a first use where NCCL connects to its peers, so it has the deadline too. Any failure
  // aborts the communicator (NCCL cannot resume after a failed or abandoned collective) and
  // throws naming the group, this rank and NCCL's error.
  template <typename Enqueue>
  void run(const char* op, Enqueue&& enqueue) {
    cuda::DeviceScope scope(options_.device);
    const Clock::time_point deadline = Clock::now() + options_.timeout;
    const ncclResult_t r = enqueue();
    if (r != ncclSuccess && r != ncclInProgress) break_now(op, r, nccl_detail(r));
    last_issued_ = op;
    // Also picks up an asynchronous error an earlier collective left (one query when none).
    WaitResult result = wait_until_done(comm_, nullptr, deadline);
    if (!result.ok()) fail_after_wait(op, result);
  }

  // Waits, with the deadline, until the stream has run everything queued so far: the
  // collectives issued on this communicator and the ops queued around them.
  void wait_for_stream(const char* op) {
    cuda::DeviceScope scope(options_.device);
    WaitResult result = wait_until_done(comm_, stream(), Clock::now() + options_.timeout);
    if (!result.ok()) fail_after_wait(op, result);
  }

  [[noreturn]] void break_now(const char* op, ncclResult_t r, const std::string& detail) {
    abort_comm(str_cat(op, ": ", detail));
    fail(r == ncclInvalidArgument || r == ncclInvalidUsage ? ErrorCode::kInternal
                                                           : ErrorCode::kUnavailable,
         op, " in group '", options_.name, "' failed at rank ", rank_, ": NCCL ", detail);
  }

  [[noreturn]] void fail_after_wait(const char* op, const WaitResult& result) {
    if (result.timed_out) {
      abort_comm(str_cat(op, ": timed out"));
      fail(ErrorCode::kDeadlineExceeded, op, " in group '", options_.name, "' at rank ", rank_,
           " did not complete within ", options_.timeout.count(), " ms (", result.detail,
           "; last collective issued: ", last_issued_,
           "; a peer stopped calling or died); the communicator was aborted");
    }
    abort_comm(str_cat(op, ": ", result.detail));
    if (result.nccl != ncclSuccess)
      fail(ErrorCode::kUnavailable, op, " in group '", options_.name, "' failed at rank ", rank_,
           " (a peer died or the network failed): NCCL ", result.detail);
    fail(ErrorCode::kInternal, op, " in group '", options_.name, "' failed at rank ", rank_,
         ": the compute stream of cuda:", options_.device,
         " reported an error (from a collective or an op queued there): ", result.detail);
  }

  // ncclCommAbort stops the kernels still waiting on peers and frees the communicator.
  void abort_comm(std::string why) {
    broken_ = std::move(why);
    if (comm_ != nullptr) ncclCommAbort(comm_);
    comm_ = nullptr;
  }

  void count_sent(uint64_t bytes) { bytes_sent_ += bytes; }

  std::shared_ptr<Store> store_;  // kept for groups made by split, which share its lifetime
  NcclOptions options_;
  ncclComm_t comm_;
  int rank_ = 0;
  int size_ = 0;
  cudaStream_t stream_ = nullptr;  // cuda::compute_stream(device): not owned
  Tensor barrier_scratch_;
  std::string broken_;
  const char* last_issued_ = "none";  // named in timeout errors: which collective was waited on
  int splits_ = 0;
  std::atomic<uint64_t> bytes_sent_{0};
};

// Rank 0 publishes a fresh unique id under "<name>/nccl_id"; the others wait for it.
ncclUniqueId exchange_unique_id(Store& store, int rank, const NcclOptions& options) {
  const std::string key = options.name + "/nccl_id";
  if (rank == 0) {
    const std::string id = cuda::nccl_unique_id_bytes();
    store.set(key, Bytes(id.begin(), id.end()));
    return cuda::nccl_unique_id_from_bytes(id);
  }
  Bytes id;
  try {
    id = store.get(key, options.timeout);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kDeadlineExceeded) throw;
    fail(ErrorCode::kDeadlineExceeded, "group '", options.name, "' rank ", rank,
         ": rank 0's NCCL id never arrived (key '", key, "', waited ", options.timeout.count(),
         " ms)");
  }
  return cuda::nccl_unique_id_from_bytes(std::string_view(id.data(), id.size()));
}

}  // namespace

std::unique_ptr<Communicator> connect_nccl(std::shared_ptr<Store> store, int rank, int size,
                                           const NcclOptions& options) {
  MLA_ENSURE(store != nullptr, kInvalidArgument, "connect_nccl needs a store");
  MLA_ENSURE(size >= 1 && rank >= 0 && rank < size, kInvalidArgument, "group '", options.name,
             "': rank ", rank, " is outside a group of size ", size);
  MLA_ENSURE(options.timeout.count() > 0, kInvalidArgument, "group '", options.name,
             "': timeout must be positive");
  const int devices = cuda::cuda_device_count();
  MLA_ENSURE(options.device >= 0 && options.device < devices, kUnavailable, "group '",
             options.name, "' rank ", rank, ": CUDA device ", options.device,
             " is not available (", devices, " device(s) found)");
  cuda::init_cuda_backend();
  const ncclUniqueId id = exchange_unique_id(*store, rank, options);

  cuda::DeviceScope scope(options.device);
  ncclConfig_t config = non_blocking_config();
  ncclComm_t comm = nullptr;
  const ncclResult_t r = ncclCommInitRankConfig(&comm, size, id, rank, &config);
  if (r != ncclSuccess && r != ncclInProgress) {
    const std::string detail = nccl_detail(r);
    if (comm != nullptr) ncclCommAbort(comm);
    fail(r == ncclRemoteError || r == ncclSystemError ? ErrorCode::kUnavailable
                                                       : ErrorCode::kInternal,
         "group '", options.name, "' rank ", rank, ": NCCL init failed: ", detail);
  }
  // Init waits for every rank to join NCCL's bootstrap; a missing rank is only a timeout here.
  const WaitResult done = wait_until_done(comm, nullptr, Clock::now() + options.timeout);
  if (!done.ok()) {
    ncclCommAbort(comm);
    if (done.timed_out)
      fail(ErrorCode::kDeadlineExceeded, "group '", options.name, "' rank ", rank, " of ", size,
           ": NCCL init did not complete within ", options.timeout.count(),
           " ms (a rank never joined); the communicator was aborted");
    fail(ErrorCode::kUnavailable, "group '", options.name, "' rank ", rank,
         ": NCCL init failed: ", done.detail);
  }
  return std::make_unique<NcclCommunicator>(std::move(store), comm, options);
}

}  // namespace mlaserve::parallel

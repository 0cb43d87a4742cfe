#include "parallel/gloo_communicator.h"

#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/alltoallv.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/common/error.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/transport/tcp/device.h>

#include <algorithm>
#include <atomic>
#include <sys/socket.h>

#include "parallel/gloo_store.h"
#include "parallel/prefix_store.h"
#include "parallel/collective_checks.h"
#include "runtime/core/error.h"

namespace mlaserve::parallel {
namespace {

using ReduceFn = void (*)(void*, const void*, const void*, size_t);

// Gloo wants a non-null pointer even for an empty buffer.
char* bytes_of(const Tensor& t) {
  static char empty_buffer[1];
  return t.nbytes() == 0 ? empty_buffer : static_cast<char*>(t.raw_data());
}

class GlooCommunicator final : public Communicator {
 public:
  GlooCommunicator(std::shared_ptr<Store> store, std::shared_ptr<gloo::transport::Device> device,
                   int rank, int size, GlooOptions options)
      : store_(std::move(store)),
        device_(std::move(device)),
        options_(std::move(options)),
        rank_(rank) {
    MLA_ENSURE(size >= 1 && rank >= 0 && rank < size, kInvalidArgument, "group '",
               options_.name, "': rank ", rank, " is outside a group of size ", size);
    MLA_ENSURE(options_.timeout.count() > 0, kInvalidArgument, "group '", options_.name,
               "': timeout must be positive");
    auto context = std::make_shared<gloo::rendezvous::Context>(rank, size);
    context->setTimeout(options_.timeout);
    GlooStore rendezvous(std::make_shared<PrefixStore>(options_.name, store_), options_.name,
                         size, options_.timeout);
    guarded("rendezvous", [&] { context->connectFullMesh(rendezvous, device_); });
    context_ = std::move(context);
  }

  int rank() const override { return context_->rank; }
  int size() const override { return context_->size; }
  const std::string& name() const override { return options_.name; }
  uint64_t bytes_sent() const override { return bytes_sent_.load(); }

  void all_reduce_sum(Tensor& tensor) override {
    check_dense(tensor, "all_reduce_sum");
    MLA_ENSURE(tensor.dtype() == DType::kF32, kInvalidArgument, "all_reduce_sum in group '",
               name(), "' takes f32, got ", tensor.describe());
    if (tensor.numel() == 0) return;
    // Gloo's ring all-reduce (the algorithm UNSPECIFIED selects): each chunk is summed along a
    // fixed ring order by one rank, then copied to the others, so results are identical on every
    // rank and repeatable for the same inputs and group size.
    gloo::AllreduceOptions opts(context_);
    opts.setOutput(tensor.data<float>(), static_cast<size_t>(tensor.numel()));
    opts.setReduceFunction(static_cast<ReduceFn>(&gloo::sum<float>));
    guarded("all_reduce_sum", [&] { gloo::allreduce(opts); });
    // Ring: (n-1) chunks in the reduce-scatter, (n-1) in the all-gather, each ~1/n of the data.
    count_sent(2 * tensor.nbytes() * (size() - 1) / size());
  }

  Tensor all_gather(const Tensor& tensor) override {
    check_dense(tensor, "all_gather");
    MLA_ENSURE(tensor.rank() >= 1, kInvalidArgument, "all_gather in group '", name(),
               "' needs a tensor with a row dimension, got ", tensor.describe());
    Tensor out = Tensor::empty(with_rows(tensor.shape(), tensor.dim(0) * size()), tensor.dtype());
    if (tensor.nbytes() == 0) return out;
    gloo::AllgatherOptions opts(context_);
    opts.setInput(bytes_of(tensor), tensor.nbytes());
    opts.setOutput(bytes_of(out), out.nbytes());
    guarded("all_gather", [&] { gloo::allgather(opts); });
    count_sent(tensor.nbytes() * (size() - 1));  // ring: forwards n-1 blocks
    return out;
  }

  void broadcast(Tensor& tensor, int root) override {
    check_dense(tensor, "broadcast");
    MLA_ENSURE(root >= 0 && root < size(), kInvalidArgument, "broadcast in group '", name(),
               "': root ", root, " is outside a group of size ", size());
    if (tensor.nbytes() == 0) return;
    gloo::BroadcastOptions opts(context_);
    opts.setOutput(bytes_of(tensor), tensor.nbytes());
    opts.setRoot(root);
    guarded("broadcast", [&] { gloo::broadcast(opts); });
    count_sent(tensor.nbytes() * tree_children(root));
  }

  Tensor all_to_all_v(const Tensor& input, const std::vector<int64_t>& send_counts,
                      const std::vector<int64_t>& recv_counts) override {
    check_dense(input, "all_to_all_v");
    const size_t n = static_cast<size_t>(size());
    const auto [send_rows, recv_rows] = check_all_to_all_v(*this, input, send_counts, recv_counts);
    Tensor out = Tensor::empty(with_rows(input.shape(), recv_rows), input.dtype());
    const int64_t row_bytes = shape_numel(with_rows(input.shape(), 1)) *
                              static_cast<int64_t>(dtype_size(input.dtype()));
    std::vector<int64_t> send_bytes(n), recv_bytes(n);
    for (size_t r = 0; r < n; ++r) {
      send_bytes[r] = send_counts[r] * row_bytes;
      recv_bytes[r] = recv_counts[r] * row_bytes;
    }
    gloo::AlltoallvOptions opts(context_);
    opts.setInput(bytes_of(input), send_bytes);
    opts.setOutput(bytes_of(out), recv_bytes);
    guarded("all_to_all_v", [&] { gloo::alltoallv(opts); });
    count_sent(static_cast<uint64_t>(send_rows - send_counts[rank()]) * row_bytes);
    return out;
  }

  void barrier() override {
    gloo::BarrierOptions opts(context_);
    guarded("barrier", [&] { gloo::barrier(opts); });
  }

  // Every Gloo call has completed when it returns: nothing to wait for. A broken group still
  // throws, as every call on it does.
  void synchronize() override {
    guarded("synchronize", [] {});
  }

  std::unique_ptr<Communicator> split(int color, int key) override {
    // Everyone learns everyone's (color, key) over this group, so the new membership is
    // computed identically on every rank without extra store traffic.
    Tensor mine = Tensor::empty({1, 2}, DType::kI64);
    mine.data<int64_t>()[0] = color;
    mine.data<int64_t>()[1] = key;
    Tensor all = all_gather(mine);
    const int64_t* entries = all.data<int64_t>();
    const int split_index = splits_++;
    if (color < 0) return nullptr;
    std::vector<int> members;
    for (int r = 0; r < size(); ++r)
      if (entries[2 * r] == color) members.push_back(r);
    std::stable_sort(members.begin(), members.end(),
                     [&](int a, int b) { return entries[2 * a + 1] < entries[2 * b + 1]; });
    const int new_rank = static_cast<int>(
        std::find(members.begin(), members.end(), rank()) - members.begin());
    GlooOptions sub = options_;
    sub.name = str_cat(options_.name, "/split", split_index, "/color", color);
    auto group = std::make_unique<GlooCommunicator>(store_, device_, new_rank,
                                                    static_cast<int>(members.size()), sub);
    group->barrier();  // see connect_gloo
    return group;
  }

 private:
  void check_dense(const Tensor& t, const char* op) const {
    MLA_ENSURE(t.defined() && t.device().type == DeviceType::kCPU && t.is_contiguous(),
               kInvalidArgument, op, " in group '", options_.name,
               "' takes a contiguous CPU tensor, got ", t.describe());
  }

  // Runs one Gloo call; a transport failure (a peer died, closed its socket or missed the
  // timeout) becomes kUnavailable naming the group and this rank, and breaks the communicator:
  // Gloo's pairs cannot recover, and a later collective must not hang on them.
  template <typename Fn>
  void guarded(const char* op, Fn&& fn) {
    const int r = rank_;
    if (!broken_.empty())
      fail(ErrorCode::kUnavailable, op, " in group '", options_.name, "' at rank ", r,
           ": the group is broken by an earlier failure: ", broken_);
    try {
      fn();
    } catch (const gloo::Exception& e) {
      broken_ = str_cat(op, ": ", e.what());
      fail(ErrorCode::kUnavailable, op, " in group '", options_.name, "' failed at rank ", r,
           " (a peer died, disconnected or missed the ", options_.timeout.count(),
           " ms timeout): ", e.what());
    }
  }

  // Children of this rank in a binomial broadcast tree rooted at `root`.
  int tree_children(int root) const {
    const int n = size();
    const int relative = (rank() - root + n) % n;
    int children = 0;
    for (int mask = 1; mask < n; mask <<= 1)
      if (relative < mask && relative + mask < n) ++children;
    return children;
  }

  void count_sent(uint64_t bytes) { bytes_sent_ += bytes; }

  std::shared_ptr<Store> store_;
  std::shared_ptr<gloo::transport::Device> device_;
  GlooOptions options_;
  std::shared_ptr<gloo::Context> context_;
  std::string broken_;
  int rank_;  // known before context_ exists, for rendezvous errors
  int splits_ = 0;
  std::atomic<uint64_t> bytes_sent_{0};
};

}  // namespace

std::unique_ptr<Communicator> connect_gloo(std::shared_ptr<Store> store, int rank, int size,
                                           const GlooOptions& options) {
  MLA_ENSURE(store != nullptr, kInvalidArgument, "connect_gloo needs a store");
  gloo::transport::tcp::attr attr;
  attr.hostname = options.hostname;
  attr.ai_family = AF_INET;
  std::shared_ptr<gloo::transport::Device> device;
  try {
    device = gloo::transport::tcp::CreateDevice(attr);
  } catch (const gloo::Exception& e) {
    fail(ErrorCode::kUnavailable, "group '", options.name, "' rank ", rank,
         ": cannot listen on '", options.hostname, "': ", e.what());
  }
  auto group = std::make_unique<GlooCommunicator>(std::move(store), std::move(device), rank, size,
                                                  options);
  // Gloo's full-mesh rendezvous can return on one rank while a peer is still completing its
  // side; a rank that then closed its sockets (a short job, a failing rank) would fail the peer
  // with "connection closed". After a barrier every rank has finished connecting.
  group->barrier();
  return group;
}

}  // namespace mlaserve::parallel

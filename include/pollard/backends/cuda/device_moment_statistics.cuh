// pollard — per-column moments of device activations accumulated over calibration batches on
// the device, with no synchronisation per batch.
#pragma once

#if !defined(__CUDACC__)
#error \
    "pollard/backends/cuda/device_moment_statistics.cuh is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cuda_runtime.h>

#include <string>
#include <type_traits>

#include "pollard/backends/cuda/checked_call.cuh"
#include "pollard/backends/cuda/column_moments.cuh"
#include "pollard/backends/cuda/device_buffer.cuh"
#include "pollard/backends/cuda/policy.cuh"
#include "pollard/core/checks.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::cuda {

/// Per input channel j of device activations X [tokens x channels], accumulated over calibration
/// batches: the count, Σ_t x_tj and Σ_t x_tj² (in Acc), mean and M2 = Σ_t (x_tj − mean_j)²
/// (Chan's parallel update), as moment_statistics accumulates them on the host. Each batch costs
/// one launch, a pass over it on the policy's stream, and waits for nothing, so a stream of
/// calibration batches is summarised at the device's bandwidth; result() waits once and copies
/// the totals to the host. Rows are split into chunks fixed by each batch's shape, so
/// the result does not depend on the device.
///
/// NaN and infinity: once a batch holds one, no moments are returned (the check is on the
/// device and nothing waits for it); result() throws non_finite_error naming the
/// first one as moment_statistics does ("moment_statistics: non-finite x at (i, j) = v"),
/// followed by the batch it is in. Use one stream for a statistics object (its policy's), or
/// synchronise between streams.
template <class Acc = double>
class device_moment_statistics {
  static_assert(compute_type<Acc>, "device_moment_statistics: Acc must be float or double");
  using partial = detail::moment_partial<Acc>;

 public:
  /// Statistics of `channels` columns, nothing accumulated. Throws shape_error when channels is
  /// negative.
  template <cuda_policy P>
  device_moment_statistics(const P& p, index_t channels)
      : channels_(channels),
        totals_(static_cast<std::size_t>(channels > 0 ? channels : 0)),
        counters_(static_cast<std::size_t>(detail::moment_tiles(channels > 0 ? channels : 0)) + 1),
        batch_bad_(1),
        error_(1) {
    if (channels < 0)
      throw shape_error("device_moment_statistics: channels must be >= 0, got " +
                        std::to_string(channels));
    const cudaStream_t stream = p.resources().stream();
    if (channels > 0)
      POLLARD_CUDA_CHECK(
          cudaMemsetAsync(totals_.data(), 0, totals_.size() * sizeof(partial), stream));
    // The pass leaves its counters at zero and the batch's bad index at no_entry for the next.
    POLLARD_CUDA_CHECK(
        cudaMemsetAsync(counters_.data(), 0, counters_.size() * sizeof(unsigned int), stream));
    POLLARD_CUDA_CHECK(
        cudaMemsetAsync(batch_bad_.data(), 0xff, sizeof(unsigned long long), stream));
    POLLARD_CUDA_CHECK(cudaMemsetAsync(error_.data(), 0xff, sizeof(detail::moment_error), stream));
  }

  /// Queues one batch X [tokens x channels] (any strides; float, double, half or bfloat16 on the
  /// device) holding `sequences` calibration sequences (0 for a chunk of one already counted).
  /// Returns without waiting: X must stay alive and unchanged until the stream reaches this
  /// work. Throws shape_error on a width mismatch and option_error on negative sequences, both
  /// before anything is queued.
  template <cuda_policy P, class T>
  void accumulate(const P& p, device_view<T> batch, index_t sequences = 1) {
    const device_view<const std::remove_const_t<T>> x = batch;
    if (x.cols() != channels_)
      throw shape_error("device_moment_statistics: batch is " + shape_text(x) +
                        " but the statistics have " + std::to_string(channels_) + " channels");
    if (sequences < 0)
      throw option_error("device_moment_statistics: sequences must be >= 0, got " +
                         std::to_string(sequences));
    sequences_ += sequences;
    if (x.rows() == 0 || channels_ == 0) return;
    ++batches_;
    tokens_ += x.rows();
    auto& r = p.resources();
    const auto chunks =
        static_cast<std::size_t>(detail::moment_grid::of(x.rows(), channels_).chunks);
    detail::moment_pass<Acc> out;
    out.partials = static_cast<partial*>(
        r.workspace(chunks * static_cast<std::size_t>(channels_) * sizeof(partial)));
    out.totals = totals_.data();
    out.chunks_done = counters_.data() + 1;
    out.tiles_done = counters_.data();
    out.batch_bad = batch_bad_.data();
    out.error = error_.data();
    out.ordinal = batches_;
    out.accumulate = true;
    detail::launch_moment_pass(r.stream(), x, out);
  }

  index_t channels() const noexcept { return channels_; }
  /// Tokens (rows) of the batches queued so far.
  index_t tokens() const noexcept { return tokens_; }
  /// Calibration sequences of the batches queued so far.
  index_t sequences() const noexcept { return sequences_; }

  /// Waits for p's stream and returns the moments of every batch queued (tokens, Σx, Σx², mean,
  /// M2 per channel). Throws non_finite_error when a batch held a NaN or an infinity (see the
  /// class); it throws again on every later call.
  template <cuda_policy P>
  column_moments<Acc> result(const P& p) const {
    auto& r = p.resources();
    const std::size_t n = totals_.size();
    auto* const host = static_cast<unsigned char*>(
        r.host_staging(sizeof(detail::moment_error) + n * sizeof(partial)));
    auto* const error = reinterpret_cast<detail::moment_error*>(host);
    auto* const totals = reinterpret_cast<partial*>(host + sizeof(detail::moment_error));
    POLLARD_CUDA_CHECK(cudaMemcpyAsync(error, error_.data(), sizeof(detail::moment_error),
                                       cudaMemcpyDeviceToHost, r.stream()));
    if (n > 0)
      POLLARD_CUDA_CHECK(cudaMemcpyAsync(totals, totals_.data(), n * sizeof(partial),
                                         cudaMemcpyDeviceToHost, r.stream()));
    r.synchronize();
    if (error->batch != detail::no_entry) {
      const auto i = static_cast<index_t>(error->index) / channels_,
                 j = static_cast<index_t>(error->index) % channels_;
      throw non_finite_error("moment_statistics: non-finite x at " + position_text(i, j) + " = " +
                             format_number(error->value) + ", in batch " +
                             std::to_string(error->batch) + " of " + std::to_string(batches_) +
                             " (no moments are returned once a batch holds one)");
    }
    return detail::moments_from_totals(totals, n, tokens_);
  }

 private:
  index_t channels_ = 0;
  index_t tokens_ = 0;
  index_t sequences_ = 0;
  unsigned long long batches_ = 0;
  device_buffer<partial> totals_;
  device_buffer<unsigned int> counters_;  // tiles done, then chunks done per column tile
  device_buffer<unsigned long long> batch_bad_;
  device_buffer<detail::moment_error> error_;
};

}  // namespace pollard::cuda

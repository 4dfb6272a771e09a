// pollard — the pieces the CUDA metrics share: a streaming (online) softmax normaliser with the
// argmax and the first non-finite entry of a logits row, merged across the threads of a block,
// and the row traversal that reads logits in 16-byte loads where the layout allows.
#pragma once

#if !defined(__CUDACC__)
#error \
    "pollard/backends/cuda/row_softmax.cuh is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>

#include "pollard/backends/cuda/checked_call.cuh"
#include "pollard/backends/cuda/resident_blocks.cuh"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::cuda::detail {

/// log2(e) in float: e^v is computed as 2^(v·log2e).
inline constexpr float log2e_float = 1.44269504088896340736f;

/// 2^v by the special function unit (ex2.approx, relative error below 2^-22); results below
/// 2^-126 are flushed to zero, which the sums of probabilities here can ignore.
__device__ inline float exp2_approx(float v) {
  float out;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(out) : "f"(v));
  return out;
}

/// log2(v) by the special function unit (lg2.approx, absolute error below 2^-22 for v in
/// [1/2, 2], where it is used here).
__device__ inline float log2_approx(float v) {
  float out;
  asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(out) : "f"(v));
  return out;
}

/// max, Σ 2^(l·log2e − shift) with shift = max·log2e rounded to float (Σ e^(l − max) times
/// 2^(max·log2e − shift): every term and the rescaling use the same rounded shift, so that its
/// rounding, up to 2^-24 of |max|·log2e, cancels in log_normaliser(), which is then within a few
/// 1e-7 of log Σ eˡ; above |max| ≈ 1e8 the terms leave float's exponent range), the first index
/// holding the max and the first non-finite index (`none` when there is none) of the entries seen
/// so far (Milakov & Gimelshein 2018, "Online normalizer calculation for softmax").
struct online_softmax {
  static constexpr index_t none = std::numeric_limits<index_t>::max();
  float max = -INFINITY;
  float shift = -INFINITY;
  float sum = 0.0f;
  index_t top = none;
  index_t bad = none;

  /// Entry i with value x; entries of one thread come in ascending i. Non-finite entries are
  /// only recorded.
  __device__ void add(index_t i, float x) {
    if (!isfinite(x)) {
      bad = i < bad ? i : bad;
      return;
    }
    raise_to(i, x);
    sum += exp2_approx(fmaf(x, log2e_float, -shift));
  }

  /// Entries i0, i0 + 1, ... (ascending, after every entry this thread added before): one check
  /// for non-finite entries and one comparison with the max for the group, then one exp per entry.
  /// For W > 1 `top` becomes the first index of the earliest group holding the max, not the
  /// entry itself: first_index_of_max() finds the entry once the block's state is merged.
  template <std::size_t W>
  __device__ void add_group(index_t i0, const std::array<float, W>& x) {
    // x·0 is ±0 for finite x and NaN for NaN and ±infinity.
    float poison = 0.0f;
#pragma unroll
    for (std::size_t t = 0; t < W; ++t) poison = fmaf(x[t], 0.0f, poison);
    if (!(poison == 0.0f)) {
#pragma unroll
      for (std::size_t t = 0; t < W; ++t) add(i0 + static_cast<index_t>(t), x[t]);
      return;
    }
    float m = x[0];
#pragma unroll
    for (std::size_t t = 1; t < W; ++t) m = fmaxf(m, x[t]);
    raise_to(i0, m);
#pragma unroll
    for (std::size_t t = 0; t < W; ++t) sum += exp2_approx(fmaf(x[t], log2e_float, -shift));
  }

  /// The max raised to m where m beats it (then `top` = first), and the sum rescaled to the new
  /// shift (2^0 = 1 when it stays; 0 · 2^−inf = 0 at the start). Without branches: in most warps
  /// some lane meets a new max in most groups. Ties keep the earlier entry or group.
  __device__ void raise_to(index_t first, float m) {
    const bool higher = m > max;
    top = higher ? first : top;
    max = higher ? m : max;
    const float new_shift = max * log2e_float;
    sum *= exp2_approx(shift - new_shift);
    shift = new_shift;
  }

  /// The state of both sets of entries (ties of the max go to the lower index).
  __device__ static online_softmax merge(const online_softmax& a, const online_softmax& b) {
    online_softmax out;
    out.bad = a.bad < b.bad ? a.bad : b.bad;
    if (a.top == none) {
      out.max = b.max, out.shift = b.shift, out.sum = b.sum, out.top = b.top;
      return out;
    }
    if (b.top == none) {
      out.max = a.max, out.shift = a.shift, out.sum = a.sum, out.top = a.top;
      return out;
    }
    const bool a_wins = a.max > b.max || (a.max == b.max && a.top < b.top);
    const online_softmax& hi = a_wins ? a : b;
    const online_softmax& lo = a_wins ? b : a;
    out.max = hi.max;
    out.shift = hi.shift;
    out.top = hi.top;
    out.sum = hi.sum + lo.sum * exp2_approx(lo.shift - hi.shift);
    return out;
  }

  __device__ online_softmax shuffled_down(int offset) const {
    online_softmax o;
    o.max = __shfl_down_sync(0xffffffffu, max, offset);
    o.shift = __shfl_down_sync(0xffffffffu, shift, offset);
    o.sum = __shfl_down_sync(0xffffffffu, sum, offset);
    o.top = __shfl_down_sync(0xffffffffu, top, offset);
    o.bad = __shfl_down_sync(0xffffffffu, bad, offset);
    return o;
  }
};

/// log Σ e^l of the entries of s, in double: (shift + log2 Σ)/log2e (the weights 2^(l·log2e −
/// c·log2e) of the entries sum to 1 for this c).
__device__ inline double log_normaliser(const online_softmax& s) {
  return (static_cast<double>(s.shift) + log2(static_cast<double>(s.sum))) /
         static_cast<double>(log2e_float);
}

/// The block-wide merge of every thread's value, in a fixed order (the result does not depend
/// on timing), returned to every thread: within each warp by shuffles, then across the warps by
/// warp 0. `shared` holds one value per warp (32). V needs shuffled_down(offset), a static
/// merge(a, b) and a default value that merges as nothing.
template <class V>
__device__ V block_merge(V mine, V* shared) {
  const int lane = static_cast<int>(threadIdx.x % 32), warp = static_cast<int>(threadIdx.x / 32);
  for (int offset = 16; offset > 0; offset /= 2) mine = V::merge(mine, mine.shuffled_down(offset));
  if (lane == 0) shared[warp] = mine;
  __syncthreads();
  if (warp == 0) {
    V total = lane < static_cast<int>(blockDim.x / 32) ? shared[lane] : V{};
    for (int offset = 16; offset > 0; offset /= 2)
      total = V::merge(total, total.shuffled_down(offset));
    if (lane == 0) shared[0] = total;
  }
  __syncthreads();
  const V total = shared[0];
  __syncthreads();  // `shared` may be reused after this
  return total;
}

/// Entries per 16-byte load.
template <class T>
inline constexpr int entries_per_load = static_cast<int>(16 / sizeof(T));

/// Whether every row of x can be read in aligned 16-byte loads.
template <class T>
bool loads_whole_vectors(matrix_view<const T, device_space> x) {
  constexpr auto width = static_cast<index_t>(entries_per_load<T>);
  return x.col_stride() == 1 && x.cols() % width == 0 && x.row_stride() % width == 0 &&
         reinterpret_cast<std::uintptr_t>(x.data()) % 16 == 0;
}

/// Calls f(i0, a, b) for the entries of one row of two logit matrices that this thread reads,
/// in groups: std::array<float, W>s of the entries i0 ... i0 + W − 1 of both rows, converted to
/// float (W = one 16-byte load's entries when `vectorised`: both rows in 16-byte loads; else 1),
/// i0 ascending.
template <class T, class F>
__device__ void for_each_row_pair_group(matrix_view<const T, device_space> p,
                                        matrix_view<const T, device_space> q, index_t row,
                                        bool vectorised, F&& f) {
  // Offsets within a row fit in 32 bits (a row of 2^31 loads would not fit in memory twice);
  // 64-bit counters would hold registers the loop bodies need.
  const int threads = static_cast<int>(blockDim.x), first = static_cast<int>(threadIdx.x);
  if (vectorised) {
    constexpr int width = entries_per_load<T>;
    const auto* rp = reinterpret_cast<const uint4*>(p.data() + row * p.row_stride());
    const auto* rq = reinterpret_cast<const uint4*>(q.data() + row * q.row_stride());
    const auto groups = static_cast<int>(p.cols() / width);
    if (first >= groups) return;
    // The next loads are issued before this group's work, so that their latency hides behind
    // it.
    uint4 next_p = rp[first], next_q = rq[first];
    for (int k = first; k < groups; k += threads) {
      const uint4 raw_p = next_p, raw_q = next_q;
      if (k + threads < groups) {
        next_p = rp[k + threads];
        next_q = rq[k + threads];
      }
      T vp[width], vq[width];
      std::memcpy(vp, &raw_p, sizeof raw_p);
      std::memcpy(vq, &raw_q, sizeof raw_q);
      std::array<float, width> a, b;
#pragma unroll
      for (int t = 0; t < width; ++t) {
        a[t] = to_compute<float>(vp[t]);
        b[t] = to_compute<float>(vq[t]);
      }
      f(static_cast<index_t>(k) * width, a, b);
    }
    return;
  }
  for (index_t i = first; i < p.cols(); i += threads)
    f(i, std::array<float, 1>{to_compute<float>(p(row, i))},
      std::array<float, 1>{to_compute<float>(q(row, i))});
}

/// The entry of row `row` holding `max` first among the `width` entries from `group_start` (the
/// group add_group recorded as `top`); group_start itself when it is `none`.
template <class T>
__device__ index_t first_index_of_max(matrix_view<const T, device_space> x, index_t row,
                                      index_t group_start, index_t width, float max) {
  if (group_start == online_softmax::none) return group_start;
  const index_t end = group_start + width < x.cols() ? group_start + width : x.cols();
  for (index_t i = group_start; i < end; ++i)
    if (to_compute<float>(x(row, i)) == max) return i;
  return group_start;
}

/// The same for one logit matrix: f(i, x_i).
template <class T, class F>
__device__ void for_each_in_row(matrix_view<const T, device_space> x, index_t row, bool vectorised,
                                F&& f) {
  const index_t v = x.cols();
  if (vectorised) {
    constexpr int width = entries_per_load<T>;
    const auto* r = reinterpret_cast<const uint4*>(x.data() + row * x.row_stride());
    for (index_t k = threadIdx.x; k < v / width; k += blockDim.x) {
      const uint4 raw = r[k];
      T values[width];
      std::memcpy(values, &raw, sizeof raw);
#pragma unroll
      for (int t = 0; t < width; ++t) f(k * width + t, to_compute<float>(values[t]));
    }
    return;
  }
  for (index_t i = threadIdx.x; i < v; i += blockDim.x) f(i, to_compute<float>(x(row, i)));
}

/// The bytes `count` token ids take at the start of a workspace or of the staging buffer (whole
/// 256-byte lines, so that what follows them is aligned).
inline std::size_t staged_token_bytes(std::size_t count) {
  return (count * sizeof(std::int32_t) + 255) / 256 * 256;
}

/// Copies the token ids to `device_tokens` through the policy's page-locked staging buffer and
/// returns the `result_bytes` of it that follow them, for the results to come back to (from
/// pageable memory both copies are staged by the driver: a fifth of a divergence call at 4096
/// positions). Valid until the next call that uses the staging buffer.
template <class Resources>
char* stage_tokens(Resources& r, std::span<const std::int32_t> tokens, std::int32_t* device_tokens,
                   std::size_t result_bytes) {
  const std::size_t token_bytes = staged_token_bytes(tokens.size());
  auto* const staging = static_cast<char*>(r.host_staging(token_bytes + result_bytes));
  std::memcpy(staging, tokens.data(), tokens.size_bytes());
  POLLARD_CUDA_CHECK(cudaMemcpyAsync(device_tokens, staging, tokens.size_bytes(),
                                     cudaMemcpyHostToDevice, r.stream()));
  return staging + token_bytes;
}

/// Throws shape_error (with the CPU metrics' messages) unless every token id is in
/// [0, vocabulary).
inline void check_token_ids(const char* who, std::span<const std::int32_t> tokens,
                            index_t vocabulary, const char* what) {
  for (const auto t : tokens)
    if (t < 0 || t >= vocabulary)
      throw shape_error(std::string(who) + ": " + what + " " + std::to_string(t) +
                        " is outside the vocabulary [0, " + std::to_string(vocabulary) + ")");
}

}  // namespace pollard::cuda::detail

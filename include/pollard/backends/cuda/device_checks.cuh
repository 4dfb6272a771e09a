// pollard — input checks on device views: the first non-finite (or unrankable) entry found on
// the device and reported with the same message as the host checks.
#pragma once

#if !defined(__CUDACC__)
#error \
    "pollard/backends/cuda/device_checks.cuh is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "pollard/backends/cuda/checked_call.cuh"
#include "pollard/backends/cuda/policy.cuh"
#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/masks/score_checks.hpp"

namespace pollard::cuda::detail {

inline constexpr unsigned long long no_entry = ~0ull;

/// What an entry must not be: non-finite (NaN, ±inf), or unrankable as a score (NaN, -inf).
enum class bad_value { non_finite, unrankable };

template <class C>
__device__ inline bool is_bad(C v, bad_value rule) {
  if (rule == bad_value::non_finite) return !isfinite(v);
  return isnan(v) || (isinf(v) && v < C(0));
}

/// Lowers *first to the row-major index of each bad entry of x.
template <class T>
__global__ void find_first_bad(matrix_view<const T, device_space> x, bad_value rule,
                               unsigned long long* first) {
  using C = compute_type_for<T>;
  const index_t count = x.rows() * x.cols();
  for (index_t k = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x; k < count;
       k += static_cast<index_t>(gridDim.x) * blockDim.x) {
    const index_t i = k / x.cols(), j = k % x.cols();
    if (is_bad(to_compute<C>(x(i, j)), rule)) atomicMin(first, static_cast<unsigned long long>(k));
  }
}

/// The same for x stored whole and row-major (row stride = cols, columns adjacent, 16-byte
/// aligned), read in 16-byte loads: entries [0, count) of one array.
template <class T>
__global__ void find_first_bad_contiguous(const T* x, index_t count, bad_value rule,
                                          unsigned long long* first) {
  using C = compute_type_for<T>;
  constexpr int width = static_cast<int>(16 / sizeof(T));
  const index_t vectors = count / width;
  const index_t step = static_cast<index_t>(gridDim.x) * blockDim.x;
  const index_t start = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  const auto* v = reinterpret_cast<const uint4*>(x);
  for (index_t k = start; k < vectors; k += step) {
    const uint4 raw = v[k];
    T values[width];
    std::memcpy(values, &raw, sizeof raw);
    bool any = false;
#pragma unroll
    for (int t = 0; t < width; ++t) any |= is_bad(to_compute<C>(values[t]), rule);
    if (any)
      for (int t = 0; t < width; ++t)
        if (is_bad(to_compute<C>(values[t]), rule))
          atomicMin(first, static_cast<unsigned long long>(k * width + t));
  }
  for (index_t k = vectors * width + start; k < count; k += step)
    if (is_bad(to_compute<C>(x[k]), rule)) atomicMin(first, static_cast<unsigned long long>(k));
}

/// Whether x is one row-major array that 16-byte loads can read.
template <class T>
bool is_whole_row_major(matrix_view<const T, device_space> x) {
  return x.col_stride() == 1 && (x.row_stride() == x.cols() || x.rows() == 1) &&
         reinterpret_cast<std::uintptr_t>(x.data()) % 16 == 0;
}

/// The row-major index of the first bad entry of x, or no_entry (synchronises the stream).
template <cuda_policy P, class T>
unsigned long long first_bad_entry(const P& p, matrix_view<const T, device_space> x,
                                   bad_value rule) {
  if (x.empty()) return no_entry;
  auto& r = p.resources();
  unsigned long long* const first = r.status_words();
  POLLARD_CUDA_CHECK(cudaMemsetAsync(first, 0xff, sizeof(*first), r.stream()));
  const index_t count = x.rows() * x.cols();
  if (is_whole_row_major(x)) {
    const index_t vectors = count / static_cast<index_t>(16 / sizeof(T));
    const auto blocks = static_cast<unsigned>(std::clamp<index_t>((vectors + 255) / 256, 1, 8192));
    find_first_bad_contiguous<T><<<blocks, 256, 0, r.stream()>>>(x.data(), count, rule, first);
    POLLARD_CUDA_CHECK_LAUNCH("find_first_bad_contiguous");
  } else {
    const auto blocks = static_cast<unsigned>(std::min<index_t>((count + 255) / 256, 4096));
    find_first_bad<T><<<blocks, 256, 0, r.stream()>>>(x, rule, first);
    POLLARD_CUDA_CHECK_LAUNCH("find_first_bad");
  }
  unsigned long long found = no_entry;
  POLLARD_CUDA_CHECK(
      cudaMemcpyAsync(&found, first, sizeof(found), cudaMemcpyDeviceToHost, r.stream()));
  r.synchronize();
  return found;
}

/// The value of entry (i, j) of a device view, as a double (synchronous).
template <class T>
double value_at(matrix_view<const T, device_space> x, index_t i, index_t j) {
  T v{};
  POLLARD_CUDA_CHECK(cudaMemcpy(&v, x.data() + i * x.row_stride() + j * x.col_stride(), sizeof(T),
                                cudaMemcpyDeviceToHost));
  return to_compute<double>(v);
}

/// Throws non_finite_error naming the first NaN or infinity of x in row-major order, as
/// pollard::require_finite does for host views.
template <cuda_policy P, class T>
void require_finite(const P& p, matrix_view<const T, device_space> x, std::string_view who,
                    std::string_view what) {
  const unsigned long long k = first_bad_entry(p, x, bad_value::non_finite);
  if (k == no_entry) return;
  const auto i = static_cast<index_t>(k) / x.cols(), j = static_cast<index_t>(k) % x.cols();
  pollard::detail::throw_non_finite(who, what, position_text(i, j), value_at(x, i, j));
}

/// Throws non_finite_error naming the first NaN or -inf score (+inf is "always keep"), as the
/// host mask policies do.
template <cuda_policy P, class T>
void require_rankable(const P& p, matrix_view<const T, device_space> scores, const char* who) {
  const unsigned long long k = first_bad_entry(p, scores, bad_value::unrankable);
  if (k == no_entry) return;
  const auto i = static_cast<index_t>(k) / scores.cols(),
             j = static_cast<index_t>(k) % scores.cols();
  pollard::detail::throw_bad_score(who, i, j, value_at(scores, i, j));
}

}  // namespace pollard::cuda::detail

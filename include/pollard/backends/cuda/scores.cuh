// pollard — the element-wise criteria (magnitude, Wanda, RIA) on device weights, through the
// scoring functions the CPU criteria use, so both backends give the same scores.
#pragma once

#if !defined(__CUDACC__)
#error "pollard/backends/cuda/scores.cuh is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cuda_runtime.h>

#include <cmath>
#include <span>
#include <type_traits>
#include <vector>

#include "pollard/backends/cuda/checked_call.cuh"
#include "pollard/backends/cuda/device_checks.cuh"
#include "pollard/backends/cuda/policy.cuh"
#include "pollard/core/checks.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/criteria/criterion_inputs.hpp"
#include "pollard/criteria/element_scores.hpp"
#include "pollard/criteria/magnitude.hpp"
#include "pollard/criteria/ria.hpp"
#include "pollard/criteria/wanda.hpp"

namespace pollard::cuda::detail {

using pollard::detail::magnitude_score;
using pollard::detail::ria_score;
using pollard::detail::wanda_score;

enum class element_criterion { magnitude, wanda, ria };

/// scores(i, j) from w(i, j) and the per-column factor (sqrt(s_j) for Wanda, the activation
/// term for RIA) and, for RIA, the row and column sums of |W|.
template <element_criterion C, class W, class T>
__global__ void score_elements(matrix_view<const W, device_space> w, const T* column_factor,
                               const double* row_sums, const double* column_sums,
                               matrix_view<T, device_space> scores) {
  const index_t count = w.rows() * w.cols();
  for (index_t k = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x; k < count;
       k += static_cast<index_t>(gridDim.x) * blockDim.x) {
    const index_t i = k / w.cols(), j = k % w.cols();
    if constexpr (C == element_criterion::magnitude)
      scores(i, j) = magnitude_score<T>(w(i, j));
    else if constexpr (C == element_criterion::wanda)
      scores(i, j) = wanda_score<T>(w(i, j), column_factor[j]);
    else
      scores(i, j) = ria_score<T>(magnitude_score<T>(w(i, j)), static_cast<T>(row_sums[i]),
                                  static_cast<T>(column_sums[j]), column_factor[j]);
  }
}

/// Σ_j |W_ij| per row (row_wise) or Σ_i |W_ij| per column, in double, each by one thread in
/// index order: the CPU criterion's order of summation, so the sums are the same.
template <class W>
__global__ void absolute_sums(matrix_view<const W, device_space> w, bool row_wise, double* out) {
  const index_t n = row_wise ? w.rows() : w.cols();
  const index_t along = row_wise ? w.cols() : w.rows();
  const index_t t = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (t >= n) return;
  double sum = 0.0;
  for (index_t k = 0; k < along; ++k) sum += magnitude_score<double>(row_wise ? w(t, k) : w(k, t));
  out[t] = sum;
}

template <element_criterion C, cuda_policy P, class W, class T>
void score_on_device(const P& p, const char* who, matrix_view<const W, device_space> w,
                     const std::vector<T>& column_factor, matrix_view<T, device_space> scores) {
  require_same_shape(who, "W", w.rows(), w.cols(), "scores", scores.rows(), scores.cols());
  require_finite(p, w, who, "W");
  if (w.empty()) return;
  auto& r = p.resources();
  const cudaStream_t stream = r.stream();
  const auto d_out = static_cast<std::size_t>(w.rows()), d_in = static_cast<std::size_t>(w.cols());
  const std::size_t factor_bytes = ((d_in * sizeof(T) + 255) / 256) * 256;
  const std::size_t sums_bytes = C == element_criterion::ria ? (d_out + d_in) * sizeof(double) : 0;
  auto* const base = static_cast<char*>(r.workspace(factor_bytes + sums_bytes));
  auto* const factor = reinterpret_cast<T*>(base);
  auto* const row_sums = reinterpret_cast<double*>(base + factor_bytes);
  double* const column_sums = row_sums + d_out;
  if (!column_factor.empty())
    POLLARD_CUDA_CHECK(cudaMemcpyAsync(factor, column_factor.data(), d_in * sizeof(T),
                                       cudaMemcpyHostToDevice, stream));
  if constexpr (C == element_criterion::ria) {
    absolute_sums<W>
        <<<static_cast<unsigned>((d_out + 127) / 128), 128, 0, stream>>>(w, true, row_sums);
    POLLARD_CUDA_CHECK_LAUNCH("absolute_sums");
    absolute_sums<W>
        <<<static_cast<unsigned>((d_in + 127) / 128), 128, 0, stream>>>(w, false, column_sums);
    POLLARD_CUDA_CHECK_LAUNCH("absolute_sums");
  }
  const index_t count = w.rows() * w.cols();
  const auto blocks = static_cast<unsigned>(std::min<index_t>((count + 255) / 256, 8192));
  score_elements<C, W, T><<<blocks, 256, 0, stream>>>(w, factor, row_sums, column_sums, scores);
  POLLARD_CUDA_CHECK_LAUNCH("score_elements");
  r.synchronize();  // the host factors and the workspace are free again
}

}  // namespace pollard::cuda::detail

namespace pollard::cuda {

/// The criterion's scores of device weights w into device scores (d_out x d_in); the inputs
/// (host spans, d_in entries) and every check as in the CPU criterion. Synchronises p's stream.
template <cuda_policy P, class W, compute_type T>
void score(const P& p, const magnitude&, device_view<W> w, const criterion_inputs<T>&,
           device_view<T> scores) {
  detail::score_on_device<detail::element_criterion::magnitude>(
      p, "magnitude", device_view<const std::remove_const_t<W>>(w), std::vector<T>{}, scores);
}

template <cuda_policy P, class W, compute_type T>
void score(const P& p, const wanda&, device_view<W> w, const criterion_inputs<T>& in,
           device_view<T> scores) {
  pollard::detail::check_criterion_input("wanda", in.sq_norm_per_sample, "sq_norm_per_sample",
                                         "moment statistics", w.rows(), w.cols(),
                                         pollard::detail::input_sign::non_negative);
  std::vector<T> root(in.sq_norm_per_sample.size());
  for (std::size_t j = 0; j < root.size(); ++j) root[j] = std::sqrt(in.sq_norm_per_sample[j]);
  detail::score_on_device<detail::element_criterion::wanda>(
      p, "wanda", device_view<const std::remove_const_t<W>>(w), root, scores);
}

template <cuda_policy P, class W, compute_type T>
void score(const P& p, const ria& criterion, device_view<W> w, const criterion_inputs<T>& in,
           device_view<T> scores) {
  require_at_least("ria", "the exponent a", criterion.exponent, 0.0);
  pollard::detail::check_criterion_input("ria", in.sq_norm_per_sample, "sq_norm_per_sample",
                                         "moment statistics", w.rows(), w.cols(),
                                         pollard::detail::input_sign::non_negative);
  std::vector<T> activation(in.sq_norm_per_sample.size());
  const T a = static_cast<T>(criterion.exponent);
  for (std::size_t j = 0; j < activation.size(); ++j)
    activation[j] = std::pow(std::sqrt(in.sq_norm_per_sample[j]), a);
  detail::score_on_device<detail::element_criterion::ria>(
      p, "ria", device_view<const std::remove_const_t<W>>(w), activation, scores);
}

}  // namespace pollard::cuda

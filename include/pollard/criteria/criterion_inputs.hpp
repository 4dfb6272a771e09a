// pollard — the per-input-channel data a pruning criterion may read.
#pragma once

#include <span>

#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"

namespace pollard {

/// Non-owning per-input-channel inputs of a criterion; an empty span means "not provided".
/// Every non-empty span has one entry per column of W (input channel j).
template <compute_type T>
struct criterion_inputs {
  /// ‖x_j‖² / N = Σ_t x_tj² / N (Wanda's and RIA's activation statistic; = diag(H)/2).
  std::span<const T> sq_norm_per_sample{};
  /// d_j, the inverse-Hessian diagonal the OBS saliency divides by: [H⁻¹]_jj, or, for the
  /// SparseGPT criterion, the diagonal U_jj of the upper Cholesky factor of H⁻¹.
  std::span<const T> inverse_hessian_diagonal{};
};

/// Which inputs a criterion reads, so a driver collects only the statistics it needs.
struct criterion_needs {
  bool sq_norm_per_sample = false;
  bool inverse_hessian_diagonal = false;
};

/// C::needs when C declares it, otherwise nothing (such a criterion reports a missing input
/// itself, with option_error, when it scores).
template <class C>
constexpr criterion_needs needs_of() noexcept {
  if constexpr (requires { C::needs; }) {
    return C::needs;
  } else {
    return {};
  }
}

}  // namespace pollard

// pollard — the numerical options of SparseGPT, shared by the CPU and CUDA solvers.
#pragma once

#include "pollard/core/config.hpp"

namespace pollard {

/// Numerical options of sparsegpt(); the defaults are the reference implementation's. The mask
/// rule is the policy argument.
struct sparsegpt_options {
  /// N:M only: columns per lazy batch, B. Used as min(B, d_in) rounded down to a multiple of M,
  /// so every M that divides d_in works. (Unstructured: B is the policy's column block width.)
  index_t block_size = 128;
  double percdamp = 0.01;       ///< λ = percdamp · mean(diag H)
  int max_damping_retries = 5;  ///< failed factorisations retried with λ x 10 each
  /// Unstructured only: prune every score <= the ⌊count·s⌋-th smallest (0-based), as the
  /// reference code's `scores <= sorted[int(count·s)]` does — one weight more per block (plus
  /// ties), even at s = 0 — so outputs can be compared with it weight for weight.
  bool reference_threshold = false;
};

}  // namespace pollard

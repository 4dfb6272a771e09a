// pollard — the numerical options of OBS reconstruction with a given mask, shared by the CPU and
// CUDA solvers.
#pragma once

#include "pollard/core/config.hpp"

namespace pollard {

/// Numerical options of obs_reconstruct(); the defaults are SparseGPT's.
struct obs_reconstruction_options {
  index_t block_size = 128;     ///< columns per lazy batch (the result does not depend on it)
  double percdamp = 0.01;       ///< λ = percdamp · mean(diag H)
  int max_damping_retries = 5;  ///< failed factorisations retried with λ x 10 each
};

}  // namespace pollard

// pollard — what an OBS sweep (sparsegpt, obs_reconstruct) returns.
#pragma once

#include <string>
#include <vector>

#include "pollard/core/mask.hpp"

namespace pollard {

/// What an OBS sweep did: the mask it applied, its loss, the damping the Hessian needed, and a
/// warning for every way the result departs from the request.
struct sparsegpt_result {
  pollard::mask mask;          ///< pruned entries of W (all zero in W afterwards)
  double loss = 0.0;           ///< Σ (w − q)² / U_ii² / 2 over all pruned weights
  double damping_used = 0.0;   ///< absolute λ added to the Hessian's diagonal
  double percdamp_used = 0.0;  ///< λ / mean(diag H): percdamp · 10^damping_retries
  int damping_retries = 0;     ///< failed factorisations before the one used
  /// One sentence each: dead input channels (H_jj = 0, their weights zeroed and marked pruned)
  /// that raise the sparsity above the request; damping escalated past the requested percdamp
  /// (the result is then closer to magnitude pruning). Empty when the result is what was asked.
  std::vector<std::string> warnings;
};

}  // namespace pollard

// pollard — what a whole-model pruning run did, linear by linear.
#pragma once

#include <limits>
#include <string>
#include <vector>

#include "pollard/core/config.hpp"

namespace pollard::model {

/// One pruned linear, as the reference tools log it (name, time, error) and more.
struct linear_report {
  std::string name;
  index_t block = 0;
  index_t rows = 0, cols = 0;
  std::string input;             ///< the block input it reads (shared with its siblings)
  double target_sparsity = 0.0;  ///< what the recipe asked of this linear
  double sparsity = 0.0;         ///< exact zeros / size after pruning
  bool n_m_valid = true;         ///< every window holds N zeros (N:M recipes)
  /// Σ (w − q)² / U_ii² / 2 of the OBS sweep (SparseGPT, reconstruction); NaN when no Hessian
  /// was collected.
  double loss = std::numeric_limits<double>::quiet_NaN();
  double percdamp_used = std::numeric_limits<double>::quiet_NaN();  ///< NaN without a Hessian
  int damping_retries = 0;
  double seconds = 0.0;  ///< selection and update of this linear
  std::vector<std::string> warnings;
};

/// Where the wall time went.
struct prune_timing {
  double forward_seconds = 0.0;     ///< run_block and embed calls on calibration data
  double statistics_seconds = 0.0;  ///< moment and Hessian accumulation
  double solver_seconds = 0.0;      ///< scores, masks and weight updates
  /// The engine's begin_block / end_block: loading (dequantizing) and writing back each block.
  double block_io_seconds = 0.0;
  double total_seconds = 0.0;
};

/// The whole run.
struct prune_report {
  std::string method;
  std::string mode;
  index_t calibration_sequences = 0;
  index_t calibration_length = 0;
  index_t calibration_tokens_counted = 0;
  std::vector<double> block_sparsity;  ///< the allocation per block (OWL; else the target)
  std::vector<linear_report> linears;
  prune_timing timing;

  /// Zeros over weights of all pruned linears.
  double overall_sparsity() const noexcept {
    double zeros = 0.0, size = 0.0;
    for (const auto& l : linears) {
      const double n = static_cast<double>(l.rows) * static_cast<double>(l.cols);
      zeros += l.sparsity * n;
      size += n;
    }
    return size == 0.0 ? 0.0 : zeros / size;
  }
};

}  // namespace pollard::model

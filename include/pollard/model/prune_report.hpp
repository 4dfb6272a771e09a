// pollard — what a whole-model pruning run did, linear by linear.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
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
  /// The type the weights are written as (prune_callbacks::store_linear); "f32" when they stay
  /// in float.
  std::string stored_type = "f32";
  double sparsity = 0.0;  ///< exact zeros / size of the weights as written
  /// Exact zeros / size of the pruned float weights, before they were stored as stored_type.
  double sparsity_before_storing = 0.0;
  /// every window of the weights as written holds N zeros; empty unless the recipe is N:M
  std::optional<bool> n_m_valid;
  /// ½ Σ_rows δᵀ (H + λI) δ, δ = the weights before pruning minus the weights as written, over
  /// the live inputs (H_jj > 0), H the calibration Hessian and λ the damping the solver used:
  /// the OBS sweep's Σ (w − q)² / U_ii² / 2 (SparseGPT, reconstruction) when nothing is rounded
  /// in storing. NaN when no Hessian was collected.
  double loss = std::numeric_limits<double>::quiet_NaN();
  double percdamp_used = std::numeric_limits<double>::quiet_NaN();  ///< NaN without a Hessian
  double damping_used = std::numeric_limits<double>::quiet_NaN();   ///< λ; NaN without a Hessian
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

/// What the run read, for reproducing it: filled by the caller (prune_model knows neither the
/// model's file nor where the calibration tokens came from); empty fields are not known.
struct prune_inputs {
  std::string model;        ///< the model's path
  std::string calibration;  ///< how the calibration data was drawn (e.g. "c4:FILE@1")
  std::optional<std::uint64_t> seed;
  bool responses_only = false;  ///< only response tokens counted (instruction data)
  std::string text_field;       ///< the JSON field read as a document's text
  std::string special_tokens;   ///< how text spelling a special token was read: parse or plain
  std::string
      text_bytes;  ///< what byte-level BPE made of text that is not UTF-8: keep or llama.cpp
};

/// The whole run.
struct prune_report {
  std::string method;
  std::string mode;
  prune_inputs inputs;
  index_t calibration_sequences = 0;
  index_t calibration_length = 0;
  index_t calibration_tokens_counted = 0;
  /// The sparsity each block was asked for: OWL's allocation; a sparsity table's targets of the
  /// block's selected linears averaged with their sizes as weights; else the recipe's target.
  /// NaN for a block with no selected linear.
  std::vector<double> block_allocation;
  std::vector<linear_report> linears;
  /// Tensors outside the blocks pruned by magnitude (token_embd, output), block -1; not counted
  /// in block_sparsity() or overall_sparsity().
  std::vector<linear_report> tables;
  prune_timing timing;

  /// Zeros over weights of the linears of each block that were pruned, as written; 0 for a
  /// block none of whose linears was pruned.
  std::vector<double> block_sparsity() const {
    std::vector<double> zeros(block_allocation.size(), 0.0), size(block_allocation.size(), 0.0);
    for (const auto& l : linears) {
      const auto b = static_cast<std::size_t>(l.block);
      if (b >= zeros.size()) {
        zeros.resize(b + 1, 0.0);
        size.resize(b + 1, 0.0);
      }
      const double n = static_cast<double>(l.rows) * static_cast<double>(l.cols);
      zeros[b] += l.sparsity * n;
      size[b] += n;
    }
    for (std::size_t b = 0; b < zeros.size(); ++b)
      zeros[b] = size[b] == 0.0 ? 0.0 : zeros[b] / size[b];
    return zeros;
  }

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

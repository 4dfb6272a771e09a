// pollard — a whole-model pruning recipe: method, mask rule, sparsity allocation, calibration
// schedule and which linears to prune, as plain data a command line or a config can fill in.
#pragma once

#include <cmath>
#include <string>
#include <string_view>
#include <variant>

#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/model/name_patterns.hpp"
#include "pollard/model/sparsity_allocation.hpp"
#include "pollard/stats/normalisation.hpp"

namespace pollard::model {

/// The pruning method of each linear.
enum class pruning_method {
  magnitude,  ///< |W|; no calibration statistics
  wanda,      ///< |W| · ‖x_j‖ (Sun et al., 2024); moment statistics
  ria,        ///< relative importance · ‖x_j‖^a (Zhang et al., 2024); moment statistics
  sparsegpt,  ///< adaptive mask + OBS weight update (Frantar & Alistarh, 2023); Hessian
};

/// How calibration activations reach block b.
enum class calibration_mode {
  sequential,  ///< through the already pruned blocks 0..b-1 (the references' behaviour)
  parallel,    ///< through the dense blocks 0..b-1
};

/// The comparison group of an unstructured mask; `method_default` takes the method's reference
/// choice (prune_recipe::group_used).
enum class comparison_group { method_default, per_row, per_matrix, per_column_block };

/// Everything prune_model needs to know besides the model and the calibration data.
struct prune_recipe {
  pruning_method method = pruning_method::wanda;
  /// Unstructured target in [0, 1) (the mean over blocks under OWL). Ignored for N:M.
  double sparsity = 0.5;
  /// N:M when n_m_group > 0: n_m_pruned zeros in every n_m_group consecutive input weights of
  /// each row (the SparseGPT/Wanda convention: 2:4 prunes 2 of 4).
  index_t n_m_pruned = 0;
  index_t n_m_group = 0;
  comparison_group group = comparison_group::method_default;
  index_t column_block = 128;  ///< width of a per_column_block group
  sparsity_allocation allocation = uniform_sparsity{};
  calibration_mode mode = calibration_mode::sequential;
  /// Refine a criterion's mask with DSnoT (Zhang et al., 2024) before applying it.
  bool dsnot = false;
  /// After a criterion's mask, update the kept weights with the fixed-mask OBS sweep (RIA's
  /// --reconstruction); collects the Hessian.
  bool reconstruct = false;
  double percdamp = 0.01;    ///< SparseGPT / reconstruction damping, λ = percdamp · mean(diag H)
  index_t block_size = 128;  ///< SparseGPT lazy-batch width
  int max_damping_retries = 5;  ///< factorisations retried with 10x the damping
  double ria_exponent = 0.5;    ///< RIA's activation exponent a
  /// Which linears are pruned (default: every linear the model offers; the model never offers
  /// the embedding or the classifier).
  name_filter targets;
  /// How statistics count N (sequences, as the references do, or tokens).
  normalisation statistics_normalisation = normalisation::by_sequences;
  /// Calibration sequences per run_block call (bounds the engine's workspace).
  index_t sequences_per_call = 8;

  bool is_n_m() const noexcept { return n_m_group > 0; }

  /// The comparison group actually used: the method's reference default unless set. Wanda: per
  /// row; magnitude and RIA: per matrix; SparseGPT: per column block (its adaptive selection).
  comparison_group group_used() const noexcept {
    if (group != comparison_group::method_default) return group;
    switch (method) {
      case pruning_method::wanda:
        return comparison_group::per_row;
      case pruning_method::sparsegpt:
        return comparison_group::per_column_block;
      default:
        return comparison_group::per_matrix;
    }
  }

  bool needs_moments() const noexcept {
    return method == pruning_method::wanda || method == pruning_method::ria || dsnot ||
           std::holds_alternative<owl_sparsity>(allocation);
  }
  bool needs_hessian() const noexcept { return method == pruning_method::sparsegpt || reconstruct; }

  /// Throws option_error naming the first setting that is out of range or contradictory.
  void validate() const {
    const auto fail = [](const std::string& what) { throw option_error("prune recipe: " + what); };
    if (is_n_m()) {
      if (n_m_pruned <= 0 || n_m_pruned >= n_m_group)
        fail("N:M needs 0 < N < M (N zeros out of M), got " + std::to_string(n_m_pruned) + ":" +
             std::to_string(n_m_group));
      if (!std::holds_alternative<uniform_sparsity>(allocation))
        fail("an N:M pattern fixes every linear's sparsity; OWL or a table cannot apply to it");
      if (group != comparison_group::method_default)
        fail("a comparison group applies to unstructured masks only, not to N:M");
    } else if (!(sparsity >= 0.0 && sparsity < 1.0)) {
      fail("sparsity must be in [0, 1), got " + std::to_string(sparsity));
    }
    if (column_block <= 0)
      fail("column_block must be positive, got " + std::to_string(column_block));
    if (block_size <= 0) fail("block_size must be positive, got " + std::to_string(block_size));
    if (!(percdamp >= 0.0 && std::isfinite(percdamp)))
      fail("percdamp must be finite and >= 0, got " + std::to_string(percdamp));
    if (max_damping_retries < 0) fail("max_damping_retries must be >= 0");
    if (!(ria_exponent >= 0.0 && std::isfinite(ria_exponent)))
      fail("ria_exponent must be finite and >= 0, got " + std::to_string(ria_exponent));
    if (sequences_per_call <= 0) fail("sequences_per_call must be positive");
    if (method == pruning_method::sparsegpt && (dsnot || reconstruct))
      fail(
          "SparseGPT updates the weights itself: DSnoT and reconstruction apply to criterion "
          "methods (magnitude, Wanda, RIA)");
    if (method == pruning_method::sparsegpt &&
        (group == comparison_group::per_row || group == comparison_group::per_matrix))
      fail("SparseGPT chooses its mask per column block (or N:M), not per row or per matrix");
    if (const auto* owl = std::get_if<owl_sparsity>(&allocation)) {
      if (!(owl->outlier_multiple > 0.0 && std::isfinite(owl->outlier_multiple)))
        fail("OWL's outlier multiple M must be finite and > 0");
      if (!(owl->lambda >= 0.0 && std::isfinite(owl->lambda)))
        fail("OWL's lambda must be finite and >= 0");
    }
  }
};

/// "magnitude", "wanda", "ria" or "sparsegpt"; option_error naming the choices otherwise.
inline pruning_method pruning_method_from_name(std::string_view name) {
  if (name == "magnitude") return pruning_method::magnitude;
  if (name == "wanda") return pruning_method::wanda;
  if (name == "ria") return pruning_method::ria;
  if (name == "sparsegpt") return pruning_method::sparsegpt;
  throw option_error("unknown pruning method \"" + std::string(name) +
                     "\" (choose magnitude, wanda, ria or sparsegpt)");
}

inline const char* name_of(pruning_method m) noexcept {
  switch (m) {
    case pruning_method::magnitude:
      return "magnitude";
    case pruning_method::wanda:
      return "wanda";
    case pruning_method::ria:
      return "ria";
    case pruning_method::sparsegpt:
      return "sparsegpt";
  }
  return "?";
}

}  // namespace pollard::model

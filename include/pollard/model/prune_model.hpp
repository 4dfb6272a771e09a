// pollard — prune_model: the block-by-block pruning driver over any block_sequential_model.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "pollard/backends/cpu/policy.hpp"
#include "pollard/calibration/calibration_batch.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/execution_policy.hpp"
#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/criteria/criterion_input_buffers.hpp"
#include "pollard/criteria/criterion_inputs.hpp"
#include "pollard/criteria/magnitude.hpp"
#include "pollard/criteria/ria.hpp"
#include "pollard/criteria/wanda.hpp"
#include "pollard/masks/layer_allocation.hpp"
#include "pollard/masks/n_m.hpp"
#include "pollard/masks/unstructured.hpp"
#include "pollard/metrics/sparsity.hpp"
#include "pollard/model/block_sequential_model.hpp"
#include "pollard/model/prune_recipe.hpp"
#include "pollard/model/prune_report.hpp"
#include "pollard/prune.hpp"
#include "pollard/solvers/dsnot.hpp"
#include "pollard/solvers/obs_reconstruction.hpp"
#include "pollard/solvers/sparsegpt.hpp"
#include "pollard/stats/gram_accumulator.hpp"
#include "pollard/stats/moment_statistics.hpp"

namespace pollard::model {

/// Called as the driver goes: after each pruned linear, and after each block (block index, number
/// of blocks the run goes through: up to the last block with a selected linear). Any may be
/// empty.
struct prune_callbacks {
  std::function<void(const linear_report&)> on_linear;
  std::function<void(index_t block, index_t blocks)> on_block;
  /// Rounds a pruned linear's weights in place to the values its output will hold (e.g.
  /// quantizes and dequantizes them, or narrows them to f16) and returns the name of the type
  /// it is written as. Called right after the linear is pruned, so its report (sparsity, N:M
  /// validity, loss) and, in sequential mode, the next block's calibration input describe the
  /// weights as written. Empty: the weights stay in float ("f32").
  std::function<std::string(const std::string& linear, matrix_view<float> weight)> store_linear;
};

namespace detail {

using clock = std::chrono::steady_clock;

inline double seconds_since(clock::time_point start) {
  return std::chrono::duration<double>(clock::now() - start).count();
}

/// The calibration statistics of one block input.
struct input_statistics {
  std::optional<moment_statistics<double>> moments;
  std::optional<gram_accumulator<float>> gram;
};

/// Rows of x whose `counted` flag is set (all rows when counted is empty), compacted into
/// `scratch` when some are not.
inline matrix_view<const float> counted_rows(matrix_view<const float> x,
                                             std::span<const std::uint8_t> counted,
                                             std::vector<float>& scratch) {
  if (counted.empty()) return x;
  index_t kept = 0;
  for (const auto c : counted) kept += c != 0;
  if (kept == x.rows()) return x;
  scratch.resize(static_cast<std::size_t>(kept * x.cols()));
  index_t r = 0;
  for (index_t i = 0; i < x.rows(); ++i) {
    if (counted[static_cast<std::size_t>(i)] == 0) continue;
    for (index_t j = 0; j < x.cols(); ++j)
      scratch[static_cast<std::size_t>(r * x.cols() + j)] = x(i, j);
    ++r;
  }
  return matrix_view<const float>(scratch.data(), kept, x.cols());
}

/// Runs block b of `model` over every calibration sequence in `hidden` (updated in place), in
/// calls of at most recipe.sequences_per_call sequences; `observe(input, x, sequences)` sees the
/// counted rows of each input. An engine that shows an input twice in one run_block call breaks
/// the block_sequential_model contract (its statistics would count the tokens twice):
/// shape_error naming the block and the input.
template <block_sequential_model M, class Observe>
void run_block_over_batch(M& model, index_t b, std::vector<float>& hidden,
                          const calibration_batch& batch, const prune_recipe& recipe,
                          Observe&& observe) {
  const index_t d = hidden_size(model);
  const index_t per_call = recipe.sequences_per_call;
  const auto described = block_inputs(model, b);
  const auto inputs = static_cast<index_t>(described.size());
  const auto input_text = [&](index_t i) {
    return std::to_string(i) + " (" + described[static_cast<std::size_t>(i)].name + ")";
  };
  std::vector<float> scratch;
  std::vector<bool> seen;
  for (index_t s0 = 0; s0 < batch.n_sequences; s0 += per_call) {
    const index_t ns = std::min(per_call, batch.n_sequences - s0);
    const index_t row0 = s0 * batch.length;
    const index_t rows = ns * batch.length;
    const matrix_view<float> h(hidden.data() + row0 * d, rows, d);
    const std::span<const std::uint8_t> counted =
        batch.counted.empty()
            ? std::span<const std::uint8_t>{}
            : std::span<const std::uint8_t>(batch.counted)
                  .subspan(static_cast<std::size_t>(row0), static_cast<std::size_t>(rows));
    const auto observer = [&](index_t input, matrix_view<const float> x) {
      if (input < 0 || input >= inputs)
        throw shape_error("prune_model: block " + std::to_string(b) +
                          " showed the observer its input " + std::to_string(input) +
                          ", but the block has " + std::to_string(inputs) + " inputs");
      if (seen[static_cast<std::size_t>(input)])
        throw shape_error("prune_model: block " + std::to_string(b) +
                          " showed the observer its input " + input_text(input) +
                          " twice in one run_block call (its statistics would count those "
                          "tokens twice); an engine shows each input exactly once per call");
      seen[static_cast<std::size_t>(input)] = true;
      observe(input, counted_rows(x, counted, scratch), ns);
    };
    seen.assign(static_cast<std::size_t>(inputs), false);
    run_block(model, b, h, sequence_layout{ns, batch.length}, observer);
  }
}

/// Accumulates the statistics the recipe needs for every input of the block that a target reads.
template <execution_policy Exec, block_sequential_model M>
std::vector<input_statistics> collect_block_statistics(
    const Exec& exec, M& model, index_t b, std::vector<float>& hidden,
    const calibration_batch& batch, const prune_recipe& recipe, const std::vector<bool>& wanted,
    bool moments, bool hessian, prune_timing& timing) {
  const auto inputs = block_inputs(model, b);
  std::vector<input_statistics> stats(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!wanted[i]) continue;
    if (moments) stats[i].moments.emplace(inputs[i].width);
    if (hessian) stats[i].gram.emplace(inputs[i].width, recipe.statistics_normalisation);
  }
  double statistics_seconds = 0.0;
  const auto start = clock::now();
  const auto observe = [&](index_t input, matrix_view<const float> x, index_t sequences) {
    auto& s = stats[static_cast<std::size_t>(input)];
    if (x.rows() == 0 || (!s.moments && !s.gram)) return;
    const auto t0 = clock::now();
    try {
      if (s.moments) s.moments->accumulate(x, sequences);
      if (s.gram) s.gram->accumulate(exec, x, sequences);
    } catch (const non_finite_error& e) {
      throw non_finite_error("prune_model: block " + std::to_string(b) + ": input " +
                             inputs[static_cast<std::size_t>(input)].name +
                             ": the calibration activations reaching it are not finite or too "
                             "large for its statistics (the model, or the blocks pruned before, "
                             "overflow on this data): " +
                             e.what());
    }
    statistics_seconds += seconds_since(t0);
  };
  run_block_over_batch(model, b, hidden, batch, recipe, observe);
  timing.statistics_seconds += statistics_seconds;
  timing.forward_seconds += seconds_since(start) - statistics_seconds;
  return stats;
}

/// ½ Σ_rows δᵀ (H + λI) δ with δ = before − after over the live inputs (H_jj > 0): the loss the
/// OBS sweep reports, Σ (w − q)² / U_ii² / 2, for weights changed after the sweep. With U the
/// upper Cholesky factor of (H + λI)⁻¹ and E the sweep's errors (w − q) / U_ii, the sweep makes
/// δ = E·U, so δ (H + λI) δᵀ = E·Eᵀ (Frantar & Alistarh, "Optimal Brain Compression", 2022).
template <execution_policy Exec>
double obs_loss(const Exec& exec, matrix_view<const float> before, matrix_view<const float> after,
                matrix_view<const float> h, double damping) {
  const index_t rows = before.rows(), cols = before.cols();
  std::vector<float> delta(static_cast<std::size_t>(rows * cols));
  for (index_t i = 0; i < rows; ++i)
    for (index_t j = 0; j < cols; ++j)
      delta[static_cast<std::size_t>(i * cols + j)] =
          h(j, j) > 0.0f ? before(i, j) - after(i, j) : 0.0f;
  // −δH, then Σ δ ∘ δH + λ Σ δ².
  std::vector<float> product(delta.size(), 0.0f);
  const matrix_view<const float> d(delta.data(), rows, cols);
  subtract_product(exec, matrix_view<float>(product.data(), rows, cols), d, h);
  double sum = 0.0;
  for (std::size_t k = 0; k < delta.size(); ++k) {
    const double x = delta[k];
    sum += x * (-static_cast<double>(product[k]) + damping * x);
  }
  return sum / 2.0;
}

/// Runs f(); an error it throws is thrown again as the same type, its message prefixed with
/// `where` (which block and linear a failure in the middle of a run concerns).
template <class F>
decltype(auto) naming_failures(const std::string& where, F&& f) {
  const auto again = [&](const auto& e) {
    using E = std::decay_t<decltype(e)>;
    return E(where + ": " + e.what());
  };
  try {
    return f();
  } catch (const shape_error& e) {
    throw again(e);
  } catch (const non_finite_error& e) {
    throw again(e);
  } catch (const option_error& e) {
    throw again(e);
  } catch (const factorisation_error& e) {
    throw again(e);
  } catch (const empty_statistics_error& e) {
    throw again(e);
  } catch (const adapter_error& e) {
    throw again(e);
  } catch (const format_error& e) {
    throw again(e);
  } catch (const io_error& e) {
    throw again(e);
  } catch (const error& e) {
    throw again(e);
  }
}

/// Calls f(policy) with the mask policy the recipe asks for at sparsity s.
template <class F>
decltype(auto) with_mask_policy(const prune_recipe& recipe, double s, F&& f) {
  if (recipe.is_n_m()) return f(n_m::pruned_of(recipe.n_m_pruned, recipe.n_m_group));
  switch (recipe.group_used()) {
    case comparison_group::per_row:
      return f(unstructured{s, per_row});
    case comparison_group::per_column_block:
      return f(unstructured{s, per_column_block{recipe.column_block}});
    default:
      return f(unstructured{s, per_matrix});
  }
}

/// Prunes one linear in place and fills the parts of its report the method determines.
template <execution_policy Exec>
void prune_one_linear(const Exec& exec, const prune_recipe& recipe, double s, matrix_view<float> w,
                      const input_statistics& stats, std::span<const float> hessian,
                      linear_report& report) {
  const auto h = [&] { return matrix_view<const float>(hessian.data(), w.cols(), w.cols()); };
  const auto record_obs = [&](const sparsegpt_result& r) {
    report.loss = r.loss;
    report.percdamp_used = r.percdamp_used;
    report.damping_used = r.damping_used;
    report.damping_retries = r.damping_retries;
    // Damping raised past percdamp, dead inputs pruned beyond the request.
    report.warnings.insert(report.warnings.end(), r.warnings.begin(), r.warnings.end());
  };
  if (recipe.method == pruning_method::sparsegpt) {
    sparsegpt_options o;
    o.block_size = recipe.block_size;
    o.percdamp = recipe.percdamp;
    o.max_damping_retries = recipe.max_damping_retries;
    record_obs(
        recipe.is_n_m()
            ? sparsegpt<float>(exec, w, h(), n_m::pruned_of(recipe.n_m_pruned, recipe.n_m_group), o)
            : sparsegpt<float>(exec, w, h(), unstructured(s, per_column_block{recipe.block_size}),
                               o));
    return;
  }
  criterion_input_buffers<float> buffers;
  if (stats.moments) buffers.set_moments(*stats.moments, recipe.statistics_normalisation);
  const criterion_inputs<float> inputs = buffers.inputs();
  std::vector<float> scores(static_cast<std::size_t>(w.size()));
  const matrix_view<float> score_view(scores.data(), w.rows(), w.cols());
  const matrix_view<const float> cw(w);
  switch (recipe.method) {
    case pruning_method::magnitude:
      magnitude{}.score(cw, inputs, score_view);
      break;
    case pruning_method::wanda:
      wanda{}.score(cw, inputs, score_view);
      break;
    default:
      ria{recipe.ria_exponent}.score(cw, inputs, score_view);
      break;
  }
  mask m = with_mask_policy(recipe, s, [&](const auto& policy) {
    return policy.select(exec, matrix_view<const float>(score_view));
  });
  if (recipe.dsnot)
    m = with_mask_policy(recipe, s, [&](const auto& policy) {
      return dsnot(cw, m, *stats.moments, matrix_view<const float>(score_view), policy);
    });
  if (recipe.reconstruct) {
    obs_reconstruction_options o;
    o.block_size = recipe.block_size;
    o.percdamp = recipe.percdamp;
    o.max_damping_retries = recipe.max_damping_retries;
    record_obs(obs_reconstruct<float>(exec, w, h(), m, o));
  } else {
    apply_mask(m, w);
  }
}

}  // namespace detail

/// Prunes the linears of `model` block by block, calibrated on `batch`, as `recipe` says, and
/// reports every linear.
///
/// For each block b: the block's inputs are observed while it runs over the calibration
/// sequences (sequential mode: the outputs of the already pruned blocks; parallel: of the dense
/// ones), one statistic per input shared by the linears that read it, and only the statistics
/// the method needs (moments for Wanda, RIA, DSnoT and OWL; the Hessian H = (2/N) Σ x xᵀ for
/// SparseGPT and reconstruction); every selected linear is pruned at its allocated sparsity;
/// in sequential mode the block is then run again with its pruned weights to give the next
/// block's input. OWL first runs the dense model once over the calibration data to measure each
/// block's outliers. Magnitude pruning without OWL/DSnoT/reconstruction runs no forward pass.
/// Throws option_error (bad recipe, empty calibration when one is needed, no selected linear,
/// an N:M group that does not divide a selected linear's width), and whatever the model and
/// solvers throw, a failure while a linear's statistics are finished or the linear is pruned
/// with the block and linear named (e.g. "prune_model: block 3, linear blk.3.ffn_down: ..."),
/// non_finite_error for calibration activations that overflow with the block and input named
/// ("prune_model: block 2: input attn_in: ..."); a linear is changed only once all checks of the
/// run passed. callbacks.store_linear, when given, rounds each pruned linear to what will be
/// written, and the report describes that.
/// The statistics, mask selection and solvers run on `exec` (e.g. pollard::cpu::par.threads(2));
/// the result does not depend on its thread count. The model's own forward pass threads as the
/// engine does.
template <execution_policy Exec, block_sequential_model M>
prune_report prune_model(const Exec& exec, M& model, const calibration_batch& batch,
                         const prune_recipe& recipe, const prune_callbacks& callbacks = {}) {
  using detail::clock;
  const auto start = clock::now();
  recipe.validate();
  batch.validate("prune_model: calibration");
  const bool moments = recipe.needs_moments();
  const bool needs_h = recipe.needs_hessian();
  const bool needs_forward = moments || needs_h;
  if (needs_forward && batch.n_sequences == 0)
    throw option_error(std::string("prune_model: ") + name_of(recipe.method) +
                       " needs calibration data, and the batch is empty");
  if (needs_forward && batch.counted_tokens() == 0)
    throw option_error("prune_model: no calibration token is counted");

  const index_t blocks = block_count(model);
  const index_t d = hidden_size(model);
  // The engine's begin_block / end_block: materialising a block (e.g. dequantizing it) and
  // writing it back (e.g. re-quantizing it into the output).
  double block_io_seconds = 0.0;
  const auto open_block = [&](index_t b) {
    const auto t0 = clock::now();
    begin_block(model, b);
    block_io_seconds += detail::seconds_since(t0);
  };
  const auto close_block = [&](index_t b) {
    const auto t0 = clock::now();
    end_block(model, b);
    block_io_seconds += detail::seconds_since(t0);
  };

  // Which linears are pruned, checked for every block before anything changes.
  std::vector<std::vector<std::string>> selected(static_cast<std::size_t>(blocks));
  index_t total_selected = 0;
  std::vector<std::string> all_names;
  std::map<std::string, index_t> block_of_name;
  // A sparsity table's targets of each block's selected linears: Σ s·size and Σ size.
  std::vector<double> table_zeros(static_cast<std::size_t>(blocks), 0.0),
      table_size(static_cast<std::size_t>(blocks), 0.0);
  for (index_t b = 0; b < blocks; ++b) {
    open_block(b);
    for (const auto& l : linears(model, b)) {
      if (const auto [at, fresh] = block_of_name.emplace(l.name, b); !fresh)
        throw shape_error("prune_model: blocks " + std::to_string(at->second) + " and " +
                          std::to_string(b) + " both name a linear " + l.name +
                          " (names must be unique in the model)");
      all_names.push_back(l.name);
      if (!recipe.targets.selects(l.name)) continue;
      if (recipe.is_n_m() && l.weight.cols() % recipe.n_m_group != 0)
        throw option_error("prune_model: N:M group " + std::to_string(recipe.n_m_group) +
                           " does not divide the " + std::to_string(l.weight.cols()) +
                           " input columns of " + l.name);
      if (const auto* table = std::get_if<sparsity_table>(&recipe.allocation)) {
        const auto size =
            static_cast<double>(l.weight.rows()) * static_cast<double>(l.weight.cols());
        table_zeros[static_cast<std::size_t>(b)] += table->sparsity_of(l.name) * size;
        table_size[static_cast<std::size_t>(b)] += size;
      }
      selected[static_cast<std::size_t>(b)].push_back(l.name);
      ++total_selected;
    }
    close_block(b);
  }
  if (total_selected == 0) throw option_error("prune_model: no linear matches the targets");
  if (const auto* table = std::get_if<sparsity_table>(&recipe.allocation))
    table->require_every_row_used(all_names);

  prune_report report;
  report.method = name_of(recipe.method);
  report.mode = recipe.mode == calibration_mode::sequential ? "sequential" : "parallel";
  report.calibration_sequences = batch.n_sequences;
  report.calibration_length = batch.length;
  report.calibration_tokens_counted = needs_forward ? batch.counted_tokens() : 0;
  report.block_allocation.assign(static_cast<std::size_t>(blocks),
                                 std::numeric_limits<double>::quiet_NaN());
  for (index_t b = 0; b < blocks; ++b)
    if (!selected[static_cast<std::size_t>(b)].empty())
      report.block_allocation[static_cast<std::size_t>(b)] =
          std::holds_alternative<sparsity_table>(recipe.allocation)
              ? table_zeros[static_cast<std::size_t>(b)] / table_size[static_cast<std::size_t>(b)]
          : recipe.is_n_m()
              ? static_cast<double>(recipe.n_m_pruned) / static_cast<double>(recipe.n_m_group)
              : recipe.sparsity;

  const auto wanted_inputs = [&](index_t b, const std::vector<linear_ref>& ls) {
    std::vector<bool> wanted(block_inputs(model, b).size(), false);
    const auto& names = selected[static_cast<std::size_t>(b)];
    for (const auto& l : ls)
      if (std::find(names.begin(), names.end(), l.name) != names.end())
        wanted[static_cast<std::size_t>(l.input)] = true;
    return wanted;
  };
  const auto is_selected = [&](index_t b, const std::string& name) {
    const auto& names = selected[static_cast<std::size_t>(b)];
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  const auto embed_batch = [&](std::vector<float>& hidden) {
    const auto t0 = clock::now();
    hidden.assign(static_cast<std::size_t>(batch.token_count() * d), 0.0f);
    embed(model, std::span<const token_id>(batch.tokens),
          matrix_view<float>(hidden.data(), batch.token_count(), d));
    report.timing.forward_seconds += detail::seconds_since(t0);
  };

  std::vector<float> hidden;
  // OWL: one dense pass measuring the outlier ratio of each block's Wanda scores.
  if (const auto* owl = std::get_if<owl_sparsity>(&recipe.allocation)) {
    embed_batch(hidden);
    std::vector<double> ratios;
    std::vector<index_t> ratio_blocks;
    for (index_t b = 0; b < blocks; ++b) {
      open_block(b);
      const auto ls = linears(model, b);
      const auto wanted = wanted_inputs(b, ls);
      const auto stats = detail::collect_block_statistics(exec, model, b, hidden, batch, recipe,
                                                          wanted, true, false, report.timing);
      std::vector<std::vector<float>> scores;
      std::vector<matrix_view<const float>> views;
      const auto t0 = clock::now();
      for (const auto& l : ls) {
        if (!is_selected(b, l.name)) continue;
        criterion_input_buffers<float> buffers;
        detail::naming_failures(
            "prune_model: OWL, block " + std::to_string(b) + ", linear " + l.name, [&] {
              buffers.set_moments(*stats[static_cast<std::size_t>(l.input)].moments,
                                  recipe.statistics_normalisation);
            });
        scores.emplace_back(static_cast<std::size_t>(l.weight.size()));
        const matrix_view<float> sv(scores.back().data(), l.weight.rows(), l.weight.cols());
        wanda{}.score(matrix_view<const float>(l.weight), buffers.inputs(), sv);
        views.emplace_back(sv);
      }
      if (!views.empty()) {
        ratios.push_back(outlier_ratio<float>(std::span<const matrix_view<const float>>(views),
                                              owl->outlier_multiple));
        ratio_blocks.push_back(b);
      }
      report.timing.solver_seconds += detail::seconds_since(t0);
      close_block(b);
    }
    const auto allocation =
        owl_allocation(std::span<const double>(ratios), recipe.sparsity, owl->lambda);
    for (std::size_t k = 0; k < ratio_blocks.size(); ++k)
      report.block_allocation[static_cast<std::size_t>(ratio_blocks[k])] = allocation[k];
  }

  // Blocks after the last one with a selected linear are neither run nor touched.
  index_t last_block = 0;
  for (index_t b = 0; b < blocks; ++b)
    if (!selected[static_cast<std::size_t>(b)].empty()) last_block = b;
  if (needs_forward) embed_batch(hidden);
  std::vector<float> hessian;
  for (index_t b = 0; b <= last_block; ++b) {
    open_block(b);
    auto ls = linears(model, b);
    const auto inputs = block_inputs(model, b);
    std::vector<detail::input_statistics> stats(inputs.size());
    if (needs_forward) {
      // Sequential mode keeps the block's input to re-run it once pruned; parallel mode lets
      // this dense run produce the next block's input.
      std::vector<float> block_input;
      if (recipe.mode == calibration_mode::sequential) block_input = hidden;
      stats =
          detail::collect_block_statistics(exec, model, b, hidden, batch, recipe,
                                           wanted_inputs(b, ls), moments, needs_h, report.timing);
      if (recipe.mode == calibration_mode::sequential) hidden.swap(block_input);
    }
    for (std::size_t input = 0; input < inputs.size(); ++input) {
      const auto& st = stats[input];
      if (st.gram) {
        const auto t0 = clock::now();
        const index_t w = inputs[input].width;
        hessian.resize(static_cast<std::size_t>(w * w));
        std::string readers;
        for (const auto& l : ls)
          if (l.input == static_cast<index_t>(input) && is_selected(b, l.name))
            readers += (readers.empty() ? "" : ", ") + l.name;
        detail::naming_failures(
            "prune_model: block " + std::to_string(b) + ", input " + inputs[input].name +
                " of linear " + readers,
            [&] { st.gram->write_hessian(matrix_view<float>(hessian.data(), w, w)); });
        report.timing.statistics_seconds += detail::seconds_since(t0);
      }
      for (auto& l : ls) {
        if (l.input != static_cast<index_t>(input) || !is_selected(b, l.name)) continue;
        linear_report r;
        r.name = l.name;
        r.block = b;
        r.rows = l.weight.rows();
        r.cols = l.weight.cols();
        r.input = inputs[input].name;
        const double s = std::holds_alternative<sparsity_table>(recipe.allocation)
                             ? std::get<sparsity_table>(recipe.allocation).sparsity_of(l.name)
                             : report.block_allocation[static_cast<std::size_t>(b)];
        r.target_sparsity = s;
        const bool stores = static_cast<bool>(callbacks.store_linear);
        // The weights before pruning, for the loss of the weights as written.
        std::vector<float> before;
        if (stores && st.gram) {
          before.resize(static_cast<std::size_t>(l.weight.size()));
          for (index_t i = 0; i < r.rows; ++i)
            for (index_t j = 0; j < r.cols; ++j)
              before[static_cast<std::size_t>(i * r.cols + j)] = l.weight(i, j);
        }
        const auto t0 = clock::now();
        detail::naming_failures(
            "prune_model: block " + std::to_string(b) + ", linear " + l.name, [&] {
              detail::prune_one_linear(exec, recipe, s, l.weight, st,
                                       std::span<const float>(hessian), r);
              r.sparsity_before_storing = sparsity(matrix_view<const float>(l.weight));
              if (stores) r.stored_type = callbacks.store_linear(l.name, l.weight);
              if (stores && st.gram)
                r.loss =
                    detail::obs_loss(exec, matrix_view<const float>(before.data(), r.rows, r.cols),
                                     matrix_view<const float>(l.weight),
                                     matrix_view<const float>(hessian.data(), r.cols, r.cols),
                                     std::isfinite(r.damping_used) ? r.damping_used : 0.0);
            });
        r.seconds = detail::seconds_since(t0);
        report.timing.solver_seconds += r.seconds;
        r.sparsity = sparsity(matrix_view<const float>(l.weight));
        if (recipe.is_n_m())
          r.n_m_valid = satisfies_n_m(matrix_view<const float>(l.weight), recipe.n_m_pruned,
                                      recipe.n_m_group);
        if (!recipe.is_n_m() && r.sparsity_before_storing > s + 0.5 / static_cast<double>(r.cols))
          r.warnings.push_back("pruned " + std::to_string(r.sparsity_before_storing) +
                               " of the weights, more than the " + std::to_string(s) +
                               " asked (dead inputs or zero weights)");
        if (r.sparsity + 1e-12 < r.sparsity_before_storing)
          r.warnings.push_back("as stored (" + r.stored_type + ") only " +
                               std::to_string(r.sparsity) + " of the weights are exactly zero, " +
                               "against " + std::to_string(r.sparsity_before_storing) +
                               " after pruning");
        if (callbacks.on_linear) callbacks.on_linear(r);
        report.linears.push_back(std::move(r));
      }
    }
    if (needs_forward && recipe.mode == calibration_mode::sequential) {
      const auto t0 = clock::now();
      detail::run_block_over_batch(model, b, hidden, batch, recipe,
                                   [](index_t, matrix_view<const float>, index_t) {});
      report.timing.forward_seconds += detail::seconds_since(t0);
    }
    close_block(b);
    if (callbacks.on_block) callbacks.on_block(b, last_block + 1);
  }
  report.timing.block_io_seconds = block_io_seconds;
  report.timing.total_seconds = detail::seconds_since(start);
  return report;
}

/// The same on all hardware threads (pollard::cpu::par).
template <block_sequential_model M>
prune_report prune_model(M& model, const calibration_batch& batch, const prune_recipe& recipe,
                         const prune_callbacks& callbacks = {}) {
  return prune_model(cpu::par, model, batch, recipe, callbacks);
}

}  // namespace pollard::model

// pollard tools — prune one linear layer stored as .npy files: the logic of `pollard layer` and
// of the prune_layer executable, which both call run_layer().
//
// W is d_out x d_in (PyTorch Linear layout), X is tokens x d_in holding N = --sequences
// calibration sequences, H is the d_in x d_in Hessian (2/N)·XᵀX: N counts sequences, the
// normalisation of the SparseGPT and Wanda reference code (a running average over samples) and of
// `pollard prune` and `pollard capture`. --dsnot refines the mask of magnitude/wanda/ria with DSnoT
// (needs X); --reconstruct then updates the kept weights by OBS for that fixed mask. Prints the
// sparsity reached, N:M validity and the relative reconstruction error; writes the pruned W (in W's
// dtype unless
// --dtype) and the mask (uint8, 1 = pruned). It computes in float32, as the reference
// implementations do. On any error it prints one line to stderr, exits non-zero and writes
// nothing.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "command_line.hpp"
#include "pollard/backends/cpu/policy.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/core/number_text.hpp"
#include "pollard/criteria/criterion_input_buffers.hpp"
#include "pollard/criteria/magnitude.hpp"
#include "pollard/criteria/ria.hpp"
#include "pollard/criteria/wanda.hpp"
#include "pollard/io/atomic_file.hpp"
#include "pollard/io/npy.hpp"
#include "pollard/masks/n_m.hpp"
#include "pollard/masks/unstructured.hpp"
#include "pollard/metrics/reconstruction_error.hpp"
#include "pollard/metrics/sparsity.hpp"
#include "pollard/solvers/dsnot.hpp"
#include "pollard/solvers/obs_reconstruction.hpp"
#include "pollard/solvers/sparsegpt.hpp"
#include "pollard/stats/gram_accumulator.hpp"
#include "pollard/stats/moment_statistics.hpp"

namespace pollard::cli {

/// The command line of `pollard layer` and prune_layer, as given.
struct layer_options {
  std::string weights, activations, hessian, out, mask_out;
  std::string method;
  double sparsity = 0.5;
  std::string n_m;    // "N:M"; empty: unstructured
  std::string group;  // row|matrix|block:B; empty: the method's own
  bool dsnot = false;
  bool reconstruct = false;
  double ria_exponent = 0.5;
  double percdamp = 0.01;
  std::string dtype;  // empty: W's
  index_t sequences = 1;
  int threads = 0;
  given_options given;
};

inline const char* const layer_description =
    "Prunes one linear layer stored as .npy files: W (d_out x d_in, PyTorch Linear layout), X\n"
    "(tokens x d_in) or the d_in x d_in Hessian H = (2/N)·XᵀX. N counts calibration sequences\n"
    "(--sequences, default 1), as the SparseGPT and Wanda reference code and pollard prune and\n"
    "capture do: X captured from N sequences, given with --sequences N, gives prune's H (and\n"
    "Wanda's ||x_j||²/N = diag(H)/2). --dsnot refines the mask of magnitude/wanda/ria with\n"
    "DSnoT (needs X); --reconstruct then updates the kept weights by OBS for that fixed mask.\n"
    "Prints the sparsity reached, N:M validity and the relative reconstruction error; writes the\n"
    "pruned W and the mask (uint8, 1 = pruned). Computes in float32, as the reference\n"
    "implementations do. On any error it prints one line on stderr, exits non-zero (2 for a\n"
    "command-line mistake) and writes nothing: both outputs are written through temporaries and\n"
    "renamed together at the end. An output that is a symbolic link is written through: its\n"
    "target is replaced, as cp does.";

/// Adds prune_layer's options to `app` (the prune_layer executable, or `pollard layer`).
inline void add_layer_options(CLI::App& app, layer_options& o) {
  app.add_option("--weights", o.weights, "the weights W, d_out x d_in")
      ->type_name("W.npy")
      ->required();
  app.add_option("--activations", o.activations, "calibration inputs X, tokens x d_in")
      ->type_name("X.npy");
  app.add_option("--hessian", o.hessian,
                 "the Hessian H = (2/N)·XᵀX, d_in x d_in, N calibration sequences")
      ->type_name("H.npy");
  app.add_option("--method", o.method, "how the weights are scored or solved")
      ->type_name("magnitude|wanda|ria|sparsegpt")
      ->required();
  CLI::Option* sparsity =
      app.add_option("--sparsity", o.sparsity, "fraction of the weights to prune, in [0, 1)")
          ->type_name("S")
          ->transform(real_where("in [0, 1)", [](double s) { return s >= 0.0 && s < 1.0; }));
  app.add_option("--n-m", o.n_m, n_m_option_help)
      ->type_name("N:M")
      ->check(n_m_text())
      ->excludes(sparsity);
  app.add_option("--group", o.group,
                 "the weights whose scores are compared (unstructured sparsity)")
      ->type_name("row|matrix|block:B")
      ->default_str("row for wanda, block:128 for sparsegpt, else matrix");
  app.add_flag("--dsnot", o.dsnot, "refine the mask with DSnoT (needs --activations)");
  app.add_option("--sequences", o.sequences,
                 "calibration sequences N that X holds: H = (2/N)·XᵀX and Wanda's ||x_j||²/N\n"
                 "(the references' and pollard prune's normalisation), and DSnoT's E[x_j] =\n"
                 "sum_t x_tj / N, the reference's sum_metric_row, which its update threshold 0.1\n"
                 "is measured against")
      ->type_name("N")
      ->transform(integer_in(1, INT32_MAX));
  app.add_flag("--reconstruct", o.reconstruct,
               "update the kept weights by OBS for the mask\n(needs --activations or --hessian)");
  app.add_option("--ria-exponent", o.ria_exponent, "RIA's exponent a on ||x_j||")
      ->type_name("A")
      ->transform(real_where(">= 0", [](double a) { return a >= 0.0; }));
  app.add_option("--percdamp", o.percdamp,
                 "Hessian damping of sparsegpt and --reconstruct, λ = P x mean(diag(H)),\n"
                 "P in [0, 1)")
      ->type_name("P")
      ->transform(percdamp_fraction());
  app.add_option("--dtype", o.dtype, "stored type of the pruned weights")
      ->type_name("f16|f32|f64")
      ->default_str("W's");
  app.add_option("--out", o.out, "where to write the pruned weights")
      ->type_name("W_pruned.npy")
      ->required();
  app.add_option("--mask-out", o.mask_out, "also write the mask (uint8, 1 = pruned)")
      ->type_name("mask.npy");
  add_threads_option(app, o.threads);
  record_given_options(app, o.given);
}

namespace layer_detail {

namespace fs = std::filesystem;
using pollard::dtype;
using pollard::index_t;

/// A positive integer inside an option's value (--group block:B), by read_integer's rule.
inline index_t parse_positive(const std::string& flag, const std::string& text) {
  const auto x = read_integer<index_t>(text);
  if (!x || x.value <= 0) throw usage_error(flag + " needs a positive integer, got '" + text + "'");
  return x.value;
}

enum class method { magnitude, wanda, ria, sparsegpt };
enum class group { row, matrix, block };

struct plan {
  fs::path weights, activations, hessian, out, mask_out;
  method how = method::magnitude;
  double sparsity = 0.5;
  index_t n = 0, m = 0;  // N:M when m > 0
  std::optional<group> comparison;
  index_t block = 128;
  index_t sequences = 1;
  std::string program = "prune_layer";
  bool reconstruct = false;
  bool dsnot = false;
  double ria_exponent = 0.5;
  double percdamp = 0.01;
  std::optional<pollard::dtype> dtype;
  int threads = 0;  // 0: all hardware threads
};

inline pollard::dtype parse_dtype(const std::string& flag, const std::string& text) {
  if (text == "f16") return pollard::dtype::f16;
  if (text == "f32") return pollard::dtype::f32;
  if (text == "f64") return pollard::dtype::f64;
  throw usage_error(flag + " must be f16, f32 or f64, got '" + text + "'");
}

inline const char* method_name(method h) {
  switch (h) {
    case method::magnitude:
      return "magnitude";
    case method::wanda:
      return "wanda";
    case method::ria:
      return "ria";
    case method::sparsegpt:
      return "sparsegpt";
  }
  return "?";
}

inline std::string shape_of(index_t rows, index_t cols) {
  return std::to_string(rows) + "x" + std::to_string(cols);
}

/// Refuses a .npy file that does not hold a matrix (a 1-D array would otherwise be read as one
/// row), naming the option, the file and its shape.
inline void require_matrix(const std::string& option, const fs::path& path, const char* what) {
  pollard::io::npy_header header;
  try {
    header = pollard::io::read_npy_header(path);
  } catch (const pollard::format_error& e) {
    if (const auto text = text_beginning(path))
      throw pollard::format_error(
          option + " " + path.string() + " is not a .npy file: it begins with text ('" + *text +
          "'): is this a text file? (" + without_internal_prefixes(e.what()) + ")");
    throw;
  }
  if (header.shape.size() == 2) return;
  std::string shape = "(";
  for (std::size_t k = 0; k < header.shape.size(); ++k)
    shape += (k ? ", " : "") + std::to_string(header.shape[k]);
  shape += header.shape.size() == 1 ? ",)" : ")";
  throw pollard::shape_error(option + " " + path.string() + " holds an array of shape " + shape +
                             "; it must be a 2-D matrix, " + what);
}

/// Rounds the pruned weights to float16 as the file will store them, so that every metric
/// describes what is written; a value beyond float16's range (65504) is an error naming where.
template <class T>
void round_to_float16(pollard::matrix_view<T> w, const fs::path& out) {
  for (index_t i = 0; i < w.rows(); ++i)
    for (index_t j = 0; j < w.cols(); ++j) {
      const auto v = static_cast<float>(w(i, j));
      const float stored =
          pollard::detail::half_bits_to_float(pollard::detail::float_to_half_bits(v));
      if (std::isinf(stored) && std::isfinite(v))
        throw pollard::option_error("--dtype f16: the pruned weight (" + std::to_string(i) + ", " +
                                    std::to_string(j) + ") of " + out.string() + " is " +
                                    std::to_string(v) +
                                    ", beyond float16's largest value 65504; write f32 or f64");
      w(i, j) = static_cast<T>(stored);
    }
}

/// A relative reconstruction error as printed, with its `formula`: "n/a" when the denominator
/// (`denominator`) is 0 — the layer's output is zero on these inputs, so no relative error
/// exists (printing 0 would claim a perfect reconstruction).
inline std::string relative_error_text(const pollard::reconstruction_error_result& e,
                                       const char* formula, const char* denominator) {
  if (e.reference == 0.0)
    return std::string("n/a (") + denominator + " is 0: the layer's output is zero)";
  return std::to_string(e.relative) + " (relative, " + formula + ")";
}

template <pollard::compute_type T>
void prune(const plan& o) {
  const auto exec = pollard::cpu::par.threads(o.threads);
  // Read and check every input before computing anything.
  require_matrix("--weights", o.weights, "d_out x d_in");
  if (!o.activations.empty()) require_matrix("--activations", o.activations, "tokens x d_in");
  if (!o.hessian.empty()) require_matrix("--hessian", o.hessian, "d_in x d_in");
  // A NaN or infinity is named with the option and file it came from (the solvers' own check
  // names only "W", "x" or "H").
  const auto require_finite_file = [](const auto& m, const std::string& option,
                                      const fs::path& path) {
    pollard::require_finite(m.view(), option + " " + path.string(), "value");
  };
  const auto w_file = pollard::io::read_npy<T>(o.weights, pollard::io::npy_rank::matrix);
  require_finite_file(w_file, "--weights", o.weights);
  const index_t d_out = w_file.rows(), d_in = w_file.cols();
  if (d_out == 0 || d_in == 0)
    throw pollard::shape_error("--weights " + o.weights.string() + " is " + shape_of(d_out, d_in) +
                               ": it holds no weights to prune");
  if (o.m > 0 && d_in % o.m != 0)
    throw usage_error("--n-m " + std::to_string(o.n) + ":" + std::to_string(o.m) +
                      ": M = " + std::to_string(o.m) + " does not divide the " +
                      std::to_string(d_in) + " input columns of " + o.weights.string());
  std::optional<pollard::io::npy_matrix<T>> x_file, h_file;
  if (!o.activations.empty()) {
    x_file = pollard::io::read_npy<T>(o.activations, pollard::io::npy_rank::matrix);
    require_finite_file(*x_file, "--activations", o.activations);
    if (x_file->cols() != d_in)
      throw pollard::shape_error(
          o.activations.string() + " is " + shape_of(x_file->rows(), x_file->cols()) + " but " +
          o.weights.string() + " is " + shape_of(d_out, d_in) +
          ": X needs one column per input channel (" + std::to_string(d_in) + ")");
    if (x_file->rows() == 0)
      throw pollard::shape_error(o.activations.string() + " holds no tokens");
    if (o.sequences > x_file->rows())
      throw usage_error("--sequences " + std::to_string(o.sequences) + " exceeds the " +
                        std::to_string(x_file->rows()) + " tokens of " + o.activations.string());
  }
  if (!o.hessian.empty()) {
    h_file = pollard::io::read_npy<T>(o.hessian, pollard::io::npy_rank::matrix);
    require_finite_file(*h_file, "--hessian", o.hessian);
    if (h_file->rows() != d_in || h_file->cols() != d_in)
      throw pollard::shape_error(o.hessian.string() + " is " +
                                 shape_of(h_file->rows(), h_file->cols()) + " but " +
                                 o.weights.string() + " is " + shape_of(d_out, d_in) +
                                 ": H must be " + shape_of(d_in, d_in));
  }

  // Statistics: H = (2/N)·XᵀX over the N = --sequences sequences of X unless H is given
  // (SparseGPT's add_batch: a running average over samples); Σx²/N from X, or diag(H)/2 from H
  // alone (the same quantity).
  std::vector<T> hessian_storage;
  pollard::matrix_view<const T> hessian;
  if (h_file) {
    hessian = h_file->view();
  } else if (x_file) {
    pollard::gram_accumulator<T> gram(d_in, pollard::normalisation::by_sequences);
    gram.accumulate(exec, x_file->view(), o.sequences);
    const auto h = gram.hessian();
    hessian_storage.assign(h.data(), h.data() + h.size());  // symmetric: layout is irrelevant
    hessian = pollard::matrix_view<const T>(hessian_storage.data(), d_in, d_in);
  }
  pollard::criterion_input_buffers<T> buffers;
  std::optional<pollard::moment_statistics<double>> moments;  // per channel, over X
  if (x_file) {
    moments.emplace(d_in);
    moments->accumulate(x_file->view(), o.sequences);
    buffers.set_moments(*moments, pollard::normalisation::by_sequences);
  } else if (h_file) {
    std::vector<T> diagonal(static_cast<std::size_t>(d_in));
    for (index_t j = 0; j < d_in; ++j) diagonal[static_cast<std::size_t>(j)] = hessian(j, j) / T(2);
    buffers.set_sq_norm_per_sample(std::span<const T>(diagonal));
  }

  std::vector<T> pruned_values = w_file.values;
  const pollard::matrix_view<T> w_hat(pruned_values.data(), d_out, d_in);
  pollard::mask keep;
  std::string solver_report;
  std::vector<std::string> warnings;  // the solvers' (dead inputs, escalated damping)
  if (o.how == method::sparsegpt) {
    pollard::sparsegpt_options s;
    s.block_size = o.block;
    s.percdamp = o.percdamp;
    const auto result =
        o.m > 0 ? pollard::sparsegpt<T>(exec, w_hat, hessian, pollard::n_m::pruned_of(o.n, o.m), s)
                : pollard::sparsegpt<T>(
                      exec, w_hat, hessian,
                      pollard::unstructured(o.sparsity, pollard::per_column_block{o.block}), s);
    keep = result.mask;
    warnings = result.warnings;
    solver_report = "  sparsegpt: loss " + pollard::format_number(result.loss) + ", damping " +
                    pollard::format_number(result.damping_used) + " (percdamp " +
                    pollard::format_number(result.percdamp_used) + ")\n";
  } else {
    std::vector<T> score_values(static_cast<std::size_t>(d_out * d_in));
    const pollard::matrix_view<T> scores(score_values.data(), d_out, d_in);
    const auto inputs = buffers.inputs();
    switch (o.how) {
      case method::magnitude:
        pollard::magnitude{}.score(w_file.view(), inputs, scores);
        break;
      case method::wanda:
        pollard::wanda{}.score(w_file.view(), inputs, scores);
        break;
      case method::ria:
        pollard::ria{o.ria_exponent}.score(w_file.view(), inputs, scores);
        break;
      case method::sparsegpt:
        break;
    }
    const pollard::matrix_view<const T> cscores = scores;
    // The mask policy chooses the mask and is the rule DSnoT keeps.
    const auto with_policy = [&](const auto& f) {
      if (o.m > 0) return f(pollard::n_m::pruned_of(o.n, o.m));
      if (*o.comparison == group::row)
        return f(pollard::unstructured(o.sparsity, pollard::per_row));
      if (*o.comparison == group::matrix)
        return f(pollard::unstructured(o.sparsity, pollard::per_matrix));
      return f(pollard::unstructured(o.sparsity, pollard::per_column_block{o.block}));
    };
    keep = with_policy([&](const auto& policy) { return policy.select(cscores); });
    if (o.dsnot) {
      const pollard::mask refined = with_policy([&](const auto& policy) {
        return pollard::dsnot<T, T>(w_file.view(), keep, *moments, cscores, policy);
      });
      index_t changed = 0;
      for (std::size_t k = 0; k < refined.flags().size(); ++k)
        changed += refined.flags()[k] != keep.flags()[k] ? 1 : 0;
      solver_report += "  DSnoT: " + std::to_string(changed / 2) + " weights swapped\n";
      keep = refined;
    }
    if (o.reconstruct) {
      pollard::obs_reconstruction_options r;
      r.block_size = o.block;
      r.percdamp = o.percdamp;
      const auto result = pollard::obs_reconstruct<T>(exec, w_hat, hessian, keep, r);
      keep = result.mask;  // the weights of dead inputs are zeroed and marked pruned
      warnings.insert(warnings.end(), result.warnings.begin(), result.warnings.end());
      solver_report += "  OBS reconstruction: loss " + pollard::format_number(result.loss) +
                       ", damping " + pollard::format_number(result.damping_used) + "\n";
    } else {
      pollard::apply_mask(keep, w_hat);
    }
  }

  // The values as written: every metric below describes them.
  pollard::dtype out_dtype = o.dtype.value_or(w_file.header.dtype);
  if (out_dtype == pollard::dtype::u8 || out_dtype == pollard::dtype::boolean)
    out_dtype = pollard::dtype::f32;
  if (out_dtype == pollard::dtype::f16) round_to_float16(w_hat, o.out);

  // Metrics of the result.
  const pollard::matrix_view<const T> w = w_file.view();
  const pollard::matrix_view<const T> result = w_hat;
  // The mask describes the weights written: an entry zero there (a dead input, a weight that was
  // zero already, float16 underflow) is pruned in the mask too.
  for (index_t i = 0; i < d_out; ++i)
    for (index_t j = 0; j < d_in; ++j)
      if (result(i, j) == T(0)) keep.prune(i, j);
  const index_t check_n = o.m > 0 ? o.n : 2, check_m = o.m > 0 ? o.m : 4;
  std::string n_m_line;
  if (d_in % check_m == 0)
    n_m_line = "  " + std::to_string(check_n) + ":" + std::to_string(check_m) + " pattern: " +
               (pollard::satisfies_n_m(result, check_n, check_m) ? "valid" : "not valid") + "\n";
  else
    n_m_line = "  " + std::to_string(check_n) + ":" + std::to_string(check_m) +
               " pattern: not applicable (d_in not divisible by " + std::to_string(check_m) + ")\n";
  std::string error_line = "  reconstruction error: n/a (give --activations or --hessian)\n";
  if (x_file) {
    const auto e = pollard::relative_reconstruction_error(w, result, x_file->view());
    error_line = "  reconstruction error: " +
                 relative_error_text(e, "||X (W - W_pruned)^T||^2 / ||X W^T||^2", "||X W^T||") +
                 " over " + std::to_string(x_file->rows()) + " tokens\n";
  } else if (h_file) {
    const auto e = pollard::relative_reconstruction_error_from_gram(w, result, hessian);
    error_line = "  reconstruction error: " +
                 relative_error_text(e, "tr(dW H dW^T) / tr(W H W^T)", "tr(W H W^T)") + "\n";
  }

  // What each statistics input served, so that an input used for little (magnitude's X, which
  // only measures the error) or a choice between two (sparsegpt solves with H when both are
  // given) is said.
  const bool solves = o.how == method::sparsegpt || o.reconstruct;
  const bool scores_from_statistics = o.how == method::wanda || o.how == method::ria;
  std::string uses_line;
  const auto uses = [&](const std::string& option, const std::filesystem::path& file,
                        std::vector<std::string> served) {
    std::string list;
    for (std::size_t k = 0; k < served.size(); ++k)
      list += (k == 0 ? "" : k + 1 == served.size() ? " and " : ", ") + served[k];
    uses_line += "  " + option + " " + file.string() + ": " + list + "\n";
  };
  if (x_file) {
    std::vector<std::string> served;
    if (scores_from_statistics) served.push_back(std::string(method_name(o.how)) + "'s scores");
    if (o.dsnot) served.push_back("DSnoT's channel statistics");
    if (solves && !h_file) served.push_back("the Hessian of the OBS solve");
    served.push_back(served.empty() ? "the reconstruction error only" : "the reconstruction error");
    uses("--activations", o.activations, served);
  }
  if (h_file) {
    std::vector<std::string> served;
    if (scores_from_statistics && !x_file)
      served.push_back(std::string(method_name(o.how)) + "'s scores (diag H / 2)");
    if (solves) served.push_back("the Hessian of the OBS solve");
    if (!x_file)
      served.push_back(served.empty() ? "the reconstruction error only"
                                      : "the reconstruction error");
    uses("--hessian", o.hessian, served);
  }

  // Both outputs are complete in their temporaries before either is renamed into place.
  pollard::io::atomic_file_set outputs;
  pollard::io::atomic_file out_file(o.out);
  out_file.write(pollard::io::encode_npy(result, {out_dtype}));
  out_file.commit();
  if (!o.mask_out.empty()) {
    pollard::io::atomic_file mask_file(o.mask_out);
    mask_file.write(pollard::io::encode_npy(keep));
    mask_file.commit();
  }
  outputs.commit();

  std::string group_name = o.m > 0 ? std::to_string(o.n) + ":" + std::to_string(o.m)
                           : *o.comparison == group::row ? "unstructured per row"
                           : *o.comparison == group::matrix
                               ? "unstructured per matrix"
                               : "unstructured per column block of " + std::to_string(o.block);
  std::printf("prune_layer: %s, %s%s\n", method_name(o.how), group_name.c_str(),
              o.m > 0 ? "" : (", target sparsity " + pollard::format_number(o.sparsity)).c_str());
  std::printf("  W: %s %s %s\n", printable(o.weights.string()).c_str(),
              shape_of(d_out, d_in).c_str(),
              std::string(pollard::io::npy_descr(w_file.header.dtype)).c_str());
  const index_t zeros = pollard::zero_count(result);
  std::printf(
      "  sparsity: %.6f (%ld of %ld weights zero; mask prunes %ld)\n",
      d_out * d_in == 0 ? 0.0 : static_cast<double>(zeros) / static_cast<double>(d_out * d_in),
      static_cast<long>(zeros), static_cast<long>(d_out * d_in),
      static_cast<long>(keep.pruned_count()));
  std::fputs(n_m_line.c_str(), stdout);
  // The result departs from the request when more is zero than asked: dead inputs (their weights
  // are zeroed), weights that were zero already, or float16 underflow. Rounding a fraction to
  // whole weights per row stays within half a weight of a row.
  const double asked = o.m > 0 ? static_cast<double>(o.n) / static_cast<double>(o.m) : o.sparsity;
  const double reached =
      d_out * d_in == 0 ? 0.0 : static_cast<double>(zeros) / static_cast<double>(d_out * d_in);
  if (d_in > 0 && reached > asked + 0.5 / static_cast<double>(d_in))
    warnings.push_back("pruned " + std::to_string(reached) + " of the weights, more than the " +
                       pollard::format_number(asked) +
                       " asked (dead inputs, zero weights or float16 underflow)");
  for (const auto& warning : warnings)
    std::fprintf(stderr, "%s: warning: %s\n", o.program.c_str(),
                 printable(without_internal_prefixes(warning)).c_str());
  std::fputs(error_line.c_str(), stdout);
  std::fputs(uses_line.c_str(), stdout);
  std::fputs(solver_report.c_str(), stdout);
  std::printf("  wrote %s (%s)%s\n", printable(o.out.string()).c_str(),
              std::string(pollard::io::npy_descr(out_dtype)).c_str(),
              o.mask_out.empty()
                  ? ""
                  : (" and " + printable(o.mask_out.string()) + " (|u1, 1 = pruned)").c_str());
}

/// The checked plan of a command line: every option converted, every combination checked.
inline plan plan_of(const layer_options& given) {
  plan o;
  o.weights = given.weights;
  o.activations = given.activations;
  o.hessian = given.hessian;
  o.out = given.out;
  o.mask_out = given.mask_out;
  const std::string& v = given.method;
  if (v == "magnitude") {
    o.how = method::magnitude;
  } else if (v == "wanda") {
    o.how = method::wanda;
  } else if (v == "ria") {
    o.how = method::ria;
  } else if (v == "sparsegpt") {
    o.how = method::sparsegpt;
  } else {
    throw usage_error("--method must be magnitude, wanda, ria or sparsegpt, got '" + v + "'");
  }
  o.sparsity = given.sparsity;
  if (!given.n_m.empty()) {
    const n_m_counts n_m = parse_n_m("--n-m", given.n_m);
    o.n = n_m.pruned;
    o.m = n_m.group_size;
  }
  if (!given.group.empty()) {
    const std::string& g = given.group;
    if (g == "row") {
      o.comparison = group::row;
    } else if (g == "matrix") {
      o.comparison = group::matrix;
    } else if (g.rfind("block:", 0) == 0) {
      o.comparison = group::block;
      o.block = parse_positive("--group block:B", g.substr(6));
    } else {
      throw usage_error("--group must be row, matrix or block:B, got '" + g + "'");
    }
  }
  o.reconstruct = given.reconstruct;
  o.dsnot = given.dsnot;
  o.ria_exponent = given.ria_exponent;
  o.percdamp = given.percdamp;
  if (!given.dtype.empty()) o.dtype = parse_dtype("--dtype", given.dtype);
  o.threads = given.threads;
  o.sequences = given.sequences;

  if (o.m > 0 && o.comparison)
    throw usage_error("--group applies to unstructured sparsity, not to --n-m");
  if (o.how == method::sparsegpt && o.comparison && *o.comparison != group::block)
    throw usage_error("sparsegpt selects its mask per column block; use --group block:B");
  if (o.how == method::sparsegpt && o.reconstruct)
    throw usage_error("--reconstruct: sparsegpt already updates the kept weights");
  if (o.how == method::sparsegpt && o.dsnot)
    throw usage_error("--dsnot refines the mask of magnitude, wanda or ria, not sparsegpt");
  // Options that would change nothing are refused, saying why.
  const bool solves = o.how == method::sparsegpt || o.reconstruct;
  refuse_if_given(given.given, "--percdamp", !solves,
                  "damps the Hessian of sparsegpt and --reconstruct, which --method " + v +
                      " without --reconstruct does not use");
  refuse_if_given(given.given, "--ria-exponent", o.how != method::ria,
                  "is RIA's exponent, and --method is " + v);
  if (!o.activations.empty() && !o.hessian.empty() && !solves)
    throw usage_error("--hessian would change nothing: --method " + v +
                      " without --reconstruct takes its statistics from --activations");
  // N only scales what Wanda, RIA and the error compare, so it matters where H = (2/N)·XᵀX is
  // solved with (and its loss and damping printed) and for DSnoT's threshold.
  refuse_if_given(given.given, "--sequences",
                  !o.dsnot && !(solves && !o.activations.empty() && o.hessian.empty()),
                  "counts the calibration sequences of --activations, which set the H = "
                  "(2/N)·XᵀX of sparsegpt and --reconstruct and DSnoT's means, and neither is "
                  "computed from --activations here");
  if (o.dsnot && o.activations.empty())
    throw usage_error("--dsnot needs --activations (the mean and variance of every channel)");
  const bool has_statistics = !o.activations.empty() || !o.hessian.empty();
  if ((o.how == method::wanda || o.how == method::ria) && !has_statistics)
    throw usage_error(std::string(method_name(o.how)) + " needs --activations or --hessian");
  if ((o.how == method::sparsegpt || o.reconstruct) && !has_statistics)
    throw usage_error(std::string(o.reconstruct ? "--reconstruct" : "sparsegpt") +
                      " needs --activations or --hessian");
  if (!o.comparison) {
    o.comparison = o.how == method::wanda       ? group::row
                   : o.how == method::sparsegpt ? group::block
                                                : group::matrix;
  }
  return o;
}

}  // namespace layer_detail

/// Prunes the layer the options name; returns the exit status (0), throws on any error. Warnings
/// go to stderr as "<program>: warning: ...".
inline int run_layer(const layer_options& options, const std::string& program) {
  const std::vector<io::named_path> inputs{{"--weights", options.weights},
                                           {"--activations", options.activations},
                                           {"--hessian", options.hessian}},
      outputs{{"--out", options.out}, {"--mask-out", options.mask_out}};
  check_distinct_outputs(inputs, outputs);
  for (const auto& out : outputs) check_output_name(out.name, out.path, "NumPy .npy", {".npy"});
  layer_detail::plan p = layer_detail::plan_of(options);
  check_inputs({{"--weights", options.weights},
                {"--activations", options.activations},
                {"--hessian", options.hessian}});
  p.program = program;
  check_outputs(inputs, outputs);
  use_threads(options.threads);
  layer_detail::prune<float>(p);
  return 0;
}

}  // namespace pollard::cli

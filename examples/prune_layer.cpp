// prune_layer — prunes one linear layer stored as .npy files, for unit-level pruning research.
//
//   prune_layer --weights W.npy [--activations X.npy] [--hessian H.npy]
//               --method magnitude|wanda|ria|sparsegpt [--sparsity S | --n-m N:M]
//               [--group row|matrix|block:B] [--dsnot] [--reconstruct] [--ria-exponent A]
//               [--percdamp P] [--dtype f16|f32|f64]
//               --out W_pruned.npy [--mask-out mask.npy]
//
// W is d_out x d_in (PyTorch Linear layout), X is tokens x d_in, H is the d_in x d_in Hessian
// (2/N)·XᵀX. --dsnot refines the mask of magnitude/wanda/ria with DSnoT (needs X); --reconstruct
// then updates the kept weights by OBS for that fixed mask. Prints the sparsity reached, N:M
// validity and the relative reconstruction error; writes the pruned W (in W's dtype unless --dtype)
// and the mask (uint8, 1 = pruned, as pollard::mask). It computes in float32, as the reference
// implementations do. On any error it prints one line to stderr, exits non-zero and writes nothing.
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"
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

namespace {

namespace fs = std::filesystem;
using pollard::dtype;
using pollard::index_t;

const char* const usage =
    "usage: prune_layer --weights W.npy [--activations X.npy] [--hessian H.npy]\n"
    "                   --method magnitude|wanda|ria|sparsegpt [--sparsity S | --n-m N:M]\n"
    "                   [--group row|matrix|block:B] [--dsnot] [--reconstruct] [--ria-exponent A]\n"
    "                   [--percdamp P] [--dtype f16|f32|f64]\n"
    "                   --out W_pruned.npy [--mask-out mask.npy]\n";

enum class method { magnitude, wanda, ria, sparsegpt };
enum class group { row, matrix, block };

struct options {
  fs::path weights, activations, hessian, out, mask_out;
  method how = method::magnitude;
  double sparsity = 0.5;
  index_t n = 0, m = 0;  // N:M when m > 0
  std::optional<group> comparison;
  index_t block = 128;
  bool reconstruct = false;
  bool dsnot = false;
  double ria_exponent = 0.5;
  double percdamp = 0.01;
  std::optional<pollard::dtype> dtype;
};

// Command-line mistakes: reported with the usage text, exit status 2.
struct usage_error : pollard::option_error {
  using pollard::option_error::option_error;
};

double parse_number(const std::string& flag, const std::string& text) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty())
    throw usage_error(flag + " needs a number, got '" + text + "'");
  return value;
}

index_t parse_positive(const std::string& flag, const std::string& text) {
  std::size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || value <= 0)
    throw usage_error(flag + " needs a positive integer, got '" + text + "'");
  return static_cast<index_t>(value);
}

pollard::dtype parse_dtype(const std::string& flag, const std::string& text) {
  if (text == "f16") return pollard::dtype::f16;
  if (text == "f32") return pollard::dtype::f32;
  if (text == "f64") return pollard::dtype::f64;
  throw usage_error(flag + " must be f16, f32 or f64, got '" + text + "'");
}

const char* method_name(method h) {
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

options parse(int argc, char** argv) {
  options o;
  bool have_method = false, have_sparsity = false;
  for (int a = 1; a < argc; ++a) {
    std::string flag = argv[a];
    std::optional<std::string> inline_value;
    if (const auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    }
    const auto value = [&]() -> std::string {
      if (inline_value) return *inline_value;
      if (a + 1 >= argc) throw usage_error(flag + " needs a value");
      return argv[++a];
    };
    const auto no_value = [&] {
      if (inline_value) throw usage_error(flag + " takes no value");
    };
    if (flag == "--weights") {
      o.weights = value();
    } else if (flag == "--activations") {
      o.activations = value();
    } else if (flag == "--hessian") {
      o.hessian = value();
    } else if (flag == "--out") {
      o.out = value();
    } else if (flag == "--mask-out") {
      o.mask_out = value();
    } else if (flag == "--method") {
      const std::string v = value();
      have_method = true;
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
    } else if (flag == "--sparsity") {
      o.sparsity = parse_number(flag, value());
      have_sparsity = true;
    } else if (flag == "--n-m") {
      const std::string v = value();
      const auto colon = v.find(':');
      if (colon == std::string::npos) throw usage_error("--n-m needs N:M, got '" + v + "'");
      o.n = parse_positive("--n-m", v.substr(0, colon));
      o.m = parse_positive("--n-m", v.substr(colon + 1));
    } else if (flag == "--group") {
      const std::string v = value();
      if (v == "row") {
        o.comparison = group::row;
      } else if (v == "matrix") {
        o.comparison = group::matrix;
      } else if (v.rfind("block:", 0) == 0) {
        o.comparison = group::block;
        o.block = parse_positive("--group block:B", v.substr(6));
      } else {
        throw usage_error("--group must be row, matrix or block:B, got '" + v + "'");
      }
    } else if (flag == "--reconstruct") {
      no_value();
      o.reconstruct = true;
    } else if (flag == "--dsnot") {
      no_value();
      o.dsnot = true;
    } else if (flag == "--ria-exponent") {
      o.ria_exponent = parse_number(flag, value());
    } else if (flag == "--percdamp") {
      o.percdamp = parse_number(flag, value());
    } else if (flag == "--dtype") {
      o.dtype = parse_dtype(flag, value());
    } else if (flag == "--help" || flag == "-h") {
      std::fputs(usage, stdout);
      std::exit(0);
    } else {
      throw usage_error("unknown option '" + flag + "'");
    }
  }
  if (o.weights.empty()) throw usage_error("--weights is required");
  if (o.out.empty()) throw usage_error("--out is required");
  if (!have_method) throw usage_error("--method is required");
  if (o.m > 0 && have_sparsity) throw usage_error("give --sparsity or --n-m, not both");
  if (o.m > 0 && o.comparison)
    throw usage_error("--group applies to unstructured sparsity, not to --n-m");
  if (o.how == method::sparsegpt && o.comparison && *o.comparison != group::block)
    throw usage_error("sparsegpt selects its mask per column block; use --group block:B");
  if (o.how == method::sparsegpt && o.reconstruct)
    throw usage_error("--reconstruct: sparsegpt already updates the kept weights");
  if (o.how == method::sparsegpt && o.dsnot)
    throw usage_error("--dsnot refines the mask of magnitude, wanda or ria, not sparsegpt");
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

std::string shape_of(index_t rows, index_t cols) {
  return std::to_string(rows) + "x" + std::to_string(cols);
}

template <pollard::compute_type T>
void run(const options& o) {
  // Read and check every input before computing anything.
  const auto w_file = pollard::io::read_npy<T>(o.weights, pollard::io::npy_rank::matrix);
  const index_t d_out = w_file.rows(), d_in = w_file.cols();
  std::optional<pollard::io::npy_matrix<T>> x_file, h_file;
  if (!o.activations.empty()) {
    x_file = pollard::io::read_npy<T>(o.activations, pollard::io::npy_rank::matrix);
    if (x_file->cols() != d_in)
      throw pollard::shape_error(
          o.activations.string() + " is " + shape_of(x_file->rows(), x_file->cols()) + " but " +
          o.weights.string() + " is " + shape_of(d_out, d_in) +
          ": X needs one column per input channel (" + std::to_string(d_in) + ")");
    if (x_file->rows() == 0)
      throw pollard::shape_error(o.activations.string() + " holds no tokens");
  }
  if (!o.hessian.empty()) {
    h_file = pollard::io::read_npy<T>(o.hessian, pollard::io::npy_rank::matrix);
    if (h_file->rows() != d_in || h_file->cols() != d_in)
      throw pollard::shape_error(o.hessian.string() + " is " +
                                 shape_of(h_file->rows(), h_file->cols()) + " but " +
                                 o.weights.string() + " is " + shape_of(d_out, d_in) +
                                 ": H must be " + shape_of(d_in, d_in));
  }

  // Statistics: H = (2/T)·XᵀX over the T tokens of X unless H is given; Σx²/T from X, or
  // diag(H)/2 from H alone (the same quantity).
  std::vector<T> hessian_storage;
  pollard::matrix_view<const T> hessian;
  if (h_file) {
    hessian = h_file->view();
  } else if (x_file) {
    pollard::gram_accumulator<T> gram(d_in, pollard::normalisation::by_tokens);
    gram.accumulate(x_file->view());
    const auto h = gram.hessian();
    hessian_storage.assign(h.data(), h.data() + h.size());  // symmetric: layout is irrelevant
    hessian = pollard::matrix_view<const T>(hessian_storage.data(), d_in, d_in);
  }
  pollard::criterion_input_buffers<T> buffers;
  std::vector<double> means, variances;  // per channel, over the tokens of X
  if (x_file) {
    pollard::moment_statistics<double> moments(d_in);
    moments.accumulate(x_file->view());
    buffers.set_moments(moments, pollard::normalisation::by_tokens);
    means = moments.means();
    variances = moments.variances();
  } else if (h_file) {
    std::vector<T> diagonal(static_cast<std::size_t>(d_in));
    for (index_t j = 0; j < d_in; ++j) diagonal[static_cast<std::size_t>(j)] = hessian(j, j) / T(2);
    buffers.set_sq_norm_per_sample(std::span<const T>(diagonal));
  }

  std::vector<T> pruned_values = w_file.values;
  const pollard::matrix_view<T> w_hat(pruned_values.data(), d_out, d_in);
  pollard::mask keep;
  std::string solver_report;
  if (o.how == method::sparsegpt) {
    pollard::sparsegpt_options s;
    s.block_size = o.block;
    s.percdamp = o.percdamp;
    const auto result =
        o.m > 0 ? pollard::sparsegpt<T>(w_hat, hessian, pollard::n_m::pruned_of(o.n, o.m), s)
                : pollard::sparsegpt<T>(
                      w_hat, hessian,
                      pollard::unstructured(o.sparsity, pollard::per_column_block{o.block}), s);
    keep = result.mask;
    solver_report = "  sparsegpt: loss " + std::to_string(result.loss) + ", damping " +
                    std::to_string(result.damping_used) + " (percdamp " +
                    std::to_string(result.percdamp_used) + ")\n";
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
    if (o.m > 0) {
      keep = pollard::n_m::pruned_of(o.n, o.m).select(cscores);
    } else if (*o.comparison == group::row) {
      keep = pollard::unstructured(o.sparsity, pollard::per_row).select(cscores);
    } else if (*o.comparison == group::matrix) {
      keep = pollard::unstructured(o.sparsity, pollard::per_matrix).select(cscores);
    } else {
      keep = pollard::unstructured(o.sparsity, pollard::per_column_block{o.block}).select(cscores);
    }
    if (o.dsnot) {
      pollard::dsnot_options d;
      d.n = o.n;
      d.m = o.m;
      const pollard::mask refined =
          pollard::dsnot<T, T>(w_file.view(), keep, means, variances, cscores, d);
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
      const auto result = pollard::obs_reconstruct<T>(w_hat, hessian, keep, r);
      solver_report += "  OBS reconstruction: loss " + std::to_string(result.loss) + ", damping " +
                       std::to_string(result.damping_used) + "\n";
    } else {
      pollard::apply_mask(keep, w_hat);
    }
  }

  // Metrics of the result.
  const pollard::matrix_view<const T> w = w_file.view();
  const pollard::matrix_view<const T> result = w_hat;
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
    error_line = "  reconstruction error: " + std::to_string(e.relative) +
                 " (relative, ||X (W - W_pruned)^T||^2 / ||X W^T||^2 over " +
                 std::to_string(x_file->rows()) + " tokens)\n";
  } else if (h_file) {
    const auto e = pollard::relative_reconstruction_error_from_gram(w, result, hessian);
    error_line = "  reconstruction error: " + std::to_string(e.relative) +
                 " (relative, tr(dW H dW^T) / tr(W H W^T))\n";
  }

  // Encode both outputs completely, then move both into place.
  pollard::dtype out_dtype = o.dtype.value_or(w_file.header.dtype);
  if (out_dtype == pollard::dtype::u8 || out_dtype == pollard::dtype::boolean)
    out_dtype = pollard::dtype::f32;
  pollard::io::atomic_file out_file(o.out);
  out_file.write(pollard::io::encode_npy(result, {out_dtype}));
  std::optional<pollard::io::atomic_file> mask_file;
  if (!o.mask_out.empty()) {
    mask_file.emplace(o.mask_out);
    mask_file->write(pollard::io::encode_npy(keep));
  }
  out_file.commit();
  if (mask_file) mask_file->commit();

  std::string group_name = o.m > 0 ? std::to_string(o.n) + ":" + std::to_string(o.m)
                           : *o.comparison == group::row ? "unstructured per row"
                           : *o.comparison == group::matrix
                               ? "unstructured per matrix"
                               : "unstructured per column block of " + std::to_string(o.block);
  std::printf("prune_layer: %s, %s%s\n", method_name(o.how), group_name.c_str(),
              o.m > 0 ? "" : (", target sparsity " + std::to_string(o.sparsity)).c_str());
  std::printf("  W: %s %s %s\n", o.weights.string().c_str(), shape_of(d_out, d_in).c_str(),
              std::string(pollard::io::npy_descr(w_file.header.dtype)).c_str());
  const index_t zeros = pollard::zero_count(result);
  std::printf(
      "  sparsity: %.6f (%ld of %ld weights zero; mask prunes %ld)\n",
      d_out * d_in == 0 ? 0.0 : static_cast<double>(zeros) / static_cast<double>(d_out * d_in),
      static_cast<long>(zeros), static_cast<long>(d_out * d_in),
      static_cast<long>(keep.pruned_count()));
  std::fputs(n_m_line.c_str(), stdout);
  std::fputs(error_line.c_str(), stdout);
  std::fputs(solver_report.c_str(), stdout);
  std::printf(
      "  wrote %s (%s)%s\n", o.out.string().c_str(),
      std::string(pollard::io::npy_descr(out_dtype)).c_str(),
      o.mask_out.empty() ? "" : (" and " + o.mask_out.string() + " (|u1, 1 = pruned)").c_str());
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const options o = parse(argc, argv);
    run<float>(o);
  } catch (const usage_error& e) {
    std::fprintf(stderr, "prune_layer: %s (see --help)\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "prune_layer: %s\n", e.what());
    return 1;
  }
  return 0;
}

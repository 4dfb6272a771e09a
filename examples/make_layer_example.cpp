// make_layer_example — writes a seeded example layer for prune_layer: W.npy (d_out x d_in),
// X.npy (tokens x d_in, correlated channels with a few large-magnitude outlier channels, as
// LLM activations have) and H.npy = (2/N)·XᵀX with N = tokens (each row of X a calibration
// sequence of its own: `layer --activations X.npy --sequences TOKENS` computes the same H), all
// float32.
//
//   make_layer_example FOLDER [--d-out 128] [--d-in 256] [--tokens 512] [--outliers 4]
//                      [--seed 0]
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "cli/command_line.hpp"
#include "pollard/core/error.hpp"
#include "pollard/io/atomic_file.hpp"
#include "pollard/io/file_identity.hpp"
#include "pollard/io/npy.hpp"
#include "pollard/stats/gram_accumulator.hpp"

namespace {

struct options {
  std::string folder;
  pollard::index_t d_out = 128, d_in = 256, tokens = 512, outliers = 4;
  std::uint64_t seed = 0;
};

void add_options(CLI::App& app, options& o) {
  using pollard::cli::integer_in;
  app.add_option("FOLDER", o.folder,
                 "where to write W.npy, X.npy and H.npy (created; all three are written\n"
                 "through temporaries and renamed together, so none is left by a failure)")
      ->required();
  app.add_option("--d-out", o.d_out, "output channels (rows of W)")
      ->type_name("N")
      ->transform(integer_in(1, INT32_MAX));
  app.add_option("--d-in", o.d_in, "input channels (columns of W and X)")
      ->type_name("N")
      ->transform(integer_in(1, INT32_MAX));
  app.add_option("--tokens", o.tokens, "rows of X")
      ->type_name("N")
      ->transform(integer_in(1, INT32_MAX));
  app.add_option("--outliers", o.outliers, "channels of X 25 times larger than the others")
      ->type_name("N")
      ->transform(integer_in(0, INT32_MAX));
  app.add_option("--seed", o.seed, "seed of the generator")
      ->type_name("N")
      ->transform(pollard::cli::unsigned_integer());
}

void make_layer(const options& o) {
  using pollard::index_t;
  // Every check before any work: the options, then the three outputs.
  if (o.outliers > o.d_in)
    throw pollard::cli::usage_error("--outliers " + std::to_string(o.outliers) +
                                    " exceeds --d-in " + std::to_string(o.d_in) +
                                    ": an outlier is an input channel");
  if (o.folder.empty())
    throw pollard::cli::usage_error(
        "FOLDER is empty: name the folder to write W.npy, X.npy and H.npy in");
  // W, X, H and the latent mixing matrix, as float32, must fit in memory.
  const auto n = [](pollard::index_t v) { return static_cast<double>(v); };
  const double bytes =
      4.0 * (n(o.d_out) * n(o.d_in) + n(o.tokens) * n(o.d_in) + n(o.d_in) * n(o.d_in) +
             n(std::max<index_t>(1, o.d_in / 4)) * n(o.d_in));
  const double memory =
      static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE));
  if (memory > 0 && bytes > memory)
    throw pollard::cli::usage_error(
        "--d-out " + std::to_string(o.d_out) + " --d-in " + std::to_string(o.d_in) + " --tokens " +
        std::to_string(o.tokens) + " need " + pollard::cli::format_gigabytes(bytes) +
        " for W, X and H, more than this machine's " + pollard::cli::format_gigabytes(memory) +
        " of memory");
  const std::filesystem::path folder = o.folder;
  std::error_code ec;
  if (std::filesystem::exists(folder, ec)) {
    if (!std::filesystem::is_directory(folder, ec))
      throw pollard::cli::usage_error("FOLDER " + o.folder +
                                      " is a file: name a folder to write W.npy, X.npy and H.npy "
                                      "in");
    // Two of them resolving to one file (a link, even a dangling one, to another) would leave
    // only the last one written.
    std::vector<pollard::io::named_path> files;
    for (const char* name : {"W.npy", "X.npy", "H.npy"})
      files.push_back({std::string("FOLDER's ") + name, folder / name});
    pollard::cli::check_outputs({}, files);
  } else {
    // Created with its missing parents: the nearest existing one must be a writable folder.
    std::filesystem::path existing = folder.parent_path();
    while (!existing.empty() && !std::filesystem::exists(existing, ec))
      existing = existing.parent_path();
    pollard::cli::check_output_location("FOLDER", (existing.empty() ? "." : existing) / "W.npy");
  }
  pollard::io::atomic_file_set outputs;  // W, X and H are written all together or not at all
  if (!std::filesystem::exists(folder)) outputs.create_folder(folder);
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const auto at = [](index_t i, index_t j, index_t cols) {
    return static_cast<std::size_t>(i * cols + j);
  };

  // W: N(0, 1/d_in), the usual initialisation scale of a linear layer.
  std::vector<float> w(static_cast<std::size_t>(o.d_out * o.d_in));
  const float w_scale = 1.0f / std::sqrt(static_cast<float>(o.d_in));
  for (auto& v : w) v = w_scale * normal(rng);

  // X = Z·A + noise: tokens drawn from a lower-dimensional latent space, so channels correlate
  // (which is what makes OBS reconstruction pay off); every channel gets its own scale, and
  // `outliers` evenly spread channels are 25x larger.
  const index_t latent = std::max<index_t>(1, o.d_in / 4);
  std::vector<float> a(static_cast<std::size_t>(latent * o.d_in));
  for (auto& v : a) v = normal(rng) / std::sqrt(static_cast<float>(latent));
  std::vector<float> scale(static_cast<std::size_t>(o.d_in));
  std::uniform_real_distribution<float> uniform(0.5f, 2.0f);
  for (auto& s : scale) s = uniform(rng);
  for (index_t k = 0; k < o.outliers; ++k)
    scale[static_cast<std::size_t>(k * o.d_in / std::max<index_t>(o.outliers, 1))] *= 25.0f;

  std::vector<float> x(static_cast<std::size_t>(o.tokens * o.d_in));
  std::vector<float> z(static_cast<std::size_t>(latent));
  for (index_t t = 0; t < o.tokens; ++t) {
    for (auto& v : z) v = normal(rng);
    for (index_t j = 0; j < o.d_in; ++j) {
      float v = 0.3f * normal(rng);
      for (index_t r = 0; r < latent; ++r)
        v += z[static_cast<std::size_t>(r)] * a[at(r, j, o.d_in)];
      x[at(t, j, o.d_in)] = scale[static_cast<std::size_t>(j)] * v;
    }
  }

  pollard::gram_accumulator<float> gram(o.d_in, pollard::normalisation::by_tokens);
  gram.accumulate(pollard::matrix_view<const float>(x.data(), o.tokens, o.d_in));
  const auto h = gram.hessian();

  pollard::io::write_npy(folder / "W.npy",
                         pollard::matrix_view<const float>(w.data(), o.d_out, o.d_in));
  pollard::io::write_npy(folder / "X.npy",
                         pollard::matrix_view<const float>(x.data(), o.tokens, o.d_in));
  pollard::io::write_npy(folder / "H.npy",
                         pollard::matrix_view<const float>(h.data(), o.d_in, o.d_in));
  outputs.commit();
  std::printf("wrote %s/{W,X,H}.npy: W %ldx%ld, X %ldx%ld (%ld outlier channels), H %ldx%ld\n",
              pollard::cli::printable(folder.string()).c_str(), static_cast<long>(o.d_out),
              static_cast<long>(o.d_in), static_cast<long>(o.tokens), static_cast<long>(o.d_in),
              static_cast<long>(o.outliers), static_cast<long>(o.d_in), static_cast<long>(o.d_in));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app(
      "Writes a seeded example layer for prune_layer: W.npy (d_out x d_in), X.npy (tokens x d_in,\n"
      "correlated channels with a few large-magnitude outlier channels, as LLM activations have)\n"
      "and H.npy = (2/N)·XᵀX with N = tokens (each row of X a sequence of its own: `layer\n"
      "--activations X.npy --sequences TOKENS` computes the same H), all float32.",
      "make_layer_example");
  pollard::cli::configure(app);
  options o;
  add_options(app, o);
  return pollard::cli::run_tool(
      app, argc, argv, {"make_layer_example: ", [] { return std::string(" (see --help)"); }}, [&] {
        make_layer(o);
        return 0;
      });
}

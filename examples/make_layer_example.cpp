// make_layer_example — writes a seeded example layer for prune_layer: W.npy (d_out x d_in),
// X.npy (tokens x d_in, correlated channels with a few large-magnitude outlier channels, as
// LLM activations have) and H.npy = (2/tokens)·XᵀX, all float32.
//
//   make_layer_example <folder> [--d-out 128] [--d-in 256] [--tokens 512] [--outliers 4]
//                      [--seed 0]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/io/npy.hpp"
#include "pollard/stats/gram_accumulator.hpp"

namespace {

struct options {
  std::filesystem::path folder;
  pollard::index_t d_out = 128, d_in = 256, tokens = 512, outliers = 4;
  unsigned long seed = 0;
};

const char* const usage =
    "usage: make_layer_example <folder> [--d-out N] [--d-in N] [--tokens N] [--outliers N] "
    "[--seed N]\n";

long parse_count(const std::string& flag, const std::string& text, long minimum) {
  std::size_t used = 0;
  long value = 0;
  try {
    value = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || value < minimum)
    throw pollard::option_error(flag + " needs an integer >= " + std::to_string(minimum) +
                                ", got '" + text + "'");
  return value;
}

options parse(int argc, char** argv) {
  options o;
  bool have_folder = false;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    if (arg.rfind("--", 0) != 0) {
      if (have_folder) throw pollard::option_error("more than one output folder given");
      o.folder = arg;
      have_folder = true;
      continue;
    }
    if (a + 1 >= argc) throw pollard::option_error(arg + " needs a value");
    const std::string value = argv[++a];
    if (arg == "--d-out") {
      o.d_out = parse_count(arg, value, 1);
    } else if (arg == "--d-in") {
      o.d_in = parse_count(arg, value, 1);
    } else if (arg == "--tokens") {
      o.tokens = parse_count(arg, value, 1);
    } else if (arg == "--outliers") {
      o.outliers = parse_count(arg, value, 0);
    } else if (arg == "--seed") {
      o.seed = static_cast<unsigned long>(parse_count(arg, value, 0));
    } else {
      throw pollard::option_error("unknown option " + arg);
    }
  }
  if (!have_folder) throw pollard::option_error("no output folder given");
  if (o.outliers > o.d_in)
    throw pollard::option_error("--outliers " + std::to_string(o.outliers) + " exceeds --d-in " +
                                std::to_string(o.d_in));
  return o;
}

void make_layer(const options& o) {
  using pollard::index_t;
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
  const auto h = gram.hessian();  // symmetric, so its column-major storage is also row-major

  std::filesystem::create_directories(o.folder);
  pollard::io::write_npy(o.folder / "W.npy",
                         pollard::matrix_view<const float>(w.data(), o.d_out, o.d_in));
  pollard::io::write_npy(o.folder / "X.npy",
                         pollard::matrix_view<const float>(x.data(), o.tokens, o.d_in));
  pollard::io::write_npy(o.folder / "H.npy",
                         pollard::matrix_view<const float>(h.data(), o.d_in, o.d_in));
  std::printf("wrote %s/{W,X,H}.npy: W %ldx%ld, X %ldx%ld (%ld outlier channels), H %ldx%ld\n",
              o.folder.string().c_str(), static_cast<long>(o.d_out), static_cast<long>(o.d_in),
              static_cast<long>(o.tokens), static_cast<long>(o.d_in), static_cast<long>(o.outliers),
              static_cast<long>(o.d_in), static_cast<long>(o.d_in));
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  try {
    o = parse(argc, argv);
  } catch (const pollard::error& e) {
    std::fprintf(stderr, "make_layer_example: %s\n%s", e.what(), usage);
    return 2;
  }
  try {
    make_layer(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_layer_example: %s\n", e.what());
    return 1;
  }
  return 0;
}

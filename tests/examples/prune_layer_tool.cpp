// Runs make_layer_example and prune_layer as a user would and checks what they write, against
// properties computed here from the input files (not from the tool's own report).
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "pollard/core/mask.hpp"
#include "pollard/io/npy.hpp"
#include "pollard/solvers/dsnot.hpp"

namespace fs = std::filesystem;
using pollard::index_t;

namespace {

struct outcome {
  int status = -1;
  std::string out, err;
};

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A scratch folder holding one generated layer (d_out 24, d_in 64, 100 tokens).
struct layer_folder {
  fs::path dir = fs::temp_directory_path() /
                 ("pollard-prune-layer-test-" + std::to_string(static_cast<long>(::getpid())));
  layer_folder() {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  layer_folder(const layer_folder&) = delete;
  layer_folder& operator=(const layer_folder&) = delete;
  ~layer_folder() { fs::remove_all(dir); }

  outcome run(const std::string& program, const std::string& arguments) const {
    const std::string command = "\"" + program + "\" " + arguments + " > \"" +
                                (dir / "stdout.txt").string() + "\" 2> \"" +
                                (dir / "stderr.txt").string() + "\"";
    const int raw = std::system(command.c_str());
    outcome o;
    o.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    o.out = slurp(dir / "stdout.txt");
    o.err = slurp(dir / "stderr.txt");
    return o;
  }
  outcome prune(const std::string& arguments) const { return run(POLLARD_PRUNE_LAYER, arguments); }
  std::string path(const std::string& name) const { return "\"" + (dir / name).string() + "\""; }
};

const layer_folder& layer() {
  static const layer_folder folder;
  static const bool made =
      folder
          .run(POLLARD_MAKE_LAYER_EXAMPLE,
               folder.path("") + " --d-out 24 --d-in 64 --tokens 100 --outliers 3 --seed 7")
          .status == 0;
  REQUIRE(made);
  return folder;
}

using matrix = pollard::io::npy_matrix<double>;
matrix load(const std::string& name) { return pollard::io::read_npy<double>(layer().dir / name); }

// Σ_t x_tj² per channel, in double, from X.npy.
std::vector<double> channel_sq_sums(const matrix& x) {
  std::vector<double> s(static_cast<std::size_t>(x.cols()), 0.0);
  for (index_t t = 0; t < x.rows(); ++t)
    for (index_t j = 0; j < x.cols(); ++j)
      s[static_cast<std::size_t>(j)] += x.view()(t, j) * x.view()(t, j);
  return s;
}

// ||X·(W − Ŵ)ᵀ||² / ||X·Wᵀ||² with plain loops.
double naive_error(const matrix& w, const matrix& w_hat, const matrix& x) {
  double err = 0, ref = 0;
  for (index_t t = 0; t < x.rows(); ++t)
    for (index_t i = 0; i < w.rows(); ++i) {
      double y = 0, d = 0;
      for (index_t j = 0; j < w.cols(); ++j) {
        y += x.view()(t, j) * w.view()(i, j);
        d += x.view()(t, j) * (w.view()(i, j) - w_hat.view()(i, j));
      }
      ref += y * y;
      err += d * d;
    }
  return err / ref;
}

// The keep flags of a written mask file (which holds 1 = pruned, as pollard::mask): 1 = kept.
matrix load_keep(const std::string& name) {
  auto m = load(name);
  for (auto& v : m.values) {
    REQUIRE((v == 0.0 || v == 1.0));
    v = 1.0 - v;
  }
  return m;
}

// Checks the written mask and weights: same shape as W, pruned entries zero, kept entries
// unchanged unless the weights were updated; returns the keep flags (1 = kept).
matrix check_outputs(const std::string& out, const std::string& mask_out, bool updated) {
  const auto w = load("W.npy");
  const auto w_hat = load(out);
  const auto keep = load_keep(mask_out);
  CHECK(pollard::io::read_npy_header(layer().dir / mask_out).dtype == pollard::dtype::u8);
  REQUIRE(w_hat.rows() == w.rows());
  REQUIRE(w_hat.cols() == w.cols());
  REQUIRE(keep.rows() == w.rows());
  REQUIRE(keep.cols() == w.cols());
  for (index_t i = 0; i < w.rows(); ++i)
    for (index_t j = 0; j < w.cols(); ++j) {
      const double k = keep.view()(i, j);
      REQUIRE((k == 0.0 || k == 1.0));
      if (k == 0.0) CHECK(w_hat.view()(i, j) == 0.0);
      if (k == 1.0 && !updated) CHECK(w_hat.view()(i, j) == w.view()(i, j));
    }
  return keep;
}

index_t pruned_in(const matrix& keep, index_t r0, index_t r1, index_t c0, index_t c1) {
  index_t n = 0;
  for (index_t i = r0; i < r1; ++i)
    for (index_t j = c0; j < c1; ++j) n += keep.view()(i, j) == 0.0 ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("make_layer_example writes W, X and H = (2/T)·XᵀX, reproducibly from its seed") {
  const auto w = load("W.npy");
  const auto x = load("X.npy");
  const auto h = load("H.npy");
  CHECK(w.rows() == 24);
  CHECK(w.cols() == 64);
  CHECK(x.rows() == 100);
  CHECK(x.cols() == 64);
  REQUIRE(h.rows() == 64);
  REQUIRE(h.cols() == 64);
  for (index_t a = 0; a < 64; a += 7)
    for (index_t b = 0; b < 64; b += 5) {
      double s = 0;
      for (index_t t = 0; t < 100; ++t) s += x.view()(t, a) * x.view()(t, b);
      CHECK(h.view()(a, b) == doctest::Approx(2.0 * s / 100.0).epsilon(1e-4));
    }
  // Outlier channels: the largest channel norm is far above the median one.
  auto norms = channel_sq_sums(x);
  std::sort(norms.begin(), norms.end());
  CHECK(norms.back() > 100.0 * norms[norms.size() / 2]);

  const auto again = layer().run(
      POLLARD_MAKE_LAYER_EXAMPLE,
      layer().path("again") + " --d-out 24 --d-in 64 --tokens 100 --outliers 3 --seed 7");
  REQUIRE(again.status == 0);
  CHECK(slurp(layer().dir / "again" / "X.npy") == slurp(layer().dir / "X.npy"));
  const auto other =
      layer().run(POLLARD_MAKE_LAYER_EXAMPLE,
                  layer().path("other") + " --d-out 24 --d-in 64 --tokens 100 --seed 8");
  REQUIRE(other.status == 0);
  CHECK(slurp(layer().dir / "other" / "X.npy") != slurp(layer().dir / "X.npy"));
}

TEST_CASE("wanda per row prunes floor(d_in*s) weights of every row, the lowest |W|·||x_j||") {
  const auto o =
      layer().prune("--weights " + layer().path("W.npy") + " --activations " +
                    layer().path("X.npy") + " --method wanda --sparsity 0.6 --out " +
                    layer().path("wanda.npy") + " --mask-out " + layer().path("wanda_mask.npy"));
  INFO(o.err);
  REQUIRE(o.status == 0);
  CHECK(o.out.find("sparsity: 0.59") != std::string::npos);  // floor(64 * 0.6) / 64 = 0.59375
  CHECK(o.out.find("reconstruction error: ") != std::string::npos);
  const auto keep = check_outputs("wanda.npy", "wanda_mask.npy", false);
  const auto w = load("W.npy");
  const auto sq = channel_sq_sums(load("X.npy"));
  for (index_t i = 0; i < w.rows(); ++i) {
    CHECK(pruned_in(keep, i, i + 1, 0, 64) == 38);
    double max_pruned = 0, min_kept = std::numeric_limits<double>::infinity();
    for (index_t j = 0; j < 64; ++j) {
      const double score = std::abs(w.view()(i, j)) * std::sqrt(sq[static_cast<std::size_t>(j)]);
      if (keep.view()(i, j) == 0.0)
        max_pruned = std::max(max_pruned, score);
      else
        min_kept = std::min(min_kept, score);
    }
    CHECK(max_pruned <= min_kept * (1 + 1e-5));
  }
}

TEST_CASE("magnitude per matrix prunes the floor(n*s) smallest |W| of the whole matrix") {
  const auto o = layer().prune(
      "--weights " + layer().path("W.npy") + " --method magnitude --sparsity 0.5 --out " +
      layer().path("mag.npy") + " --mask-out " + layer().path("mag_mask.npy"));
  INFO(o.err);
  REQUIRE(o.status == 0);
  CHECK(o.out.find("reconstruction error: n/a") != std::string::npos);
  const auto keep = check_outputs("mag.npy", "mag_mask.npy", false);
  const auto w = load("W.npy");
  CHECK(pruned_in(keep, 0, 24, 0, 64) == 24 * 64 / 2);
  double max_pruned = 0, min_kept = std::numeric_limits<double>::infinity();
  for (index_t i = 0; i < 24; ++i)
    for (index_t j = 0; j < 64; ++j)
      if (keep.view()(i, j) == 0.0)
        max_pruned = std::max(max_pruned, std::abs(w.view()(i, j)));
      else
        min_kept = std::min(min_kept, std::abs(w.view()(i, j)));
  CHECK(max_pruned <= min_kept);
}

TEST_CASE("ria 2:4 leaves exactly 2 zeros in every window of 4, in float16 when asked") {
  const auto o =
      layer().prune("--weights " + layer().path("W.npy") + " --hessian " + layer().path("H.npy") +
                    " --method ria --n-m 2:4 --dtype f16 --out " + layer().path("ria.npy") +
                    " --mask-out " + layer().path("ria_mask.npy"));
  INFO(o.err);
  REQUIRE(o.status == 0);
  CHECK(o.out.find("2:4 pattern: valid") != std::string::npos);
  CHECK(pollard::io::read_npy_header(layer().dir / "ria.npy").dtype == pollard::dtype::f16);
  const auto keep = load_keep("ria_mask.npy");
  const auto w_hat = load("ria.npy");
  for (index_t i = 0; i < 24; ++i)
    for (index_t j0 = 0; j0 < 64; j0 += 4) {
      CHECK(pruned_in(keep, i, i + 1, j0, j0 + 4) == 2);
      for (index_t j = j0; j < j0 + 4; ++j)
        if (keep.view()(i, j) == 0.0) CHECK(w_hat.view()(i, j) == 0.0);
    }
}

TEST_CASE("OBS reconstruction keeps the mask and lowers the output error below plain masking") {
  const std::string common = "--weights " + layer().path("W.npy") + " --activations " +
                             layer().path("X.npy") + " --method wanda --sparsity 0.5 ";
  const auto plain = layer().prune(common + "--out " + layer().path("plain.npy") + " --mask-out " +
                                   layer().path("plain_mask.npy"));
  const auto rec = layer().prune(common + "--reconstruct --out " + layer().path("rec.npy") +
                                 " --mask-out " + layer().path("rec_mask.npy"));
  INFO(plain.err, rec.err);
  REQUIRE(plain.status == 0);
  REQUIRE(rec.status == 0);
  check_outputs("rec.npy", "rec_mask.npy", true);
  CHECK(slurp(layer().dir / "rec_mask.npy") == slurp(layer().dir / "plain_mask.npy"));
  const auto w = load("W.npy"), x = load("X.npy");
  CHECK(naive_error(w, load("rec.npy"), x) < 0.9 * naive_error(w, load("plain.npy"), x));
}

TEST_CASE("sparsegpt prunes floor(d_out*B*s) per column block and beats wanda's output error") {
  const auto o = layer().prune(
      "--weights " + layer().path("W.npy") + " --activations " + layer().path("X.npy") +
      " --method sparsegpt --sparsity 0.5 --group block:16 --out " + layer().path("sgpt.npy") +
      " --mask-out " + layer().path("sgpt_mask.npy"));
  INFO(o.err);
  REQUIRE(o.status == 0);
  const auto keep = check_outputs("sgpt.npy", "sgpt_mask.npy", true);
  for (index_t c0 = 0; c0 < 64; c0 += 16) CHECK(pruned_in(keep, 0, 24, c0, c0 + 16) == 24 * 16 / 2);
  const auto wanda = layer().prune("--weights " + layer().path("W.npy") + " --activations " +
                                   layer().path("X.npy") + " --method wanda --sparsity 0.5 --out " +
                                   layer().path("w50.npy"));
  REQUIRE(wanda.status == 0);
  const auto w = load("W.npy"), x = load("X.npy");
  CHECK(naive_error(w, load("sgpt.npy"), x) < naive_error(w, load("w50.npy"), x));
}

TEST_CASE("DSnoT refinement keeps every row's pruned count and the 2:4 pattern") {
  for (const std::string pattern : {"--sparsity 0.5", "--n-m 2:4"}) {
    CAPTURE(pattern);
    const auto o =
        layer().prune("--weights " + layer().path("W.npy") + " --activations " +
                      layer().path("X.npy") + " --method wanda --dsnot " + pattern + " --out " +
                      layer().path("dsnot.npy") + " --mask-out " + layer().path("dsnot_mask.npy"));
    INFO(o.err);
    REQUIRE(o.status == 0);
    CHECK(o.out.find("DSnoT: ") != std::string::npos);
    const auto keep = check_outputs("dsnot.npy", "dsnot_mask.npy", false);
    for (index_t i = 0; i < 24; ++i) {
      CHECK(pruned_in(keep, i, i + 1, 0, 64) == 32);
      if (pattern == "--n-m 2:4")
        for (index_t j0 = 0; j0 < 64; j0 += 4) CHECK(pruned_in(keep, i, i + 1, j0, j0 + 4) == 2);
    }
  }
}

TEST_CASE("bad arguments and bad files exit non-zero with one line on stderr and write nothing") {
  const std::string w = " --weights " + layer().path("W.npy");
  const std::string out =
      " --out " + layer().path("never.npy") + " --mask-out " + layer().path("never_mask.npy");
  std::ofstream(layer().dir / "cut.npy", std::ios::binary)
      << slurp(layer().dir / "W.npy").substr(0, 100);
  const auto narrow = layer().run(POLLARD_MAKE_LAYER_EXAMPLE,
                                  layer().path("narrow") + " --d-in 32 --d-out 4 --tokens 8");
  REQUIRE(narrow.status == 0);
  struct bad {
    std::string arguments;
    int status;
    std::string message;
  };
  const bad cases[] = {
      {"--method wanda" + out, 2, "prune_layer: --weights is required (see --help)"},
      {w + " --method obs" + out, 2,
       "prune_layer: --method must be magnitude, wanda, ria or sparsegpt, got 'obs' (see --help)"},
      {w + " --method wanda" + out, 2,
       "prune_layer: wanda needs --activations or --hessian (see --help)"},
      {w + " --method magnitude --sparsity 0.5 --n-m 2:4" + out, 2,
       "prune_layer: --sparsity excludes --n-m (see --help)"},
      {w + " --method sparsegpt --hessian " + layer().path("H.npy") + " --group row" + out, 2,
       "prune_layer: sparsegpt selects its mask per column block; use --group block:B (see "
       "--help)"},
      {w + " --hessian " + layer().path("H.npy") + " --method wanda --dsnot" + out, 2,
       "prune_layer: --dsnot needs --activations (the mean and variance of every channel) (see "
       "--help)"},
      {w + " --method magnitude --sparsity half" + out, 2,
       "prune_layer: --sparsity: needs a decimal number in [0, 1), got 'half' (see --help)"},
      {w + " --method magnitude --frobnicate" + out, 2,
       "prune_layer: The following argument was not expected: --frobnicate (see --help)"},
      // Every option value out of range is a command-line mistake (exit status 2) named as
      // typed, before any file is read.
      {w + " --method magnitude --sparsity 1.5" + out, 2,
       "prune_layer: --sparsity: must be in [0, 1), got 1.5 (see --help)"},
      {w + " --method magnitude --sparsity 1" + out, 2,
       "prune_layer: --sparsity: must be in [0, 1), got 1 (see --help)"},
      {w + " --method magnitude --sparsity -0.25" + out, 2,
       "prune_layer: --sparsity: must be in [0, 1), got -0.25 (see --help)"},
      {w + " --method magnitude --sparsity nan" + out, 2,
       "prune_layer: --sparsity: needs a decimal number in [0, 1), got 'nan' (see --help)"},
      {w + " --method magnitude --n-m 4:4" + out, 2,
       "prune_layer: --n-m: 4:4 prunes 4 of every 4 weights: N must be smaller than M (see "
       "--help)"},
      {w + " --hessian " + layer().path("H.npy") + " --method sparsegpt --percdamp -1" + out, 2,
       "prune_layer: --percdamp: must be in [0, 1), got -1 (see --help)"},
      // λ = P · mean(diag H) would outweigh the curvature it damps (or overflow, at 1e308).
      {w + " --hessian " + layer().path("H.npy") + " --method sparsegpt --percdamp 1" + out, 2,
       "prune_layer: --percdamp: must be in [0, 1), got 1 (see --help)"},
      {w + " --hessian " + layer().path("H.npy") + " --method sparsegpt --percdamp 1e308" + out, 2,
       "prune_layer: --percdamp: must be in [0, 1), got 1e308 (see --help)"},
      {w + " --method ria --hessian " + layer().path("H.npy") + " --ria-exponent -1" + out, 2,
       "prune_layer: --ria-exponent: must be >= 0, got -1 (see --help)"},
      // Options that would change nothing are refused, saying why.
      {w + " --method magnitude --percdamp 0.1" + out, 2,
       "prune_layer: --percdamp would change nothing: it damps the Hessian of sparsegpt and "
       "--reconstruct, which --method magnitude without --reconstruct does not use (see --help)"},
      {w + " --method wanda --hessian " + layer().path("H.npy") + " --ria-exponent 1" + out, 2,
       "prune_layer: --ria-exponent would change nothing: it is RIA's exponent, and --method is "
       "wanda (see --help)"},
      {w + " --method wanda --activations " + layer().path("X.npy") + " --sequences 4" + out, 2,
       "prune_layer: --sequences would change nothing: it counts the calibration sequences of "
       "--activations, which set the H = (2/N)·XᵀX of sparsegpt and --reconstruct and DSnoT's "
       "means, and neither is computed from --activations here (see --help)"},
      // M not dividing W's width is found before any work: a command-line mistake too.
      {w + " --method magnitude --n-m 2:3" + out, 2,
       "prune_layer: --n-m 2:3: M = 3 does not divide the "},
      // A missing input is found before any work: a command-line mistake.
      {" --weights " + layer().path("missing.npy") + " --method magnitude" + out, 2,
       "prune_layer: cannot read --weights " + (layer().dir / "missing.npy").string() +
           ": No such file or directory"},
      {" --weights " + layer().path("cut.npy") + " --method magnitude" + out, 1,
       "prune_layer: " + (layer().dir / "cut.npy").string() + ": "},
      {w + " --activations " + layer().path("narrow/X.npy") + " --method wanda" + out, 1,
       "prune_layer: " + (layer().dir / "narrow" / "X.npy").string() + " is 8x32 but "},
      {w + " --hessian " + layer().path("narrow/H.npy") + " --method sparsegpt" + out, 1,
       "prune_layer: " + (layer().dir / "narrow" / "H.npy").string() + " is 32x32 but "},
  };
  for (const auto& c : cases) {
    CAPTURE(c.arguments);
    const auto o = layer().prune(c.arguments);
    CHECK(o.status == c.status);
    CHECK(o.err.rfind(c.message, 0) == 0);
    CHECK(std::count(o.err.begin(), o.err.end(), '\n') == 1);
    CHECK_FALSE(fs::exists(layer().dir / "never.npy"));
    CHECK_FALSE(fs::exists(layer().dir / "never_mask.npy"));
  }
  // No temporaries are left behind either.
  for (const auto& entry : fs::directory_iterator(layer().dir))
    CHECK(entry.path().filename().string().find(".tmp-") == std::string::npos);
}

TEST_CASE("an output that cannot be written fails before any work, and leaves no other output") {
  const std::string common = " --weights " + layer().path("W.npy") + " --activations " +
                             layer().path("X.npy") + " --method wanda --sparsity 0.5";
  // The last output's folder is missing: the error names that output as given, the first
  // output is not written.
  const auto missing = layer().prune(common + " --out " + layer().path("first.npy") +
                                     " --mask-out " + layer().path("no-folder/mask.npy"));
  // A missing or read-only output folder is the user's to correct: exit status 2.
  CHECK(missing.status == 2);
  CHECK(missing.err == "prune_layer: --mask-out: output folder of '" +
                           (layer().dir / "no-folder/mask.npy").string() +
                           "' does not exist (see --help)\n");
  CHECK_FALSE(fs::exists(layer().dir / "first.npy"));
  // The last output's folder is read-only (root writes anywhere: not checked as root).
  if (::geteuid() != 0) {
    fs::create_directories(layer().dir / "locked");
    fs::permissions(layer().dir / "locked", fs::perms::owner_read | fs::perms::owner_exec);
    const auto locked = layer().prune(common + " --out " + layer().path("first.npy") +
                                      " --mask-out " + layer().path("locked/mask.npy"));
    CHECK(locked.status == 2);
    CHECK(locked.err.find("--mask-out: output folder of '" +
                          (layer().dir / "locked/mask.npy").string() + "' is not writable") !=
          std::string::npos);
    CHECK_FALSE(fs::exists(layer().dir / "first.npy"));
    fs::permissions(layer().dir / "locked", fs::perms::owner_all);
  }
  // make_layer_example: H.npy (its last output) cannot be written because a folder has that
  // name; W.npy and X.npy must not appear either.
  fs::create_directories(layer().dir / "example" / "H.npy");
  const auto example = layer().run(POLLARD_MAKE_LAYER_EXAMPLE,
                                   layer().path("example") + " --d-out 4 --d-in 8 --tokens 8");
  CHECK(example.status == 2);
  CHECK(example.err.find("H.npy is a folder: name a file to write") != std::string::npos);
  CHECK_FALSE(fs::exists(layer().dir / "example" / "W.npy"));
  CHECK_FALSE(fs::exists(layer().dir / "example" / "X.npy"));
  // --outliers beyond --d-in is a command-line mistake found before anything is made.
  const auto outliers =
      layer().run(POLLARD_MAKE_LAYER_EXAMPLE, layer().path("outliers") + " --d-in 8 --outliers 9");
  CHECK(outliers.status == 2);
  CHECK(outliers.err.find("--outliers 9 exceeds --d-in 8") != std::string::npos);
  CHECK_FALSE(fs::exists(layer().dir / "outliers"));
  for (const auto& entry : fs::recursive_directory_iterator(layer().dir))
    CHECK(entry.path().filename().string().find(".tmp-") == std::string::npos);
}

TEST_CASE("an output that is a symbolic link is written through: the target is replaced") {
  const std::string common = " --weights " + layer().path("W.npy") + " --activations " +
                             layer().path("X.npy") + " --method wanda --sparsity 0.5";
  fs::create_directories(layer().dir / "targets");
  std::ofstream(layer().dir / "targets" / "pruned.npy") << "old";
  fs::remove(layer().dir / "pruned_link.npy");
  fs::create_symlink("targets/pruned.npy", layer().dir / "pruned_link.npy");
  const auto o = layer().prune(common + " --out " + layer().path("pruned_link.npy"));
  CHECK(o.status == 0);
  CHECK(fs::is_symlink(layer().dir / "pruned_link.npy"));
  // The target holds the pruned weights: W's shape, wanda per row at 0.5 zeroing floor(d_in / 2)
  // of every row.
  const matrix written = load("targets/pruned.npy");
  const matrix w = load("W.npy");
  REQUIRE(written.rows() == w.rows());
  REQUIRE(written.cols() == w.cols());
  for (index_t i = 0; i < w.rows(); ++i) {
    index_t zeros = 0;
    for (index_t j = 0; j < w.cols(); ++j) zeros += written.view()(i, j) == 0.0 ? 1 : 0;
    CHECK(zeros == w.cols() / 2);
  }
}

TEST_CASE("the reconstruction error is n/a, not 0, when the layer's output is zero") {
  // X = 0: ||X W^T|| = 0, so no relative error exists (numpy: 0/0 is nan).
  std::vector<float> zeros(4 * 8, 0.0f), ones(4 * 8, 1.0f);
  pollard::io::write_npy(layer().dir / "zero_x.npy",
                         pollard::matrix_view<const float>(zeros.data(), 4, 8));
  pollard::io::write_npy(layer().dir / "ones_w.npy",
                         pollard::matrix_view<const float>(ones.data(), 4, 8));
  const auto o = layer().prune(" --weights " + layer().path("ones_w.npy") + " --activations " +
                               layer().path("zero_x.npy") + " --method magnitude --out " +
                               layer().path("zero_out.npy"));
  CHECK(o.status == 0);
  CHECK(o.out.find("reconstruction error: n/a (||X W^T|| is 0") != std::string::npos);
  CHECK(o.out.find("reconstruction error: 0") == std::string::npos);
}

TEST_CASE("every tool answers --help with its usage and every default, and --version") {
  for (const char* tool : {POLLARD_PRUNE_LAYER, POLLARD_MAKE_LAYER_EXAMPLE}) {
    CAPTURE(tool);
    const std::string name = fs::path(tool).filename().string();
    const auto help = layer().run(tool, "--help");
    CHECK(help.status == 0);
    CHECK(help.out.rfind("usage: " + name + " ", 0) == 0);
    const auto version = layer().run(tool, "--version");
    CHECK(version.status == 0);
    CHECK(version.out == name + " " + POLLARD_VERSION + "\n");  // the CMake project version
  }
  // The defaults the tools document are the ones they apply (make_layer_example's d_out = 128,
  // prune_layer's sparsity 0.5 and percdamp 0.01).
  CHECK(layer().run(POLLARD_MAKE_LAYER_EXAMPLE, "--help").out.find("--d-out N=128") !=
        std::string::npos);
  const auto help = layer().run(POLLARD_PRUNE_LAYER, "--help").out;
  CHECK(help.find("--sparsity S=0.5") != std::string::npos);
  CHECK(help.find("--percdamp P=0.01") != std::string::npos);
}

TEST_CASE("--dtype f16 refuses a weight beyond float16's range, naming where and what") {
  // A 2x4 layer whose weight (1, 2) is 1e5 (float16's largest value is 65504).
  std::vector<float> w = {0.5f, -0.25f, 1.0f, 2.0f, 0.125f, -3.0f, 1e5f, 0.75f};
  pollard::io::write_npy(layer().dir / "big.npy",
                         pollard::matrix_view<const float>(w.data(), 2, 4));
  const auto o = layer().prune("--weights " + layer().path("big.npy") +
                               " --method magnitude --sparsity 0.25 --dtype f16 --out " +
                               layer().path("big_f16.npy"));
  CHECK(o.status == 1);
  CHECK(o.err.find("(1, 2)") != std::string::npos);
  CHECK(o.err.find("100000") != std::string::npos);
  CHECK(o.err.find("65504") != std::string::npos);
  CHECK(std::count(o.err.begin(), o.err.end(), '\n') == 1);
  CHECK_FALSE(fs::exists(layer().dir / "big_f16.npy"));
  // In float32 it is written as it is.
  CHECK(layer()
            .prune("--weights " + layer().path("big.npy") +
                   " --method magnitude --sparsity 0.25 --out " + layer().path("big_f32.npy"))
            .status == 0);
}

TEST_CASE("the sparsity printed for --dtype f16 counts the weights that float16 stores as zero") {
  // Half the weights are 1e-9, below float16's smallest subnormal (about 6e-8): written as 0.
  // Magnitude pruning at 25 % prunes a quarter of them; the file then holds 50 % zeros.
  std::vector<float> w(8 * 16);
  for (std::size_t k = 0; k < w.size(); ++k) w[k] = k % 2 == 0 ? 1e-9f : 1.0f + float(k) / 64;
  pollard::io::write_npy(layer().dir / "tiny.npy",
                         pollard::matrix_view<const float>(w.data(), 8, 16));
  const auto o = layer().prune("--weights " + layer().path("tiny.npy") +
                               " --method magnitude --sparsity 0.25 --dtype f16 --out " +
                               layer().path("tiny_f16.npy"));
  INFO(o.err);
  REQUIRE(o.status == 0);
  const auto written = load("tiny_f16.npy");
  index_t zeros = 0;
  for (index_t i = 0; i < written.rows(); ++i)
    for (index_t j = 0; j < written.cols(); ++j) zeros += written.view()(i, j) == 0.0 ? 1 : 0;
  CHECK(zeros == 64);
  CHECK(o.out.find("sparsity: 0.500000 (64 of 128 weights zero; mask prunes 64)") !=
        std::string::npos);
}

TEST_CASE("a 1-D weights file is refused with its shape, not read as one row") {
  // numpy's np.save of np.arange(8, dtype='<f4'): a 1-D array of shape (8,).
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (8,), }";
  header.append(128 - 10 - header.size() - 1, ' ');  // 10 + header: a multiple of 64
  header += '\n';
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>(header.size() >> 8);
  bytes += header;
  for (int k = 0; k < 8; ++k) {
    const float v = static_cast<float>(k);
    bytes.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  std::ofstream(layer().dir / "flat.npy", std::ios::binary) << bytes;
  const auto o = layer().prune("--weights " + layer().path("flat.npy") +
                               " --method magnitude --out " + layer().path("flat_out.npy"));
  CHECK(o.status == 1);
  CHECK(o.err.find("--weights") != std::string::npos);
  CHECK(o.err.find("(8,)") != std::string::npos);
  CHECK_FALSE(fs::exists(layer().dir / "flat_out.npy"));
}

TEST_CASE(
    "prune_layer prints the solver's warnings on stderr: dead inputs, raised damping, "
    "more pruned than asked") {
  // W 8x16 and X 64x16 whose channels 5 and 9 are dead (all zero): SparseGPT zeroes their 16
  // weights, as the reference does, while 5 % asks for floor(0.05 * 128) = 6 zeros, so 10 more
  // are pruned than asked, and the mask must say so.
  std::vector<float> w(8 * 16), x(64 * 16);
  for (std::size_t k = 0; k < w.size(); ++k) w[k] = std::sin(0.7f * float(k) + 0.3f) + 0.05f;
  for (std::size_t k = 0; k < x.size(); ++k)
    x[k] = k % 16 == 5 || k % 16 == 9 ? 0.0f : std::cos(1.3f * float(k) * float(k % 7 + 1)) + 0.1f;
  pollard::io::write_npy(layer().dir / "dead_W.npy",
                         pollard::matrix_view<const float>(w.data(), 8, 16));
  pollard::io::write_npy(layer().dir / "dead_X.npy",
                         pollard::matrix_view<const float>(x.data(), 64, 16));
  const auto o =
      layer().prune("--weights " + layer().path("dead_W.npy") + " --activations " +
                    layer().path("dead_X.npy") + " --method sparsegpt --sparsity 0.05 --out " +
                    layer().path("dead_out.npy") + " --mask-out " + layer().path("dead_mask.npy"));
  INFO(o.err);
  REQUIRE(o.status == 0);
  // The solver's warnings without the library's internal names ("sparsegpt: ").
  CHECK(o.err.find("prune_layer: warning: 2 dead input channels") != std::string::npos);
  CHECK(o.err.find("sparsegpt:") == std::string::npos);
  CHECK(o.err.find("prune_layer: warning: pruned 0.125") != std::string::npos);
  CHECK(o.err.find("more than the 0.05") != std::string::npos);
  CHECK(o.out.find("sparsity: 0.125000 (16 of 128 weights zero; mask prunes 16)") !=
        std::string::npos);
  // The mask agrees with the weights: every dead-channel weight is zero and marked pruned.
  const auto out = load("dead_out.npy");
  const auto keep = load_keep("dead_mask.npy");
  for (index_t i = 0; i < 8; ++i)
    for (index_t j = 0; j < 16; ++j) {
      if (j == 5 || j == 9) CHECK(keep.view()(i, j) == 0.0);
      CHECK((out.view()(i, j) == 0.0) == (keep.view()(i, j) == 0.0));
    }

  // Magnitude 2:4 with OBS reconstruction on the same dead channels: the fixed-mask sweep zeroes
  // their weights too, and the mask written must mark them pruned.
  const auto r = layer().prune(
      "--weights " + layer().path("dead_W.npy") + " --activations " + layer().path("dead_X.npy") +
      " --method magnitude --n-m 2:4 --reconstruct --out " + layer().path("dead_rec.npy") +
      " --mask-out " + layer().path("dead_rec_mask.npy"));
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.err.find("prune_layer: warning: 2 dead input channels") != std::string::npos);
  CHECK(r.err.find("obs_reconstruct:") == std::string::npos);
  const auto rec = load("dead_rec.npy");
  const auto rec_keep = load_keep("dead_rec_mask.npy");
  for (index_t i = 0; i < 8; ++i)
    for (index_t j = 0; j < 16; ++j) {
      if (j == 5 || j == 9) CHECK(rec.view()(i, j) == 0.0);
      CHECK((rec.view()(i, j) == 0.0) == (rec_keep.view()(i, j) == 0.0));
    }

  // A Hessian with diagonal 1 and off-diagonal c has the eigenvalue 1 - c (x 15, by hand).
  // c = 1.05: -0.05, no rounding (the tolerance is sqrt(ε_f32) = 3.5e-4): indefinite, refused
  // naming the eigenvalue. c = 1.00002: -2e-5, singular up to rounding: percdamp 1e-6 and 1e-5
  // cannot factor it, 1e-4 can; the retries are reported.
  const auto write_hessian = [&](const std::string& name, float c) {
    std::vector<float> h(16 * 16);
    for (std::size_t a = 0; a < 16; ++a)
      for (std::size_t b = 0; b < 16; ++b) h[a * 16 + b] = a == b ? 1.0f : c;
    pollard::io::write_npy(layer().dir / name, pollard::matrix_view<const float>(h.data(), 16, 16));
  };
  write_hessian("indefinite_H.npy", 1.05f);
  write_hessian("singular_H.npy", 1.00002f);
  const auto refused = layer().prune(
      "--weights " + layer().path("dead_W.npy") + " --hessian " + layer().path("indefinite_H.npy") +
      " --method sparsegpt --n-m 2:4 --out " + layer().path("indefinite.npy"));
  INFO(refused.err);
  CHECK(refused.status != 0);
  CHECK(refused.err.find("Hessian is not positive semidefinite: its smallest eigenvalue is "
                         "-0.05") != std::string::npos);
  CHECK(!fs::exists(layer().dir / "indefinite.npy"));
  const auto d = layer().prune(
      "--weights " + layer().path("dead_W.npy") + " --hessian " + layer().path("singular_H.npy") +
      " --method sparsegpt --n-m 2:4 --percdamp 1e-6 --out " + layer().path("damped.npy"));
  INFO(d.err);
  REQUIRE(d.status == 0);
  CHECK(d.err.find("prune_layer: warning: the Hessian needed percdamp 0.0001 (requested "
                   "1e-06, 2 retries)") != std::string::npos);
  CHECK(d.err.find("sparsegpt:") == std::string::npos);
  // A clean run warns about nothing.
  const auto clean = layer().prune("--weights " + layer().path("W.npy") + " --activations " +
                                   layer().path("X.npy") + " --method sparsegpt --sparsity 0.5 " +
                                   "--out " + layer().path("clean.npy"));
  REQUIRE(clean.status == 0);
  CHECK(clean.err.find("warning") == std::string::npos);
}

TEST_CASE(
    "--dsnot measures E[x_j] per sequence, as the reference's sum_metric_row: "
    "sum_t x_tj / --sequences") {
  const auto w = load("W.npy");
  const auto x = load("X.npy");
  const index_t d_out = w.rows(), d_in = w.cols(), tokens = x.rows(), sequences = 4;
  const std::string common = "--weights " + layer().path("W.npy") + " --activations " +
                             layer().path("X.npy") + " --method wanda --sparsity 0.5";
  REQUIRE(layer()
              .prune(common + " --out " + layer().path("ds_plain.npy") + " --mask-out " +
                     layer().path("ds_plain_mask.npy"))
              .status == 0);
  const auto o =
      layer().prune(common + " --dsnot --sequences " + std::to_string(sequences) + " --out " +
                    layer().path("ds.npy") + " --mask-out " + layer().path("ds_mask.npy"));
  INFO(o.err);
  REQUIRE(o.status == 0);

  // The statistics and Wanda scores with plain loops, then the library's DSnoT step on them.
  std::vector<double> sum(static_cast<std::size_t>(d_in), 0.0), sq(sum), mean_token(sum),
      variance(sum);
  for (index_t t = 0; t < tokens; ++t)
    for (index_t j = 0; j < d_in; ++j) {
      sum[static_cast<std::size_t>(j)] += x.view()(t, j);
      sq[static_cast<std::size_t>(j)] += x.view()(t, j) * x.view()(t, j);
    }
  std::vector<double> per_sequence(sum.size());
  for (std::size_t j = 0; j < sum.size(); ++j) {
    mean_token[j] = sum[j] / double(tokens);
    per_sequence[j] = sum[j] / double(sequences);
    variance[j] = sq[j] / double(tokens) - mean_token[j] * mean_token[j];
  }
  std::vector<double> scores(static_cast<std::size_t>(d_out * d_in));
  for (index_t i = 0; i < d_out; ++i)
    for (index_t j = 0; j < d_in; ++j)
      scores[static_cast<std::size_t>(i * d_in + j)] =
          std::abs(w.view()(i, j)) * std::sqrt(sq[static_cast<std::size_t>(j)] / double(tokens));
  const auto plain = load_keep("ds_plain_mask.npy");
  pollard::mask initial(d_out, d_in);
  for (index_t i = 0; i < d_out; ++i)
    for (index_t j = 0; j < d_in; ++j)
      if (plain.view()(i, j) == 0.0) initial.prune(i, j);
  const pollard::matrix_view<const double> score_view(scores.data(), d_out, d_in);
  const pollard::unstructured policy(0.5);  // the tool's --sparsity 0.5, Wanda's per-row group
  const auto expected =
      pollard::dsnot<double, double>(w.view(), initial, per_sequence, variance, score_view, policy);
  const auto per_token =
      pollard::dsnot<double, double>(w.view(), initial, mean_token, variance, score_view, policy);
  REQUIRE(expected.flags() != per_token.flags());  // the data tells the two normalisations apart
  const auto got = load_keep("ds_mask.npy");
  index_t differing = 0;
  for (index_t i = 0; i < d_out; ++i)
    for (index_t j = 0; j < d_in; ++j)
      differing += (got.view()(i, j) == 0.0) != expected.pruned(i, j) ? 1 : 0;
  CHECK(differing == 0);
}

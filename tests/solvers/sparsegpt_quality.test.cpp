// SparseGPT against one-shot criteria on inputs with outlier channels: the ordering the
// literature reports (SparseGPT < Wanda < magnitude in reconstruction error).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "pollard/solvers/sparsegpt.hpp"
#include "solvers/solver_problems.hpp"
#include "support/naive_solvers.hpp"

using pollard::index_t;
using namespace pollard::test;

namespace {

// Zeroes, per row, the lowest scores: ⌊d_in/2⌋ of them (unstructured) or 2 of every 4 (2:4).
dense_matrix<float> prune_by(const dense_matrix<float>& w, const dense_matrix<double>& score,
                             bool two_four) {
  auto out = w;
  const index_t group = two_four ? 4 : w.cols;
  const index_t count = two_four ? 2 : w.cols / 2;
  for (index_t i = 0; i < w.rows; ++i)
    for (index_t j0 = 0; j0 < w.cols; j0 += group) {
      std::vector<index_t> order(static_cast<std::size_t>(group));
      std::iota(order.begin(), order.end(), j0);
      std::stable_sort(order.begin(), order.end(),
                       [&](index_t a, index_t b) { return score(i, a) < score(i, b); });
      for (index_t t = 0; t < count; ++t) out(i, order[static_cast<std::size_t>(t)]) = 0.0f;
    }
  return out;
}

}  // namespace

TEST_CASE("with outlier input channels, error is ordered SparseGPT < Wanda < magnitude") {
  const index_t d_out = 16, d_in = 64, tokens = 256;
  for (bool two_four : {false, true}) {
    CAPTURE(two_four);
    double e_sparsegpt = 0.0, e_wanda = 0.0, e_magnitude = 0.0;
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
      const auto p = make_layer<float>(d_out, d_in, tokens, seed, {}, {3, 17, 40}, 100.0);
      dense_matrix<double> magnitude(d_out, d_in), wanda(d_out, d_in);
      for (index_t j = 0; j < d_in; ++j) {
        double norm2 = 0.0;
        for (index_t t = 0; t < tokens; ++t)
          norm2 += static_cast<double>(p.x(t, j)) * static_cast<double>(p.x(t, j));
        for (index_t i = 0; i < d_out; ++i) {
          magnitude(i, j) = std::abs(static_cast<double>(p.w(i, j)));
          wanda(i, j) = magnitude(i, j) * std::sqrt(norm2 / static_cast<double>(tokens));
        }
      }
      auto w = p.w;
      if (two_four)
        pollard::sparsegpt<float>(w.view(), p.h.view(), pollard::n_m::pruned_of(2, 4));
      else
        pollard::sparsegpt<float>(w.view(), p.h.view(),
                                  pollard::unstructured(0.5, pollard::per_column_block{}));
      e_sparsegpt += naive::relative_output_error(p.w, w, p.x);
      e_wanda += naive::relative_output_error(p.w, prune_by(p.w, wanda, two_four), p.x);
      e_magnitude += naive::relative_output_error(p.w, prune_by(p.w, magnitude, two_four), p.x);
    }
    MESSAGE("mean relative output error: sparsegpt " << e_sparsegpt / 4 << ", wanda " << e_wanda / 4
                                                     << ", magnitude " << e_magnitude / 4);
    CHECK(e_sparsegpt < e_wanda);
    CHECK(e_wanda < e_magnitude);
  }
}

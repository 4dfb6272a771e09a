// Runs a criterion over seeded random weights of several shapes and layouts against a naive loop.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "pollard/criteria/pruning_criterion.hpp"
#include "support/random.hpp"

namespace pollard::test {

/// d_out x d_in shapes including d_out = 1, odd widths and one wider than a vector register.
inline const std::vector<std::pair<index_t, index_t>> criterion_shapes = {
    {1, 1}, {1, 7}, {5, 3}, {16, 33}, {31, 64}, {3, 129}};

/// Positive per-channel values (activation statistics or an inverse-Hessian diagonal).
inline std::vector<double> positive_channels(index_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(0.05, 4.0);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

/// Checks score(W) of `c` against `naive(W, channels)` for float and double scores, row-major
/// and column-major W, half/bfloat16 W, and a strided score view. NaN in the naive reference
/// must come out as +inf (the criteria's documented replacement).
template <class C, class Naive>
void check_against_naive(const C& c, Naive naive, bool inputs_are_inverse_hessian) {
  std::uint64_t seed = 1000;
  for (auto [rows, cols] : criterion_shapes) {
    CAPTURE(rows);
    CAPTURE(cols);
    auto w = random_normal<double>(rows, cols, seed++);
    const auto channels = positive_channels(cols, seed++);
    std::vector<float> channels_f(channels.begin(), channels.end());
    criterion_inputs<double> in_d;
    criterion_inputs<float> in_f;
    (inputs_are_inverse_hessian ? in_d.inverse_hessian_diagonal : in_d.sq_norm_per_sample) =
        std::span<const double>(channels);
    (inputs_are_inverse_hessian ? in_f.inverse_hessian_diagonal : in_f.sq_norm_per_sample) =
        std::span<const float>(channels_f);

    auto compare = [&](const std::vector<double>& ref, auto scores, double tol) {
      for (index_t i = 0; i < rows; ++i)
        for (index_t j = 0; j < cols; ++j) {
          const double r = ref[static_cast<std::size_t>(i * cols + j)];
          const double s = static_cast<double>(scores(i, j));
          if (std::isnan(r)) {
            CHECK(s == INFINITY);
          } else {
            CHECK(s == doctest::Approx(r).epsilon(tol));
          }
        }
    };

    // double W, double scores (row-major) and float scores into a strided view.
    const matrix_view<const double> wv = w.view();
    const auto ref = naive(wv, channels);
    dense_matrix<double> sd(rows, cols);
    c.score(wv, in_d, sd.view());
    compare(ref, sd.view(), 1e-13);
    std::vector<float> wide(static_cast<std::size_t>(rows * cols * 2));
    matrix_view<float> strided(wide.data() + 1, rows, cols, 2 * cols, 2);
    c.score(wv, in_f, strided);
    compare(ref, strided, 2e-6);

    // Column-major float W.
    std::vector<float> cm(static_cast<std::size_t>(rows * cols));
    for (index_t i = 0; i < rows; ++i)
      for (index_t j = 0; j < cols; ++j)
        cm[static_cast<std::size_t>(j * rows + i)] = static_cast<float>(w(i, j));
    const matrix_view<const float> wc(cm.data(), rows, cols, 1, rows);
    dense_matrix<float> sf(rows, cols);
    c.score(wc, in_f, sf.view());
    compare(naive(wc, channels), sf.view(), 2e-6);

    // half and bfloat16 W: scored on their float values.
    dense_matrix<half> wh(rows, cols);
    dense_matrix<bfloat16> wb(rows, cols);
    for (std::size_t k = 0; k < w.values.size(); ++k) {
      wh.values[k] = half(static_cast<float>(w.values[k]));
      wb.values[k] = bfloat16(static_cast<float>(w.values[k]));
    }
    c.score(matrix_view<const half>(wh.view()), in_f, sf.view());
    compare(naive(matrix_view<const half>(wh.view()), channels), sf.view(), 2e-6);
    c.score(wb.view(), in_f, sf.view());
    compare(naive(matrix_view<const bfloat16>(wb.view()), channels), sf.view(), 2e-6);
  }
}

}  // namespace pollard::test

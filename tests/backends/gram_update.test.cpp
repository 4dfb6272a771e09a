// The CPU backend's Gram update H_lower += alpha·XᵀX against a naive double sum: every lower
// element, nothing above the diagonal touched, for row-major and column-major H with padded
// strides, widths that cut the 6 x 16 register tiles anywhere, token counts around the packed
// block of 256, and bit-identical at 1, 2, 3 and 5 threads; widths past 4·gram_tile take the
// wider tiles.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "pollard/backends/cpu/gram_update.hpp"
#include "support/naive_stats.hpp"
#include "support/random.hpp"

using pollard::index_t;
using pollard::matrix_view;
namespace cpu = pollard::cpu;

namespace {

constexpr float sentinel = -12345.0f;

struct stored_h {
  std::vector<float> values;
  matrix_view<float> view;
};

// A d x d H, row- or column-major, with 3 padding elements per row (or column), holding `start`
// in its lower triangle and the sentinel elsewhere.
stored_h make_h(index_t d, bool row_major, float start) {
  const index_t ld = d + 3;
  stored_h h{std::vector<float>(static_cast<std::size_t>(ld * d), sentinel), {}};
  h.view = row_major ? matrix_view<float>(h.values.data(), d, d, ld, 1)
                     : matrix_view<float>(h.values.data(), d, d, 1, ld);
  for (index_t i = 0; i < d; ++i)
    for (index_t j = 0; j <= i; ++j) h.view(i, j) = start;
  return h;
}

}  // namespace

TEST_CASE("gram_update adds alpha·XᵀX to the lower triangle only, for any tiling of d") {
  std::uint64_t seed = 500;
  for (const index_t d : {1, 5, 6, 7, 16, 17, 23, 37, 96, 130}) {
    for (const index_t tokens : {1, 3, 255, 256, 257, 600}) {
      CAPTURE(d);
      CAPTURE(tokens);
      // X is a block of a wider row-major matrix (row stride d + 5).
      const auto wide = pollard::test::random_normal<float>(tokens, d + 5, seed++);
      const matrix_view<const float> x = wide.view().block(0, 2, tokens, d);
      const float alpha = 0.375f, start = 0.5f;
      const auto ref = pollard::test::naive_gram(x, 2.0);  // XᵀX
      for (const bool row_major : {true, false}) {
        CAPTURE(row_major);
        std::vector<float> first;
        for (const int threads : {1, 2, 3, 5}) {
          CAPTURE(threads);
          auto h = make_h(d, row_major, start);
          cpu::gram_update(cpu::par.threads(threads), h.view, x, alpha);
          double worst = 0.0, scale = 0.0;
          bool upper_untouched = true;
          for (index_t i = 0; i < d; ++i)
            for (index_t j = 0; j < d; ++j) {
              if (j > i) {
                upper_untouched = upper_untouched && h.view(i, j) == sentinel;
                continue;
              }
              const double expected = start + alpha * ref[static_cast<std::size_t>(i * d + j)];
              worst = std::max(worst, std::abs(static_cast<double>(h.view(i, j)) - expected));
              scale = std::max(scale, std::abs(expected));
            }
          CHECK(upper_untouched);
          CHECK(std::count(h.values.begin(), h.values.end(), sentinel) ==
                d * (d - 1) / 2 + 3 * d);  // the strict upper triangle and the padding
          CHECK(worst <= 1e-5 * scale);
          if (first.empty())
            first = h.values;
          else
            CHECK(h.values == first);
        }
      }
    }
  }
}

TEST_CASE("gram_update on the wider tiles above d = 4·gram_tile equals the naive sum") {
  // 600: four tiles of 160; 1300: four tiles of 336 (gram_wide_tile), each diagonal one cut into
  // two panels of 176 (gram_diagonal_block).
  for (const index_t d : {600, 1300}) {
    CAPTURE(d);
    const index_t tokens = 64;
    const auto x =
        pollard::test::random_normal<float>(tokens, d, 600 + static_cast<std::uint64_t>(d));
    const auto ref = pollard::test::naive_gram(x.view(), 2.0);
    std::vector<float> first;
    for (const int threads : {1, 2, 3}) {
      CAPTURE(threads);
      auto h = make_h(d, true, 0.0f);
      cpu::gram_update(cpu::par.threads(threads), h.view, matrix_view<const float>(x.view()), 1.0f);
      double worst = 0.0, scale = 0.0;
      for (index_t i = 0; i < d; ++i)
        for (index_t j = 0; j <= i; ++j) {
          const double expected = ref[static_cast<std::size_t>(i * d + j)];
          worst = std::max(worst, std::abs(static_cast<double>(h.view(i, j)) - expected));
          scale = std::max(scale, std::abs(expected));
        }
      CHECK(worst <= 1e-5 * scale);
      CHECK(h.view(0, d - 1) == sentinel);
      if (first.empty())
        first = h.values;
      else
        CHECK(h.values == first);
    }
  }
}

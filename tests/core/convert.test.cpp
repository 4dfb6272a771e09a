#include "pollard/core/convert.hpp"
#include "pollard/adapters/eigen.hpp"

#include <doctest/doctest.h>

#include <Eigen/Core>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "support/random.hpp"

using pollard::bfloat16;
using pollard::half;
using pollard::index_t;
using pollard::matrix_view;

namespace {

// Independent reference: the finite 16-bit value nearest to x, by brute force over all 65536
// bit patterns (ties go to the even pattern).
template <class H>
float nearest_representable(float x) {
  float best = 0.0f;
  double best_error = std::numeric_limits<double>::infinity();
  std::uint16_t best_bits = 0;
  for (std::uint32_t bits = 0; bits < 65536u; ++bits) {
    const float candidate = static_cast<float>(H::from_bits(static_cast<std::uint16_t>(bits)));
    if (!std::isfinite(candidate)) continue;
    const double error = std::abs(static_cast<double>(candidate) - static_cast<double>(x));
    const bool tie = error == best_error;
    if (error < best_error || (tie && (bits & 1u) == 0 && (best_bits & 1u) != 0)) {
      best = candidate;
      best_error = error;
      best_bits = static_cast<std::uint16_t>(bits);
    }
  }
  return best;
}

}  // namespace

TEST_CASE("copy float -> half -> float rounds each element to the nearest binary16") {
  for (auto [rows, cols] : {std::pair<index_t, index_t>{3, 5}, {1, 7}, {4, 1}}) {
    auto w = pollard::test::random_normal<float>(rows, cols, 11u + static_cast<unsigned>(rows));
    std::vector<half> stored(static_cast<std::size_t>(rows * cols));
    pollard::copy(w.view(), matrix_view<half>(stored.data(), rows, cols));
    std::vector<float> back(stored.size());
    pollard::copy(matrix_view<const half>(stored.data(), rows, cols),
                  matrix_view<float>(back.data(), rows, cols));
    for (index_t i = 0; i < rows; ++i)
      for (index_t j = 0; j < cols; ++j)
        CHECK(back[static_cast<std::size_t>(i * cols + j)] == nearest_representable<half>(w(i, j)));
  }
}

TEST_CASE("copy double -> bfloat16 -> double keeps 8 significant bits (relative error <= 2^-8)") {
  auto w = pollard::test::random_normal<double>(5, 6, 7u);
  std::vector<bfloat16> stored(30);
  pollard::copy(w.view(), matrix_view<bfloat16>(stored.data(), 5, 6));
  pollard::test::dense_matrix<double> back(5, 6);
  pollard::copy(matrix_view<const bfloat16>(stored.data(), 5, 6), back.view());
  for (index_t i = 0; i < 5; ++i)
    for (index_t j = 0; j < 6; ++j) {
      CHECK(std::abs(back(i, j) - w(i, j)) <= std::ldexp(std::abs(w(i, j)), -8));
      CHECK(static_cast<float>(back(i, j)) ==
            nearest_representable<bfloat16>(static_cast<float>(w(i, j))));
    }
}

TEST_CASE("values exactly representable in the 16-bit types survive a round trip unchanged") {
  // Small integers and powers of two are exact in binary16 and bfloat16.
  std::vector<float> exact = {0.0f, 1.0f, -2.0f, 0.5f, 3.0f, -0.25f, 64.0f, 7.0f};
  std::vector<half> h(exact.size());
  std::vector<bfloat16> b(exact.size());
  std::vector<double> d(exact.size());
  matrix_view<const float> src(exact.data(), 2, 4);
  pollard::copy(src, matrix_view<half>(h.data(), 2, 4));
  pollard::copy(matrix_view<const half>(h.data(), 2, 4), matrix_view<bfloat16>(b.data(), 2, 4));
  pollard::copy(matrix_view<const bfloat16>(b.data(), 2, 4), matrix_view<double>(d.data(), 2, 4));
  for (std::size_t k = 0; k < exact.size(); ++k) CHECK(d[k] == static_cast<double>(exact[k]));
}

TEST_CASE("copy converts between strided views (column-major source into a row-major block)") {
  std::vector<double> src(12);
  for (std::size_t k = 0; k < src.size(); ++k) src[k] = static_cast<double>(k) + 0.5;
  matrix_view<double> col_major(src.data(), 3, 4, 1, 3);
  std::vector<float> dst(30, -1.0f);
  matrix_view<float> padded(dst.data(), 3, 4, 10, 2);  // every other column of a 3 x 10 buffer
  pollard::copy(col_major, padded);
  for (index_t i = 0; i < 3; ++i)
    for (index_t j = 0; j < 4; ++j)
      CHECK(dst[static_cast<std::size_t>(10 * i + 2 * j)] ==
            static_cast<float>(src[static_cast<std::size_t>(i + 3 * j)]));
  CHECK(dst[1] == -1.0f);  // the gaps are untouched
}

TEST_CASE("copy rejects views of different shapes") {
  std::vector<float> a(6), b(6);
  CHECK_THROWS_WITH_AS(
      pollard::copy(matrix_view<float>(a.data(), 2, 3), matrix_view<float>(b.data(), 3, 2)),
      "copy: source (2x3) and destination (3x2) differ in shape", pollard::shape_error);
}

TEST_CASE("to_dense converts a strided half view to a dense row-major float matrix") {
  auto w = pollard::test::random_normal<float>(4, 7, 3u);
  std::vector<half> stored(28);
  for (std::size_t k = 0; k < stored.size(); ++k) stored[k] = half(w.values[k]);
  matrix_view<const half> all(stored.data(), 4, 7);
  auto block = all.block(1, 2, 3, 4);
  auto dense = pollard::to_dense<float>(block);
  static_assert(
      std::is_same_v<decltype(dense),
                     Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>);
  REQUIRE(dense.rows() == 3);
  REQUIRE(dense.cols() == 4);
  for (index_t i = 0; i < 3; ++i)
    for (index_t j = 0; j < 4; ++j)
      CHECK(dense(i, j) == nearest_representable<half>(w(i + 1, j + 2)));
  auto as_double = pollard::to_dense<double>(block);
  CHECK(as_double(2, 3) == static_cast<double>(dense(2, 3)));
}

// The owning row-major matrix: layout, views and value semantics, checked by hand.
#include <doctest/doctest.h>

#include <type_traits>
#include <utility>
#include <vector>

#include "pollard/core/matrix.hpp"
#include "pollard/core/view.hpp"

TEST_CASE("matrix is row-major, zero-initialised, and its view sees the same elements") {
  pollard::matrix<float> m(2, 3);
  CHECK(m.rows() == 2);
  CHECK(m.cols() == 3);
  CHECK(m.size() == 6);
  for (float v : m.values()) CHECK(v == 0.0f);
  m(1, 2) = 5.0f;
  CHECK(m.data()[1 * 3 + 2] == 5.0f);  // row-major: (i, j) at i * cols + j
  auto v = m.view();
  static_assert(std::is_same_v<decltype(v), pollard::matrix_view<float>>);
  CHECK(v.is_row_major_contiguous());
  v(0, 1) = 7.0f;
  CHECK(m(0, 1) == 7.0f);
  const auto& c = m;
  static_assert(std::is_same_v<decltype(c.view()), pollard::matrix_view<const float>>);
  static_assert(std::is_same_v<decltype(pollard::view(c)), pollard::matrix_view<const float>>);
  CHECK(pollard::view(m).data() == m.data());
}

TEST_CASE("matrix takes a row-major buffer of the right size and refuses any other") {
  const pollard::matrix<double> m(2, 2, std::vector<double>{1, 2, 3, 4});
  CHECK(m(1, 0) == 3.0);
  CHECK_THROWS_WITH_AS(pollard::matrix<double>(2, 2, std::vector<double>{1, 2, 3}),
                       "matrix: 3 values cannot fill 2x2", pollard::shape_error);
  CHECK_THROWS_AS(pollard::matrix<float>(-1, 2), pollard::shape_error);
  auto copy = m;
  CHECK(copy == m);
  copy(0, 0) = 9.0;
  CHECK(copy != m);
  pollard::matrix<double> empty;
  CHECK(empty.empty());
  CHECK(empty.view().rows() == 0);
}

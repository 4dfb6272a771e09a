#include "pollard/adapters/raw.hpp"

// raw.hpp is a light header: it must not pull in Eigen.
#if defined(EIGEN_CORE_H)
#error "pollard/adapters/raw.hpp includes Eigen"
#endif

#include <doctest/doctest.h>

#include <type_traits>
#include <vector>

#include "pollard/core/error.hpp"

using pollard::index_t;

TEST_CASE("make_view(ptr, rows, cols) is row-major: element (i, j) is ptr[i*cols + j]") {
  for (auto [rows, cols] : {std::pair<index_t, index_t>{3, 5}, {1, 7}, {7, 1}, {4, 4}}) {
    std::vector<float> a(static_cast<std::size_t>(rows * cols));
    for (std::size_t k = 0; k < a.size(); ++k) a[k] = static_cast<float>(k);
    auto v = pollard::make_view(a.data(), rows, cols);
    static_assert(std::is_same_v<decltype(v), pollard::matrix_view<float>>);
    REQUIRE(v.rows() == rows);
    REQUIRE(v.cols() == cols);
    for (index_t i = 0; i < rows; ++i)
      for (index_t j = 0; j < cols; ++j)
        CHECK(v(i, j) == a[static_cast<std::size_t>(i * cols + j)]);
  }
}

TEST_CASE("make_view with strides addresses ptr[i*row_stride + j*col_stride]") {
  std::vector<double> a(60);
  for (std::size_t k = 0; k < a.size(); ++k) a[k] = static_cast<double>(k);
  // Column-major 4 x 5, a strided 3 x 4 sub-grid, and a broadcast row (row stride 0).
  struct layout {
    index_t rows, cols, rs, cs;
  };
  for (auto l : {layout{4, 5, 1, 4}, layout{3, 4, 12, 2}, layout{3, 6, 0, 1}}) {
    auto v = pollard::make_view(a.data(), l.rows, l.cols, l.rs, l.cs);
    for (index_t i = 0; i < l.rows; ++i)
      for (index_t j = 0; j < l.cols; ++j)
        CHECK(v(i, j) == a[static_cast<std::size_t>(i * l.rs + j * l.cs)]);
  }
}

TEST_CASE("make_view keeps const and the memory space in the view type") {
  const float c[2] = {1.0f, 2.0f};
  auto v = pollard::make_view(c, 1, 2);
  static_assert(std::is_same_v<decltype(v), pollard::matrix_view<const float>>);
  CHECK(v(0, 1) == 2.0f);
  float d[4] = {};
  auto dv = pollard::make_view<pollard::device_space>(d, 2, 2);
  static_assert(std::is_same_v<decltype(dv), pollard::device_view<float>>);
  CHECK(dv.data() == d);
}

TEST_CASE("make_view rejects negative extents and strides and a null pointer with data") {
  float a[4] = {};
  CHECK_THROWS_WITH_AS(pollard::make_view(a, -1, 2), "make_view: negative extent -1x2",
                       pollard::shape_error);
  CHECK_THROWS_WITH_AS(pollard::make_view(a, 2, -3), "make_view: negative extent 2x-3",
                       pollard::shape_error);
  CHECK_THROWS_WITH_AS(pollard::make_view(a, 2, 2, 2, -1),
                       "make_view: negative stride (row stride 2, col stride -1)",
                       pollard::shape_error);
  CHECK_THROWS_WITH_AS(pollard::make_view(a, 2, 2, -2, 1),
                       "make_view: negative stride (row stride -2, col stride 1)",
                       pollard::shape_error);
  float* null = nullptr;
  CHECK_THROWS_WITH_AS(pollard::make_view(null, 3, 4),
                       "make_view: null pointer for a non-empty 3x4 view", pollard::shape_error);
}

TEST_CASE("make_view accepts a null pointer for an empty view") {
  float* null = nullptr;
  auto v = pollard::make_view(null, 0, 4);
  CHECK(v.empty());
  CHECK(pollard::make_view(null, 3, 0).empty());
}

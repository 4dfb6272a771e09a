#include <doctest/doctest.h>

#include <type_traits>

#include "pollard/core/matrix_view.hpp"

TEST_CASE("matrix_view addresses elements through its strides") {
  float a[12];
  for (int k = 0; k < 12; ++k) a[k] = static_cast<float>(k);
  pollard::matrix_view<float> row_major(a, 3, 4);
  CHECK(row_major(2, 1) == 9.0f);
  CHECK(row_major.is_row_major_contiguous());
  pollard::matrix_view<float> col_major(a, 3, 4, 1, 3);
  CHECK(col_major(2, 1) == 5.0f);
  CHECK(col_major.is_col_major_contiguous());
  auto t = row_major.transposed();
  CHECK(t.rows() == 4);
  CHECK(t(1, 2) == 9.0f);
  auto b = row_major.block(1, 1, 2, 2);
  CHECK(b(0, 0) == 5.0f);
  CHECK(b(1, 1) == 10.0f);
  pollard::matrix_view<const float> c = row_major;
  CHECK(c(0, 3) == 3.0f);
}

static_assert(std::is_same_v<pollard::matrix_view<float>::memory_space, pollard::host_space>);
static_assert(
    std::is_convertible_v<pollard::matrix_view<float>, pollard::matrix_view<const float>>);
static_assert(
    !std::is_convertible_v<pollard::matrix_view<const float>, pollard::matrix_view<float>>);
static_assert(!std::is_convertible_v<pollard::device_view<float>, pollard::host_view<float>>);

// The CPU backend's parallel finiteness check against the serial one (core/checks.hpp): the same
// error text, naming the first NaN or infinity in row-major order, at 1, 2 and 3 threads, for
// row-major, column-major and strided views, float, double and bfloat16, with bad elements in
// different pieces of finite_check_rows rows (the first in row-major order is not always in the
// first piece of a column-major view).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pollard/backends/cpu/require_finite.hpp"
#include "pollard/core/checks.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"

using pollard::index_t;
using pollard::matrix_view;
namespace cpu = pollard::cpu;

namespace {

template <class F>
std::optional<std::string> message_of(F&& check) {
  try {
    check();
  } catch (const pollard::non_finite_error& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

template <class T>
void check_layouts(const std::vector<std::pair<index_t, index_t>>& bad, T bad_value,
                   T fill = T(1.5f)) {
  const index_t rows = 3 * cpu::finite_check_rows + 17, cols = 45, ld = 50;
  for (const int layout : {0, 1, 2}) {  // row-major, column-major, both strides > 1
    CAPTURE(layout);
    std::vector<T> storage(static_cast<std::size_t>(2 * ld * std::max(rows, cols)), fill);
    const matrix_view<T> x = layout == 0 ? matrix_view<T>(storage.data(), rows, cols, ld, 1)
                             : layout == 1
                                 ? matrix_view<T>(storage.data(), rows, cols, 1, ld + rows)
                                 : matrix_view<T>(storage.data(), rows, cols, 2 * ld, 2);
    for (const auto& [i, j] : bad) x(i, j) = bad_value;
    const matrix_view<const T> cx = x;
    const auto expected = message_of([&] { pollard::require_finite(cx, "probe", "x"); });
    REQUIRE(expected.has_value() == !bad.empty());
    for (const int threads : {1, 2, 3}) {
      CAPTURE(threads);
      CHECK(message_of([&] { cpu::require_finite(cpu::par.threads(threads), cx, "probe", "x"); }) ==
            expected);
    }
  }
}

}  // namespace

TEST_CASE("cpu::require_finite names the same first non-finite element as the serial check") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const index_t last_row = 3 * cpu::finite_check_rows + 16;
  const std::vector<std::vector<std::pair<index_t, index_t>>> cases = {
      {},                              // all finite: no throw
      {{0, 0}},                        // first element
      {{last_row, 44}},                // last element, last (short) piece
      {{cpu::finite_check_rows, 3}},   // first row of the second piece
      {{200, 40}, {300, 1}, {5, 44}},  // several, in different pieces; (5, 44) comes first
      {{2 * cpu::finite_check_rows + 1, 0}, {cpu::finite_check_rows + 9, 44}},
  };
  for (std::size_t c = 0; c < cases.size(); ++c) {
    CAPTURE(c);
    check_layouts<float>(cases[c], nan);
    check_layouts<float>(cases[c], -inf);
    check_layouts<double>(cases[c], std::numeric_limits<double>::infinity());
    check_layouts<pollard::bfloat16>(cases[c], pollard::bfloat16(nan));
    // Negative finite values beside +inf and NaN (the sign bit is not part of the magnitude).
    check_layouts<pollard::bfloat16>(cases[c], pollard::bfloat16(inf), pollard::bfloat16(-2.5f));
    check_layouts<pollard::half>(cases[c], pollard::half(nan), pollard::half(-3.0f));
    check_layouts<float>(cases[c], inf, -7.0f);
    check_layouts<double>(cases[c], static_cast<double>(nan), -1e300);
  }
  // The message names the element and its value.
  std::vector<float> v(static_cast<std::size_t>(300 * 4), 0.0f);
  v[static_cast<std::size_t>(257 * 4 + 2)] = inf;
  const matrix_view<const float> x(v.data(), 300, 4);
  CHECK_THROWS_WITH_AS(cpu::require_finite(cpu::par.threads(2), x, "probe", "x"),
                       doctest::Contains("(257, 2)"), pollard::non_finite_error);
}

TEST_CASE("cpu::largest_finite_magnitude is the largest |x| at any thread count") {
  std::vector<pollard::bfloat16> b(static_cast<std::size_t>(300 * 7), pollard::bfloat16(0.25f));
  b[5] = pollard::bfloat16(-6.0f);
  b[1000] = pollard::bfloat16(4.0f);
  std::vector<pollard::half> h(static_cast<std::size_t>(300 * 7), pollard::half(-0.5f));
  h[2000] = pollard::half(-9.0f);
  std::vector<double> d(static_cast<std::size_t>(300 * 7), -1e-3);
  d[17] = -2e300;
  d[65] = 3e300;  // (3, 1) of the strided view below
  for (const int threads : {1, 2, 3}) {
    CAPTURE(threads);
    const auto p = cpu::par.threads(threads);
    CHECK(cpu::largest_finite_magnitude(p, matrix_view<const pollard::bfloat16>(b.data(), 300, 7),
                                        "p", "x") == 6.0);
    CHECK(cpu::largest_finite_magnitude(p, matrix_view<const pollard::half>(h.data(), 300, 7), "p",
                                        "x") == 9.0);
    CHECK(cpu::largest_finite_magnitude(p, matrix_view<const double>(d.data(), 300, 7), "p", "x") ==
          3e300);
    // Strided in both directions: the serial path.
    CHECK(cpu::largest_finite_magnitude(p, matrix_view<const double>(d.data(), 100, 3, 21, 2), "p",
                                        "x") == 3e300);
  }
}

TEST_CASE("cpu::require_finite accepts empty views") {
  std::vector<float> v(4, 1.0f);
  CHECK_NOTHROW(cpu::require_finite(cpu::par, matrix_view<const float>(v.data(), 0, 4), "p", "x"));
  CHECK_NOTHROW(cpu::require_finite(cpu::par, matrix_view<const float>(v.data(), 4, 0), "p", "x"));
}

#include "pollard/core/view.hpp"

// view.hpp is a light header: it must not pull in Eigen or DLPack.
#if defined(EIGEN_CORE_H) || defined(DLPACK_DLPACK_H_)
#error "pollard/core/view.hpp includes a heavy dependency"
#endif

#include <doctest/doctest.h>

#include <string>
#include <type_traits>
#include <vector>

#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"

namespace user {

// A tensor type the user owns, adapted with a free function found by ADL. Column-major storage,
// so a view that ignored the hook's strides would read the wrong elements.
struct column_major_tensor {
  pollard::index_t rows = 0, cols = 0;
  std::vector<double> values;
  double& at(pollard::index_t i, pollard::index_t j) {
    return values[static_cast<std::size_t>(j * rows + i)];
  }
};

pollard::matrix_view<double> pollard_view(column_major_tensor& t) {
  return {t.values.data(), t.rows, t.cols, 1, t.rows};
}
pollard::matrix_view<const double> pollard_view(const column_major_tensor& t) {
  return {t.values.data(), t.rows, t.cols, 1, t.rows};
}

// A tensor type "from a third-party library" the user cannot edit: adapted by view_traits.
struct foreign_tensor {
  float* buffer;
  long height, width, pitch;  // pitch: floats between consecutive rows
};

// A runtime-typed tensor adapted by ADL with a view_tag; the dtype is checked at run time.
struct tagged_buffer {
  void* data;
  pollard::index_t rows, cols;
  bool is_double;
};

template <class T>
pollard::matrix_view<T> pollard_view(tagged_buffer& b, pollard::view_tag<T>) {
  if (b.is_double != std::is_same_v<std::remove_const_t<T>, double>)
    throw pollard::adapter_error("tagged_buffer: element type mismatch");
  return {static_cast<T*>(b.data), b.rows, b.cols};
}

// Has an ADL hook and a view_traits specialisation: the specialisation must win.
struct both_hooks {
  float a[4];
};
pollard::matrix_view<float> pollard_view(both_hooks& b) { return {b.a, 2, 2}; }

// A free function named view next to the type: an unqualified view(x) in pollard must not pick it.
struct decoy {
  float a[2];
};
inline int view(decoy&) { return 0; }
pollard::matrix_view<float> pollard_view(decoy& d) { return {d.a, 1, 2}; }

}  // namespace user

namespace pollard::detail_test {
// Generic pollard code calls view(x) unqualified; being an object, pollard::view suppresses ADL.
template <class X>
auto generic_view(X& x) {
  return view(x);
}
}  // namespace pollard::detail_test

template <>
struct pollard::view_traits<user::foreign_tensor> {
  static pollard::matrix_view<float> make(const user::foreign_tensor& t) {
    return {t.buffer, t.height, t.width, t.pitch, 1};
  }
};

// foreign_tensor is a handle onto memory owned elsewhere, so its temporaries may be viewed.
template <>
inline constexpr bool pollard::enable_borrowed_view<user::foreign_tensor> = true;

template <>
struct pollard::view_traits<user::both_hooks> {
  static pollard::matrix_view<float> make(user::both_hooks& b) { return {b.a, 2, 2, 1, 2}; }
};

namespace {

using pollard::index_t;
using pollard::matrix_view;

// Compile-only: what is viewable and what is not.
static_assert(pollard::viewable<matrix_view<float>>);
static_assert(pollard::viewable<const matrix_view<const double>>);
static_assert(pollard::viewable<pollard::device_view<float>>);
static_assert(pollard::viewable<user::column_major_tensor>);
static_assert(pollard::viewable<const user::column_major_tensor>);
static_assert(pollard::viewable<user::foreign_tensor>);
static_assert(!pollard::viewable<int>);
static_assert(!pollard::viewable<std::vector<float>>);
static_assert(!pollard::viewable<float*>);
static_assert(!pollard::viewable<user::tagged_buffer>);  // runtime-typed: only viewable_as
static_assert(pollard::viewable_as<user::tagged_buffer, float>);
static_assert(pollard::viewable_as<user::tagged_buffer, const double>);
static_assert(!pollard::viewable_as<int, float>);
static_assert(!pollard::viewable_as<std::vector<float>, float>);

// Statically typed tensors convert only where matrix_view converts (adding const).
static_assert(pollard::viewable_as<user::column_major_tensor, const double>);
static_assert(!pollard::viewable_as<user::column_major_tensor, float>);
static_assert(!pollard::viewable_as<const user::column_major_tensor, double>);
static_assert(!pollard::viewable_as<pollard::device_view<float>, float>);
static_assert(
    pollard::viewable_as<pollard::device_view<float>, const float, pollard::device_space>);

// Constness follows the hook; a const owner gives const elements.
static_assert(std::is_same_v<pollard::view_t<user::column_major_tensor>, matrix_view<double>>);
static_assert(
    std::is_same_v<pollard::view_t<const user::column_major_tensor>, matrix_view<const double>>);
static_assert(std::is_same_v<pollard::view_t<const matrix_view<float>>, matrix_view<float>>);

// Rvalues: only of types that do not own their elements.
static_assert(std::is_invocable_v<decltype(pollard::view), matrix_view<float>>);
static_assert(!std::is_invocable_v<decltype(pollard::view), user::column_major_tensor>);
static_assert(std::is_invocable_v<decltype(pollard::view), user::column_major_tensor&>);
static_assert(!std::is_invocable_v<decltype(pollard::view), int&>);
static_assert(std::is_invocable_v<decltype(pollard::view), user::foreign_tensor>);  // opted in

// The entry point is an object, so a same-named function elsewhere cannot be picked by ADL.
static_assert(std::is_object_v<std::remove_cvref_t<decltype(pollard::view)>>);

}  // namespace

TEST_CASE("a user type adapted by an ADL pollard_view hook views the same elements") {
  user::column_major_tensor t{3, 5, std::vector<double>(15)};
  for (index_t i = 0; i < 3; ++i)
    for (index_t j = 0; j < 5; ++j) t.at(i, j) = static_cast<double>(10 * i + j);
  auto v = pollard::view(t);
  static_assert(std::is_same_v<decltype(v), matrix_view<double>>);
  REQUIRE(v.rows() == 3);
  REQUIRE(v.cols() == 5);
  for (index_t i = 0; i < 3; ++i)
    for (index_t j = 0; j < 5; ++j) CHECK(v(i, j) == static_cast<double>(10 * i + j));
  v(2, 4) = -1.0;
  CHECK(t.at(2, 4) == -1.0);

  const auto& ct = t;
  auto cv = pollard::view(ct);
  static_assert(std::is_same_v<decltype(cv), matrix_view<const double>>);
  CHECK(cv(1, 3) == 13.0);
}

TEST_CASE("a third-party type adapted by a view_traits specialisation honours its row pitch") {
  // 3 x 4 matrix stored with a pitch of 6 floats (2 padding floats per row).
  std::vector<float> buffer(18, -99.0f);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) buffer[static_cast<std::size_t>(6 * i + j)] = float(i * 4 + j);
  user::foreign_tensor t{buffer.data(), 3, 4, 6};
  auto v = pollard::view(t);
  REQUIRE(v.rows() == 3);
  REQUIRE(v.cols() == 4);
  for (index_t i = 0; i < 3; ++i)
    for (index_t j = 0; j < 4; ++j) CHECK(v(i, j) == static_cast<float>(i * 4 + j));
}

TEST_CASE("a view_traits specialisation takes precedence over an ADL hook") {
  user::both_hooks b{{0.0f, 1.0f, 2.0f, 3.0f}};
  auto v = pollard::view(b);
  // The specialisation reads column-major, the ADL hook row-major: (0, 1) tells them apart.
  CHECK(v(0, 1) == 2.0f);
  CHECK(v(1, 0) == 1.0f);
}

TEST_CASE("pollard::view of a matrix_view is the same view, device views included") {
  float a[6] = {1, 2, 3, 4, 5, 6};
  matrix_view<float> m(a, 2, 3);
  auto v = pollard::view(m);
  CHECK(v.data() == m.data());
  CHECK(v.rows() == 2);
  CHECK(v.cols() == 3);
  CHECK(v.row_stride() == 3);
  CHECK(v.col_stride() == 1);
  auto b = pollard::view(m.block(1, 1, 1, 2));  // an rvalue view is fine: it owns nothing
  CHECK(b(0, 1) == 6.0f);

  pollard::device_view<float> d(a, 2, 3, 1, 2);
  auto dv = pollard::view(d);
  static_assert(std::is_same_v<decltype(dv), pollard::device_view<float>>);
  CHECK(dv.col_stride() == 2);
}

TEST_CASE("view_as checks a runtime-typed tensor through its tagged hook") {
  double values[6] = {1, 2, 3, 4, 5, 6};
  user::tagged_buffer b{values, 2, 3, true};
  auto v = pollard::view_as<double>(b);
  CHECK(v(1, 2) == 6.0);
  auto c = pollard::view_as<const double>(b);
  CHECK(c(0, 1) == 2.0);
  CHECK_THROWS_WITH_AS(pollard::view_as<float>(b), "tagged_buffer: element type mismatch",
                       pollard::adapter_error);
}

TEST_CASE("view_as adds const to the view of a statically typed tensor") {
  user::column_major_tensor t{2, 2, {1.0, 2.0, 3.0, 4.0}};
  matrix_view<const double> v = pollard::view_as<const double>(t);
  CHECK(v(0, 1) == 3.0);
  CHECK(v(1, 0) == 2.0);
}

TEST_CASE("an unqualified view(x) inside pollard cannot be hijacked by a user's view function") {
  user::decoy d{{1.0f, 2.0f}};
  auto v = pollard::detail_test::generic_view(d);
  static_assert(std::is_same_v<decltype(v), matrix_view<float>>);
  CHECK(v(0, 1) == 2.0f);
}

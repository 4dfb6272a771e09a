#include "pollard/adapters/eigen.hpp"

#include <doctest/doctest.h>

#include <Eigen/Core>
#include <type_traits>
#include <vector>

#include "pollard/core/view.hpp"

using pollard::index_t;
using pollard::matrix_view;

namespace {

using row_major_f = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using col_major_d = Eigen::MatrixXd;

// Compile-only: which Eigen types are viewable, and with which constness.
static_assert(pollard::viewable<Eigen::MatrixXf>);
static_assert(pollard::viewable<row_major_f>);
static_assert(pollard::viewable<Eigen::Matrix4d>);
static_assert(pollard::viewable<Eigen::VectorXf>);
static_assert(pollard::viewable<Eigen::ArrayXXd>);
static_assert(pollard::viewable<Eigen::Map<Eigen::MatrixXf>>);
static_assert(pollard::viewable<Eigen::Map<const Eigen::MatrixXf, 0, Eigen::OuterStride<>>>);
static_assert(
    pollard::viewable<Eigen::Map<row_major_f, 0, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>>);
static_assert(pollard::viewable<Eigen::Ref<Eigen::MatrixXd>>);
static_assert(pollard::viewable<Eigen::Ref<const Eigen::MatrixXd>>);
static_assert(pollard::viewable<Eigen::Block<Eigen::MatrixXf>>);
static_assert(!pollard::viewable<Eigen::MatrixXi>);  // int is not a storage type
static_assert(!pollard::viewable<decltype(Eigen::MatrixXf() + Eigen::MatrixXf())>);
static_assert(!pollard::viewable<decltype(Eigen::MatrixXf().reverse())>);
static_assert(pollard::viewable<decltype(Eigen::MatrixXf().transpose())>);

static_assert(std::is_same_v<pollard::view_t<Eigen::MatrixXf>, matrix_view<float>>);
static_assert(std::is_same_v<pollard::view_t<const Eigen::MatrixXf>, matrix_view<const float>>);
static_assert(
    std::is_same_v<pollard::view_t<Eigen::Map<const Eigen::MatrixXd>>, matrix_view<const double>>);
static_assert(
    std::is_same_v<pollard::view_t<Eigen::Ref<const Eigen::MatrixXd>>, matrix_view<const double>>);
static_assert(
    std::is_same_v<pollard::view_t<Eigen::Block<const Eigen::MatrixXf>>, matrix_view<const float>>);

// A temporary matrix cannot be viewed (the view would dangle); a temporary block or map can.
static_assert(!std::is_invocable_v<decltype(pollard::view), Eigen::MatrixXf>);
static_assert(std::is_invocable_v<decltype(pollard::view), Eigen::Block<Eigen::MatrixXf>>);
static_assert(std::is_invocable_v<decltype(pollard::view), Eigen::Map<Eigen::MatrixXf>>);
static_assert(std::is_invocable_v<decltype(pollard::view), Eigen::Transpose<Eigen::MatrixXf>>);
static_assert(!std::is_invocable_v<decltype(pollard::view), Eigen::Ref<const Eigen::MatrixXf>>);

// as_eigen gives a Map with run-time strides, const when the view is.
static_assert(!std::is_const_v<
              std::remove_pointer_t<decltype(pollard::as_eigen(matrix_view<float>()).data())>>);
static_assert(
    std::is_const_v<
        std::remove_pointer_t<decltype(pollard::as_eigen(matrix_view<const double>()).data())>>);

// Naive reference: every element of the view equals the Eigen coefficient.
template <class V, class E>
void check_same_elements(const V& v, const E& e) {
  REQUIRE(v.rows() == static_cast<index_t>(e.rows()));
  REQUIRE(v.cols() == static_cast<index_t>(e.cols()));
  for (index_t i = 0; i < v.rows(); ++i)
    for (index_t j = 0; j < v.cols(); ++j) CHECK(v(i, j) == e(i, j));
}

template <class M>
M counting(index_t rows, index_t cols) {
  M m(rows, cols);
  for (index_t i = 0; i < rows; ++i)
    for (index_t j = 0; j < cols; ++j) m(i, j) = static_cast<typename M::Scalar>(100 * i + j);
  return m;
}

}  // namespace

TEST_CASE("view of a column-major and a row-major Eigen matrix gives the same elements") {
  for (auto [rows, cols] : {std::pair<index_t, index_t>{3, 5}, {1, 4}, {6, 1}, {7, 7}}) {
    auto c = counting<col_major_d>(rows, cols);
    auto vc = pollard::view(c);
    CHECK(vc.data() == c.data());
    check_same_elements(vc, c);
    auto r = counting<row_major_f>(rows, cols);
    auto vr = pollard::view(r);
    CHECK(vr.is_row_major_contiguous());
    check_same_elements(vr, r);
  }
}

TEST_CASE("writes through the view of an Eigen matrix change the matrix") {
  Eigen::MatrixXf m = Eigen::MatrixXf::Zero(3, 4);
  auto v = pollard::view(m);
  v(2, 1) = 5.0f;
  CHECK(m(2, 1) == 5.0f);
}

TEST_CASE("a const Eigen matrix gives a view of const elements") {
  const Eigen::MatrixXf m = counting<Eigen::MatrixXf>(2, 3);
  auto v = pollard::view(m);
  static_assert(std::is_same_v<decltype(v), matrix_view<const float>>);
  check_same_elements(v, m);
}

TEST_CASE("views of Eigen blocks, rows, columns and transposes address the parent's memory") {
  auto m = counting<Eigen::MatrixXd>(6, 7);
  auto r = counting<row_major_f>(6, 7);
  check_same_elements(pollard::view(m.block(1, 2, 4, 3)), m.block(1, 2, 4, 3));
  check_same_elements(pollard::view(r.block(1, 2, 4, 3)), r.block(1, 2, 4, 3));
  check_same_elements(pollard::view(m.col(3)), m.col(3));
  check_same_elements(pollard::view(r.col(3)), r.col(3));
  check_same_elements(pollard::view(m.row(2)), m.row(2));
  check_same_elements(pollard::view(r.row(2)), r.row(2));
  check_same_elements(pollard::view(m.middleCols(2, 3)), m.middleCols(2, 3));
  check_same_elements(pollard::view(r.bottomRows(2)), r.bottomRows(2));
  check_same_elements(pollard::view(m.transpose()), m.transpose());
  check_same_elements(pollard::view(r.block(1, 2, 4, 3).transpose()),
                      r.block(1, 2, 4, 3).transpose());
  auto b = pollard::view(m.block(1, 1, 2, 2));
  b(1, 0) = -7.0;
  CHECK(m(2, 1) == -7.0);
}

TEST_CASE("views of Eigen maps honour inner, outer and dynamic strides") {
  std::vector<float> buffer(120);
  for (std::size_t k = 0; k < buffer.size(); ++k) buffer[k] = static_cast<float>(k);
  using Eigen::Dynamic;
  Eigen::Map<Eigen::MatrixXf, 0, Eigen::OuterStride<>> outer(buffer.data(), 3, 4,
                                                             Eigen::OuterStride<>(7));
  check_same_elements(pollard::view(outer), outer);
  Eigen::Map<Eigen::MatrixXf, 0, Eigen::InnerStride<>> inner(buffer.data(), 3, 4,
                                                             Eigen::InnerStride<>(2));
  check_same_elements(pollard::view(inner), inner);
  Eigen::Map<row_major_f, 0, Eigen::Stride<Dynamic, Dynamic>> both(
      buffer.data(), 4, 5, Eigen::Stride<Dynamic, Dynamic>(13, 3));
  check_same_elements(pollard::view(both), both);
  Eigen::Map<const Eigen::MatrixXf, 0, Eigen::Stride<Dynamic, Dynamic>> col_both(
      buffer.data(), 4, 5, Eigen::Stride<Dynamic, Dynamic>(11, 2));
  auto v = pollard::view(col_both);
  static_assert(std::is_same_v<decltype(v), matrix_view<const float>>);
  check_same_elements(v, col_both);
  Eigen::Map<Eigen::Matrix<float, 3, 3, Eigen::RowMajor>, 0, Eigen::Stride<5, 1>> fixed(
      buffer.data() + 1);
  check_same_elements(pollard::view(fixed), fixed);
}

TEST_CASE("views of Eigen::Ref see the referenced matrix") {
  auto m = counting<Eigen::MatrixXd>(5, 6);
  Eigen::Ref<Eigen::MatrixXd, 0, Eigen::OuterStride<>> ref = m.block(1, 1, 3, 4);
  check_same_elements(pollard::view(ref), m.block(1, 1, 3, 4));
  Eigen::Ref<const Eigen::MatrixXd> cref = m;
  auto cv = pollard::view(cref);
  static_assert(std::is_same_v<decltype(cv), matrix_view<const double>>);
  check_same_elements(cv, m);
}

TEST_CASE("an Eigen map with a negative stride is rejected") {
  std::vector<float> buffer(12, 0.0f);
  Eigen::Map<Eigen::MatrixXf, 0, Eigen::InnerStride<>> reversed(buffer.data() + 11, 3, 4,
                                                                Eigen::InnerStride<>(-1));
  CHECK_THROWS_WITH_AS(pollard::view(reversed),
                       "Eigen: expected non-negative strides, got inner stride -1, outer stride -3",
                       pollard::adapter_error);
}

TEST_CASE("as_eigen maps a strided view with the same elements and writes through") {
  std::vector<double> buffer(64);
  for (std::size_t k = 0; k < buffer.size(); ++k) buffer[k] = static_cast<double>(k);
  struct layout {
    index_t rows, cols, rs, cs;
  };
  for (auto l : {layout{3, 4, 4, 1}, layout{3, 4, 1, 3}, layout{4, 3, 10, 3}, layout{1, 5, 0, 2}}) {
    matrix_view<double> v(buffer.data(), l.rows, l.cols, l.rs, l.cs);
    auto e = pollard::as_eigen(v);
    check_same_elements(v, e);
  }
  matrix_view<double> v(buffer.data(), 3, 3, 1, 5);
  pollard::as_eigen(v)(2, 1) = -1.0;
  CHECK(buffer[7] == -1.0);
  matrix_view<const double> c = v;
  CHECK(pollard::as_eigen(c).sum() == doctest::Approx(pollard::as_eigen(v).sum()));
}

TEST_CASE("as_eigen of a view of an Eigen block round-trips to the block") {
  auto m = counting<Eigen::MatrixXf>(5, 6);
  Eigen::MatrixXf back = pollard::as_eigen(pollard::view(m.block(1, 2, 3, 3)));
  CHECK(back == m.block(1, 2, 3, 3));
}

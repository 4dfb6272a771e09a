// Tests for pollard/metrics/reconstruction_error.hpp against naive triple loops.
#include "pollard/metrics/reconstruction_error.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "pollard/core/element_types.hpp"
#include "support/naive_metrics.hpp"
#include "support/random.hpp"

using namespace pollard;

namespace {

// W with a deterministic ~half of its entries zeroed.
template <class T>
test::dense_matrix<T> pruned_copy(const test::dense_matrix<T>& w, std::uint64_t seed) {
  auto noise = test::random_normal<float>(w.rows, w.cols, seed);
  auto out = w;
  for (std::size_t k = 0; k < out.values.size(); ++k)
    if (noise.values[k] < 0.0f) out.values[k] = T{};
  return out;
}

}  // namespace

TEST_CASE("reconstruction error from X and from H = 2/N·XᵀX both equal the naive loops") {
  struct shape {
    index_t d_out, d_in, tokens;
  };
  for (auto s : {shape{1, 5, 9}, shape{7, 13, 31}, shape{300, 17, 40}, shape{33, 64, 8}}) {
    CAPTURE(s.d_out);
    CAPTURE(s.d_in);
    CAPTURE(s.tokens);
    const auto seed = static_cast<std::uint64_t>(s.d_out * 1000 + s.d_in);
    const auto w = test::random_normal<double>(s.d_out, s.d_in, seed);
    const auto w_hat = pruned_copy(w, seed + 1);
    const auto x = test::random_normal<double>(s.tokens, s.d_in, seed + 2);
    const double expected = static_cast<double>(test::naive_reconstruction_error(w, w_hat, x));
    const auto from_x = relative_reconstruction_error(w.view(), w_hat.view(), x.view());
    CHECK(from_x.relative == doctest::Approx(expected).epsilon(1e-12));
    CHECK(from_x.squared_error / from_x.reference == doctest::Approx(from_x.relative));

    const auto h = test::naive_gram(x, 4.0);  // N = 4 sequences
    const auto from_h = relative_reconstruction_error_from_gram(w.view(), w_hat.view(), h.view());
    CHECK(from_h.relative == doctest::Approx(expected).epsilon(1e-10));
    // the energies carry the Gram scale 2/N
    CHECK(from_h.reference == doctest::Approx(from_x.reference * 2.0 / 4.0).epsilon(1e-10));
  }
}

TEST_CASE(
    "reconstruction error in float and half storage agrees with double within their precision") {
  const auto wd = test::random_normal<double>(19, 24, 5);
  const auto wd_hat = pruned_copy(wd, 6);
  const auto xd = test::random_normal<double>(37, 24, 7);
  test::dense_matrix<float> wf(19, 24), wf_hat(19, 24), xf(37, 24);
  test::dense_matrix<half> wh(19, 24), wh_hat(19, 24), xh(37, 24);
  for (std::size_t k = 0; k < wd.values.size(); ++k) {
    wf.values[k] = static_cast<float>(wd.values[k]);
    wf_hat.values[k] = static_cast<float>(wd_hat.values[k]);
    wh.values[k] = half(wf.values[k]);
    wh_hat.values[k] = half(wf_hat.values[k]);
  }
  for (std::size_t k = 0; k < xd.values.size(); ++k) {
    xf.values[k] = static_cast<float>(xd.values[k]);
    xh.values[k] = half(xf.values[k]);
  }
  const double expected_f = static_cast<double>(test::naive_reconstruction_error(wf, wf_hat, xf));
  const double expected_h = static_cast<double>(test::naive_reconstruction_error(wh, wh_hat, xh));
  CHECK(relative_reconstruction_error(wf.view(), wf_hat.view(), xf.view()).relative ==
        doctest::Approx(expected_f).epsilon(1e-5));
  CHECK(relative_reconstruction_error(wh.view(), wh_hat.view(), xh.view()).relative ==
        doctest::Approx(expected_h).epsilon(1e-5));
  const auto hf = test::naive_gram(xf, 2.0);
  test::dense_matrix<float> hf32(24, 24);
  for (std::size_t k = 0; k < hf.values.size(); ++k)
    hf32.values[k] = static_cast<float>(hf.values[k]);
  CHECK(relative_reconstruction_error_from_gram(wf.view(), wf_hat.view(), hf32.view()).relative ==
        doctest::Approx(expected_f).epsilon(1e-4));
}

TEST_CASE("reconstruction error accepts strided activations and is 0 for an unchanged layer") {
  const auto w = test::random_normal<float>(6, 10, 21);
  const auto xt = test::random_normal<float>(10, 15, 22);  // d_in x tokens; its transpose is X
  test::dense_matrix<float> x(15, 10);
  for (index_t t = 0; t < 15; ++t)
    for (index_t j = 0; j < 10; ++j) x(t, j) = xt(j, t);
  const auto w_hat = pruned_copy(w, 23);
  const auto strided =
      relative_reconstruction_error(w.view(), w_hat.view(), xt.view().transposed());
  const auto contiguous = relative_reconstruction_error(w.view(), w_hat.view(), x.view());
  CHECK(strided.relative == doctest::Approx(contiguous.relative).epsilon(1e-6));
  const auto same = relative_reconstruction_error(w.view(), w.view(), x.view());
  CHECK(same.relative == 0.0);
  CHECK(same.squared_error == 0.0);
}

TEST_CASE("reconstruction error is 0 for zero output energy with no error, +inf with error") {
  test::dense_matrix<float> zero(3, 4), x(5, 4);
  const auto w_hat = test::random_normal<float>(3, 4, 31);
  CHECK(relative_reconstruction_error(zero.view(), zero.view(), x.view()).relative == 0.0);
  const auto nonzero_x = test::random_normal<float>(5, 4, 32);
  CHECK(std::isinf(
      relative_reconstruction_error(zero.view(), w_hat.view(), nonzero_x.view()).relative));
}

TEST_CASE("reconstruction error rejects mismatched shapes and non-finite input with a message") {
  const auto w = test::random_normal<float>(4, 8, 41);
  const auto w_bad = test::random_normal<float>(4, 7, 42);
  const auto x_bad = test::random_normal<float>(3, 6, 43);
  const auto h_bad = test::random_normal<float>(8, 6, 44);
  CHECK_THROWS_WITH_AS(relative_reconstruction_error(w.view(), w_bad.view(), x_bad.view()),
                       "relative_reconstruction_error: W (4x8) and W_hat (4x7) differ in shape",
                       shape_error);
  CHECK_THROWS_WITH_AS(relative_reconstruction_error(w.view(), w.view(), x_bad.view()),
                       "relative_reconstruction_error: W is 4x8 but the activations are 3x6 "
                       "(expected tokens x 8)",
                       shape_error);
  CHECK_THROWS_WITH_AS(relative_reconstruction_error_from_gram(w.view(), w.view(), h_bad.view()),
                       "relative_reconstruction_error_from_gram: W is 4x8 but the Gram "
                       "matrix is 8x6 (expected 8x8)",
                       shape_error);
  auto w_nan = w;
  w_nan(2, 5) = std::numeric_limits<float>::quiet_NaN();
  const auto x = test::random_normal<float>(3, 8, 45);
  CHECK_THROWS_WITH_AS(relative_reconstruction_error(w.view(), w_nan.view(), x.view()),
                       "relative_reconstruction_error: non-finite W_hat at (2, 5) = nan",
                       non_finite_error);
  auto h = test::random_normal<float>(8, 8, 46);
  h(7, 0) = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(relative_reconstruction_error_from_gram(w.view(), w.view(), h.view()),
                       "relative_reconstruction_error_from_gram: non-finite H at (7, 0) = inf",
                       non_finite_error);
}

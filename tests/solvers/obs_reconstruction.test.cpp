#include "pollard/solvers/obs_reconstruction.hpp"
#include "pollard/masks/n_m.hpp"
#include "pollard/masks/unstructured.hpp"
#include "pollard/solvers/sparsegpt.hpp"

#include <doctest/doctest.h>

#include <random>
#include <vector>

#include "solvers/solver_problems.hpp"
#include "support/naive_solvers.hpp"

using pollard::index_t;
using namespace pollard::test;

namespace {

pollard::mask random_mask(index_t rows, index_t cols, double fraction, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution prune(fraction);
  pollard::mask m(rows, cols);
  for (index_t i = 0; i < rows; ++i)
    for (index_t j = 0; j < cols; ++j)
      if (prune(rng)) m.prune(i, j);
  return m;
}

}  // namespace

TEST_CASE("with a fixed mask the result does not depend on the block size") {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    const auto p = make_layer<double>(9, 150, 200, seed, {4});
    const auto m = random_mask(9, 150, 0.5, seed + 10);
    auto with_dead = m;  // the dead input 4 has its weights zeroed, so they count as pruned
    for (index_t i = 0; i < 9; ++i) with_dead.prune(i, 4);
    auto reference = p.w;
    pollard::obs_reconstruction_options o;
    o.block_size = 150;
    const auto r0 = pollard::obs_reconstruct<double>(reference.view(), p.h.view(), m, o);
    for (index_t block : {1, 7, 16, 128}) {
      CAPTURE(block);
      auto w = p.w;
      o.block_size = block;
      const auto r = pollard::obs_reconstruct<double>(w.view(), p.h.view(), m, o);
      CHECK(r.mask == with_dead);
      CHECK(r.warnings.size() == 1);
      CHECK(r.loss == doctest::Approx(r0.loss).epsilon(1e-10));
      CHECK(max_relative_difference(w, naive::to_double(reference)) < 1e-10);
    }
  }
}

TEST_CASE("the fixed-mask sweep equals the unbatched naive sweep with the same mask (fp32)") {
  const auto p = make_layer<float>(11, 200, 260, 5, {0, 199});
  const auto m = random_mask(11, 200, 0.6, 77);
  auto w = p.w;
  pollard::obs_reconstruction_options o;
  o.block_size = 64;
  const auto r = pollard::obs_reconstruct<float>(w.view(), p.h.view(), m, o);
  const auto expected =
      naive::sparsegpt_unbatched(naive::to_double(p.w), naive::to_double(p.h),
                                 naive::selection::fixed, 0.0, 0, 0, 64, 0.01, &m);
  CHECK(max_relative_difference(w, expected.w) < 2e-4);
  CHECK(r.loss == doctest::Approx(expected.loss).epsilon(1e-3));
}

TEST_CASE("one pruned weight gets the OBS closed-form update on the columns not yet processed") {
  // δw = −(w_q / [Hs⁻¹]_00)·Hs⁻¹[:, 0] with Hs the damped Hessian restricted to columns q.., for
  // the first column (Hs = H) and for later ones; earlier columns and other rows do not move.
  const index_t d_out = 3, d_in = 12, row = 1;
  const auto p = make_layer<double>(d_out, d_in, 40, 31);
  const naive::dmat h = naive::damped(p.h_exact, 0.01);
  for (index_t q : {0, 5, 11}) {
    CAPTURE(q);
    pollard::mask m(d_out, d_in);
    m.prune(row, q);
    auto w = p.w;
    pollard::obs_reconstruction_options o;
    o.block_size = 4;
    const auto r = pollard::obs_reconstruct<double>(w.view(), p.h.view(), m, o);
    const index_t k = d_in - q;
    naive::dmat sub(k, k);
    for (index_t a = 0; a < k; ++a)
      for (index_t b = 0; b < k; ++b) sub(a, b) = h(q + a, q + b);
    const naive::dmat inv = naive::inverse(sub);
    for (index_t i = 0; i < d_out; ++i)
      for (index_t j = 0; j < d_in; ++j) {
        double expected = p.w(i, j);
        if (i == row && j >= q) expected -= p.w(row, q) / inv(0, 0) * inv(j - q, 0);
        CHECK(w(i, j) == doctest::Approx(expected).epsilon(1e-9).scale(1.0));
      }
    CHECK(w(row, q) == 0.0);
    CHECK(r.loss == doctest::Approx(p.w(row, q) * p.w(row, q) / inv(0, 0) / 2.0));
  }
}

TEST_CASE("fixed-mask error lies between the least-squares optimum and plain zeroing") {
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    CAPTURE(seed);
    const auto p = make_layer<double>(6, 40, 120, seed);
    const auto m = random_mask(6, 40, 0.5, seed + 99);
    auto w = p.w;
    pollard::obs_reconstruct<double>(w.view(), p.h.view(), m);
    auto zeroed = p.w;
    pollard::apply_mask(m, zeroed.view());
    const auto optimum = naive::least_squares_reconstruction(p.w, m, p.x);
    const double e_opt = naive::relative_output_error(p.w, optimum, p.x);
    const double e_obs = naive::relative_output_error(p.w, w, p.x);
    const double e_zero = naive::relative_output_error(p.w, zeroed, p.x);
    CHECK(e_opt <= e_obs * (1.0 + 1e-9));
    CHECK(e_obs < e_zero);
    CHECK(e_opt < e_zero);
  }
}

TEST_CASE("obs_reconstruct rejects a mask of the wrong shape and bad options") {
  const auto p = make_layer<float>(4, 8, 16, 2);
  auto w = p.w;
  pollard::mask m(3, 8);
  CHECK_THROWS_WITH_AS(pollard::obs_reconstruct<float>(w.view(), p.h.view(), m),
                       "obs_reconstruct: weights (4x8) and mask (3x8) differ in shape",
                       pollard::shape_error);
  pollard::obs_reconstruction_options o;
  o.max_damping_retries = -1;
  CHECK_THROWS_WITH_AS(
      pollard::obs_reconstruct<float>(w.view(), p.h.view(), pollard::mask(4, 8), o),
      "obs_reconstruct: max_damping_retries must be >= 0, got -1", pollard::option_error);
  CHECK(w.values == p.w.values);
}

TEST_CASE("every weight the mask prunes is exactly zero, a nearly dead input's too") {
  // X's columns 1-3 are zero and column 10 holds 1e-30, whose square underflows in float32: H_jj
  // is 0 there (a dead input, zeroed and pruned) while H_10,j ~ 1e-29 still carries the OBS
  // updates of the earlier columns into column 10. The property: pruned in the mask = 0 in W.
  auto x = random_normal<float>(50, 20, 6);
  for (index_t t = 0; t < 50; ++t) {
    for (index_t j = 1; j <= 3; ++j) x(t, j) = 0.0f;
    x(t, 10) = 1e-30f;
  }
  dense_matrix<float> h(20, 20);
  for (index_t i = 0; i < 20; ++i)
    for (index_t j = 0; j < 20; ++j) {
      float sum = 0.0f;
      for (index_t t = 0; t < 50; ++t) sum += x(t, i) * x(t, j);
      h(i, j) = 2.0f * sum;
    }
  REQUIRE(h(10, 10) == 0.0f);
  REQUIRE(h(10, 0) != 0.0f);
  const auto w0 = random_normal<float>(6, 20, 5);
  const auto check = [](const dense_matrix<float>& w, const pollard::mask& m) {
    for (index_t j : {1, 2, 3, 10})
      for (index_t i = 0; i < 6; ++i) CHECK(m.pruned(i, j));
    for (index_t i = 0; i < 6; ++i)
      for (index_t j = 0; j < 20; ++j) {
        CAPTURE(i);
        CAPTURE(j);
        if (m.pruned(i, j)) CHECK(w(i, j) == 0.0f);
      }
  };
  for (const index_t block : {4, 128}) {
    auto w = w0;
    pollard::obs_reconstruction_options o;
    o.block_size = block;
    check(w,
          pollard::obs_reconstruct<float>(w.view(), h.view(), random_mask(6, 20, 0.5, 3), o).mask);
    w = w0;
    pollard::sparsegpt_options s;
    s.block_size = block;
    check(w,
          pollard::sparsegpt<float>(w.view(), h.view(),
                                    pollard::unstructured(0.5, pollard::per_column_block{block}), s)
              .mask);
    w = w0;
    check(w, pollard::sparsegpt<float>(w.view(), h.view(), pollard::n_m::pruned_of(2, 4), s).mask);
  }
}

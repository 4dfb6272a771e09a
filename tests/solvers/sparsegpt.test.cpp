#include "pollard/solvers/sparsegpt.hpp"
#include "pollard/metrics/sparsity.hpp"

#include "pollard/solvers/obs_reconstruction.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "solvers/solver_problems.hpp"
#include "support/naive_solvers.hpp"

using pollard::index_t;
using namespace pollard::test;

namespace {

struct shape_case {
  index_t d_out, d_in, block;
  std::vector<index_t> dead;
};

// Runs sparsegpt<T> and the unbatched naive sweep (double) on the same layer; checks the masks are
// identical and the weights and loss agree to the precision of T.
template <class T>
void check_against_naive(const shape_case& c, double sparsity, index_t n, index_t m,
                         std::uint64_t seed) {
  CAPTURE(c.d_out);
  CAPTURE(c.d_in);
  CAPTURE(c.block);
  CAPTURE(n);
  CAPTURE(m);
  const auto p = make_layer<T>(c.d_out, c.d_in, 2 * c.d_in + 16, seed, c.dead);
  auto w = p.w;
  pollard::sparsegpt_options o;
  o.block_size = c.block;
  const auto result =
      m > 0 ? pollard::sparsegpt<T>(w.view(), p.h.view(), pollard::n_m::pruned_of(n, m), o)
            : pollard::sparsegpt<T>(
                  w.view(), p.h.view(),
                  pollard::unstructured(sparsity, pollard::per_column_block{c.block}));
  const auto expected =
      naive::sparsegpt_unbatched(naive::to_double(p.w), naive::to_double(p.h),
                                 m > 0 ? naive::selection::n_m : naive::selection::block_quantile,
                                 sparsity, n, m, c.block, 0.01);
  const double tolerance = std::is_same_v<T, float> ? 2e-4 : 1e-10;
  CHECK(result.mask == expected.pruned);
  CHECK(max_relative_difference(w, expected.w) < tolerance);
  CHECK(result.loss == doctest::Approx(expected.loss).epsilon(tolerance * 10));
  CHECK(result.damping_retries == 0);
  CHECK(result.percdamp_used == doctest::Approx(0.01));
  for (index_t i = 0; i < c.d_out; ++i)
    for (index_t j = 0; j < c.d_in; ++j)
      if (result.mask.pruned(i, j)) CHECK(w(i, j) == T(0));
}

const std::vector<shape_case> unstructured_shapes = {
    {8, 64, 16, {}},   {1, 40, 16, {}},      {7, 300, 128, {}},      {5, 256, 128, {}},
    {13, 200, 64, {}}, {6, 96, 16, {3, 50}}, {1, 130, 128, {0, 129}}};

const std::vector<shape_case> n_m_shapes = {
    {6, 96, 16, {}}, {1, 32, 16, {}}, {9, 256, 128, {}}, {4, 136, 8, {5, 6, 100}}};

}  // namespace

TEST_CASE("unstructured sparsegpt equals the unbatched sweep (fp64 and fp32)") {
  std::uint64_t seed = 1;
  for (const auto& c : unstructured_shapes) {
    check_against_naive<double>(c, 0.5, 0, 0, seed);
    check_against_naive<float>(c, 0.5, 0, 0, seed);
    check_against_naive<double>(c, 0.3, 0, 0, seed + 50);
    ++seed;
  }
}

TEST_CASE("N:M sparsegpt equals the unbatched sweep and is valid N:M (fp64 and fp32)") {
  std::uint64_t seed = 100;
  for (const auto& c : n_m_shapes) {
    check_against_naive<double>(c, 0.0, 2, 4, seed);
    check_against_naive<float>(c, 0.0, 2, 4, seed);
    if (c.block % 8 == 0) check_against_naive<double>(c, 0.0, 4, 8, seed + 7);
    auto p = make_layer<float>(c.d_out, c.d_in, c.d_in + 8, seed, c.dead);
    pollard::sparsegpt_options o;
    o.block_size = c.block;
    const auto r = pollard::sparsegpt<float>(p.w.view(), p.h.view(), pollard::pruned_of<2, 4>{}, o);
    CHECK(pollard::satisfies_n_m(r.mask, 2, 4));
    // Dead inputs are pruned on top of the pattern (and say so).
    const auto extra = c.d_out * static_cast<index_t>(c.dead.size());
    CHECK(r.mask.pruned_count() >= c.d_out * c.d_in / 2);
    CHECK(r.mask.pruned_count() <= c.d_out * c.d_in / 2 + extra);
    CHECK(r.warnings.empty() == (r.mask.pruned_count() == c.d_out * c.d_in / 2));
    ++seed;
  }
}

TEST_CASE("unstructured sparsegpt prunes exactly floor(d_out*nb*s) weights in every block") {
  const auto p = make_layer<float>(5, 300, 320, 7);
  auto w = p.w;
  const auto r = pollard::sparsegpt<float>(
      w.view(), p.h.view(), pollard::unstructured(0.37, pollard::per_column_block{128}));
  for (index_t i1 = 0; i1 < 300; i1 += 128) {
    const index_t nb = std::min<index_t>(128, 300 - i1);
    index_t pruned = 0;
    for (index_t i = 0; i < 5; ++i)
      for (index_t j = i1; j < i1 + nb; ++j) pruned += r.mask.pruned(i, j) ? 1 : 0;
    CHECK(pruned == static_cast<index_t>(std::floor(5.0 * static_cast<double>(nb) * 0.37)));
  }
}

TEST_CASE("ties in the block quantile prune the lower row-major index first") {
  // Identity Hessian: U = I/sqrt(1 + λ) is diagonal, nothing is updated and every score is w².
  const index_t d_out = 3, d_in = 4;
  pollard::test::dense_matrix<double> w(d_out, d_in), h(d_in, d_in);
  for (index_t j = 0; j < d_in; ++j) h(j, j) = 1.0;
  for (auto& v : w.values) v = 2.0;
  w(1, 2) = 1.0;  // the unique lowest
  // floor(12 * 0.25) = 3: (1,2), then the tied (0,0) and (0,1)
  const auto r = pollard::sparsegpt<double>(
      w.view(), h.view(), pollard::unstructured(0.25, pollard::per_column_block{}));
  CHECK(r.mask.pruned_count() == 3);
  CHECK(r.mask.pruned(1, 2));
  CHECK(r.mask.pruned(0, 0));
  CHECK(r.mask.pruned(0, 1));
  CHECK(w(0, 2) == 2.0);
  // loss = Σ w²/U_jj²/2 = (1 + 4 + 4)·(1 + λ)/2 with λ = 0.01.
  CHECK(r.loss == doctest::Approx(9.0 * 1.01 / 2.0));
  CHECK(r.damping_used == doctest::Approx(0.01));
}

TEST_CASE("sparsity 0 leaves the weights of a live layer unchanged") {
  const auto p = make_layer<double>(4, 50, 80, 3);
  auto w = p.w;
  const auto r = pollard::sparsegpt<double>(
      w.view(), p.h.view(), pollard::unstructured(0.0, pollard::per_column_block{}));
  CHECK(r.mask.pruned_count() == 0);
  CHECK(r.loss == 0.0);
  CHECK(w.values == p.w.values);
}

TEST_CASE("dead inputs are zeroed and the Hessian given is not modified") {
  const auto p = make_layer<float>(6, 40, 64, 11, {2, 17});
  auto w = p.w;
  const auto h_before = p.h.values;
  const auto r = pollard::sparsegpt<float>(
      w.view(), p.h.view(), pollard::unstructured(0.5, pollard::per_column_block{16}));
  CHECK(p.h.values == h_before);
  for (index_t i = 0; i < 6; ++i) {
    CHECK(w(i, 2) == 0.0f);
    CHECK(w(i, 17) == 0.0f);
    CHECK(r.mask.pruned(i, 2));
    CHECK(r.mask.pruned(i, 17));
  }
}

TEST_CASE("all-dead inputs: every weight is zero, the mask says so and the result warns") {
  // H = 0 (no input ever reached the layer): the weights are zeroed whatever the target, so the
  // mask must prune them all and the sparsity is 1, not the 0.5 asked for.
  for (const bool n_m : {false, true}) {
    auto w = random_normal<float>(4, 16, 3);
    pollard::test::dense_matrix<float> h(16, 16);
    const auto r =
        n_m ? pollard::sparsegpt<float>(w.view(), h.view(), pollard::n_m::pruned_of(2, 4))
            : pollard::sparsegpt<float>(w.view(), h.view(),
                                        pollard::unstructured(0.5, pollard::per_column_block{}));
    CHECK(r.mask.pruned_count() == 64);
    CHECK(r.mask.sparsity() == 1.0);
    for (const float v : w.values) CHECK(v == 0.0f);
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].find("16 dead input channels") != std::string::npos);
    CHECK(r.warnings[0].find("sparsity 1") != std::string::npos);
  }
  // A live layer prunes exactly what was asked, without a warning.
  const auto p = make_layer<float>(4, 16, 40, 5);
  auto w = p.w;
  const auto r = pollard::sparsegpt<float>(w.view(), p.h.view(),
                                           pollard::unstructured(0.5, pollard::per_column_block{}));
  CHECK(r.mask.sparsity() == 0.5);
  CHECK(r.warnings.empty());
}

TEST_CASE("a strided weight view gives the same result as a contiguous one") {
  const auto p = make_layer<double>(5, 48, 64, 21);
  auto contiguous = p.w;
  // Column-major storage of the same matrix.
  std::vector<double> column_major(5 * 48);
  for (index_t i = 0; i < 5; ++i)
    for (index_t j = 0; j < 48; ++j) column_major[static_cast<std::size_t>(j * 5 + i)] = p.w(i, j);
  pollard::matrix_view<double> strided(column_major.data(), 5, 48, 1, 5);
  const pollard::unstructured policy(0.5, pollard::per_column_block{16});
  const auto a = pollard::sparsegpt<double>(contiguous.view(), p.h.view(), policy);
  const auto b = pollard::sparsegpt<double>(strided, p.h.view(), policy);
  CHECK(a.mask == b.mask);
  for (index_t i = 0; i < 5; ++i)
    for (index_t j = 0; j < 48; ++j) CHECK(strided(i, j) == doctest::Approx(contiguous(i, j)));
}

TEST_CASE("sparsegpt reduces the output error below zeroing the same mask") {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    const auto p = make_layer<float>(8, 64, 160, seed);
    auto w = p.w;
    const auto r = pollard::sparsegpt<float>(
        w.view(), p.h.view(), pollard::unstructured(0.5, pollard::per_column_block{16}));
    auto zeroed = p.w;
    pollard::apply_mask(r.mask, zeroed.view());
    CHECK(naive::relative_output_error(p.w, w, p.x) <
          naive::relative_output_error(p.w, zeroed, p.x));
  }
}

TEST_CASE(
    "a Hessian singular up to rounding gets more damping, reported; an indefinite one is refused") {
  // H = I − (1 + δ)/d · 11ᵀ: eigenvalue −δ along 1, 1 elsewhere. δ = 1e-9 is rounding-sized
  // (below sqrt(ε)·max diag ≈ 1.5e-8): percdamp 1e-10 fails, 1e-9 fails, 1e-8 succeeds.
  const index_t d = 20;
  const auto hessian = [d](double delta) {
    pollard::test::dense_matrix<double> h(d, d);
    for (index_t i = 0; i < d; ++i)
      for (index_t j = 0; j < d; ++j)
        h(i, j) = (i == j ? 1.0 : 0.0) - (1.0 + delta) / static_cast<double>(d);
    return h;
  };
  const auto h = hessian(1e-9);
  auto w = random_normal<double>(3, d, 5);
  pollard::sparsegpt_options o;
  o.percdamp = 1e-10;
  const auto r = pollard::sparsegpt<double>(
      w.view(), h.view(), pollard::unstructured(0.5, pollard::per_column_block{}), o);
  const double mean_diagonal = 1.0 - (1.0 + 1e-9) / static_cast<double>(d);
  CHECK(r.damping_retries == 2);
  CHECK(r.percdamp_used == doctest::Approx(1e-8));
  CHECK(r.damping_used == doctest::Approx(1e-8 * mean_diagonal));
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0] ==
        "sparsegpt: the Hessian needed percdamp 1e-08 (requested 1e-10, 2 retries) to factor; the "
        "updates are weaker and the result closer to magnitude pruning");
  // δ = 0.05: the eigenvalue −0.05 (by hand) is no rounding; refused, naming it, W untouched.
  const auto indefinite = hessian(0.05);
  const auto before = w.values;
  CHECK_THROWS_WITH_AS(
      pollard::sparsegpt<double>(w.view(), indefinite.view(),
                                 pollard::unstructured(0.5, pollard::per_column_block{})),
      doctest::Contains("sparsegpt: the 20x20 Hessian is not positive semidefinite: its smallest "
                        "eigenvalue is -0.05 (below -"),
      pollard::factorisation_error);
  CHECK(w.values == before);
}

TEST_CASE("a Hessian that cannot be factored raises factorisation_error naming the damping") {
  const index_t d = 6;
  pollard::test::dense_matrix<float> h(d, d), w(2, d);
  for (index_t j = 0; j < d; ++j) h(j, j) = -1e6f;
  for (auto& v : w.values) v = 1.0f;
  const auto before = w.values;
  pollard::sparsegpt_options o;
  o.max_damping_retries = 2;
  // A negative diagonal is no XᵀX: refused as such, never damped by a negative λ (percdamp ·
  // mean diagonal would be −1e4, then −1e5, ...).
  CHECK_THROWS_WITH_AS(
      pollard::sparsegpt<float>(w.view(), h.view(),
                                pollard::unstructured(0.5, pollard::per_column_block{}), o),
      "sparsegpt: the 6x6 Hessian is not positive semidefinite: H(0, 0) = -1e+06 < 0, which no "
      "XᵀX has; damping cannot repair it (pass H = (2/N)·XᵀX)",
      pollard::factorisation_error);
  CHECK(w.values == before);
  // Positive diagonal, but indefinite (a tridiagonal 1, 1e3 matrix has eigenvalues near
  // 1 − 2e3): refused naming the eigenvalue, never damped into something that factors.
  for (index_t j = 0; j < d; ++j) h(j, j) = 1.0f;
  for (index_t j = 0; j + 1 < d; ++j) h(j, j + 1) = h(j + 1, j) = 1e3f;
  CHECK_THROWS_WITH_AS(
      pollard::sparsegpt<float>(w.view(), h.view(),
                                pollard::unstructured(0.5, pollard::per_column_block{}), o),
      doctest::Contains("Hessian is not positive semidefinite: its smallest eigenvalue is -"),
      pollard::factorisation_error);
  // Positive semidefinite up to rounding but beyond every damping allowed: named as such.
  for (index_t i = 0; i < d; ++i)
    for (index_t j = 0; j < d; ++j) h(i, j) = 1.0f;  // 11ᵀ: singular, eigenvalues 6 and 0
  o.percdamp = 0.0;
  CHECK_THROWS_WITH_AS(
      pollard::sparsegpt<float>(w.view(), h.view(),
                                pollard::unstructured(0.5, pollard::per_column_block{}), o),
      doctest::Contains("Hessian is not positive definite even with damping 0"),
      pollard::factorisation_error);
  CHECK(w.values == before);
}

TEST_CASE("bad inputs are rejected with the reason, before anything is written") {
  auto p = make_layer<float>(4, 8, 16, 9);
  const auto before = p.w.values;
  pollard::sparsegpt_options o;
  const pollard::unstructured half(0.5, pollard::per_column_block{});
  SUBCASE("Hessian of the wrong size") {
    pollard::test::dense_matrix<float> h(6, 6);
    CHECK_THROWS_WITH_AS(pollard::sparsegpt<float>(p.w.view(), h.view(), half, o),
                         "sparsegpt: weights are 4x8 but the Hessian is 6x6 (expected 8x8)",
                         pollard::shape_error);
  }
  SUBCASE("NaN weight") {
    p.w(2, 3) = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_WITH_AS(pollard::sparsegpt<float>(p.w.view(), p.h.view(), half, o),
                         "sparsegpt: non-finite weight W at (2, 3) = nan",
                         pollard::non_finite_error);
    p.w(2, 3) = before[2 * 8 + 3];
  }
  SUBCASE("infinite Hessian entry") {
    p.h(1, 5) = std::numeric_limits<float>::infinity();
    CHECK_THROWS_WITH_AS(pollard::sparsegpt<float>(p.w.view(), p.h.view(), half, o),
                         "sparsegpt: non-finite Hessian entry H at (1, 5) = inf",
                         pollard::non_finite_error);
  }
  SUBCASE("a per-row or per-matrix policy") {
    const char* message =
        "sparsegpt: chooses its unstructured mask per column block as it sweeps; pass "
        "unstructured(s, per_column_block{B}) (B = 128 in the reference), or choose a per-row or "
        "per-matrix mask with a criterion and apply it with obs_reconstruct";
    CHECK_THROWS_WITH_AS(
        pollard::sparsegpt<float>(p.w.view(), p.h.view(), pollard::unstructured{0.5}, o), message,
        pollard::option_error);
    CHECK_THROWS_WITH_AS(
        pollard::sparsegpt<float>(p.w.view(), p.h.view(),
                                  pollard::unstructured(0.5, pollard::per_matrix), o),
        message, pollard::option_error);
  }
  SUBCASE("M not dividing d_in") {
    CHECK_THROWS_WITH_AS(
        pollard::sparsegpt<float>(p.w.view(), p.h.view(), pollard::n_m::pruned_of(1, 3), o),
        "sparsegpt: M=3 does not divide d_in=8", pollard::option_error);
  }
  SUBCASE("non-positive block size") {
    o.block_size = 0;
    CHECK_THROWS_WITH_AS(
        pollard::sparsegpt<float>(p.w.view(), p.h.view(), pollard::n_m::pruned_of(2, 4), o),
        "sparsegpt: block_size must be positive, got 0", pollard::option_error);
  }
  SUBCASE("negative percdamp") {
    o.percdamp = -1.0;
    CHECK_THROWS_WITH_AS(pollard::sparsegpt<float>(p.w.view(), p.h.view(), half, o),
                         "sparsegpt: percdamp must be finite and >= 0, got -1",
                         pollard::option_error);
  }
  SUBCASE("a Hessian given as one triangle") {
    // The lower triangle of H only: the sweep reads both, so it must refuse rather than guess.
    for (index_t i = 0; i < 8; ++i)
      for (index_t j = i + 1; j < 8; ++j) p.h(i, j) = 0.0f;
    index_t first_i = -1, first_j = -1;  // the first pair (row-major, i < j) that differs
    for (index_t i = 0; i < 8 && first_i < 0; ++i)
      for (index_t j = i + 1; j < 8; ++j)
        if (p.h(j, i) != 0.0f) {
          first_i = i;
          first_j = j;
          break;
        }
    REQUIRE(first_i >= 0);
    const std::string expected_start = "sparsegpt: the Hessian is not symmetric: H(" +
                                       std::to_string(first_i) + ", " + std::to_string(first_j) +
                                       ") = 0 but H(" + std::to_string(first_j) + ", " +
                                       std::to_string(first_i) + ") = ";
    try {
      pollard::sparsegpt<float>(p.w.view(), p.h.view(), half, o);
      FAIL("no error");
    } catch (const pollard::option_error& e) {
      CHECK(std::string(e.what()).rfind(expected_start, 0) == 0);
      CHECK(std::string(e.what()).find("pass the full symmetric matrix") != std::string::npos);
    }
  }
  CHECK(p.w.values == before);
}

TEST_CASE("a Hessian symmetric up to rounding is accepted, and obs_reconstruct checks too") {
  auto p = make_layer<float>(4, 8, 16, 13);
  // A relative perturbation of 1e-6 (accumulation rounding) on one side of every pair.
  for (index_t i = 0; i < 8; ++i)
    for (index_t j = i + 1; j < 8; ++j) p.h(i, j) *= 1.000001f;
  auto w = p.w;
  CHECK_NOTHROW(pollard::sparsegpt<float>(w.view(), p.h.view(),
                                          pollard::unstructured(0.5, pollard::per_column_block{})));
  p.h(2, 6) += 0.5f;
  pollard::mask m(4, 8);
  CHECK_THROWS_AS(pollard::obs_reconstruct<float>(w.view(), p.h.view(), m), pollard::option_error);
}

TEST_CASE("N:M works for every M dividing d_in: the block adapts to a multiple of M") {
  // d_in = 12 with the default block size 128: the block becomes 12 (min(128, 12), a multiple
  // of 3 and of 4); with block_size 8 and M = 3 it becomes 6.
  std::uint64_t seed = 300;
  for (const auto& [n, m] :
       {std::pair<index_t, index_t>{1, 3}, {2, 3}, {1, 4}, {3, 4}, {5, 6}, {7, 12}}) {
    for (const index_t block : {index_t{128}, index_t{8}}) {
      CAPTURE(n);
      CAPTURE(m);
      CAPTURE(block);
      const auto p = make_layer<double>(5, 12, 40, seed++);
      auto w = p.w;
      pollard::sparsegpt_options o;
      o.block_size = block;
      const auto r =
          pollard::sparsegpt<double>(w.view(), p.h.view(), pollard::n_m::pruned_of(n, m), o);
      const index_t effective = std::max(m, std::min<index_t>(block, 12) / m * m);
      const auto expected =
          naive::sparsegpt_unbatched(naive::to_double(p.w), naive::to_double(p.h),
                                     naive::selection::n_m, 0.0, n, m, effective, 0.01);
      CHECK(r.mask == expected.pruned);
      CHECK(max_relative_difference(w, expected.w) < 1e-10);
      CHECK(pollard::satisfies_n_m(r.mask, n, m));
    }
  }
}

TEST_CASE(
    "reference_threshold prunes every score <= the floor(count*s)-th smallest, as the reference "
    "code does") {
  // H = I: every U_jj is equal, so the scores order like w^2: 9, 1, 4, 1 (a tie at 1).
  const std::vector<double> h = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
  const auto pruned_columns = [&](double sparsity, bool reference) {
    std::vector<double> w = {3, 1, 2, 1};
    pollard::sparsegpt_options o;
    o.reference_threshold = reference;
    const auto r =
        pollard::sparsegpt(pollard::matrix_view<double>(w.data(), 1, 4),
                           pollard::matrix_view<const double>(h.data(), 4, 4),
                           pollard::unstructured(sparsity, pollard::per_column_block{}), o);
    std::vector<int> cols;
    for (int j = 0; j < 4; ++j)
      if (r.mask.pruned(0, j)) cols.push_back(j);
    return cols;
  };
  CHECK(pruned_columns(0.5, false) == std::vector<int>{1, 3});
  CHECK(pruned_columns(0.5, true) == std::vector<int>{1, 2, 3});  // sorted[2] = 4: 1, 1, 4
  CHECK(pruned_columns(0.25, false) == std::vector<int>{1});      // the tie goes to column 1
  CHECK(pruned_columns(0.25, true) == std::vector<int>{1, 3});    // sorted[1] = 1, both ties
  CHECK(pruned_columns(0.0, false).empty());
  CHECK(pruned_columns(0.0, true) == std::vector<int>{1, 3});  // sorted[0] = 1 even at s = 0
}

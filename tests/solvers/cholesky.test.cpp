// Tests of the CPU factorisation primitives behind the OBS solvers (backends/cpu/cholesky.hpp).
#include "pollard/backends/cpu/cholesky.hpp"

#include <doctest/doctest.h>

#include <Eigen/Cholesky>

#include "solvers/solver_problems.hpp"
#include "support/naive_solvers.hpp"

using pollard::index_t;
using namespace pollard::test;

namespace {

template <class T>
pollard::cpu::row_major_matrix<T> to_eigen(const dense_matrix<T>& a) {
  pollard::cpu::row_major_matrix<T> m(a.rows, a.cols);
  for (index_t i = 0; i < a.rows; ++i)
    for (index_t j = 0; j < a.cols; ++j) m(i, j) = a(i, j);
  return m;
}

// The reference chain: cholesky(H + λI) -> inverse from the factor -> upper cholesky, in T.
template <class T>
pollard::cpu::row_major_matrix<T> reference_chain(const pollard::cpu::row_major_matrix<T>& h,
                                                  double lambda) {
  using matrix = pollard::cpu::row_major_matrix<T>;
  matrix damped = h;
  damped.diagonal().array() += static_cast<T>(lambda);
  const Eigen::LLT<matrix> llt(damped);
  const matrix inverse = llt.solve(matrix::Identity(h.rows(), h.cols()));
  const Eigen::LLT<matrix, Eigen::Upper> upper(inverse);
  return upper.matrixU();
}

}  // namespace

TEST_CASE("upper factor of the inverse matches the reference chain to 1e-6 relative in fp32") {
  // A well-conditioned H = (2/N)·XᵀX from independent standard-normal inputs.
  for (index_t d : {1, 7, 64, 65, 200, 300}) {
    CAPTURE(d);
    const auto x = random_normal<float>(4 * d + 8, d, static_cast<std::uint64_t>(d));
    const naive::dmat h_exact = naive::hessian(x);
    pollard::cpu::row_major_matrix<float> h(d, d);
    for (index_t i = 0; i < d; ++i)
      for (index_t j = 0; j < d; ++j) h(i, j) = static_cast<float>(h_exact(i, j));
    const auto f = pollard::cpu::upper_cholesky_of_inverse<float>(h, 0.01, 0);
    const auto expected = reference_chain<float>(h, f.damping.damping);
    const double relative = static_cast<double>((f.u - expected).norm() / expected.norm());
    CHECK(relative < 1e-6);
    CHECK(f.u.isUpperTriangular(0.0f));
  }
}

TEST_CASE("on correlated inputs the fp32 shortcut is as accurate as the fp32 reference chain") {
  // Error of each against the same computation in fp64.
  for (index_t d : {65, 200, 300}) {
    CAPTURE(d);
    const auto p = make_layer<float>(1, d, 4 * d + 8, static_cast<std::uint64_t>(d));
    const auto h = to_eigen(p.h);
    const auto f = pollard::cpu::upper_cholesky_of_inverse<float>(h, 0.01, 0);
    const auto chain = reference_chain<float>(h, f.damping.damping);
    const auto truth = reference_chain<double>(h.cast<double>(), f.damping.damping);
    const double shortcut_error = (f.u.cast<double>() - truth).norm() / truth.norm();
    const double chain_error = (chain.cast<double>() - truth).norm() / truth.norm();
    MESSAGE("d " << d << ": shortcut " << shortcut_error << ", chain " << chain_error);
    CHECK(shortcut_error < 1e-5);
    CHECK(shortcut_error <= 1.5 * chain_error);
  }
}

TEST_CASE("upper factor of the inverse equals the naive explicit inverse's factor in fp64") {
  for (index_t d : {1, 3, 64, 65, 130}) {
    CAPTURE(d);
    const auto p = make_layer<double>(1, d, 3 * d + 8, static_cast<std::uint64_t>(d) + 5);
    const auto f = pollard::cpu::upper_cholesky_of_inverse<double>(to_eigen(p.h), 0.01, 0);
    const auto expected = naive::upper_cholesky_of_inverse(naive::damped(p.h_exact, 0.01));
    for (index_t i = 0; i < d; ++i)
      for (index_t j = 0; j < d; ++j)
        CHECK(f.u(i, j) == doctest::Approx(expected(i, j)).epsilon(1e-9).scale(1.0));
  }
}

TEST_CASE("the triangular inverse inverts the lower triangle and leaves the upper one") {
  for (index_t n : {1, 2, 63, 64, 65, 129, 250}) {
    CAPTURE(n);
    const auto r = random_normal<double>(n, n, static_cast<std::uint64_t>(n));
    pollard::cpu::row_major_matrix<double> l(n, n);
    naive::dmat lower(n, n);
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < n; ++j) {
        l(i, j) = i == j ? 2.0 + std::abs(r(i, j)) : 0.1 * r(i, j);
        if (i >= j) lower(i, j) = l(i, j);
      }
    const auto upper_before = l.triangularView<Eigen::StrictlyUpper>().toDenseMatrix();
    pollard::cpu::invert_lower_in_place(l);
    const auto expected = naive::inverse(lower);
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j <= i; ++j)
        CHECK(l(i, j) == doctest::Approx(expected(i, j)).epsilon(1e-12).scale(1.0));
    CHECK((l.triangularView<Eigen::StrictlyUpper>().toDenseMatrix() - upper_before).norm() == 0.0);
  }
}

TEST_CASE("damped cholesky raises the damping tenfold until the matrix factors") {
  // a = I − (1 + δ)/d · 11ᵀ: eigenvalues 1 (x d−1) and −δ along 1, δ = 1e-9, far inside the
  // tolerance sqrt(ε)·max diag ≈ 1.3e-8 (positive semidefinite up to rounding). From percdamp
  // 1e-10 (λ = 0.9e-10) it needs λ > 1e-9: percdamp 1e-8 after two retries.
  const index_t d = 10;
  const double delta = 1e-9;
  pollard::cpu::row_major_matrix<double> a(d, d);
  for (index_t i = 0; i < d; ++i)
    for (index_t j = 0; j < d; ++j)
      a(i, j) = (i == j ? 1.0 : 0.0) - (1.0 + delta) / static_cast<double>(d);
  const pollard::cpu::row_major_matrix<double> original = a;
  const auto report = pollard::cpu::damped_cholesky(a, 1e-10, 5);
  const double mean_diagonal = 1.0 - (1.0 + delta) / static_cast<double>(d);
  CHECK(report.retries == 2);
  CHECK(report.percdamp == doctest::Approx(1e-8));
  CHECK(report.damping == doctest::Approx(1e-8 * mean_diagonal));
  const pollard::cpu::row_major_matrix<double> l = a.triangularView<Eigen::Lower>();
  pollard::cpu::row_major_matrix<double> damped = original;
  damped.diagonal().array() += report.damping;
  CHECK((l * l.transpose() - damped).norm() < 1e-12);
  pollard::cpu::row_major_matrix<double> b = original;
  CHECK_THROWS_WITH_AS(pollard::cpu::damped_cholesky(b, 1e-10, 1, "test"),
                       "test: the 10x10 Hessian is not positive definite even with damping "
                       "9e-10 (percdamp 1e-09 of mean diagonal 0.9, after 1 retries)",
                       pollard::factorisation_error);
}

TEST_CASE("an indefinite matrix is refused naming its smallest eigenvalue, not damped") {
  // a = I − 1.5/d · 11ᵀ has the eigenvalue 1 − 1.5 = −0.5 along 1 (worked by hand): no XᵀX has
  // a negative eigenvalue, and damping it until it factors (percdamp 1 here) would minimise
  // something else. Refused at the first failure whatever the retries allowed; the tolerance
  // is sqrt(ε_double) · 0.85 = 1.2666e-08.
  const index_t d = 10;
  pollard::cpu::row_major_matrix<double> a(d, d);
  for (index_t i = 0; i < d; ++i)
    for (index_t j = 0; j < d; ++j) a(i, j) = (i == j ? 1.0 : 0.0) - 1.5 / static_cast<double>(d);
  for (const int retries : {0, 5}) {
    auto b = a;
    CHECK_THROWS_WITH_AS(pollard::cpu::damped_cholesky(b, 0.01, retries, "test"),
                         "test: the 10x10 Hessian is not positive semidefinite: its smallest "
                         "eigenvalue is -0.5 (below -1.2666e-08, sqrt(epsilon) times its "
                         "largest diagonal entry), which no XᵀX has; damping cannot repair it "
                         "(pass H = (2/N)·XᵀX)",
                         pollard::factorisation_error);
  }
  // Through the factor of the inverse too (the reversed matrix has the same eigenvalues).
  CHECK_THROWS_AS(pollard::cpu::upper_cholesky_of_inverse(a, 0.01, 5, "test"),
                  pollard::factorisation_error);
}

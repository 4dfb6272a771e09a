// The CPU backend's results do not depend on the thread count: masks and weights are
// bit-identical at 1, 2 and 3 threads.
#include <doctest/doctest.h>

#include <vector>

#include <Eigen/Core>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include "pollard/backends/cpu/parallel_for.hpp"
#include "pollard/backends/cpu/policy.hpp"
#include "pollard/criteria/magnitude.hpp"
#include "pollard/masks/n_m.hpp"
#include "pollard/masks/unstructured.hpp"
#include "pollard/prune.hpp"
#include "pollard/solvers/obs_reconstruction.hpp"
#include "pollard/solvers/sparsegpt.hpp"
#include "solvers/solver_problems.hpp"
#include "support/random.hpp"

using pollard::index_t;
namespace cpu = pollard::cpu;

TEST_CASE("cpu::par carries its thread count; 0 means all hardware threads") {
  CHECK(cpu::par.threads(3).threads() == 3);
  CHECK(cpu::par.threads() >= 1);
  CHECK(cpu::par.threads(0).threads() == cpu::par.threads());
}

TEST_CASE("mask selection gives the same masks at 1, 2 and 3 threads") {
  const auto scores = pollard::test::random_normal<float>(700, 1024, 5);
  const auto v = scores.view();
  for (const auto& policy :
       {pollard::unstructured{0.5}, pollard::unstructured(0.3, pollard::per_matrix),
        pollard::unstructured(0.6, pollard::per_column_block{128})}) {
    const auto one = policy.select(cpu::par.threads(1), v);
    CHECK(policy.select(cpu::par.threads(2), v) == one);
    CHECK(policy.select(cpu::par.threads(3), v) == one);
  }
  const auto nm = pollard::n_m::pruned_of(2, 4);
  CHECK(nm.select(cpu::par.threads(2), v) == nm.select(cpu::par.threads(1), v));
}

TEST_CASE("sparsegpt and obs_reconstruct give bit-identical weights at 1, 2 and 3 threads") {
  const auto p = pollard::test::make_layer<float>(300, 384, 500, 17, {7});
  const pollard::unstructured half(0.5, pollard::per_column_block{128});
  const auto run = [&](int threads, bool n_m) {
    auto w = p.w;
    const auto exec = cpu::par.threads(threads);
    const auto r =
        n_m ? pollard::sparsegpt<float>(exec, w.view(), p.h.view(), pollard::n_m::pruned_of(2, 4))
            : pollard::sparsegpt<float>(exec, w.view(), p.h.view(), half);
    return std::pair{w.values, r};
  };
  for (const bool n_m : {false, true}) {
    CAPTURE(n_m);
    const auto [w1, r1] = run(1, n_m);
    for (const int threads : {2, 3}) {
      const auto [w, r] = run(threads, n_m);
      CHECK(w == w1);
      CHECK(r.mask == r1.mask);
      CHECK(r.loss == r1.loss);
    }
  }
  const auto fixed = pollard::test::random_normal<float>(300, 384, 3);
  pollard::mask m(300, 384);
  for (index_t i = 0; i < 300; ++i)
    for (index_t j = 0; j < 384; ++j)
      if (fixed(i, j) > 0.0f) m.prune(i, j);
  auto w1 = p.w, w2 = p.w;
  pollard::obs_reconstruct<float>(cpu::par.threads(1), w1.view(), p.h.view(), m);
  pollard::obs_reconstruct<float>(cpu::par.threads(2), w2.view(), p.h.view(), m);
  CHECK(w1.values == w2.values);
}

#if defined(_OPENMP)
TEST_CASE(
    "parallel_for: a body's Eigen products run on one thread, whatever Eigen's thread count, even "
    "for a single piece; a nested loop runs on the calling thread") {
  const int eigen_threads = Eigen::nbThreads();
  Eigen::setNbThreads(2);
  // One piece, large enough that Eigen would split it over its own threads.
  const auto a = pollard::test::random_normal<float>(300, 400, 1);
  const auto b = pollard::test::random_normal<float>(400, 350, 2);
  using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Eigen::Map<const matrix> am(a.view().data(), 300, 400), bm(b.view().data(), 400, 350);
  int team = 0, nested_team = 0, nested_thread = -1, outer_thread = -1;
  matrix in_loop(300, 350);
  cpu::parallel_for(cpu::par.threads(2), 1, 1, [&](index_t) {
    team = omp_get_num_threads();
    outer_thread = omp_get_thread_num();
    in_loop.noalias() = am * bm;
    cpu::parallel_for(cpu::par.threads(2), 1, index_t{1} << 30, [&](index_t) {
      nested_team = omp_get_num_threads();
      nested_thread = omp_get_thread_num();
    });
  });
  Eigen::setNbThreads(1);
  matrix serial(300, 350);
  serial.noalias() = am * bm;
  Eigen::setNbThreads(eigen_threads);
  CHECK(team == 2);
  CHECK(nested_team == 2);
  CHECK(nested_thread == outer_thread);
  CHECK(in_loop == serial);
}
#endif

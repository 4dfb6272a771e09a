// SparseGPT on real layer shapes against its own 2-thread floor measured in the same binary: the
// factorisation (U from H; sequential) plus the lazy-update GEMMs (Σ_blocks d_out x B x remaining
// columns) on 2 threads, timed on their own. The sweep runs on the thread count given as the
// third argument. Counters: floor_ratio = wall time / (factor_s + gemm_s) (target <= 1.3 at 2
// threads).
#include <benchmark/benchmark.h>

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <utility>
#include <vector>

#include "pollard/backends/cpu/cholesky.hpp"
#include "pollard/backends/cpu/eigen_map.hpp"
#include "pollard/backends/cpu/gemm.hpp"
#include "pollard/solvers/obs_reconstruction.hpp"
#include "pollard/solvers/sparsegpt.hpp"

namespace {

using pollard::index_t;
using matrix = pollard::cpu::row_major_matrix<float>;
using clock_type = std::chrono::steady_clock;

constexpr index_t block_size = 128;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

matrix random_matrix(index_t rows, index_t cols, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  matrix m(rows, cols);
  for (index_t k = 0; k < m.size(); ++k) m.data()[k] = dist(rng);
  return m;
}

// H = (2/N)·XᵀX from 1024 random tokens (rank-deficient for large d_in; the damping makes it
// positive definite, as for the reference with few tokens). Cached per width.
const matrix& hessian(index_t d_in) {
  static std::map<index_t, matrix> cache;
  auto it = cache.find(d_in);
  if (it != cache.end()) return it->second;
  const index_t tokens = 1024;
  const matrix x = random_matrix(tokens, d_in, 7);
  matrix h = matrix::Zero(d_in, d_in);
  h.selfadjointView<Eigen::Lower>().rankUpdate(x.transpose(), 2.0f / static_cast<float>(tokens));
  h.triangularView<Eigen::StrictlyUpper>() = h.transpose();
  return cache.emplace(d_in, std::move(h)).first->second;
}

// Seconds for the factorisation step alone (U from H), best of `repeats`.
double factor_seconds(index_t d_in, int repeats) {
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    matrix h = hessian(d_in);
    const auto start = clock_type::now();
    auto f = pollard::cpu::upper_cholesky_of_inverse<float>(std::move(h), 0.01, 0);
    benchmark::DoNotOptimize(f.u.data());
    best = std::min(best, seconds_since(start));
  }
  return best;
}

// Seconds for the sweep's lazy-update GEMMs alone (same shapes and layouts), best of `repeats`;
// also their flop count.
std::pair<double, double> gemm_seconds(index_t d_out, index_t d_in, int repeats, int threads) {
  const auto exec = pollard::cpu::par.threads(threads);
  matrix w = random_matrix(d_out, d_in, 3);
  const matrix u = random_matrix(d_in, d_in, 4) * 1e-3f;
  const pollard::cpu::col_major_matrix<float> err =
      pollard::cpu::col_major_matrix<float>::Random(d_out, block_size);
  double flops = 0.0, best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    flops = 0.0;
    const auto start = clock_type::now();
    for (index_t i1 = 0; i1 < d_in; i1 += block_size) {
      const index_t nb = std::min(block_size, d_in - i1), rest = d_in - i1 - nb;
      if (rest == 0) continue;
      pollard::cpu::subtract_product(
          exec, pollard::matrix_view<float>(w.data() + i1 + nb, d_out, rest, d_in, 1),
          pollard::matrix_view<const float>(err.data(), d_out, nb, 1, d_out),
          pollard::matrix_view<const float>(u.data() + i1 * d_in + i1 + nb, nb, rest, d_in, 1));
      flops +=
          2.0 * static_cast<double>(d_out) * static_cast<double>(nb) * static_cast<double>(rest);
    }
    benchmark::DoNotOptimize(w.data());
    best = std::min(best, seconds_since(start));
  }
  return {best, flops};
}

void run_sparsegpt(benchmark::State& state, bool n_m) {
  const index_t d_out = state.range(0), d_in = state.range(1);
  const matrix& h = hessian(d_in);
  const matrix w0 = random_matrix(d_out, d_in, 1);
  const int repeats = d_in * d_out > 20'000'000 ? 1 : 3;
  const auto exec = pollard::cpu::par.threads(static_cast<int>(state.range(2)));
  const double factor_s = factor_seconds(d_in, repeats);
  const auto [gemm_s, gemm_flops] = gemm_seconds(d_out, d_in, repeats, 2);
  const auto gemm1 = gemm_seconds(d_out, d_in, repeats, 1);
  double total_s = 0.0;
  for (auto _ : state) {
    matrix w = w0;
    const auto start = clock_type::now();
    auto r =
        n_m ? pollard::sparsegpt<float>(exec, pollard::matrix_view<float>(w.data(), d_out, d_in),
                                        pollard::matrix_view<const float>(h.data(), d_in, d_in),
                                        pollard::n_m::pruned_of(2, 4))
            : pollard::sparsegpt<float>(exec, pollard::matrix_view<float>(w.data(), d_out, d_in),
                                        pollard::matrix_view<const float>(h.data(), d_in, d_in),
                                        pollard::unstructured(0.5, pollard::per_column_block{128}));
    benchmark::DoNotOptimize(r.loss);
    const double elapsed = seconds_since(start);
    total_s += elapsed;
    state.SetIterationTime(elapsed);
  }
  state.counters["factor_s"] = factor_s;
  state.counters["gemm_s"] = gemm_s;
  state.counters["gemm_GFLOPs"] = gemm_flops / gemm_s * 1e-9;
  state.counters["gemm_1t_GFLOPs"] = gemm1.second / gemm1.first * 1e-9;
  state.counters["threads"] = static_cast<double>(exec.threads());
  state.counters["floor_s"] = factor_s + gemm_s;
  state.counters["floor_ratio"] =
      total_s / static_cast<double>(state.iterations()) / (factor_s + gemm_s);
}

void bm_sparsegpt_unstructured(benchmark::State& state) { run_sparsegpt(state, false); }
void bm_sparsegpt_2_4(benchmark::State& state) { run_sparsegpt(state, true); }

// The factorisation step: the shortcut used (reversed factorisation + one triangular inverse)
// and the reference chain cholesky -> inverse -> upper cholesky.
void bm_factor_shortcut(benchmark::State& state) {
  const index_t d = state.range(0);
  const matrix& h = hessian(d);
  for (auto _ : state) {
    matrix copy = h;
    auto f = pollard::cpu::upper_cholesky_of_inverse<float>(std::move(copy), 0.01, 0);
    benchmark::DoNotOptimize(f.u.data());
  }
}

void bm_factor_reference_chain(benchmark::State& state) {
  const index_t d = state.range(0);
  const matrix& h = hessian(d);
  for (auto _ : state) {
    matrix damped = h;
    damped.diagonal().array() += 0.01f * h.diagonal().mean();
    Eigen::LLT<matrix> llt(damped);
    matrix inverse = llt.solve(matrix::Identity(d, d));
    Eigen::LLT<matrix, Eigen::Upper> upper(inverse);
    matrix u = upper.matrixU();
    benchmark::DoNotOptimize(u.data());
  }
}

// (d_out, d_in, threads).
void shapes(benchmark::internal::Benchmark* b) {
  for (const int threads : {1, 2}) {
    b->Args({576, 576, threads})->Args({1536, 576, threads})->Args({576, 1536, threads});
    b->Args({4096, 4096, threads});
  }
  b->Args({11008, 4096, 2})->Args({4096, 11008, 2});
}

}  // namespace

BENCHMARK(bm_sparsegpt_unstructured)
    ->Apply(shapes)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(0.5);
BENCHMARK(bm_sparsegpt_2_4)
    ->Args({576, 576, 2})
    ->Args({4096, 4096, 1})
    ->Args({4096, 4096, 2})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(0.5);
BENCHMARK(bm_factor_shortcut)->Arg(576)->Arg(1536)->Arg(4096)->Unit(benchmark::kMillisecond);
BENCHMARK(bm_factor_reference_chain)->Arg(576)->Arg(1536)->Arg(4096)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();

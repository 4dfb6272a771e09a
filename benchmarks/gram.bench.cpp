// Gram (Hessian) accumulation against an Eigen GEMM of the same shape, measured in this binary.
//
// Flop accounting: the full product XᵀX of X [T x d] costs 2·d²·T flops; the accumulator computes
// only the lower triangle, d²·T "effective" flops (plus O(d²) rescaling). fraction_of_gemm is the
// accumulator's effective rate divided by the full GEMM's rate, so 1.0 means the triangle runs as
// fast per flop as a general GEMM (i.e. in half the GEMM's time); the target is >= 0.7. Both are
// timed in the same iteration, one after the other, in CPU time of the calling thread (Eigen runs
// both single-threaded here), so load from other processes on a shared machine cancels out.
// gram_panels is the alternative kernel considered (column panels of one GEMM each): it measured
// slower than Eigen's rank update, which gram_accumulator uses.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <ctime>
#include <random>
#include <vector>

#include <Eigen/Dense>

#include "pollard/core/element_types.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/stats/gram_accumulator.hpp"

namespace {

using pollard::index_t;
using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic>;

// Row-major T x d activations (the layout a forward pass produces), standard normal.
std::vector<float> activations(index_t tokens, index_t d) {
  std::vector<float> x(static_cast<std::size_t>(tokens * d));
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (auto& v : x) v = dist(rng);
  return x;
}

using row_major_map =
    Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

// Seconds of CPU time of the calling thread (Eigen runs these products single-threaded here), so
// that load from other processes on the shared machine does not skew the ratio.
double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Runs `step` (one accumulate) per iteration, interleaved with one full GEMM C += XᵀX on the same
// activations, and reports the triangle's effective rate relative to the GEMM's.
template <class Step>
void measure_against_gemm(benchmark::State& state, const std::vector<float>& x, index_t tokens,
                          index_t d, Step step) {
  const row_major_map xm(x.data(), tokens, d);
  matrix c = matrix::Zero(d, d);
  double gram_time = 0.0, gemm_time = 0.0;
  for (auto _ : state) {
    const double t0 = thread_seconds();
    step();
    const double t1 = thread_seconds();
    state.PauseTiming();
    c.noalias() += xm.transpose() * xm;
    benchmark::DoNotOptimize(c.data());
    gemm_time += thread_seconds() - t1;
    state.ResumeTiming();
    gram_time += t1 - t0;
  }
  const double triangle_flops =
      static_cast<double>(d) * static_cast<double>(d) * static_cast<double>(tokens);
  const auto n = static_cast<double>(state.iterations());
  state.counters["effective_gflops_cpu"] = triangle_flops * n / gram_time * 1e-9;
  state.counters["gemm_gflops_cpu"] = 2.0 * triangle_flops * n / gemm_time * 1e-9;
  state.counters["fraction_of_gemm"] = (gemm_time / 2.0) / gram_time;
}

// pollard::gram_accumulator<float>::accumulate on one batch of row-major float activations.
void gram_accumulate(benchmark::State& state) {
  const index_t d = state.range(0), tokens = state.range(1);
  const auto x = activations(tokens, d);
  pollard::gram_accumulator<float> g(d);
  const pollard::matrix_view<const float> xv(x.data(), tokens, d);
  measure_against_gemm(state, x, tokens, d, [&] {
    g.accumulate(xv, 1);
    benchmark::DoNotOptimize(g.samples());
  });
}

// The same through the bfloat16 conversion path (blocks of rows converted to float).
void gram_accumulate_bf16(benchmark::State& state) {
  const index_t d = state.range(0), tokens = state.range(1);
  const auto x = activations(tokens, d);
  std::vector<pollard::bfloat16> xb(x.size());
  for (std::size_t k = 0; k < x.size(); ++k) xb[k] = pollard::bfloat16(x[k]);
  pollard::gram_accumulator<float> g(d);
  const pollard::matrix_view<const pollard::bfloat16> xv(xb.data(), tokens, d);
  measure_against_gemm(state, x, tokens, d, [&] {
    g.accumulate(xv, 1);
    benchmark::DoNotOptimize(g.samples());
  });
}

// Candidate kernel: the lower triangle as column panels of width 256, each one Eigen GEMM.
void gram_panels(benchmark::State& state) {
  const index_t d = state.range(0), tokens = state.range(1);
  const auto x = activations(tokens, d);
  const row_major_map xm(x.data(), tokens, d);
  matrix h = matrix::Zero(d, d);
  measure_against_gemm(state, x, tokens, d, [&] {
    const index_t nb = 256;
    for (index_t j0 = 0; j0 < d; j0 += nb) {
      const index_t w = std::min(nb, d - j0);
      h.block(j0, j0, d - j0, w).noalias() +=
          2.0f * xm.middleCols(j0, d - j0).transpose() * xm.middleCols(j0, w);
    }
    benchmark::DoNotOptimize(h.data());
  });
}

// The roofline: Eigen's general GEMM C += XᵀX (full square, 2·d²·T flops).
void eigen_gemm(benchmark::State& state) {
  const index_t d = state.range(0), tokens = state.range(1);
  const auto x = activations(tokens, d);
  const row_major_map xm(x.data(), tokens, d);
  matrix c = matrix::Zero(d, d);
  for (auto _ : state) {
    c.noalias() += xm.transpose() * xm;
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["flops"] = benchmark::Counter(
      2.0 * static_cast<double>(d) * static_cast<double>(d) * static_cast<double>(tokens),
      benchmark::Counter::kIsIterationInvariantRate);
}

// (d, tokens): stories260K (dim 64, FFN 172), SmolLM2-135M (576, 1536), LLaMA-7B (4096, 11008).
void shapes(benchmark::internal::Benchmark* b) {
  b->Args({64, 2048})->Args({172, 2048})->Args({576, 2048})->Args({1536, 2048});
  b->Args({4096, 2048})->Args({11008, 256});
  b->Unit(benchmark::kMillisecond);
}

}  // namespace

BENCHMARK(gram_accumulate)->Apply(shapes);
BENCHMARK(eigen_gemm)->Apply(shapes);
BENCHMARK(gram_panels)->Args({576, 2048})->Args({4096, 2048})->Unit(benchmark::kMillisecond);
BENCHMARK(gram_accumulate_bf16)
    ->Args({576, 2048})
    ->Args({4096, 2048})
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();

// Gram (Hessian) accumulation against an Eigen GEMM of the same shape, measured in this binary on
// 2 threads (the whole 2-core machine) and on 1.
//
// Flop accounting: the full product XᵀX of X [T x d] costs 2·d²·T flops; the accumulator computes
// only the lower triangle, d²·T "effective" flops (plus O(d²) rescaling). fraction_of_gemm2 is the
// accumulator's effective rate on the thread count given (third argument) divided by the 2-thread
// GEMM's rate, so 1.0 means the triangle runs as fast per flop as a general GEMM on the whole
// machine; the target is >= 0.8 at d >= 576. gemm1_gflops is the single-thread GEMM rate. Wall
// time; the accumulation and the 2-thread GEMM alternate within each iteration, so load from
// other processes affects both alike.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <random>
#include <vector>

#include <Eigen/Dense>

#include "pollard/backends/cpu/policy.hpp"
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

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Runs `step` (one accumulate) per iteration, followed by one full GEMM C += XᵀX on the same
// activations on 2 threads, and reports the triangle's effective rate relative to the 2-thread
// GEMM's.
template <class Step>
void measure_against_gemm(benchmark::State& state, const std::vector<float>& x, index_t tokens,
                          index_t d, Step step) {
  const row_major_map xm(x.data(), tokens, d);
  matrix c = matrix::Zero(d, d);
  double gram_time = 0.0, gemm2_time = 0.0, gemm1_time = 0.0;
  // The single-thread GEMM is timed on its own before the loop: interleaved, whatever ran just
  // after it (the second core idle for its duration) ran 0.02-0.04 slower.
  Eigen::setNbThreads(1);
  constexpr int gemm1_repeats = 3;
  const double g0 = wall_seconds();
  for (int r = 0; r < gemm1_repeats; ++r) {
    c.noalias() += xm.transpose() * xm;
    benchmark::DoNotOptimize(c.data());
  }
  gemm1_time = (wall_seconds() - g0) / gemm1_repeats;
  for (auto _ : state) {
    const double t0 = wall_seconds();
    step();
    const double t1 = wall_seconds();
    state.PauseTiming();
    Eigen::setNbThreads(2);
    const double t2 = wall_seconds();
    c.noalias() += xm.transpose() * xm;
    benchmark::DoNotOptimize(c.data());
    gemm2_time += wall_seconds() - t2;
    Eigen::setNbThreads(1);
    state.ResumeTiming();
    gram_time += t1 - t0;
  }
  const double triangle_flops =
      static_cast<double>(d) * static_cast<double>(d) * static_cast<double>(tokens);
  const auto n = static_cast<double>(state.iterations());
  state.counters["threads"] = static_cast<double>(state.range(2));
  state.counters["effective_gflops"] = triangle_flops * n / gram_time * 1e-9;
  state.counters["gemm2_gflops"] = 2.0 * triangle_flops * n / gemm2_time * 1e-9;
  state.counters["gemm1_gflops"] = 2.0 * triangle_flops / gemm1_time * 1e-9;
  state.counters["fraction_of_gemm2"] = (gemm2_time / 2.0) / gram_time;
}

double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// The two kernels of the accumulator's tiles on one thread, for a tile width w and 2048 tokens:
// the symmetric rank-k update of a diagonal tile (w²·T effective flops) and the product of an
// off-diagonal one (2·w²·T flops). Thread CPU time, so that a loaded machine still ranks the
// widths; syrk_per_flop_of_gemm is the update's rate over the product's.
void gram_tile_kernels(benchmark::State& state) {
  const index_t w = state.range(0), tokens = 2048;
  const auto x = activations(tokens, 2 * w);
  const row_major_map xm(x.data(), tokens, 2 * w);
  Eigen::setNbThreads(1);
  matrix h = matrix::Zero(w, w), g = matrix::Zero(w, w);
  double syrk_time = 0.0, gemm_time = 0.0;
  for (auto _ : state) {
    const double t0 = thread_seconds();
    h.selfadjointView<Eigen::Lower>().rankUpdate(xm.leftCols(w).transpose(), 1.0f);
    const double t1 = thread_seconds();
    g.noalias() += xm.leftCols(w).transpose() * xm.rightCols(w);
    const double t2 = thread_seconds();
    benchmark::DoNotOptimize(h.data());
    benchmark::DoNotOptimize(g.data());
    syrk_time += t1 - t0;
    gemm_time += t2 - t1;
  }
  const double flops = static_cast<double>(w) * static_cast<double>(w) *
                       static_cast<double>(tokens) * static_cast<double>(state.iterations());
  state.counters["syrk_gflops"] = flops / syrk_time * 1e-9;
  state.counters["gemm_gflops"] = 2.0 * flops / gemm_time * 1e-9;
  state.counters["syrk_per_flop_of_gemm"] = (flops / syrk_time) / (2.0 * flops / gemm_time);
}

// pollard::gram_accumulator<float>::accumulate on one batch of row-major float activations.
void gram_accumulate(benchmark::State& state) {
  const index_t d = state.range(0), tokens = state.range(1);
  const auto x = activations(tokens, d);
  pollard::gram_accumulator<float> g(d);
  const pollard::matrix_view<const float> xv(x.data(), tokens, d);
  const auto exec = pollard::cpu::par.threads(static_cast<int>(state.range(2)));
  measure_against_gemm(state, x, tokens, d, [&] {
    g.accumulate(exec, xv, 1);
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
  const auto exec = pollard::cpu::par.threads(static_cast<int>(state.range(2)));
  measure_against_gemm(state, x, tokens, d, [&] {
    g.accumulate(exec, xv, 1);
    benchmark::DoNotOptimize(g.samples());
  });
}

// (d, tokens, threads): stories260K (dim 64, FFN 172), SmolLM2-135M (576, 1536), LLaMA-7B
// (4096, 11008).
void shapes(benchmark::internal::Benchmark* b) {
  for (const int threads : {1, 2}) {
    b->Args({64, 2048, threads})->Args({172, 2048, threads})->Args({576, 2048, threads});
    b->Args({1536, 2048, threads})->Args({4096, 2048, threads})->Args({11008, 256, threads});
  }
  b->Unit(benchmark::kMillisecond);
}

}  // namespace

BENCHMARK(gram_tile_kernels)->Arg(144)->Arg(192)->Arg(256)->Arg(288)->Unit(benchmark::kMillisecond);
BENCHMARK(gram_accumulate)->Apply(shapes);
BENCHMARK(gram_accumulate_bf16)
    ->Args({576, 2048, 2})
    ->Args({4096, 2048, 2})
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();

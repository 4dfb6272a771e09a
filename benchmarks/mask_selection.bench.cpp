// Mask selection (per row, per matrix, per column block, N:M) on LLaMA-7B layer shapes, each
// reported as a multiple of one pass over the same scores (a vectorised sum), measured in the
// same process: counter `x_one_pass` = selection time / one-pass time (target: <= 3), both as
// the medians of this thread's CPU time, so other processes on a shared machine matter less.
#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <map>
#include <random>
#include <utility>
#include <vector>

#include "pollard/masks/n_m.hpp"
#include "pollard/masks/unstructured.hpp"

namespace {

using pollard::index_t;

/// |normal| scores (the shape of Wanda/magnitude scores), generated once per shape.
const std::vector<float>& scores(index_t rows, index_t cols) {
  static std::map<std::pair<index_t, index_t>, std::vector<float>> cache;
  auto& v = cache[{rows, cols}];
  if (v.empty()) {
    std::mt19937_64 rng(12345);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    v.resize(static_cast<std::size_t>(rows * cols));
    for (auto& x : v) x = std::abs(dist(rng));
  }
  return v;
}

double thread_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

float one_pass(const std::vector<float>& v) {
  return Eigen::Map<const Eigen::VectorXf>(v.data(), static_cast<Eigen::Index>(v.size())).sum();
}

/// Median seconds of one pass over the scores.
double one_pass_seconds(const std::vector<float>& v) {
  std::vector<double> times;
  for (int r = 0; r < 7; ++r) {
    const double t0 = thread_seconds();
    benchmark::DoNotOptimize(one_pass(v));
    times.push_back(thread_seconds() - t0);
  }
  std::nth_element(times.begin(), times.begin() + 3, times.end());
  return times[3];
}

template <class Policy>
void run_selection(benchmark::State& state, const Policy& policy) {
  const index_t rows = state.range(0), cols = state.range(1);
  const auto& v = scores(rows, cols);
  const pollard::matrix_view<const float> view(v.data(), rows, cols);
  std::vector<double> times;
  for (auto _ : state) {
    const double t0 = thread_seconds();
    auto m = policy.select(view);
    times.push_back(thread_seconds() - t0);
    benchmark::DoNotOptimize(m.flags().data());
  }
  std::nth_element(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2),
                   times.end());
  state.counters["x_one_pass"] = times[times.size() / 2] / one_pass_seconds(v);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * rows * cols *
                          static_cast<std::int64_t>(sizeof(float)));
}

void bm_one_pass_sum(benchmark::State& state) {
  const auto& v = scores(state.range(0), state.range(1));
  for (auto _ : state) benchmark::DoNotOptimize(one_pass(v));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(v.size() * sizeof(float)));
}

/// The floor every policy pays: allocating and zeroing the returned mask (one byte a weight).
void bm_mask_allocation(benchmark::State& state) {
  const index_t rows = state.range(0), cols = state.range(1);
  const auto& v = scores(rows, cols);
  std::vector<double> times;
  for (auto _ : state) {
    const double t0 = thread_seconds();
    pollard::mask m(rows, cols);
    times.push_back(thread_seconds() - t0);
    benchmark::DoNotOptimize(m.flags().data());
  }
  std::nth_element(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2),
                   times.end());
  state.counters["x_one_pass"] = times[times.size() / 2] / one_pass_seconds(v);
}

void bm_per_row_50(benchmark::State& state) {
  run_selection(state, pollard::unstructured{0.5, pollard::per_row});
}
void bm_per_matrix_50(benchmark::State& state) {
  run_selection(state, pollard::unstructured{0.5, pollard::per_matrix});
}
void bm_per_column_block_50(benchmark::State& state) {
  run_selection(state, pollard::unstructured{0.5, pollard::per_column_block{128}});
}
void bm_n_m_2_4(benchmark::State& state) { run_selection(state, pollard::n_m::pruned_of(2, 4)); }
void bm_n_m_4_8(benchmark::State& state) { run_selection(state, pollard::n_m::pruned_of(4, 8)); }

void shapes(benchmark::internal::Benchmark* b) {
  b->Args({4096, 11008})->Args({4096, 4096})->Unit(benchmark::kMillisecond);
}

}  // namespace

BENCHMARK(bm_one_pass_sum)->Apply(shapes);
BENCHMARK(bm_mask_allocation)->Apply(shapes);
BENCHMARK(bm_per_row_50)->Apply(shapes);
BENCHMARK(bm_per_matrix_50)->Apply(shapes);
BENCHMARK(bm_per_column_block_50)->Apply(shapes);
BENCHMARK(bm_n_m_2_4)->Apply(shapes);
BENCHMARK(bm_n_m_4_8)->Apply(shapes);

BENCHMARK_MAIN();

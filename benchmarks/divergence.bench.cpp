// Benchmark: divergence per token position (softmax of both rows, JS, KL, top-1, Δp) against one
// plain pass over the same two logit rows, at real vocabulary sizes. Counters: ns_per_entry
// (CPU time per vocabulary entry) and x_one_pass (divergence time / one-pass time, both CPU
// time in this process). Run with --benchmark_min_time=0.2 on shared machines.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <ctime>
#include <random>
#include <span>
#include <vector>

#include "pollard/metrics/divergence.hpp"

namespace {

// Thread CPU time: the machines are shared, so wall-clock time depends on the neighbours.
double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Positions per buffer: enough that the rows of large vocabularies come from memory, not L2.
constexpr std::size_t kPositions = 16;

struct logits {
  std::size_t vocab;
  std::vector<float> p, q;
  std::vector<std::int32_t> correct;
};

logits make_logits(std::size_t vocab) {
  std::mt19937_64 rng(42);
  std::normal_distribution<float> dist(0.0f, 3.0f), noise(0.0f, 0.5f);
  logits l{
      vocab, std::vector<float>(vocab * kPositions), std::vector<float>(vocab * kPositions), {}};
  for (std::size_t k = 0; k < l.p.size(); ++k) {
    l.p[k] = dist(rng);
    l.q[k] = l.p[k] + noise(rng);
  }
  for (std::size_t r = 0; r < kPositions; ++r)
    l.correct.push_back(static_cast<std::int32_t>((r * 7919) % vocab));
  return l;
}

// One pass over both rows: the memory floor of anything that reads them.
float sum_rows(const float* p, const float* q, std::size_t n) {
  float acc[8] = {};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (std::size_t k = 0; k < 8; ++k) acc[k] += p[i + k] + q[i + k];
  for (; i < n; ++i) acc[0] += p[i] + q[i];
  float s = 0.0f;
  for (float a : acc) s += a;
  return s;
}

double seconds_per_sum_pass(const logits& l) {
  const double start = cpu_seconds();
  std::size_t reps = 0;
  float sink = 0.0f;
  do {
    for (std::size_t r = 0; r < kPositions; ++r, ++reps)
      sink += sum_rows(&l.p[r * l.vocab], &l.q[r * l.vocab], l.vocab);
  } while (cpu_seconds() - start < 0.1);
  benchmark::DoNotOptimize(sink);
  return (cpu_seconds() - start) / static_cast<double>(reps);
}

void divergence_per_token(benchmark::State& state) {
  const auto l = make_logits(static_cast<std::size_t>(state.range(0)));
  const double sum_pass = seconds_per_sum_pass(l);
  pollard::divergence_accumulator acc;
  std::size_t r = 0, positions = 0;
  const double start = cpu_seconds();
  for (auto _ : state) {
    acc.add(std::span<const float>(&l.p[r * l.vocab], l.vocab),
            std::span<const float>(&l.q[r * l.vocab], l.vocab), l.correct[r]);
    r = (r + 1) % kPositions;
    ++positions;
  }
  const double per_token = (cpu_seconds() - start) / static_cast<double>(positions);
  benchmark::DoNotOptimize(acc.count());
  state.SetBytesProcessed(static_cast<std::int64_t>(positions * l.vocab * 2 * sizeof(float)));
  state.counters["ns_per_entry"] = per_token * 1e9 / static_cast<double>(l.vocab);
  state.counters["x_one_pass"] = per_token / sum_pass;
}

void one_pass_sum(benchmark::State& state) {
  const auto l = make_logits(static_cast<std::size_t>(state.range(0)));
  std::size_t r = 0, positions = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(sum_rows(&l.p[r * l.vocab], &l.q[r * l.vocab], l.vocab));
    r = (r + 1) % kPositions;
    ++positions;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(positions * l.vocab * 2 * sizeof(float)));
}

}  // namespace

BENCHMARK(divergence_per_token)->Arg(512)->Arg(32000)->Arg(49152)->Arg(128256);
BENCHMARK(one_pass_sum)->Arg(512)->Arg(32000)->Arg(49152)->Arg(128256);
BENCHMARK_MAIN();

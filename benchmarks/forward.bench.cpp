// Forward-pass throughput: batched prefill (tokens/s and its rate as a fraction of a 2-thread
// Eigen GEMM measured in this binary), KV-cache decoding (tokens/s), one sequence at a time and
// several in one batch, on stories260K (when
// POLLARD_DATA_DIR holds it) and on a randomly initialised SmolLM2-135M-shaped model. Eigen's
// products run on the thread count given as the last argument (Eigen::setNbThreads).
//
// Flop accounting of a prefill over S sequences of L tokens (T = S*L): 2*T*(parameters of the
// linears of all blocks + the classifier) + per block 4*hs*n_heads*S*L(L+1)/2 for the causal
// attention products (QK^T and PV over the visible keys only). fraction_of_gemm = that rate /
// the rate of C = A B^T with A [T x dim], B [hidden_dim x dim] (the MLP's shape) on 2 threads,
// both in wall time, alternating within each iteration. Target: >= 0.8 at 2 threads.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <random>
#include <vector>

#include "pollard/llm/kv_cache.hpp"
#include "pollard/llm/llama2c_model.hpp"
#include "pollard/llm/llama_forward.hpp"

namespace {

using pollard::index_t;
using namespace pollard::llm;

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

llama_config smollm2_135m_shape() {
  llama_config c;
  c.dim = 576;
  c.hidden_dim = 1536;
  c.n_layers = 30;
  c.n_heads = 9;
  c.n_kv_heads = 3;
  c.vocab_size = 49152;
  c.seq_len = 2048;
  c.rope_theta = 100000.0f;
  c.tied_classifier = true;
  return c;
}

llama_weights random_model(const llama_config& c) {
  auto w = llama_weights::zeros(c);
  std::mt19937_64 rng(1);
  std::normal_distribution<float> n(0.0f, 0.02f);
  auto fill = [&](auto& m) {
    for (index_t i = 0; i < m.size(); ++i) m.data()[i] = n(rng);
  };
  fill(w.token_embedding);
  for (auto& l : w.layers) {
    l.attn_norm.setOnes();
    l.ffn_norm.setOnes();
    fill(l.wq);
    fill(l.wk);
    fill(l.wv);
    fill(l.wo);
    fill(l.w1);
    fill(l.w2);
    fill(l.w3);
  }
  w.final_norm.setOnes();
  return w;
}

const llama_weights* stories260k() {
  static const llama_weights* model = []() -> const llama_weights* {
    const char* root = std::getenv("POLLARD_DATA_DIR");
    if (root == nullptr) return nullptr;
    const auto path = std::filesystem::path(root) / "models/stories260K/stories260K.bin";
    if (!std::filesystem::exists(path)) return nullptr;
    return new llama_weights(pollard::llm::read_llama2c(path));
  }();
  return model;
}

const llama_weights& smollm2_shaped() {
  static const llama_weights model = random_model(smollm2_135m_shape());
  return model;
}

double prefill_flops(const llama_config& c, index_t S, index_t L) {
  const double T = double(S * L), d = double(c.dim), h = double(c.hidden_dim),
               kv = double(c.kv_dim());
  const double linear_params = double(c.n_layers) * (2 * d * d + 2 * kv * d + 3 * h * d);
  const double classifier = double(c.vocab_size) * d;
  const double attention = double(c.n_layers) * 4.0 * double(c.head_size()) * double(c.n_heads) *
                           double(S) * double(L) * double(L + 1) / 2.0;
  return 2.0 * T * (linear_params + classifier) + attention;
}

std::vector<pollard::token_id> random_tokens(index_t n, index_t vocab) {
  std::mt19937_64 rng(3);
  std::vector<pollard::token_id> t(static_cast<std::size_t>(n));
  for (auto& v : t) v = static_cast<pollard::token_id>(rng() % static_cast<std::uint64_t>(vocab));
  return t;
}

// Prefill of S x L tokens per iteration, each followed (outside the timing) by one GEMM of the
// MLP's shape over the same token count.
void run_prefill(benchmark::State& state, const llama_weights& w) {
  const index_t S = state.range(0), L = state.range(1);
  const auto& c = w.config;
  const auto tokens = random_tokens(S * L, c.vocab_size);
  llama_forward model(w);
  row_matrix a = row_matrix::Random(S * L, c.dim), b = row_matrix::Random(c.hidden_dim, c.dim);
  row_matrix out(S * L, c.hidden_dim);
  const int threads = static_cast<int>(state.range(2));
  double forward_time = 0.0, gemm_time = 0.0;
  for (auto _ : state) {
    Eigen::setNbThreads(threads);
    const double t0 = wall_seconds();
    row_matrix logits = model.prefill(tokens, sequence_layout{S, L});
    benchmark::DoNotOptimize(logits.data());
    const double t1 = wall_seconds();
    state.PauseTiming();
    Eigen::setNbThreads(2);
    out.noalias() = a * b.transpose();
    benchmark::DoNotOptimize(out.data());
    const double t2 = wall_seconds();
    state.ResumeTiming();
    forward_time += t1 - t0;
    gemm_time += t2 - t1;
  }
  const double n = double(state.iterations());
  const double forward_rate = prefill_flops(c, S, L) * n / forward_time;
  const double gemm_rate =
      2.0 * double(S * L) * double(c.dim) * double(c.hidden_dim) * n / gemm_time;
  state.counters["tokens_per_s"] = double(S * L) * n / forward_time;
  state.counters["forward_GFLOPs"] = forward_rate * 1e-9;
  state.counters["gemm_GFLOPs"] = gemm_rate * 1e-9;
  state.counters["fraction_of_gemm2"] = forward_rate / gemm_rate;
  state.counters["threads"] = threads;
}

// Incremental decoding of `steps` tokens with a KV cache, from an empty cache.
void run_decode(benchmark::State& state, const llama_weights& w) {
  const index_t steps = state.range(0);
  const auto tokens = random_tokens(steps, w.config.vocab_size);
  llama_forward model(w);
  kv_cache cache(w.config, steps);
  double time = 0.0;
  for (auto _ : state) {
    cache.clear();
    const double t0 = thread_seconds();
    for (pollard::token_id t : tokens) benchmark::DoNotOptimize(model.decode_step(cache, t).data());
    time += thread_seconds() - t0;
  }
  state.counters["tokens_per_s"] = double(steps) * double(state.iterations()) / time;
}

// Decoding `sequences` sequences `steps` tokens each from empty caches, on `threads` threads:
// one sequence at a time (decode_step, the linears as matrix-vector products) against all of
// them in one batch per step (extend_each, the linears as matrix products over 8 rows). Wall time;
// the two alternate within each iteration. batched_speedup = one-at-a-time time / batched time.
void run_batched_decode(benchmark::State& state, const llama_weights& w) {
  const index_t sequences = state.range(0), steps = state.range(1);
  const int threads = static_cast<int>(state.range(2));
  Eigen::setNbThreads(threads);
  const auto tokens = random_tokens(sequences * steps, w.config.vocab_size);
  llama_forward model(w);
  std::vector<kv_cache> caches(static_cast<std::size_t>(sequences), kv_cache(w.config, steps));
  std::vector<kv_cache*> batch;
  for (auto& c : caches) batch.push_back(&c);
  double single_time = 0.0, batched_time = 0.0;
  for (auto _ : state) {
    for (auto& c : caches) c.clear();
    const double t0 = wall_seconds();
    for (index_t s = 0; s < sequences; ++s)
      for (index_t p = 0; p < steps; ++p)
        benchmark::DoNotOptimize(
            model.decode_step(caches[std::size_t(s)], tokens[std::size_t(s * steps + p)]).data());
    const double t1 = wall_seconds();
    for (auto& c : caches) c.clear();
    std::vector<pollard::token_id> next(static_cast<std::size_t>(sequences));
    for (index_t p = 0; p < steps; ++p) {
      for (index_t s = 0; s < sequences; ++s)
        next[std::size_t(s)] = tokens[std::size_t(s * steps + p)];
      benchmark::DoNotOptimize(model.extend_each(batch, next).data());
    }
    batched_time += wall_seconds() - t1;
    single_time += t1 - t0;
  }
  const double generated = double(sequences * steps) * double(state.iterations());
  state.counters["one_at_a_time_tokens_per_s"] = generated / single_time;
  state.counters["batched_tokens_per_s"] = generated / batched_time;
  state.counters["batched_speedup"] = single_time / batched_time;
  state.counters["threads"] = threads;
}

void BM_prefill_stories260K(benchmark::State& state) {
  const auto* w = stories260k();
  if (w == nullptr) {
    state.SkipWithError("POLLARD_DATA_DIR does not hold models/stories260K/stories260K.bin");
    return;
  }
  run_prefill(state, *w);
}
void BM_decode_stories260K(benchmark::State& state) {
  const auto* w = stories260k();
  if (w == nullptr) {
    state.SkipWithError("POLLARD_DATA_DIR does not hold models/stories260K/stories260K.bin");
    return;
  }
  run_decode(state, *w);
}
void BM_prefill_smollm2_135m_shape(benchmark::State& state) {
  run_prefill(state, smollm2_shaped());
}
void BM_decode_smollm2_135m_shape(benchmark::State& state) { run_decode(state, smollm2_shaped()); }
void BM_batched_decode_smollm2_135m_shape(benchmark::State& state) {
  run_batched_decode(state, smollm2_shaped());
}

}  // namespace

BENCHMARK(BM_prefill_stories260K)->Args({4, 512, 2})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_decode_stories260K)->Arg(256)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_prefill_smollm2_135m_shape)
    ->Args({4, 512, 1})
    ->Args({4, 512, 2})
    ->Args({1, 512, 2})
    ->Iterations(2)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_decode_smollm2_135m_shape)->Arg(64)->Iterations(2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_batched_decode_smollm2_135m_shape)
    ->Args({8, 16, 1})
    ->Args({8, 16, 2})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();

// pollard's SparseGPT and Wanda on the inputs benchmarks/reference/compare_with_torch.py writes,
// timed the way the script times the PyTorch reference (statistics excluded, pruning only); the
// pruned weights are written back for the script to compare.
//
// Inputs: $POLLARD_COMPARE_DIR/{W,X}.npy, $POLLARD_COMPARE_SEQUENCES (X is split into that many
// equal sequences for the statistics), $POLLARD_COMPARE_NM ("2:4" or empty for 50 % unstructured).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "pollard/criteria/criterion_input_buffers.hpp"
#include "pollard/criteria/wanda.hpp"
#include "pollard/io/npy.hpp"
#include "pollard/masks/n_m.hpp"
#include "pollard/masks/unstructured.hpp"
#include "pollard/prune.hpp"
#include "pollard/solvers/sparsegpt.hpp"
#include "pollard/stats/gram_accumulator.hpp"
#include "pollard/stats/moment_statistics.hpp"

namespace {

struct comparison_inputs {
  std::filesystem::path dir;
  pollard::io::npy_matrix<float> w, x;
  pollard::index_t sequences = 1, n = 0, m = 0;
};

// The inputs, or nothing when the script did not set the environment up.
const comparison_inputs* inputs() {
  static const comparison_inputs* loaded = []() -> comparison_inputs* {
    const char* dir = std::getenv("POLLARD_COMPARE_DIR");
    if (dir == nullptr || *dir == '\0') return nullptr;
    auto* in = new comparison_inputs;
    in->dir = dir;
    in->w = pollard::io::read_npy<float>(in->dir / "W.npy");
    in->x = pollard::io::read_npy<float>(in->dir / "X.npy");
    if (const char* s = std::getenv("POLLARD_COMPARE_SEQUENCES")) in->sequences = std::atol(s);
    if (const char* nm = std::getenv("POLLARD_COMPARE_NM"); nm != nullptr && *nm != '\0') {
      const std::string text = nm;
      in->n = std::stol(text.substr(0, text.find(':')));
      in->m = std::stol(text.substr(text.find(':') + 1));
    }
    return in;
  }();
  return loaded;
}

// Rows [k*T/sequences, (k+1)*T/sequences) of X: one calibration sequence.
pollard::matrix_view<const float> sequence(const comparison_inputs& in, pollard::index_t k) {
  const pollard::index_t length = in.x.rows() / in.sequences;
  return in.x.view().block(k * length, 0, length, in.x.cols());
}

void sparsegpt_pollard(benchmark::State& state) {
  const auto* in = inputs();
  if (in == nullptr) return state.SkipWithError("POLLARD_COMPARE_DIR is not set");
  pollard::gram_accumulator<float> gram(in->x.cols());
  for (pollard::index_t k = 0; k < in->sequences; ++k) gram.accumulate(sequence(*in, k));
  const auto h = gram.hessian();
  pollard::sparsegpt_options o;
  o.reference_threshold = in->m == 0;  // the reference prunes one more weight per block
  std::vector<float> w;
  for (auto _ : state) {
    state.PauseTiming();
    w = in->w.values;
    state.ResumeTiming();
    const pollard::matrix_view<float> wv(w.data(), in->w.rows(), in->w.cols());
    const pollard::matrix_view<const float> hv = h.view();
    auto r = in->m ? pollard::sparsegpt(wv, hv, pollard::n_m::pruned_of(in->n, in->m), o)
                   : pollard::sparsegpt(wv, hv,
                                        pollard::unstructured(0.5, pollard::per_column_block{}), o);
    benchmark::DoNotOptimize(r.loss);
    state.counters["loss"] = r.loss;
  }
  pollard::io::write_npy(in->dir / "W_sparsegpt_pollard.npy",
                         pollard::matrix_view<const float>(w.data(), in->w.rows(), in->w.cols()));
}

void wanda_pollard(benchmark::State& state) {
  const auto* in = inputs();
  if (in == nullptr) return state.SkipWithError("POLLARD_COMPARE_DIR is not set");
  pollard::moment_statistics<double> moments(in->x.cols());
  for (pollard::index_t k = 0; k < in->sequences; ++k) moments.accumulate(sequence(*in, k));
  pollard::criterion_input_buffers<float> buffers;
  buffers.set_moments(moments);
  std::vector<float> w;
  for (auto _ : state) {
    state.PauseTiming();
    w = in->w.values;
    state.ResumeTiming();
    const pollard::matrix_view<float> view(w.data(), in->w.rows(), in->w.cols());
    const auto mask = in->m ? pollard::prune(view, pollard::wanda{}, buffers.inputs(),
                                             pollard::n_m::pruned_of(in->n, in->m))
                            : pollard::prune(view, pollard::wanda{}, buffers.inputs(),
                                             pollard::unstructured{0.5});
    benchmark::DoNotOptimize(mask.flags().data());
  }
  pollard::io::write_npy(in->dir / "W_wanda_pollard.npy",
                         pollard::matrix_view<const float>(w.data(), in->w.rows(), in->w.cols()));
}

}  // namespace

BENCHMARK(sparsegpt_pollard)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(wanda_pollard)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();

// A user-defined execution policy plugs into the generic algorithms, as Thrust's custom-system
// tests do: its primitives record that they ran and forward to the CPU backend's.
#include "pollard/core/execution_policy.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "pollard/backends/cpu/policy.hpp"
#include "pollard/criteria/magnitude.hpp"
#include "pollard/masks/n_m.hpp"
#include "pollard/masks/unstructured.hpp"
#include "pollard/metrics/sparsity.hpp"
#include "pollard/prune.hpp"
#include "pollard/solvers/obs_reconstruction.hpp"
#include "pollard/solvers/sparsegpt.hpp"
#include "solvers/solver_problems.hpp"
#include "support/random.hpp"

using pollard::index_t;

namespace recording {

/// A host policy whose primitives log their names, then run the CPU backend's on one thread.
struct policy {
  using memory_space = pollard::host_space;
  std::shared_ptr<std::vector<std::string>> calls = std::make_shared<std::vector<std::string>>();
  int threads() const noexcept { return 1; }
  bool called(const std::string& name) const {
    return std::find(calls->begin(), calls->end(), name) != calls->end();
  }
};

inline const pollard::cpu::par_t cpu_one = pollard::cpu::par.threads(1);

template <class T, class PruneCount>
void select_lowest(const policy& p, const char* who, pollard::matrix_view<const T> scores,
                   index_t group_rows, index_t group_width, PruneCount prune_count,
                   pollard::mask& out, index_t r0 = 0, index_t c0 = 0) {
  p.calls->push_back("select_lowest");
  pollard::cpu::select_lowest(cpu_one, who, scores, group_rows, group_width, prune_count, out, r0,
                              c0);
}

template <class T>
void rank_n_m(const policy& p, const char* who, pollard::matrix_view<const T> scores,
              index_t pruned, index_t group_size, pollard::mask& out) {
  p.calls->push_back("rank_n_m");
  pollard::cpu::rank_n_m(cpu_one, who, scores, pruned, group_size, out);
}

template <class T>
auto upper_cholesky_of_inverse(const policy& p, pollard::matrix_view<const T> h, double percdamp,
                               int retries, const char* who) {
  p.calls->push_back("upper_cholesky_of_inverse");
  return pollard::cpu::upper_cholesky_of_inverse(cpu_one, h, percdamp, retries, who);
}

template <class T>
double obs_sweep_block(const policy& p, pollard::matrix_view<T> work,
                       pollard::matrix_view<const T> u, index_t i1, index_t nb, pollard::mask& m,
                       pollard::cpu::obs_block_selection selection, pollard::matrix_view<T> err) {
  p.calls->push_back("obs_sweep_block");
  return pollard::cpu::obs_sweep_block(cpu_one, work, u, i1, nb, m, selection, err);
}

template <class T>
void subtract_product(const policy& p, pollard::matrix_view<T> c, pollard::matrix_view<const T> a,
                      pollard::matrix_view<const T> b) {
  p.calls->push_back("subtract_product");
  pollard::cpu::subtract_product(cpu_one, c, a, b);
}

}  // namespace recording

static_assert(pollard::execution_policy<recording::policy>);
static_assert(pollard::execution_policy<pollard::cpu::par_t>);
static_assert(!pollard::execution_policy<int>);
static_assert(!pollard::execution_policy<pollard::matrix_view<float>>);

TEST_CASE("a user-defined execution policy runs prune through its own primitives") {
  const recording::policy policy;
  auto w = pollard::test::random_normal<float>(6, 32, 1);
  auto w_cpu = w;
  const auto m =
      pollard::prune(policy, w.view(), pollard::magnitude{}, {}, pollard::unstructured{0.5});
  CHECK(policy.called("select_lowest"));
  CHECK(m == pollard::prune(w_cpu.view(), pollard::magnitude{}, {}, pollard::unstructured{0.5}));
  CHECK(w.values == w_cpu.values);

  policy.calls->clear();
  const auto nm =
      pollard::prune(policy, w.view(), pollard::magnitude{}, {}, pollard::n_m::pruned_of(2, 4));
  CHECK(policy.called("rank_n_m"));
  CHECK(!policy.called("select_lowest"));
  CHECK(pollard::satisfies_n_m(nm, 2, 4));
}

TEST_CASE("a user-defined execution policy runs the OBS sweep through its own primitives") {
  const auto p = pollard::test::make_layer<float>(10, 48, 80, 4);
  for (const bool n_m : {false, true}) {
    const recording::policy policy;
    auto w = p.w, w_cpu = p.w;
    pollard::sparsegpt_options o;
    o.block_size = 16;
    const pollard::unstructured unstructured(0.5, pollard::per_column_block{16});
    const auto r =
        n_m ? pollard::sparsegpt<float>(policy, w.view(), p.h.view(), pollard::pruned_of<2, 4>{}, o)
            : pollard::sparsegpt<float>(policy, w.view(), p.h.view(), unstructured, o);
    const auto r_cpu =
        n_m ? pollard::sparsegpt<float>(w_cpu.view(), p.h.view(), pollard::pruned_of<2, 4>{}, o)
            : pollard::sparsegpt<float>(w_cpu.view(), p.h.view(), unstructured, o);
    CHECK(policy.called("upper_cholesky_of_inverse"));
    CHECK(policy.called("obs_sweep_block"));
    CHECK(policy.called("subtract_product"));
    CHECK(policy.called("select_lowest") == !n_m);
    CHECK(r.mask == r_cpu.mask);
    CHECK(w.values == w_cpu.values);
  }
  const recording::policy policy;
  auto w = p.w;
  pollard::obs_reconstruct<float>(policy, w.view(), p.h.view(), pollard::mask(10, 48));
  CHECK(policy.called("obs_sweep_block"));
}

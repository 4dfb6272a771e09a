#include "cuda/cpu_reference.hpp"

#include <cmath>

#include "pollard/criteria/magnitude.hpp"
#include "pollard/criteria/ria.hpp"
#include "pollard/criteria/wanda.hpp"
#include "pollard/metrics/divergence.hpp"
#include "pollard/solvers/obs_reconstruction.hpp"
#include "pollard/solvers/sparsegpt.hpp"
#include "support/naive_metrics.hpp"

namespace pollard::test::cpu {

mask select(const unstructured& policy, matrix_view<const float> scores) {
  return policy.select(scores);
}
mask select(const n_m& policy, matrix_view<const float> scores) { return policy.select(scores); }

void magnitude_scores(matrix_view<const float> w, matrix_view<float> scores) {
  magnitude{}.score(w, criterion_inputs<float>{}, scores);
}
void wanda_scores(matrix_view<const float> w, std::span<const float> sq_norms,
                  matrix_view<float> scores) {
  wanda{}.score(w, criterion_inputs<float>{.sq_norm_per_sample = sq_norms}, scores);
}
void ria_scores(matrix_view<const float> w, std::span<const float> sq_norms, double exponent,
                matrix_view<float> scores) {
  ria{.exponent = exponent}.score(w, criterion_inputs<float>{.sq_norm_per_sample = sq_norms},
                                  scores);
}

sparsegpt_result sparsegpt(matrix_view<float> w, matrix_view<const float> hessian,
                           const unstructured& policy, bool reference_threshold) {
  return pollard::sparsegpt<float>(w, hessian, policy,
                                   {.reference_threshold = reference_threshold});
}
sparsegpt_result sparsegpt(matrix_view<float> w, matrix_view<const float> hessian,
                           const n_m& policy, index_t block_size) {
  return pollard::sparsegpt<float>(w, hessian, policy, {.block_size = block_size});
}
sparsegpt_result sparsegpt(matrix_view<float> w, matrix_view<const float> hessian,
                           const n_m& policy, const sparsegpt_options& options) {
  return pollard::sparsegpt<float>(w, hessian, policy, options);
}

sparsegpt_result obs_reconstruct(matrix_view<float> w, matrix_view<const float> hessian,
                                 const mask& pruned) {
  return pollard::obs_reconstruct<float>(w, hessian, pruned);
}

std::vector<divergence_sample> divergence_samples(matrix_view<const float> p,
                                                  matrix_view<const float> q,
                                                  std::span<const std::int32_t> correct) {
  std::vector<divergence_sample> out;
  std::vector<float> row_p(static_cast<std::size_t>(p.cols())), row_q(row_p.size());
  for (index_t r = 0; r < p.rows(); ++r) {
    for (index_t j = 0; j < p.cols(); ++j) {
      row_p[static_cast<std::size_t>(j)] = p(r, j);
      row_q[static_cast<std::size_t>(j)] = q(r, j);
    }
    out.push_back(divergence_at(row_p, row_q, correct[static_cast<std::size_t>(r)]));
  }
  return out;
}

divergence_report divergence_report_of(matrix_view<const float> p, matrix_view<const float> q,
                                       std::span<const std::int32_t> correct) {
  divergence_accumulator accumulator;
  accumulator.add(p, q, correct);
  return accumulator.report();
}

divergence_sample naive_divergence(const std::vector<float>& p, const std::vector<float>& q,
                                   std::int32_t correct) {
  const auto pp = naive_softmax(p), qq = naive_softmax(q);
  const auto c = static_cast<std::size_t>(correct);
  divergence_sample s;
  s.js_nats = static_cast<double>(naive_js(pp, qq));
  s.kl = static_cast<double>(naive_kl(pp, qq));
  s.delta_p = static_cast<double>(qq[c] - pp[c]);
  s.nll_p = static_cast<double>(-std::log(pp[c]));
  s.nll_q = static_cast<double>(-std::log(qq[c]));
  s.top_p = static_cast<index_t>(naive_argmax(p));
  s.top_q = static_cast<index_t>(naive_argmax(q));
  s.same_top = s.top_p == s.top_q;
  return s;
}

divergence_report divergence_report_of(std::span<const divergence_sample> samples) {
  divergence_accumulator accumulator;
  accumulator.add(samples);
  return accumulator.report();
}

}  // namespace pollard::test::cpu

#include "cuda/cpu_reference.hpp"

#include "pollard/criteria/magnitude.hpp"
#include "pollard/criteria/ria.hpp"
#include "pollard/criteria/wanda.hpp"
#include "pollard/solvers/sparsegpt.hpp"

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
                           const unstructured& policy) {
  return pollard::sparsegpt<float>(w, hessian, policy);
}
sparsegpt_result sparsegpt(matrix_view<float> w, matrix_view<const float> hessian,
                           const n_m& policy, index_t block_size) {
  return pollard::sparsegpt<float>(w, hessian, policy, {.block_size = block_size});
}

}  // namespace pollard::test::cpu

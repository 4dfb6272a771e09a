// The CPU side of the CUDA tests, compiled once by the C++ compiler: the CPU backend's results
// on host data, for the device results to be compared with.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/masks/n_m.hpp"
#include "pollard/masks/unstructured.hpp"
#include "pollard/metrics/divergence_report.hpp"
#include "pollard/metrics/divergence_sample.hpp"
#include "pollard/solvers/sparsegpt_options.hpp"
#include "pollard/solvers/sparsegpt_result.hpp"

namespace pollard::test::cpu {

mask select(const unstructured& policy, matrix_view<const float> scores);
mask select(const n_m& policy, matrix_view<const float> scores);

void magnitude_scores(matrix_view<const float> w, matrix_view<float> scores);
void wanda_scores(matrix_view<const float> w, std::span<const float> sq_norms,
                  matrix_view<float> scores);
void ria_scores(matrix_view<const float> w, std::span<const float> sq_norms, double exponent,
                matrix_view<float> scores);

/// SparseGPT on the CPU backend (w updated in place), default options but the block size (and
/// reference_threshold).
sparsegpt_result sparsegpt(matrix_view<float> w, matrix_view<const float> hessian,
                           const unstructured& policy, bool reference_threshold = false);
sparsegpt_result sparsegpt(matrix_view<float> w, matrix_view<const float> hessian,
                           const n_m& policy, index_t block_size);
/// SparseGPT on the CPU backend with every numerical option given (percdamp, retries, ...).
sparsegpt_result sparsegpt(matrix_view<float> w, matrix_view<const float> hessian,
                           const n_m& policy, const sparsegpt_options& options);

/// OBS reconstruction with the mask given, on the CPU backend (w updated in place).
sparsegpt_result obs_reconstruct(matrix_view<float> w, matrix_view<const float> hessian,
                                 const mask& pruned);

/// The CPU's divergence_row of every row (divergence_at), and the report of those logits.
std::vector<divergence_sample> divergence_samples(matrix_view<const float> p,
                                                  matrix_view<const float> q,
                                                  std::span<const std::int32_t> correct);
divergence_report divergence_report_of(matrix_view<const float> p, matrix_view<const float> q,
                                       std::span<const std::int32_t> correct);
/// The metrics of one position from their definitions (tests/support's naive long-double
/// oracles); nll_p is −log p(correct).
divergence_sample naive_divergence(const std::vector<float>& p, const std::vector<float>& q,
                                   std::int32_t correct);
/// The report of an accumulator fed with samples computed elsewhere.
divergence_report divergence_report_of(std::span<const divergence_sample> samples);

}  // namespace pollard::test::cpu

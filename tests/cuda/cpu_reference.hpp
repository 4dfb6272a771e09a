// The CPU side of the CUDA tests, compiled once by the C++ compiler: the CPU backend's results
// on host data, for the device results to be compared with.
#pragma once

#include <span>

#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/masks/n_m.hpp"
#include "pollard/masks/unstructured.hpp"
#include "pollard/solvers/sparsegpt_result.hpp"

namespace pollard::test::cpu {

mask select(const unstructured& policy, matrix_view<const float> scores);
mask select(const n_m& policy, matrix_view<const float> scores);

void magnitude_scores(matrix_view<const float> w, matrix_view<float> scores);
void wanda_scores(matrix_view<const float> w, std::span<const float> sq_norms,
                  matrix_view<float> scores);
void ria_scores(matrix_view<const float> w, std::span<const float> sq_norms, double exponent,
                matrix_view<float> scores);

/// SparseGPT on the CPU backend (w updated in place), default options but the block size.
sparsegpt_result sparsegpt(matrix_view<float> w, matrix_view<const float> hessian,
                           const unstructured& policy);
sparsegpt_result sparsegpt(matrix_view<float> w, matrix_view<const float> hessian,
                           const n_m& policy, index_t block_size);

}  // namespace pollard::test::cpu

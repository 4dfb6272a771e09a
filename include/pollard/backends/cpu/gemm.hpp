// pollard — the CPU backend's matrix-product update, C −= A·B (BLAS gemm under POLLARD_USE_BLAS).
#pragma once

#include <Eigen/Core>

namespace pollard::cpu {

/// C −= A·B for Eigen expressions (maps, blocks, matrices) of matching shapes; C must not alias
/// A or B.
template <class C, class A, class B>
void subtract_product(C&& c, const A& a, const B& b) {
  c.noalias() -= a * b;
}

}  // namespace pollard::cpu

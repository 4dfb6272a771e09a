// pollard — the CUDA backend's factorisation for OBS solvers: the upper Cholesky factor U of
// (H + λI)⁻¹ from one reversed factorisation (cuSOLVER potrf) and one triangular inverse
// (diagonal blocks of 64 by forward substitution in one kernel, cuBLAS trmm between them), with
// the CPU backend's damping, retries and report.
#pragma once

#if !defined(__CUDACC__)
#error \
    "pollard/backends/cuda/cholesky.cuh is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "pollard/backends/cuda/checked_call.cuh"
#include "pollard/backends/cuda/device_buffer.cuh"
#include "pollard/backends/cuda/policy.cuh"
#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::cuda {

/// The arithmetic of the factorisation (potrf and the triangular inverse); U is stored in float
/// either way. fp64 costs about the same as fp32 on an H100/H200 and keeps ill-conditioned Hessians
/// (large d, little damping) factorable at the requested damping more often.
enum class factor_precision { fp32, fp64 };

/// The damping a factorisation ended up needing (as the CPU backend reports it).
struct damping_report {
  double damping = 0.0;   ///< absolute λ added to the diagonal
  double percdamp = 0.0;  ///< λ / mean(diag)
  int retries = 0;        ///< failed attempts before the one that succeeded
};

/// U (upper, row-major n x n in device memory) with UᵀU = (H + λI)⁻¹, and the damping used.
/// Compute it once per Hessian and pass it to every solver whose layer shares that input
/// (q/k/v, gate/up).
struct device_upper_factor {
  index_t n = 0;
  device_buffer<float> u;
  damping_report damping;

  device_view<const float> view() const { return device_view<const float>(u.data(), n, n); }
};

namespace detail {

/// a = J·H·J + λI (J the order reversal): the row-major storage of H read backwards, which
/// is also the column-major storage of that symmetric matrix.
template <class S>
__global__ void reversed_damped(matrix_view<const float, device_space> h, S damping, S* a) {
  const index_t n = h.rows();
  const index_t i = blockIdx.y * static_cast<index_t>(blockDim.y) + threadIdx.y;
  const index_t j = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (i >= n || j >= n) return;
  const auto v = static_cast<S>(h(n - 1 - i, n - 1 - j));
  a[i * n + j] = i == j ? v + damping : v;
}

/// U(i, j) = L⁻¹(n−1−i, n−1−j) for i <= j, 0 below, where s holds L⁻¹ column-major (lower).
template <class S>
__global__ void reversed_upper(const S* s, index_t n, float* u) {
  const index_t i = blockIdx.y * static_cast<index_t>(blockDim.y) + threadIdx.y;
  const index_t j = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (i >= n || j >= n) return;
  u[i * n + j] = i <= j ? static_cast<float>(s[(n - 1 - i) + (n - 1 - j) * n]) : 0.0f;
}

/// Whether every diagonal entry of the column-major factor is finite and positive.
template <class S>
__global__ void check_diagonal(const S* a, index_t n, int* bad) {
  const index_t j = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (j >= n) return;
  const S d = a[j * n + j];
  if (!(isfinite(d) && d > S(0))) atomicExch(bad, 1);
}

inline cusolverStatus_t potrf_buffer_size(cusolverDnHandle_t h, int n, float* a, int* bytes) {
  return cusolverDnSpotrf_bufferSize(h, CUBLAS_FILL_MODE_LOWER, n, a, n, bytes);
}
inline cusolverStatus_t potrf_buffer_size(cusolverDnHandle_t h, int n, double* a, int* bytes) {
  return cusolverDnDpotrf_bufferSize(h, CUBLAS_FILL_MODE_LOWER, n, a, n, bytes);
}
inline cusolverStatus_t potrf(cusolverDnHandle_t h, int n, float* a, float* work, int size,
                              int* info) {
  return cusolverDnSpotrf(h, CUBLAS_FILL_MODE_LOWER, n, a, n, work, size, info);
}
inline cusolverStatus_t potrf(cusolverDnHandle_t h, int n, double* a, double* work, int size,
                              int* info) {
  return cusolverDnDpotrf(h, CUBLAS_FILL_MODE_LOWER, n, a, n, work, size, info);
}

inline cublasStatus_t trmm(cublasHandle_t h, cublasSideMode_t side, int m, int n, float alpha,
                           const float* a, int lda, float* b, int ldb) {
  return cublasStrmm(h, side, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, CUBLAS_DIAG_NON_UNIT, m, n,
                     &alpha, a, lda, b, ldb, b, ldb);
}
inline cublasStatus_t trmm(cublasHandle_t h, cublasSideMode_t side, int m, int n, double alpha,
                           const double* a, int lda, double* b, int ldb) {
  return cublasDtrmm(h, side, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, CUBLAS_DIAG_NON_UNIT, m, n,
                     &alpha, a, lda, b, ldb, b, ldb);
}

/// Order of the diagonal blocks that invert_diagonal_blocks inverts, one thread block each.
inline constexpr int diagonal_block = 64;

/// In place, the inverse of every diagonal block of the lower-triangular column-major n x n
/// matrix at a: block k holds rows and columns [64k, min(64k + 64, n)). Thread j of a block
/// computes column j of the block's inverse by forward substitution, x_j = 1 / L_jj and
/// x_i = −(Σ_{j<=k<i} L_ik x_k) / L_ii, with the block in shared memory; the strictly upper part
/// is left as it was. Sets *bad to 1 when a result is not finite.
template <class S>
__global__ void __launch_bounds__(diagonal_block)
    invert_diagonal_blocks(S* a, index_t n, index_t lda, int* bad) {
  __shared__ S l[diagonal_block][diagonal_block + 1];  // l[i][k] = L(i, k) of the block
  const index_t base = blockIdx.x * static_cast<index_t>(diagonal_block);
  const int m = static_cast<int>(n - base < diagonal_block ? n - base : diagonal_block);
  const int t = static_cast<int>(threadIdx.x);
  if (t < m)
    for (int k = 0; k <= t; ++k) l[t][k] = a[(base + t) + (base + k) * lda];
  __syncthreads();
  if (t >= m) return;
  S x[diagonal_block];
  x[t] = S(1) / l[t][t];
  bool finite = isfinite(x[t]);
  for (int i = t + 1; i < m; ++i) {
    S sum = 0;
    for (int k = t; k < i; ++k) sum += l[i][k] * x[k];
    x[i] = -sum / l[i][i];
    finite = finite && isfinite(x[i]);
  }
  for (int i = t; i < m; ++i) a[(base + i) + (base + t) * lda] = x[i];
  if (!finite) atomicExch(bad, 1);
}

/// In place, the inverse of the lower-triangular column-major n x n matrix at a (leading
/// dimension lda) whose diagonal blocks of diagonal_block (at multiples of it from a) are
/// inverted already: [L11 0; L21 L22]⁻¹ = [L11⁻¹ 0; −L22⁻¹·L21·L11⁻¹ L22⁻¹], split at a
/// multiple of diagonal_block so that every leaf is one of those blocks, the off-diagonal part
/// by two triangular products (cuBLAS trmm, near the GEMM rate on large blocks).
template <class S>
void invert_lower(cublasHandle_t blas, index_t n, S* a, index_t lda) {
  if (n <= diagonal_block) return;
  const index_t n1 = ((n / 2 + diagonal_block - 1) / diagonal_block) * diagonal_block, n2 = n - n1;
  S* const l11 = a;
  S* const l21 = a + n1;
  S* const l22 = a + n1 + n1 * lda;
  invert_lower(blas, n1, l11, lda);
  invert_lower(blas, n2, l22, lda);
  const auto ld = static_cast<int>(lda);
  POLLARD_CUDA_CHECK(trmm(blas, CUBLAS_SIDE_RIGHT, static_cast<int>(n2), static_cast<int>(n1), S(1),
                          l11, ld, l21, ld));
  POLLARD_CUDA_CHECK(trmm(blas, CUBLAS_SIDE_LEFT, static_cast<int>(n2), static_cast<int>(n1), S(-1),
                          l22, ld, l21, ld));
}

/// U (float) for S = float or double arithmetic; see upper_cholesky_of_inverse.
template <class S, cuda_policy P>
device_upper_factor upper_cholesky_of_inverse_in(const P& p, device_view<const float> h,
                                                 double percdamp, int max_retries,
                                                 std::string_view who) {
  const index_t n = h.rows();
  device_upper_factor out;
  out.n = n;
  out.u = device_buffer<float>(static_cast<std::size_t>(n * n));
  if (n == 0) return out;
  auto& r = p.resources();
  const cudaStream_t stream = r.stream();
  cusolverDnHandle_t solver = r.cusolver();

  std::vector<float> diagonal(static_cast<std::size_t>(n));
  POLLARD_CUDA_CHECK(cudaMemcpy2DAsync(
      diagonal.data(), sizeof(float), h.data(),
      static_cast<std::size_t>(h.row_stride() + h.col_stride()) * sizeof(float), sizeof(float),
      static_cast<std::size_t>(n), cudaMemcpyDeviceToHost, stream));
  r.synchronize();
  double mean_diagonal = 0.0;
  for (index_t j = 0; j < n; ++j) {
    const float d = diagonal[static_cast<std::size_t>(j)];
    if (d < 0.0f) throw_not_positive_semidefinite(who, n, j, static_cast<double>(d));
    mean_diagonal += static_cast<double>(d);
  }
  mean_diagonal /= static_cast<double>(n);

  const int order = static_cast<int>(n);
  int potrf_size = 0;
  // The factor, potrf's buffer and two status words in the stream's workspace (no allocation
  // per factorisation once it is large enough).
  const auto round_up = [](std::size_t bytes) { return (bytes + 255) / 256 * 256; };
  const std::size_t a_bytes = round_up(static_cast<std::size_t>(n * n) * sizeof(S));
  POLLARD_CUDA_CHECK(
      potrf_buffer_size(solver, order, static_cast<S*>(r.workspace(a_bytes)), &potrf_size));
  const std::size_t work_bytes = round_up(static_cast<std::size_t>(potrf_size) * sizeof(S));
  char* const space = static_cast<char*>(r.workspace(a_bytes + work_bytes + 2 * sizeof(int)));
  S* const a = reinterpret_cast<S*>(space);
  S* const work = reinterpret_cast<S*>(space + a_bytes);
  int* const info = reinterpret_cast<int*>(space + a_bytes + work_bytes);

  const dim3 threads(32, 8);
  const dim3 blocks(static_cast<unsigned>((n + 31) / 32), static_cast<unsigned>((n + 7) / 8));
  double factor = percdamp;
  for (int attempt = 0; attempt <= max_retries; ++attempt, factor *= 10.0) {
    const double damping = factor * mean_diagonal;
    reversed_damped<S><<<blocks, threads, 0, stream>>>(h, static_cast<S>(damping), a);
    POLLARD_CUDA_CHECK_LAUNCH("reversed_damped");
    POLLARD_CUDA_CHECK(cudaMemsetAsync(info, 0, 2 * sizeof(int), stream));
    POLLARD_CUDA_CHECK(potrf(solver, order, a, work, potrf_size, info));
    check_diagonal<S><<<static_cast<unsigned>((n + 255) / 256), 256, 0, stream>>>(a, n, info + 1);
    POLLARD_CUDA_CHECK_LAUNCH("check_diagonal");
    int status[2] = {0, 0};
    POLLARD_CUDA_CHECK(
        cudaMemcpyAsync(status, info, sizeof(status), cudaMemcpyDeviceToHost, stream));
    r.synchronize();
    if (status[0] == 0 && status[1] == 0) {
      invert_diagonal_blocks<S><<<static_cast<unsigned>((n + diagonal_block - 1) / diagonal_block),
                                  diagonal_block, 0, stream>>>(a, n, n, info);
      POLLARD_CUDA_CHECK_LAUNCH("invert_diagonal_blocks");
      invert_lower(r.cublas(), n, a, n);
      reversed_upper<S><<<blocks, threads, 0, stream>>>(a, n, out.u.data());
      POLLARD_CUDA_CHECK_LAUNCH("reversed_upper");
      POLLARD_CUDA_CHECK(
          cudaMemcpyAsync(status, info, sizeof(int), cudaMemcpyDeviceToHost, stream));
      r.synchronize();
      if (status[0] != 0)
        throw factorisation_error(std::string(who) + ": the triangular inverse of the " +
                                  std::to_string(n) + "x" + std::to_string(n) +
                                  " Cholesky factor is not finite");
      out.damping = {damping, factor, attempt};
      return out;
    }
    if (attempt == max_retries)
      throw_not_positive_definite(who, n, damping, factor, mean_diagonal, max_retries);
  }
  return out;  // unreachable: the last attempt returns or throws
}

}  // namespace detail

/// The backend primitive: U = upper Cholesky factor of (H + λI)⁻¹ for the symmetric device
/// matrix h (read whole, not modified), λ = percdamp · mean(diag H) · 10^k for the k-th retry,
/// k = 0..max_retries. With J the order reversal, JHJ + λI = L·Lᵀ gives (H + λI)⁻¹ = UᵀU with
/// U = J·L⁻¹·J: one potrf and one triangular inverse (invert_lower) replace the reference
/// chain cholesky → inverse → cholesky, in `precision` (U is rounded to float). Throws
/// factorisation_error naming `who` and the last damping tried, shape_error for a non-square h.
/// Synchronises p's stream.
template <cuda_policy P>
device_upper_factor upper_cholesky_of_inverse(const P& p, device_view<const float> h,
                                              double percdamp, int max_retries,
                                              std::string_view who = "cholesky",
                                              factor_precision precision = factor_precision::fp32) {
  require_square(who, "the Hessian", h.rows(), h.cols());
  if (precision == factor_precision::fp64)
    return detail::upper_cholesky_of_inverse_in<double>(p, h, percdamp, max_retries, who);
  return detail::upper_cholesky_of_inverse_in<float>(p, h, percdamp, max_retries, who);
}

}  // namespace pollard::cuda

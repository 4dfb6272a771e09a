// pollard — the CUDA backend's factorisation for OBS solvers: the upper Cholesky factor U of
// (H + λI)⁻¹ from one reversed factorisation (cuSOLVER potrf) and one triangular inverse
// (cuSOLVER trtri on diagonal blocks, cuBLAS trmm between them), with the CPU backend's damping,
// retries and report.
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
template <class S>
inline constexpr cudaDataType_t cuda_type = std::is_same_v<S, double> ? CUDA_R_64F : CUDA_R_32F;

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

/// Largest diagonal block inverted by cuSOLVER's trtri; larger ones are split.
inline constexpr index_t trtri_block = 512;

/// In place, the inverse of the lower-triangular column-major n x n matrix at a (leading
/// dimension lda): [L11 0; L21 L22]⁻¹ = [L11⁻¹ 0; −L22⁻¹·L21·L11⁻¹ L22⁻¹], the diagonal
/// blocks recursively, the off-diagonal one by two triangular products (cuBLAS trmm, near the
/// GEMM rate), diagonal blocks of at most trtri_block by cuSOLVER's trtri (which runs far
/// below the GEMM rate at n in the thousands). work/host_work: trtri's buffers for
/// trtri_block; info: trtri's status.
template <class S>
void invert_lower(cusolverDnHandle_t solver, cublasHandle_t blas, index_t n, S* a, index_t lda,
                  void* work, std::size_t work_bytes, void* host_work, std::size_t host_bytes,
                  int* info) {
  if (n <= trtri_block) {
    POLLARD_CUDA_CHECK(cusolverDnXtrtri(solver, CUBLAS_FILL_MODE_LOWER, CUBLAS_DIAG_NON_UNIT, n,
                                        cuda_type<S>, a, lda, work, work_bytes, host_work,
                                        host_bytes, info));
    return;
  }
  const index_t n1 = ((n / 2 + 127) / 128) * 128, n2 = n - n1;
  S* const l11 = a;
  S* const l21 = a + n1;
  S* const l22 = a + n1 + n1 * lda;
  invert_lower(solver, blas, n1, l11, lda, work, work_bytes, host_work, host_bytes, info);
  invert_lower(solver, blas, n2, l22, lda, work, work_bytes, host_work, host_bytes, info);
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
  device_buffer<S> a(static_cast<std::size_t>(n * n));
  POLLARD_CUDA_CHECK(potrf_buffer_size(solver, order, a.data(), &potrf_size));
  std::size_t trtri_device = 0, trtri_host = 0;
  POLLARD_CUDA_CHECK(cusolverDnXtrtri_bufferSize(
      solver, CUBLAS_FILL_MODE_LOWER, CUBLAS_DIAG_NON_UNIT, std::min(n, trtri_block), cuda_type<S>,
      a.data(), n, &trtri_device, &trtri_host));
  const std::size_t potrf_work = static_cast<std::size_t>(potrf_size) * sizeof(S);
  device_buffer<char> work(std::max(potrf_work, trtri_device) + 256);
  std::vector<char> host_work(trtri_host);
  device_buffer<int> info(2);

  const dim3 threads(32, 8);
  const dim3 blocks(static_cast<unsigned>((n + 31) / 32), static_cast<unsigned>((n + 7) / 8));
  double factor = percdamp;
  for (int attempt = 0; attempt <= max_retries; ++attempt, factor *= 10.0) {
    const double damping = factor * mean_diagonal;
    reversed_damped<S><<<blocks, threads, 0, stream>>>(h, static_cast<S>(damping), a.data());
    POLLARD_CUDA_CHECK_LAUNCH("reversed_damped");
    POLLARD_CUDA_CHECK(cudaMemsetAsync(info.data(), 0, 2 * sizeof(int), stream));
    POLLARD_CUDA_CHECK(
        potrf(solver, order, a.data(), reinterpret_cast<S*>(work.data()), potrf_size, info.data()));
    check_diagonal<S>
        <<<static_cast<unsigned>((n + 255) / 256), 256, 0, stream>>>(a.data(), n, info.data() + 1);
    POLLARD_CUDA_CHECK_LAUNCH("check_diagonal");
    int status[2] = {0, 0};
    POLLARD_CUDA_CHECK(
        cudaMemcpyAsync(status, info.data(), sizeof(status), cudaMemcpyDeviceToHost, stream));
    r.synchronize();
    if (status[0] == 0 && status[1] == 0) {
      invert_lower(solver, r.cublas(), n, a.data(), n, work.data(), trtri_device, host_work.data(),
                   trtri_host, info.data());
      reversed_upper<S><<<blocks, threads, 0, stream>>>(a.data(), n, out.u.data());
      POLLARD_CUDA_CHECK_LAUNCH("reversed_upper");
      POLLARD_CUDA_CHECK(
          cudaMemcpyAsync(status, info.data(), sizeof(int), cudaMemcpyDeviceToHost, stream));
      r.synchronize();
      if (status[0] != 0)
        throw factorisation_error(
            std::string(who) + ": the triangular inverse of the " + std::to_string(n) + "x" +
            std::to_string(n) + " Cholesky factor failed (info " + std::to_string(status[0]) + ")");
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

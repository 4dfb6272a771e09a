// pollard — the CUDA backend's factorisation for OBS solvers: the upper Cholesky factor U of
// (H + λI)⁻¹ from one reversed factorisation (cuSOLVER potrf) and one triangular inverse
// (diagonal blocks of 64 by forward substitution in one kernel, joined by batched cuBLAS
// products), with the CPU backend's damping, retries and report, and its refusal of an
// indefinite Hessian (cuSOLVER potrf and syevd in double, only when the first attempt fails).
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
#include <limits>
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
/// either way. fp64 keeps ill-conditioned Hessians (large d, little damping) factorable at the
/// requested damping more often, and on data-centre GPUs it is no slower: cuSOLVER's fp64
/// products run on the fp64 tensor cores (H200: 25.8 ms against 30.1 ms in fp32 at n = 11008).
/// `automatic` (the default) takes fp64 where the device's fp32 : fp64 throughput ratio
/// (cudaDevAttrSingleToDoublePrecisionPerfRatio) is at most 2 (A100, H100, H200) and fp32
/// elsewhere (consumer GPUs run fp64 at 1/32 to 1/64 of fp32).
enum class factor_precision { fp32, fp64, automatic };

/// The precision `automatic` means on the current device; fp32 and fp64 as given.
inline factor_precision resolved_factor_precision(factor_precision precision) {
  if (precision != factor_precision::automatic) return precision;
  int device = 0, ratio = 0;
  POLLARD_CUDA_CHECK(cudaGetDevice(&device));
  POLLARD_CUDA_CHECK(
      cudaDeviceGetAttribute(&ratio, cudaDevAttrSingleToDoublePrecisionPerfRatio, device));
  return ratio > 0 && ratio <= 2 ? factor_precision::fp64 : factor_precision::fp32;
}

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
  factor_precision precision = factor_precision::fp32;  ///< the arithmetic it was computed in

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

/// Called when JHJ + λI failed to factor at the requested damping (h is H, its diagonal copied
/// to the host): throws factorisation_error (throw_indefinite_hessian, the CPU's text) when the
/// symmetric n x n Hessian has an eigenvalue below −τ, τ = sqrt(ε_float) · max |H_jj| (H is
/// float; rounding in an accumulated XᵀX stays far below it), so that damping is retried only on
/// a matrix that is positive semidefinite up to rounding, as the CPU's refuse_indefinite does.
/// On r's stream, in double: potrf of JHJ + τI decides; only when it fails, syevd (eigenvalues
/// only; J does not change them) gives the smallest eigenvalue named in the error. Reads h's
/// lower triangle as the factorisation does; its buffers (n² + n doubles and syevd's work) are
/// stream-ordered and freed on return. Throws factorisation_error when syevd does not converge.
inline void refuse_indefinite(execution_resources& r, device_view<const float> h,
                              const std::vector<float>& diagonal, std::string_view who) {
  const index_t n = h.rows();
  const cudaStream_t stream = r.stream();
  cusolverDnHandle_t solver = r.cusolver();
  double scale = 0.0;
  for (const float d : diagonal) scale = std::max(scale, std::abs(static_cast<double>(d)));
  const double tolerance =
      std::sqrt(static_cast<double>(std::numeric_limits<float>::epsilon())) * scale;

  const int order = static_cast<int>(n);
  const auto entries = static_cast<std::size_t>(n * n);
  device_buffer<double> m(entries + static_cast<std::size_t>(n), stream);  // JHJ, then eigenvalues
  double* const eigenvalues = m.data() + entries;
  device_buffer<int> info(1, stream);
  int potrf_size = 0, syevd_size = 0;
  POLLARD_CUDA_CHECK(potrf_buffer_size(solver, order, m.data(), &potrf_size));
  POLLARD_CUDA_CHECK(cusolverDnDsyevd_bufferSize(solver, CUSOLVER_EIG_MODE_NOVECTOR,
                                                 CUBLAS_FILL_MODE_LOWER, order, m.data(), order,
                                                 eigenvalues, &syevd_size));
  device_buffer<double> work(static_cast<std::size_t>(std::max({potrf_size, syevd_size, 1})),
                             stream);

  const dim3 threads(32, 8);
  const dim3 blocks(static_cast<unsigned>((n + 31) / 32), static_cast<unsigned>((n + 7) / 8));
  reversed_damped<double><<<blocks, threads, 0, stream>>>(h, tolerance, m.data());
  POLLARD_CUDA_CHECK_LAUNCH("reversed_damped");
  POLLARD_CUDA_CHECK(cudaMemsetAsync(info.data(), 0, sizeof(int), stream));
  POLLARD_CUDA_CHECK(potrf(solver, order, m.data(), work.data(), potrf_size, info.data()));
  int status = 0;
  POLLARD_CUDA_CHECK(
      cudaMemcpyAsync(&status, info.data(), sizeof(int), cudaMemcpyDeviceToHost, stream));
  r.synchronize();
  if (status == 0) return;  // positive semidefinite up to rounding: the retries may damp it

  reversed_damped<double><<<blocks, threads, 0, stream>>>(h, 0.0, m.data());
  POLLARD_CUDA_CHECK_LAUNCH("reversed_damped");
  POLLARD_CUDA_CHECK(cudaMemsetAsync(info.data(), 0, sizeof(int), stream));
  POLLARD_CUDA_CHECK(cusolverDnDsyevd(solver, CUSOLVER_EIG_MODE_NOVECTOR, CUBLAS_FILL_MODE_LOWER,
                                      order, m.data(), order, eigenvalues, work.data(), syevd_size,
                                      info.data()));
  double smallest = 0.0;  // syevd's eigenvalues are in ascending order
  POLLARD_CUDA_CHECK(
      cudaMemcpyAsync(&smallest, eigenvalues, sizeof(double), cudaMemcpyDeviceToHost, stream));
  POLLARD_CUDA_CHECK(
      cudaMemcpyAsync(&status, info.data(), sizeof(int), cudaMemcpyDeviceToHost, stream));
  r.synchronize();
  if (status != 0)
    throw factorisation_error(std::string(who) + ": the " + shape_text(n, n) +
                              " Hessian does not factor even shifted by sqrt(epsilon) times its "
                              "largest diagonal entry, and cuSOLVER's eigenvalue solver (syevd) "
                              "failed on it (info " +
                              std::to_string(status) + ")");
  if (smallest < -tolerance) throw_indefinite_hessian(who, n, smallest, tolerance);
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

/// Sets the strict upper triangle of the column-major n x n matrix at a to zero, so that its
/// lower-triangular blocks can enter dense products.
template <class S>
__global__ void zero_strict_upper(S* a, index_t n) {
  const index_t i = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  const index_t j = blockIdx.y * static_cast<index_t>(blockDim.y) + threadIdx.y;
  if (i < j && j < n) a[i + j * n] = S(0);
}

/// C_i = alpha·A_i·B_i for `count` column-major products at constant strides (beta = 0).
template <class S>
cublasStatus_t gemm_batched(cublasHandle_t h, int m, int n, int k, S alpha, const S* a, int lda,
                            long long stride_a, const S* b, int ldb, long long stride_b, S* c,
                            int ldc, long long stride_c, int count) {
  const S beta = S(0);
  if constexpr (std::is_same_v<S, float>)
    return cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, a, lda, stride_a,
                                     b, ldb, stride_b, &beta, c, ldc, stride_c, count);
  else
    return cublasDgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, a, lda, stride_a,
                                     b, ldb, stride_b, &beta, c, ldc, stride_c, count);
}

/// Rows or columns per product when a triangular factor of a join is wide: the product skips
/// the factor's zero triangle chunk by chunk.
inline constexpr index_t join_chunk = 512;

/// Joins `count` pairs of inverted diagonal blocks (s1, then s2 wide; pair p starts at
/// base + p·stride·(lda + 1)) of a lower-triangular column-major matrix whose strict upper
/// triangle is zero: [X11 0; L21 X22] becomes [X11 0; −X22·(L21·X11) X22], the inverse of
/// [L11 0; L21 L22] when X11 = L11⁻¹ and X22 = L22⁻¹. Each product runs in chunks of
/// join_chunk columns of X11 (rows of X22) that leave out the part of the triangle known to be
/// zero. t: scratch of count·s1·s2 entries.
template <class S>
void join_inverted_pairs(cublasHandle_t blas, S* base, index_t lda, index_t s1, index_t s2,
                         index_t stride, index_t count, S* t) {
  const long long pair_stride = static_cast<long long>(stride * (lda + 1));
  const long long t_stride = static_cast<long long>(s1 * s2);
  const auto ld = static_cast<int>(lda), batch = static_cast<int>(count);
  S* const l21 = base + s1;
  const S* const x11 = base;
  const S* const x22 = base + s1 * (lda + 1);
  // T[:, c0:c0+w] = L21[:, c0:]·X11[c0:, c0:c0+w] (X11 is zero above its diagonal).
  const index_t w1 = s1 > join_chunk ? join_chunk : s1;
  for (index_t c0 = 0; c0 < s1; c0 += w1) {
    const index_t w = std::min(w1, s1 - c0);
    POLLARD_CUDA_CHECK(gemm_batched(blas, static_cast<int>(s2), static_cast<int>(w),
                                    static_cast<int>(s1 - c0), S(1), l21 + c0 * lda, ld,
                                    pair_stride, x11 + c0 + c0 * lda, ld, pair_stride, t + c0 * s2,
                                    static_cast<int>(s2), t_stride, batch));
  }
  // L21[r0:r0+w, :] = −X22[r0:r0+w, :r0+w]·T[:r0+w, :] (X22 is zero right of its diagonal).
  const index_t w2 = s2 > join_chunk ? join_chunk : s2;
  for (index_t r0 = 0; r0 < s2; r0 += w2) {
    const index_t w = std::min(w2, s2 - r0);
    POLLARD_CUDA_CHECK(gemm_batched(
        blas, static_cast<int>(w), static_cast<int>(s1), static_cast<int>(r0 + w), S(-1), x22 + r0,
        ld, pair_stride, t, static_cast<int>(s2), t_stride, l21 + r0, ld, pair_stride, batch));
  }
}

/// In place, the inverse of the lower-triangular column-major n x n matrix at a (leading
/// dimension lda) whose diagonal blocks of diagonal_block are inverted already and whose strict
/// upper triangle is zero. Bottom-up: at width s = 64, 128, ... every two adjacent inverted
/// s-blocks are joined by two dense products, all pairs of a width in one strided-batched
/// cuBLAS call (plus one call for a narrower last pair), so the whole inverse takes about
/// 2·log2(n/64) calls or a few more. Chunks that skip zero triangles cut the dense products'
/// 2n³/3 flops; the rest run at the GEMM rate where cuBLAS's triangular products did not
/// (H200: 1.11 against 3.95 ms at n = 4096, 18.6 against 23.8 ms at n = 11008, before chunks).
/// t: scratch of n²/4 entries (rounded up).
template <class S>
void invert_lower(cublasHandle_t blas, index_t n, S* a, index_t lda, S* t) {
  for (index_t s = diagonal_block; s < n; s *= 2) {
    const index_t pairs = n / (2 * s);
    if (pairs > 0) join_inverted_pairs(blas, a, lda, s, s, 2 * s, pairs, t);
    const index_t tail = pairs * 2 * s, rest = n - tail;
    if (rest > s) join_inverted_pairs(blas, a + tail * (lda + 1), lda, s, rest - s, 0, 1, t);
  }
}

/// Entries of the scratch invert_lower needs for order n.
inline index_t invert_lower_scratch(index_t n) { return (n * n + 3) / 4; }

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
  // potrf's buffer is free again when invert_lower needs its scratch: they share the space.
  const std::size_t work_bytes =
      round_up(std::max(static_cast<std::size_t>(potrf_size),
                        static_cast<std::size_t>(invert_lower_scratch(n))) *
               sizeof(S));
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
      zero_strict_upper<S>
          <<<dim3(static_cast<unsigned>((n + 31) / 32), static_cast<unsigned>((n + 7) / 8)),
             dim3(32, 8), 0, stream>>>(a, n);
      POLLARD_CUDA_CHECK_LAUNCH("zero_strict_upper");
      invert_lower(r.cublas(), n, a, n, work);
      reversed_upper<S><<<blocks, threads, 0, stream>>>(a, n, out.u.data());
      POLLARD_CUDA_CHECK_LAUNCH("reversed_upper");
      POLLARD_CUDA_CHECK(
          cudaMemcpyAsync(status, info, sizeof(int), cudaMemcpyDeviceToHost, stream));
      r.synchronize();
      if (status[0] != 0)
        throw factorisation_error(std::string(who) + ": the triangular inverse of the " +
                                  shape_text(n, n) + " Cholesky factor is not finite");
      out.damping = {damping, factor, attempt};
      return out;
    }
    if (attempt == 0) refuse_indefinite(r, h, diagonal, who);
    if (attempt == max_retries)
      throw_not_positive_definite(who, n, damping, factor, mean_diagonal, max_retries);
  }
  return out;  // unreachable: the last attempt returns or throws
}

}  // namespace detail

/// The backend primitive: U = upper Cholesky factor of (H + λI)⁻¹ for the symmetric device
/// matrix h (read whole, not modified), λ = percdamp · mean(diag H) · 10^k for the k-th retry,
/// k = 0..max_retries, tried only when H is positive semidefinite up to rounding (an indefinite
/// one is refused naming its smallest eigenvalue, as on the CPU; see
/// detail::refuse_indefinite). With J the order reversal, JHJ + λI = L·Lᵀ gives (H + λI)⁻¹ = UᵀU
/// with U = J·L⁻¹·J: one potrf and one triangular inverse (invert_lower) replace the reference
/// chain cholesky → inverse → cholesky, in `precision` (resolved_factor_precision; U is rounded
/// to float). Throws
/// factorisation_error naming `who` and the last damping tried, shape_error for a non-square h.
/// Synchronises p's stream.
template <cuda_policy P>
device_upper_factor upper_cholesky_of_inverse(
    const P& p, device_view<const float> h, double percdamp, int max_retries,
    std::string_view who = "cholesky", factor_precision precision = factor_precision::automatic) {
  require_square(who, "the Hessian", h.rows(), h.cols());
  const factor_precision used = resolved_factor_precision(precision);
  device_upper_factor factor =
      used == factor_precision::fp64
          ? detail::upper_cholesky_of_inverse_in<double>(p, h, percdamp, max_retries, who)
          : detail::upper_cholesky_of_inverse_in<float>(p, h, percdamp, max_retries, who);
  factor.precision = used;
  return factor;
}

}  // namespace pollard::cuda

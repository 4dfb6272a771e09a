// pollard — the CUDA backend's Gram update, H_lower += alpha·XᵀX: a symmetric rank-k update
// (cublasSsyrk / cublasDsyrk) for fp32/fp64 activations, and for bf16/fp16 activations one
// tensor-core product with fp32 accumulation and output (cublasGemmEx).
#pragma once

#if !defined(__CUDACC__)
#error \
    "pollard/backends/cuda/gram_update.cuh is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>
#include <type_traits>

#include "pollard/backends/cuda/checked_call.cuh"
#include "pollard/backends/cuda/policy.cuh"
#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::cuda {

namespace detail {

/// Columns of H per syrk panel (the rest of each panel is one GEMM).
inline constexpr index_t gram_panel = 2048;

/// At most this many entries of X per cuBLAS call: products whose operand passes 2³¹ entries
/// ran at about half the GEMM rate on an H200 (d = 11008: 28.7 TFLOP/s for 262144 tokens in one
/// call, 49.8 for 65536), so longer batches are added in slices of tokens.
inline constexpr index_t gram_slice_entries = index_t{1} << 30;

/// The column-major leading dimension of a view with adjacent rows or columns, and whether the
/// column-major matrix it describes is the view transposed (adjacent columns: row-major).
struct blas_layout {
  int leading = 0;
  bool transposed = false;
};

template <class T>
blas_layout blas_layout_of(matrix_view<T, device_space> v, const char* who, const char* what) {
  if (v.col_stride() == 1 && v.row_stride() >= std::max<index_t>(v.cols(), 1))
    return {static_cast<int>(std::max<index_t>(v.row_stride(), 1)), true};
  if (v.row_stride() == 1 && v.col_stride() >= std::max<index_t>(v.rows(), 1))
    return {static_cast<int>(std::max<index_t>(v.col_stride(), 1)), false};
  throw shape_error(
      std::string(who) + ": " + what + " needs adjacent rows or adjacent columns (row stride " +
      std::to_string(v.row_stride()) + ", column stride " + std::to_string(v.col_stride()) + ")");
}

template <class T>
constexpr cudaDataType_t cuda_data_type() {
  if constexpr (std::is_same_v<T, bfloat16>)
    return CUDA_R_16BF;
  else if constexpr (std::is_same_v<T, half>)
    return CUDA_R_16F;
  else if constexpr (std::is_same_v<T, double>)
    return CUDA_R_64F;
  else
    return CUDA_R_32F;
}

template <class T>
__global__ void copy_lower_to_upper(matrix_view<T, device_space> h) {
  const index_t i = blockIdx.y * static_cast<index_t>(blockDim.y) + threadIdx.y;
  const index_t j = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (i < h.rows() && j < i) h(j, i) = h(i, j);
}

/// gram_update's work for k tokens of X starting at xs (layouts as gram_update found them).
template <class H, class value>
void gram_update_slice(cublasHandle_t handle, cublasFillMode_t fill, cublasOperation_t first,
                       cublasOperation_t second, blas_layout hl, blas_layout xl, H* h_data,
                       const value* xs, int n, int k, H alpha, H one) {
  const index_t d = n;
  if constexpr (compute_type<value>) {
    // cuBLAS's syrk runs near the GEMM rate up to n of a few thousand and far below it beyond
    // (0.19 of it at n = 11008 on an H200), so larger H is done in panels of gram_panel
    // columns: a syrk on each diagonal block and one GEMM for everything below it.
    const auto syrk = [&](index_t j0, index_t nj) {
      const value* a = xs + j0 * (xl.transposed ? 1 : xl.leading);
      value* c = h_data + j0 * (hl.leading + 1);
      if constexpr (std::is_same_v<value, float>)
        POLLARD_CUDA_CHECK(cublasSsyrk(handle, fill, first, static_cast<int>(nj), k, &alpha, a,
                                       xl.leading, &one, c, hl.leading));
      else
        POLLARD_CUDA_CHECK(cublasDsyrk(handle, fill, first, static_cast<int>(nj), k, &alpha, a,
                                       xl.leading, &one, c, hl.leading));
    };
    for (index_t j0 = 0; j0 < d; j0 += gram_panel) {
      const index_t nj = std::min(gram_panel, d - j0);
      syrk(j0, nj);
      const index_t below = d - j0 - nj;
      if (below == 0) continue;
      // H[j0+nj:, j0:j0+nj] (row-major lower panel) = X[:, j0+nj:]ᵀ·X[:, j0:j0+nj]; as
      // column-major it is the block at (j0, j0+nj) of Hᵀ when H is row-major, or at
      // (j0+nj, j0) otherwise.
      const value* xa = xs + (j0 + nj) * (xl.transposed ? 1 : xl.leading);
      const value* xb = xs + j0 * (xl.transposed ? 1 : xl.leading);
      const bool row_major_h = hl.transposed;
      value* c =
          row_major_h ? h_data + j0 + (j0 + nj) * hl.leading : h_data + (j0 + nj) + j0 * hl.leading;
      const int m = static_cast<int>(row_major_h ? nj : below);
      const int cols = static_cast<int>(row_major_h ? below : nj);
      const value* left = row_major_h ? xb : xa;
      const value* right = row_major_h ? xa : xb;
      if constexpr (std::is_same_v<value, float>)
        POLLARD_CUDA_CHECK(cublasSgemm(handle, first, second, m, cols, k, &alpha, left, xl.leading,
                                       right, xl.leading, &one, c, hl.leading));
      else
        POLLARD_CUDA_CHECK(cublasDgemm(handle, first, second, m, cols, k, &alpha, left, xl.leading,
                                       right, xl.leading, &one, c, hl.leading));
    }
  } else {
    POLLARD_CUDA_CHECK(cublasGemmEx(handle, first, second, n, n, k, &alpha, xs,
                                    cuda_data_type<value>(), xl.leading, xs,
                                    cuda_data_type<value>(), xl.leading, &one, h_data, CUDA_R_32F,
                                    hl.leading, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }
}

}  // namespace detail

/// The backend primitive: adds alpha·XᵀX to the lower triangle of h (d x d, fp32 or fp64, adjacent
/// rows or columns) for the device activations X (tokens x d, adjacent rows or columns):
/// - X in the type of h: a symmetric rank-k update that touches the lower triangle only, in the
///   default math mode (no TF32);
/// - X in bfloat16 or half, h fp32: one product on the tensor cores with fp32 accumulation,
///   which writes the whole of h (both triangles hold alpha·XᵀX added). Its error against an
///   fp64 product of the same 16-bit inputs is that of fp32 accumulation (measured: see the
///   test "bf16 Gram update on tensor cores stays within fp32 accumulation error").
/// Batches of more than 2³⁰ entries of X are added in slices of tokens, one update per slice.
/// Throws shape_error for shapes that do not fit. Asynchronous on p's stream.
template <cuda_policy P, class H, class X>
void gram_update(const P& p, device_view<H> h, device_view<X> x, H alpha) {
  using value = std::remove_const_t<X>;
  static_assert(compute_type<H>, "gram_update: H must be float or double");
  static_assert(std::is_same_v<value, H> ||
                    (std::is_same_v<H, float> &&
                     (std::is_same_v<value, bfloat16> || std::is_same_v<value, half>)),
                "gram_update: X must have H's type, or be bfloat16/half with a float H");
  constexpr const char* who = "gram_update";
  const index_t d = h.rows(), tokens = x.rows();
  if (h.cols() != d || x.cols() != d)
    throw shape_error(std::string(who) + ": H is " + shape_text(h) + " but X is " + shape_text(x) +
                      " (H must be d x d for X tokens x d)");
  if (d == 0 || tokens == 0) return;
  const detail::blas_layout hl = detail::blas_layout_of(h, who, "H");
  const detail::blas_layout xl = detail::blas_layout_of(x, who, "X");
  // Row-major H stores Hᵀ column-major: its lower triangle is the column-major upper one.
  const cublasFillMode_t fill = hl.transposed ? CUBLAS_FILL_MODE_UPPER : CUBLAS_FILL_MODE_LOWER;
  // Row-major X is the column-major d x tokens A = Xᵀ, so XᵀX = A·Aᵀ; column-major X gives Aᵀ·A.
  const cublasOperation_t first = xl.transposed ? CUBLAS_OP_N : CUBLAS_OP_T;
  const cublasOperation_t second = xl.transposed ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasHandle_t handle = p.resources().cublas();
  const H one = H(1);
  const int n = static_cast<int>(d);
  const index_t footprint = std::max<index_t>(d, xl.leading);
  const index_t slice = std::max<index_t>(1, detail::gram_slice_entries / footprint);
  for (index_t t0 = 0; t0 < tokens; t0 += slice) {
    const int k = static_cast<int>(std::min(slice, tokens - t0));
    // Tokens t0.. : rows of a row-major X (column offset of A = Xᵀ), or the first entries of
    // each column of a column-major one.
    const value* const xs = x.data() + t0 * (xl.transposed ? xl.leading : 1);
    detail::gram_update_slice(handle, fill, first, second, hl, xl, h.data(), xs, n, k, alpha, one);
  }
}

/// Copies the lower triangle of the square device matrix h onto its upper triangle, making the
/// full symmetric H that the solvers read. Asynchronous on p's stream.
template <cuda_policy P, class T>
void symmetrize_from_lower(const P& p, device_view<T> h) {
  require_square("symmetrize_from_lower", "H", h.rows(), h.cols());
  if (h.empty()) return;
  const dim3 threads(32, 8);
  const dim3 blocks(static_cast<unsigned>((h.cols() + 31) / 32),
                    static_cast<unsigned>((h.rows() + 7) / 8));
  detail::copy_lower_to_upper<T><<<blocks, threads, 0, p.resources().stream()>>>(h);
  POLLARD_CUDA_CHECK_LAUNCH("copy_lower_to_upper");
}

}  // namespace pollard::cuda

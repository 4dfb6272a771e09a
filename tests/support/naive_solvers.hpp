// Test support: naive references for the solvers (plain loops in double, no batching).
#pragma once

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "pollard/core/mask.hpp"
#include "support/random.hpp"

namespace pollard::test::naive {

using dmat = dense_matrix<double>;

template <class T>
dmat to_double(const dense_matrix<T>& a) {
  dmat out(a.rows, a.cols);
  for (std::size_t k = 0; k < a.values.size(); ++k)
    out.values[k] = static_cast<double>(a.values[k]);
  return out;
}

inline dmat transpose(const dmat& a) {
  dmat t(a.cols, a.rows);
  for (index_t i = 0; i < a.rows; ++i)
    for (index_t j = 0; j < a.cols; ++j) t(j, i) = a(i, j);
  return t;
}

/// Lower L with L·Lᵀ = a; throws std::domain_error when a pivot is not positive.
inline dmat cholesky_lower(const dmat& a) {
  const index_t n = a.rows;
  dmat l(n, n);
  for (index_t j = 0; j < n; ++j) {
    double diagonal = a(j, j);
    for (index_t k = 0; k < j; ++k) diagonal -= l(j, k) * l(j, k);
    if (!(diagonal > 0.0)) throw std::domain_error("naive cholesky: not positive definite");
    l(j, j) = std::sqrt(diagonal);
    for (index_t i = j + 1; i < n; ++i) {
      double v = a(i, j);
      for (index_t k = 0; k < j; ++k) v -= l(i, k) * l(j, k);
      l(i, j) = v / l(j, j);
    }
  }
  return l;
}

/// Inverse by Gauss-Jordan elimination with partial pivoting.
inline dmat inverse(const dmat& a) {
  const index_t n = a.rows;
  dmat m = a, inv(n, n);
  for (index_t i = 0; i < n; ++i) inv(i, i) = 1.0;
  for (index_t c = 0; c < n; ++c) {
    index_t p = c;
    for (index_t r = c + 1; r < n; ++r)
      if (std::abs(m(r, c)) > std::abs(m(p, c))) p = r;
    for (index_t j = 0; j < n; ++j) {
      std::swap(m(c, j), m(p, j));
      std::swap(inv(c, j), inv(p, j));
    }
    const double pivot = m(c, c);
    for (index_t j = 0; j < n; ++j) {
      m(c, j) /= pivot;
      inv(c, j) /= pivot;
    }
    for (index_t r = 0; r < n; ++r) {
      if (r == c) continue;
      const double f = m(r, c);
      if (f == 0.0) continue;
      for (index_t j = 0; j < n; ++j) {
        m(r, j) -= f * m(c, j);
        inv(r, j) -= f * inv(c, j);
      }
    }
  }
  return inv;
}

/// Solves a·x = b (a square, nonsingular) by Gaussian elimination.
inline std::vector<double> solve(const dmat& a, const std::vector<double>& b) {
  const dmat inv = inverse(a);
  std::vector<double> x(b.size(), 0.0);
  for (index_t i = 0; i < a.rows; ++i)
    for (index_t j = 0; j < a.cols; ++j)
      x[static_cast<std::size_t>(i)] += inv(i, j) * b[static_cast<std::size_t>(j)];
  return x;
}

/// Upper U with UᵀU = h⁻¹: the transposed lower Cholesky factor of the explicit inverse.
inline dmat upper_cholesky_of_inverse(const dmat& h) {
  return transpose(cholesky_lower(inverse(h)));
}

/// H = (2/N)·XᵀX for X tokens x d_in, N = number of tokens.
template <class T>
dmat hessian(const dense_matrix<T>& x) {
  dmat h(x.cols, x.cols);
  for (index_t t = 0; t < x.rows; ++t)
    for (index_t i = 0; i < x.cols; ++i)
      for (index_t j = 0; j < x.cols; ++j)
        h(i, j) += static_cast<double>(x(t, i)) * static_cast<double>(x(t, j));
  for (auto& v : h.values) v *= 2.0 / static_cast<double>(x.rows);
  return h;
}

/// The damped Hessian SparseGPT factors: dead inputs get H_jj = 1, then + percdamp·mean(diag)·I.
inline dmat damped(dmat h, double percdamp) {
  const index_t n = h.rows;
  for (index_t j = 0; j < n; ++j)
    if (h(j, j) == 0.0) h(j, j) = 1.0;
  double mean = 0.0;
  for (index_t j = 0; j < n; ++j) mean += h(j, j);
  mean /= static_cast<double>(n);
  for (index_t j = 0; j < n; ++j) h(j, j) += percdamp * mean;
  return h;
}

enum class selection { fixed, block_quantile, n_m };

struct sweep_result {
  dmat w;
  pollard::mask pruned;
  double loss = 0.0;
};

/// The SparseGPT algorithm without lazy batching: after each column every remaining column is
/// updated at once; U from the explicit inverse. block_size only delimits the unstructured
/// selection groups.
inline sweep_result sparsegpt_unbatched(dmat w, dmat h, selection how, double sparsity, index_t n,
                                        index_t m, index_t block_size, double percdamp,
                                        const pollard::mask* fixed = nullptr) {
  const index_t rows = w.rows, cols = w.cols;
  std::vector<bool> h_dead(static_cast<std::size_t>(cols));
  for (index_t j = 0; j < cols; ++j)
    if (h(j, j) == 0.0) {
      h_dead[static_cast<std::size_t>(j)] = true;
      for (index_t i = 0; i < rows; ++i) w(i, j) = 0.0;
    }
  const dmat u = upper_cholesky_of_inverse(damped(std::move(h), percdamp));
  sweep_result out{dmat(), fixed ? *fixed : pollard::mask(rows, cols), 0.0};
  for (index_t i1 = 0; i1 < cols; i1 += block_size) {
    const index_t i2 = std::min(cols, i1 + block_size);
    const index_t nb = i2 - i1;
    if (how == selection::block_quantile) {
      std::vector<double> score(static_cast<std::size_t>(rows * nb));
      for (index_t r = 0; r < rows; ++r)
        for (index_t c = 0; c < nb; ++c)
          score[static_cast<std::size_t>(r * nb + c)] =
              w(r, i1 + c) * w(r, i1 + c) / (u(i1 + c, i1 + c) * u(i1 + c, i1 + c));
      std::vector<index_t> order(score.size());
      std::iota(order.begin(), order.end(), index_t{0});
      std::stable_sort(order.begin(), order.end(), [&](index_t a, index_t b) {
        return score[static_cast<std::size_t>(a)] < score[static_cast<std::size_t>(b)];
      });
      const auto k =
          static_cast<std::size_t>(std::floor(static_cast<double>(score.size()) * sparsity));
      for (std::size_t t = 0; t < k; ++t) out.pruned.prune(order[t] / nb, i1 + order[t] % nb);
    }
    for (index_t i = i1; i < i2; ++i) {
      if (how == selection::n_m && (i - i1) % m == 0)
        for (index_t r = 0; r < rows; ++r) {
          std::vector<index_t> order(static_cast<std::size_t>(m));
          std::iota(order.begin(), order.end(), i);
          auto score = [&](index_t c) { return w(r, c) * w(r, c) / (u(c, c) * u(c, c)); };
          std::stable_sort(order.begin(), order.end(),
                           [&](index_t a, index_t b) { return score(a) < score(b); });
          for (index_t t = 0; t < n; ++t) out.pruned.prune(r, order[static_cast<std::size_t>(t)]);
        }
      for (index_t r = 0; r < rows; ++r) {
        const double q = out.pruned.pruned(r, i) ? 0.0 : w(r, i);
        const double err = (w(r, i) - q) / u(i, i);
        out.loss += err * err / 2.0;
        w(r, i) = q;
        for (index_t j = i + 1; j < cols; ++j) w(r, j) -= err * u(i, j);
      }
    }
  }
  // Dead inputs' weights are zero: they count as pruned whatever the selection said.
  for (index_t j = 0; j < cols; ++j)
    if (h_dead[static_cast<std::size_t>(j)])
      for (index_t r = 0; r < rows; ++r) out.pruned.prune(r, j);
  out.w = std::move(w);
  return out;
}

/// ‖(W − Ŵ)·Xᵀ‖² / ‖W·Xᵀ‖² for X tokens x d_in (the layer's outputs over the calibration tokens).
template <class A, class B, class X>
double relative_output_error(const dense_matrix<A>& w, const dense_matrix<B>& w_hat,
                             const dense_matrix<X>& x) {
  double diff = 0.0, base = 0.0;
  for (index_t i = 0; i < w.rows; ++i)
    for (index_t t = 0; t < x.rows; ++t) {
      double y = 0.0, y_hat = 0.0;
      for (index_t j = 0; j < w.cols; ++j) {
        y += static_cast<double>(w(i, j)) * static_cast<double>(x(t, j));
        y_hat += static_cast<double>(w_hat(i, j)) * static_cast<double>(x(t, j));
      }
      diff += (y - y_hat) * (y - y_hat);
      base += y * y;
    }
  return diff / base;
}

/// Per row, the kept weights minimising ‖(W − Ŵ)·Xᵀ‖² (normal equations on the kept columns);
/// pruned weights zero.
template <class T, class X>
dmat least_squares_reconstruction(const dense_matrix<T>& w, const pollard::mask& pruned,
                                  const dense_matrix<X>& x) {
  const index_t cols = w.cols;
  dmat g(cols, cols);
  for (index_t t = 0; t < x.rows; ++t)
    for (index_t i = 0; i < cols; ++i)
      for (index_t j = 0; j < cols; ++j)
        g(i, j) += static_cast<double>(x(t, i)) * static_cast<double>(x(t, j));
  dmat out(w.rows, cols);
  for (index_t r = 0; r < w.rows; ++r) {
    std::vector<index_t> kept;
    for (index_t j = 0; j < cols; ++j)
      if (pruned.kept(r, j)) kept.push_back(j);
    const auto nk = static_cast<index_t>(kept.size());
    if (nk == 0) continue;
    dmat a(nk, nk);
    std::vector<double> b(kept.size(), 0.0);
    for (index_t p = 0; p < nk; ++p) {
      const index_t jp = kept[static_cast<std::size_t>(p)];
      for (index_t q = 0; q < nk; ++q) a(p, q) = g(jp, kept[static_cast<std::size_t>(q)]);
      for (index_t j = 0; j < cols; ++j)
        b[static_cast<std::size_t>(p)] += g(jp, j) * static_cast<double>(w(r, j));
    }
    const std::vector<double> v = solve(a, b);
    for (index_t p = 0; p < nk; ++p)
      out(r, kept[static_cast<std::size_t>(p)]) = v[static_cast<std::size_t>(p)];
  }
  return out;
}

}  // namespace pollard::test::naive

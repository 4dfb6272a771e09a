// pollard — the CPU backend's divergence kernel: the metrics of one token position from two logit
// rows (softmax over the vocabulary), in three vectorised passes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "pollard/backends/cpu/vector_math.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/metrics/divergence_sample.hpp"

namespace pollard::cpu {

// Per-row working memory: the unnormalised probabilities exp(l − max) of both rows, and one
// chunk of m = (p + q)/2, its logarithm and the log-softmax values of both rows.
struct divergence_scratch {
  std::vector<double> ep, eq, m, log_m, ls_p, ls_q;
};

namespace detail {

// Chunk length of the hot loops: fixed, so the element-wise loops have a compile-time trip
// count (GCC vectorises them even at -O2) and the buffers stay in L1.
inline constexpr index_t divergence_chunk = 512;

[[noreturn]] inline void throw_non_finite_logit(const char* model, const float* row, index_t size,
                                                index_t position) {
  index_t bad = 0;
  while (bad < size && std::isfinite(row[bad])) ++bad;
  std::string where = position >= 0 ? " at position " + std::to_string(position) : std::string();
  throw non_finite_error("divergence: logit " + std::to_string(bad) + " of " + model + where +
                         " is not finite");
}

}  // namespace detail

// The metrics of one position from two contiguous logit rows of length v (validated by the
// caller except for finiteness). Three passes over the rows:
//  1. finiteness checks, maxima and argmaxima (vectorised reductions, then a scan for the index);
//  2. e = exp(l − max) in double, stored, and their sums Z;
//  3. with log-softmax values ls = l − max − log Z (no log per element):
//       KL(P‖Q)           = Σ p (ls_p − ls_q)
//       KL(P‖M) + KL(Q‖M) = Σ (p ls_p + q ls_q) − 2 Σ m log m,  m = (p + q)/2.
// Cost per vocabulary entry: two exp and one log (log m has no cheaper form; it is the price
// of JS), plus a few multiply-adds. exp and log are the branch-free double-precision
// functions of backends/cpu/vector_math.hpp, vectorised by the compiler over L1-sized chunks (≈0.9
// and ≈1.2 ns per value at -O3 with AVX2, against ≈3 ns for glibc's scalar exp and log; reductions
// run on Eigen). 0·log 0 = 0: log m is taken of max(m, DBL_MIN), and a zero m means p = q = 0, so
// the term vanishes; ls stays finite where p or q underflows (exp saturates at e^-708 instead of 0
// there, which changes no sum by more than 1e-300).
// Accuracy: JS and KL are second order in the logit difference while each term is first
// order, so double rounding of the log-softmax values leaves an absolute error of about
// 1e-16·|log p|·sqrt(v) nats (≈1e-14 at v = 4096): divergences below ~1e-8 lose relative digits.
inline divergence_sample divergence_row(const float* p, const float* q, index_t v,
                                        std::int32_t correct, divergence_scratch& scratch,
                                        index_t position) {
  using floats = Eigen::Map<const Eigen::ArrayXf>;
  const floats fp(p, v), fq(q, v);
  // x − x is 0 for finite x and NaN for NaN/±inf; the sum keeps any NaN.
  if (!((fp - fp).sum() == 0.0f)) detail::throw_non_finite_logit("P", p, v, position);
  if (!((fq - fq).sum() == 0.0f)) detail::throw_non_finite_logit("Q", q, v, position);
  const float max_p = fp.maxCoeff(), max_q = fq.maxCoeff();
  index_t top_p = 0, top_q = 0;  // the first index holding the maximum
  while (p[top_p] != max_p) ++top_p;
  while (q[top_q] != max_q) ++top_q;

  using doubles = Eigen::Map<Eigen::ArrayXd>;
  constexpr index_t chunk = detail::divergence_chunk;
  const auto padded = static_cast<std::size_t>((v + chunk - 1) / chunk * chunk);
  scratch.ep.resize(padded);
  scratch.eq.resize(padded);
  for (auto* buffer : {&scratch.m, &scratch.log_m, &scratch.ls_p, &scratch.ls_q})
    buffer->resize(static_cast<std::size_t>(chunk));
  double* ep = scratch.ep.data();
  double* eq = scratch.eq.data();
  const double mp = static_cast<double>(max_p), mq = static_cast<double>(max_q);
  double zp = 0.0, zq = 0.0;
  for (index_t i0 = 0; i0 < v; i0 += chunk) {
    const index_t n = std::min(chunk, v - i0);
    double* a = ep + i0;
    double* b = eq + i0;
    for (index_t k = 0; k < n; ++k) {
      a[k] = static_cast<double>(p[i0 + k]) - mp;
      b[k] = static_cast<double>(q[i0 + k]) - mq;
    }
    for (index_t k = n; k < chunk; ++k) a[k] = b[k] = 0.0;  // padding, never summed
    for (index_t k = 0; k < chunk; ++k) a[k] = cpu::exp_nonpositive(a[k]);
    for (index_t k = 0; k < chunk; ++k) b[k] = cpu::exp_nonpositive(b[k]);
    zp += doubles(a, n).sum();
    zq += doubles(b, n).sum();
  }

  const double cp = mp + std::log(zp), cq = mq + std::log(zq);
  const double inv_zp = 1.0 / zp, inv_zq = 1.0 / zq;
  double kl_pq = 0.0, self = 0.0, mix = 0.0;
  double* m = scratch.m.data();
  double* log_m = scratch.log_m.data();
  for (index_t i0 = 0; i0 < v; i0 += chunk) {
    const index_t n = std::min(chunk, v - i0);
    const double* a = ep + i0;
    const double* b = eq + i0;
    for (index_t k = 0; k < chunk; ++k) m[k] = 0.5 * (a[k] * inv_zp + b[k] * inv_zq);
    for (index_t k = 0; k < chunk; ++k) log_m[k] = cpu::log_nonnegative(m[k]);
    doubles lsp(scratch.ls_p.data(), n), lsq(scratch.ls_q.data(), n);
    for (index_t k = 0; k < n; ++k) {
      lsp[k] = static_cast<double>(p[i0 + k]) - cp;
      lsq[k] = static_cast<double>(q[i0 + k]) - cq;
    }
    const auto pi = doubles(ep + i0, n) * inv_zp;
    const auto qi = doubles(eq + i0, n) * inv_zq;
    kl_pq += (pi * (lsp - lsq)).sum();
    self += (pi * lsp + qi * lsq).sum();
    mix += (doubles(m, n) * doubles(log_m, n)).sum();
  }

  divergence_sample s;
  s.js_nats = std::clamp(0.5 * self - mix, 0.0, std::numbers::ln2);
  s.kl = std::max(kl_pq, 0.0);
  const auto c = static_cast<std::size_t>(correct);
  s.delta_p = eq[c] / zq - ep[c] / zp;  // divisions: no multiply-add contraction, exact 0 for P = Q
  s.nll_p = cp - static_cast<double>(p[c]);
  s.nll_q = cq - static_cast<double>(q[c]);
  s.top_p = top_p;
  s.top_q = top_q;
  s.same_top = top_p == top_q;
  return s;
}

}  // namespace pollard::cpu

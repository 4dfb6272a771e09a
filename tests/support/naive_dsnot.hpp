// Test support: DSnoT's reference procedure (github.com/zyxxmu/DSnoT: lib/layerwrapper.py
// WrappedGPT.add_batch and the unstructured branch of lib/prune.py prune_DSnoT) re-implemented
// literally, one row at a time, in double. Wanda is the initial method.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "pollard/core/mask.hpp"
#include "support/random.hpp"

namespace pollard::test::naive {

/// The reference's per-channel statistics after add_batch on each sequence in turn (one
/// sequence per batch, as prune_DSnoT feeds them).
struct dsnot_reference_statistics {
  std::vector<double> scaler_row;      // Σ_t x_tj² / nsamples
  std::vector<double> sum_metric_row;  // Σ_t x_tj / nsamples (nsamples counts sequences)
  std::vector<double> var;             // token-weighted mean of each sequence's variance
};

inline dsnot_reference_statistics dsnot_statistics(
    const std::vector<dense_matrix<double>>& sequences) {
  const index_t d = sequences.front().cols;
  dsnot_reference_statistics s{std::vector<double>(static_cast<std::size_t>(d)),
                               std::vector<double>(static_cast<std::size_t>(d)),
                               std::vector<double>(static_cast<std::size_t>(d))};
  double nsamples = 0.0, ntokens = 0.0;
  for (const auto& x : sequences) {
    const auto num = static_cast<double>(x.rows);
    for (index_t j = 0; j < d; ++j) {
      const auto k = static_cast<std::size_t>(j);
      double sum = 0.0, sq = 0.0;
      for (index_t t = 0; t < x.rows; ++t) {
        sum += x(t, j);
        sq += x(t, j) * x(t, j);
      }
      const double mean = sum / num;
      double var = 0.0;
      for (index_t t = 0; t < x.rows; ++t) var += (x(t, j) - mean) * (x(t, j) - mean);
      var /= num;
      s.var[k] = ntokens == 0.0 ? var : (s.var[k] * ntokens + var * num) / (ntokens + num);
      s.scaler_row[k] *= nsamples / (nsamples + 1.0);
      s.sum_metric_row[k] *= nsamples / (nsamples + 1.0);
      s.scaler_row[k] += sq / (nsamples + 1.0);
      s.sum_metric_row[k] += sum / (nsamples + 1.0);
    }
    ntokens += num;
    nsamples += 1.0;
  }
  return s;
}

inline std::vector<index_t> stable_argsort(const std::vector<double>& v) {
  std::vector<index_t> order(v.size());
  std::iota(order.begin(), order.end(), index_t{0});
  std::stable_sort(order.begin(), order.end(), [&](index_t a, index_t b) {
    return v[static_cast<std::size_t>(a)] < v[static_cast<std::size_t>(b)];
  });
  return order;
}

/// prune_DSnoT, unstructured, initial_method "wanda", with pow_of_var_regrowing = power.
inline mask dsnot_reference(const dense_matrix<double>& w, const dsnot_reference_statistics& s,
                            double sparsity, double update_threshold, int max_cycle_time,
                            double power) {
  const index_t rows = w.rows, cols = w.cols;
  const auto k = static_cast<index_t>(static_cast<double>(cols) * sparsity);
  mask out(rows, cols);
  for (index_t i = 0; i < rows; ++i) {
    std::vector<double> wanda(static_cast<std::size_t>(cols)), dsnot(wanda.size());
    for (index_t j = 0; j < cols; ++j) {
      const auto c = static_cast<std::size_t>(j);
      wanda[c] = std::abs(w(i, j)) * std::sqrt(s.scaler_row[c]);
      dsnot[c] = w(i, j) * s.sum_metric_row[c];
    }
    const auto sorted = stable_argsort(wanda);
    const std::vector<index_t> prune_indices(sorted.begin(), sorted.begin() + k);
    const std::vector<index_t> res_indices(sorted.begin() + k, sorted.end());
    for (const index_t j : prune_indices) out.prune(i, j);
    std::vector<double> regrow_metric = dsnot;
    for (const index_t j : res_indices) regrow_metric[static_cast<std::size_t>(j)] = 0.0;
    double e = 0.0;
    for (const double v : regrow_metric) e += v;
    const double sign0 = (e > 0.0) - (e < 0.0);
    if (power != 0.0)
      for (index_t j = 0; j < cols; ++j)
        regrow_metric[static_cast<std::size_t>(j)] /=
            std::pow(s.var[static_cast<std::size_t>(j)], power);
    const auto regrow_order = stable_argsort(regrow_metric);
    std::vector<double> wanda_kept = wanda;
    for (const index_t j : prune_indices)
      wanda_kept[static_cast<std::size_t>(j)] = std::numeric_limits<double>::infinity();
    const auto by_wanda = stable_argsort(wanda_kept);
    const std::vector<index_t> wanda_res(by_wanda.begin(), by_wanda.begin() + (cols - k));
    // return_reorder_indice: negative contributions in order, then positive ones reversed.
    std::vector<index_t> prune_order;
    for (const index_t j : wanda_res)
      if (dsnot[static_cast<std::size_t>(j)] < 0.0) prune_order.push_back(j);
    for (auto it = wanda_res.rbegin(); it != wanda_res.rend(); ++it)
      if (dsnot[static_cast<std::size_t>(*it)] > 0.0) prune_order.push_back(*it);
    index_t regrow_pointer[2] = {0, cols - 1};
    index_t prune_pointer[2] = {0, static_cast<index_t>(prune_order.size()) - 1};
    bool update = true;
    for (int cycle = 0; update && cycle < max_cycle_time; ++cycle) {
      const int a = e > 0.0 ? 1 : 0;
      const index_t r = regrow_order[static_cast<std::size_t>(regrow_pointer[a])];
      regrow_pointer[a] += a == 1 ? -1 : 1;
      const int b = e < 0.0 ? 1 : 0;
      const index_t p = prune_order[static_cast<std::size_t>(prune_pointer[b])];
      prune_pointer[b] += b == 1 ? -1 : 1;
      const double rm = dsnot[static_cast<std::size_t>(r)], pm = dsnot[static_cast<std::size_t>(p)];
      const double after = e + pm - rm;
      update = std::abs(e) > update_threshold &&
               sign0 == static_cast<double>((after > 0.0) - (after < 0.0));
      out.set_pruned(i, p, update);
      out.set_pruned(i, r, !update);
      if (update) e = after;
    }
  }
  return out;
}

}  // namespace pollard::test::naive

// Test support: a plain-loop Llama forward pass in double precision, one sequence at a time,
// written from the formulas (no Eigen products, no caching), plus a seeded random tiny model.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "pollard/llm/llama_weights.hpp"

namespace pollard::test {

using naive_rows = std::vector<std::vector<double>>;  // [tokens][features]

/// A model with N(0, scale^2) weights and norm weights around 1.
inline llm::llama_weights random_llama(const llm::llama_config& c, std::uint64_t seed,
                                       float scale = 0.3f) {
  auto w = llm::llama_weights::zeros(c);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0.0f, scale);
  auto fill = [&](auto& m) {
    for (index_t i = 0; i < m.size(); ++i) m.data()[i] = n(rng);
  };
  auto fill_norm = [&](auto& v) {
    for (index_t i = 0; i < v.size(); ++i) v[i] = 1.0f + n(rng);
  };
  fill(w.token_embedding);
  for (auto& l : w.layers) {
    fill_norm(l.attn_norm);
    fill(l.wq);
    fill(l.wk);
    fill(l.wv);
    fill(l.wo);
    fill_norm(l.ffn_norm);
    fill(l.w1);
    fill(l.w2);
    fill(l.w3);
  }
  fill_norm(w.final_norm);
  if (!c.tied_classifier) fill(w.classifier);
  return w;
}

/// y[t] = W x[t] for W [out x in].
inline naive_rows naive_linear(const naive_rows& x, const llm::row_matrix& w) {
  naive_rows y(x.size(), std::vector<double>(static_cast<std::size_t>(w.rows()), 0.0));
  for (std::size_t t = 0; t < x.size(); ++t)
    for (index_t o = 0; o < w.rows(); ++o) {
      double s = 0.0;
      for (index_t i = 0; i < w.cols(); ++i) s += double(w(o, i)) * x[t][std::size_t(i)];
      y[t][std::size_t(o)] = s;
    }
  return y;
}

inline naive_rows naive_rms_norm(const naive_rows& x, const Eigen::VectorXf& weight, double eps) {
  naive_rows y = x;
  for (std::size_t t = 0; t < x.size(); ++t) {
    double ms = 0.0;
    for (double v : x[t]) ms += v * v;
    ms /= double(x[t].size());
    for (std::size_t j = 0; j < x[t].size(); ++j)
      y[t][j] = x[t][j] / std::sqrt(ms + eps) * double(weight[index_t(j)]);
  }
  return y;
}

/// Rotates every head of x in place; token t is at position t.
inline void naive_rope(naive_rows& x, const llm::llama_config& c) {
  const std::size_t hs = std::size_t(c.head_size()), half = hs / 2;
  for (std::size_t t = 0; t < x.size(); ++t)
    for (std::size_t h = 0; h < x[t].size() / hs; ++h)
      for (std::size_t i = 0; i < half; ++i) {
        const double angle =
            double(t) * std::pow(double(c.rope_theta), -double(2 * i) / double(hs));
        std::size_t a, b;
        if (c.rope == llm::rope_style::interleaved) {
          a = h * hs + 2 * i;
          b = a + 1;
        } else {
          a = h * hs + i;
          b = a + half;
        }
        const double x0 = x[t][a], x1 = x[t][b];
        x[t][a] = x0 * std::cos(angle) - x1 * std::sin(angle);
        x[t][b] = x0 * std::sin(angle) + x1 * std::cos(angle);
      }
}

/// The four linear inputs of one block, as the forward pass should report them.
struct naive_block_inputs {
  naive_rows attn_in, attn_out, mlp_in, mlp_out;
};

/// One block on one sequence (positions 0..T-1); returns the new hidden states.
inline naive_rows naive_block(const llm::llama_weights& w, index_t layer, const naive_rows& x,
                              naive_block_inputs* inputs = nullptr) {
  const auto& c = w.config;
  const auto& l = w.layers[std::size_t(layer)];
  const std::size_t T = x.size(), hs = std::size_t(c.head_size());
  const naive_rows a = naive_rms_norm(x, l.attn_norm, c.rms_norm_eps);
  naive_rows q = naive_linear(a, l.wq), k = naive_linear(a, l.wk), v = naive_linear(a, l.wv);
  naive_rope(q, c);
  naive_rope(k, c);
  naive_rows o(T, std::vector<double>(std::size_t(c.dim), 0.0));
  for (std::size_t h = 0; h < std::size_t(c.n_heads); ++h) {
    const std::size_t g = h / std::size_t(c.n_heads / c.n_kv_heads);
    for (std::size_t t = 0; t < T; ++t) {
      std::vector<double> s(t + 1);
      double mx = -1e300;
      for (std::size_t u = 0; u <= t; ++u) {
        double dot = 0.0;
        for (std::size_t i = 0; i < hs; ++i) dot += q[t][h * hs + i] * k[u][g * hs + i];
        s[u] = dot / std::sqrt(double(hs));
        mx = std::max(mx, s[u]);
      }
      double z = 0.0;
      for (double& e : s) z += (e = std::exp(e - mx));
      for (std::size_t u = 0; u <= t; ++u)
        for (std::size_t i = 0; i < hs; ++i) o[t][h * hs + i] += s[u] / z * v[u][g * hs + i];
    }
  }
  naive_rows y = x;
  const naive_rows ao = naive_linear(o, l.wo);
  for (std::size_t t = 0; t < T; ++t)
    for (std::size_t j = 0; j < y[t].size(); ++j) y[t][j] += ao[t][j];
  const naive_rows m = naive_rms_norm(y, l.ffn_norm, c.rms_norm_eps);
  const naive_rows g1 = naive_linear(m, l.w1), g3 = naive_linear(m, l.w3);
  naive_rows u = g1;
  for (std::size_t t = 0; t < T; ++t)
    for (std::size_t j = 0; j < u[t].size(); ++j)
      u[t][j] = g1[t][j] / (1.0 + std::exp(-g1[t][j])) * g3[t][j];
  const naive_rows down = naive_linear(u, l.w2);
  for (std::size_t t = 0; t < T; ++t)
    for (std::size_t j = 0; j < y[t].size(); ++j) y[t][j] += down[t][j];
  if (inputs != nullptr) *inputs = {a, o, m, u};
  return y;
}

inline naive_rows naive_embed(const llm::llama_weights& w, const std::vector<int>& tokens) {
  naive_rows x;
  for (int t : tokens) {
    std::vector<double> row(std::size_t(w.config.dim));
    for (index_t j = 0; j < w.config.dim; ++j) row[std::size_t(j)] = w.token_embedding(t, j);
    x.push_back(row);
  }
  return x;
}

/// Logits [T][vocab] of one sequence.
inline naive_rows naive_logits(const llm::llama_weights& w, const std::vector<int>& tokens) {
  naive_rows x = naive_embed(w, tokens);
  for (index_t l = 0; l < w.config.n_layers; ++l) x = naive_block(w, l, x);
  x = naive_rms_norm(x, w.final_norm, w.config.rms_norm_eps);
  return naive_linear(x, w.config.tied_classifier ? w.token_embedding : w.classifier);
}

}  // namespace pollard::test

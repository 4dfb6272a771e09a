// Test support: a user-defined two-block language model in plain loops, implementing the model
// concepts (block_sequential_model, causal_lm, incremental_lm) through members, and a "foreign"
// engine type adapted through model_traits.
//
// Hidden states x [tokens x d]; for each block, position t of a sequence:
//   a_t = (x_0 + ... + x_t) / (t + 1)              input 0 "mix"   [d]   read by up and gate
//   u_t = relu(a_t up^T) * (a_t gate^T)            input 1 "mid"   [h]   read by down
//   x_t += u_t down^T
// embedding [vocab x d] gives x for a token; logits = x embedding^T (tied). The running mean is
// the only mixing across positions, so the sequence layout matters and is easy to reason about.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/core/token_id.hpp"
#include "pollard/model/block_input.hpp"
#include "pollard/model/block_sequential_model.hpp"
#include "pollard/model/causal_lm.hpp"
#include "pollard/model/linear_ref.hpp"
#include "pollard/model/sequence_layout.hpp"
#include "support/random.hpp"

namespace pollard::test {

/// The toy's weights, row-major: embedding [vocab x d]; per block up, gate [h x d], down [d x h].
struct toy_weights {
  index_t vocab = 7, d = 4, h = 3, context = 16;
  dense_matrix<float> embedding;
  struct block {
    dense_matrix<float> up, gate, down;
  };
  std::vector<block> blocks;

  static toy_weights random(std::uint64_t seed, index_t n_blocks = 2) {
    toy_weights w;
    w.embedding = random_normal<float>(w.vocab, w.d, seed, 0.5f);
    for (index_t b = 0; b < n_blocks; ++b) {
      const auto s = seed + 10 * static_cast<std::uint64_t>(b + 1);
      w.blocks.push_back({random_normal<float>(w.h, w.d, s + 1, 0.5f),
                          random_normal<float>(w.h, w.d, s + 2, 0.5f),
                          random_normal<float>(w.d, w.h, s + 3, 0.5f)});
    }
    return w;
  }
};

namespace toy {

inline void embed(const toy_weights& w, std::span<const token_id> tokens,
                  matrix_view<float> hidden) {
  for (std::size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= w.vocab)
      throw option_error("toy: token " + std::to_string(tokens[i]) + " is outside the vocabulary");
  for (std::size_t i = 0; i < tokens.size(); ++i)
    for (index_t j = 0; j < w.d; ++j)
      hidden(static_cast<index_t>(i), j) = w.embedding(tokens[i], j);
}

/// u = relu(a up^T) * (a gate^T) for one row a [d] into u [h].
inline void mid(const toy_weights::block& k, const float* a, float* u) {
  for (index_t i = 0; i < k.up.rows; ++i) {
    float up = 0.0f, gate = 0.0f;
    for (index_t j = 0; j < k.up.cols; ++j) {
      up += a[j] * k.up(i, j);
      gate += a[j] * k.gate(i, j);
    }
    u[i] = std::max(up, 0.0f) * gate;
  }
}

/// x += u down^T for one row.
inline void add_down(const toy_weights::block& k, const float* u, float* x) {
  for (index_t i = 0; i < k.down.rows; ++i) {
    float s = 0.0f;
    for (index_t j = 0; j < k.down.cols; ++j) s += u[j] * k.down(i, j);
    x[i] += s;
  }
}

inline void run_block(const toy_weights& w, index_t b, matrix_view<float> hidden,
                      model::sequence_layout layout, const model::input_observer& observer) {
  const auto& k = w.blocks[static_cast<std::size_t>(b)];
  const index_t T = layout.tokens();
  dense_matrix<float> a(T, w.d), u(T, w.h);
  for (index_t s = 0; s < layout.n_sequences; ++s) {
    std::vector<float> sum(static_cast<std::size_t>(w.d), 0.0f);
    for (index_t t = 0; t < layout.length; ++t) {
      const index_t r = s * layout.length + t;
      for (index_t j = 0; j < w.d; ++j) {
        sum[static_cast<std::size_t>(j)] += hidden(r, j);
        a(r, j) = sum[static_cast<std::size_t>(j)] / static_cast<float>(t + 1);
      }
    }
  }
  observer(0, a.view());
  for (index_t r = 0; r < T; ++r) mid(k, &a(r, 0), &u(r, 0));
  observer(1, u.view());
  for (index_t r = 0; r < T; ++r) add_down(k, &u(r, 0), hidden.data() + r * w.d);
}

inline std::vector<model::block_input> block_inputs(const toy_weights& w) {
  return {{"mix", w.d}, {"mid", w.h}};
}

inline std::vector<model::linear_ref> linears(toy_weights& w, index_t b) {
  auto& k = w.blocks[static_cast<std::size_t>(b)];
  const std::string p = "blk." + std::to_string(b) + ".";
  return {
      {p + "up", k.up.view(), 0}, {p + "gate", k.gate.view(), 0}, {p + "down", k.down.view(), 1}};
}

/// logits [rows x vocab] = x embedding^T for rows of x.
inline void classify(const toy_weights& w, const float* x, index_t rows, float* logits) {
  for (index_t r = 0; r < rows; ++r)
    for (index_t v = 0; v < w.vocab; ++v) {
      float s = 0.0f;
      for (index_t j = 0; j < w.d; ++j) s += x[r * w.d + j] * w.embedding(v, j);
      logits[r * w.vocab + v] = s;
    }
}

/// The final hidden states [tokens x d] of stacked sequences.
inline dense_matrix<float> final_hidden(const toy_weights& w, std::span<const token_id> tokens,
                                        model::sequence_layout layout) {
  dense_matrix<float> x(layout.tokens(), w.d);
  embed(w, tokens, x.view());
  for (index_t b = 0; b < static_cast<index_t>(w.blocks.size()); ++b)
    run_block(w, b, x.view(), layout, {});
  return x;
}

/// Rows [rows.begin, rows.end) of the logits of final hidden states x into out.
inline void logits(const toy_weights& w, const dense_matrix<float>& x, model::row_range rows,
                   matrix_view<float> out) {
  classify(w, &x(rows.begin, 0), rows.size(), out.data());
}

}  // namespace toy

/// The toy computed independently for one sequence, in double precision, position by position
/// from the formulas above: every block's input x, its "mix" and "mid" activations, the final
/// hidden states and the logits.
struct toy_reference {
  std::vector<dense_matrix<double>> x, mix, mid;  // per block, [length x width]
  dense_matrix<double> final_hidden, logits;

  toy_reference(const toy_weights& w, std::span<const token_id> sequence) {
    const auto L = static_cast<index_t>(sequence.size());
    dense_matrix<double> h(L, w.d);
    for (index_t t = 0; t < L; ++t)
      for (index_t j = 0; j < w.d; ++j)
        h(t, j) = w.embedding(sequence[static_cast<std::size_t>(t)], j);
    for (const auto& k : w.blocks) {
      x.push_back(h);
      dense_matrix<double> a(L, w.d), u(L, w.h);
      for (index_t t = 0; t < L; ++t)
        for (index_t j = 0; j < w.d; ++j) {
          double s = 0.0;
          for (index_t p = 0; p <= t; ++p) s += h(p, j);
          a(t, j) = s / static_cast<double>(t + 1);
        }
      for (index_t t = 0; t < L; ++t)
        for (index_t i = 0; i < w.h; ++i) {
          double up = 0.0, gate = 0.0;
          for (index_t j = 0; j < w.d; ++j) {
            up += a(t, j) * k.up(i, j);
            gate += a(t, j) * k.gate(i, j);
          }
          u(t, i) = (up > 0.0 ? up : 0.0) * gate;
        }
      for (index_t t = 0; t < L; ++t)
        for (index_t i = 0; i < w.d; ++i)
          for (index_t j = 0; j < w.h; ++j) h(t, i) += u(t, j) * k.down(i, j);
      mix.push_back(a);
      mid.push_back(u);
    }
    final_hidden = h;
    logits = dense_matrix<double>(L, w.vocab);
    for (index_t t = 0; t < L; ++t)
      for (index_t v = 0; v < w.vocab; ++v)
        for (index_t j = 0; j < w.d; ++j) logits(t, v) += h(t, j) * w.embedding(v, j);
  }
};

/// The toy as its author would write it: the model concepts through member functions, with the
/// optional begin_block/end_block hooks recorded so a test can see that callers bracket blocks.
class toy_model {
 public:
  explicit toy_model(toy_weights w) : w_(std::move(w)) {}

  toy_weights& weights() { return w_; }
  std::vector<std::string> events;

  index_t block_count() const { return static_cast<index_t>(w_.blocks.size()); }
  index_t hidden_size() const { return w_.d; }
  std::vector<model::block_input> block_inputs(index_t) const { return toy::block_inputs(w_); }
  std::vector<model::linear_ref> linears(index_t b) { return toy::linears(w_, b); }
  void embed(std::span<const token_id> tokens, matrix_view<float> hidden) const {
    toy::embed(w_, tokens, hidden);
  }
  void run_block(index_t b, matrix_view<float> hidden, model::sequence_layout layout,
                 model::input_observer observer) {
    toy::run_block(w_, b, hidden, layout, observer);
  }
  void begin_block(index_t b) { events.push_back("begin " + std::to_string(b)); }
  void end_block(index_t b) { events.push_back("end " + std::to_string(b)); }

  index_t vocab_size() const { return w_.vocab; }
  index_t context_length() const { return w_.context; }
  /// The prefill state is the final hidden states.
  dense_matrix<float> prefill(std::span<const token_id> tokens,
                              model::sequence_layout layout) const {
    return toy::final_hidden(w_, tokens, layout);
  }
  void logits(const dense_matrix<float>& x, model::row_range rows, matrix_view<float> out) const {
    toy::logits(w_, x, rows, out);
  }

  /// One sequence being decoded: the running sum of each block's input and the last logits.
  struct sequence_state {
    index_t capacity = 0, length = 0;
    std::vector<std::vector<float>> sums;
    std::vector<float> logits;
  };
  sequence_state start_sequence(index_t capacity) const {
    return {capacity,
            0,
            std::vector<std::vector<float>>(w_.blocks.size(),
                                            std::vector<float>(static_cast<std::size_t>(w_.d))),
            {}};
  }
  std::span<const float> extend(sequence_state& s, std::span<const token_id> tokens) const {
    const auto n = static_cast<index_t>(tokens.size());
    if (s.length + n > s.capacity)
      throw option_error("toy: " + std::to_string(s.length + n) + " positions exceed the capacity");
    dense_matrix<float> x(n, w_.d);
    toy::embed(w_, tokens, x.view());
    std::vector<float> a(static_cast<std::size_t>(w_.d)), u(static_cast<std::size_t>(w_.h));
    for (index_t r = 0; r < n; ++r) {
      const auto position = static_cast<float>(s.length + r + 1);
      for (std::size_t b = 0; b < w_.blocks.size(); ++b) {
        for (index_t j = 0; j < w_.d; ++j) {
          s.sums[b][static_cast<std::size_t>(j)] += x(r, j);
          a[static_cast<std::size_t>(j)] = s.sums[b][static_cast<std::size_t>(j)] / position;
        }
        toy::mid(w_.blocks[b], a.data(), u.data());
        toy::add_down(w_.blocks[b], u.data(), &x(r, 0));
      }
    }
    s.length += n;
    s.logits.assign(static_cast<std::size_t>(w_.vocab), 0.0f);
    toy::classify(w_, &x(n - 1, 0), 1, s.logits.data());
    return s.logits;
  }

 private:
  toy_weights w_;
};

/// An engine "from another library": its own vocabulary of names, no pollard members. It is
/// adapted by the model_traits specialisation below (block-sequential and causal, not incremental).
struct foreign_toy_engine {
  toy_weights weights;
  int layer_count() const { return static_cast<int>(weights.blocks.size()); }
};

/// A type with both tiers: members (from toy_model) and a model_traits specialisation that
/// exposes only its first block; the traits must win.
class toy_model_with_traits : public toy_model {
 public:
  using toy_model::toy_model;
};

}  // namespace pollard::test

template <>
struct pollard::model::model_traits<pollard::test::foreign_toy_engine> {
  using engine = pollard::test::foreign_toy_engine;
  static index_t block_count(const engine& e) { return e.layer_count(); }
  static index_t hidden_size(const engine& e) { return e.weights.d; }
  static std::vector<block_input> block_inputs(const engine& e, index_t) {
    return test::toy::block_inputs(e.weights);
  }
  static std::vector<linear_ref> linears(engine& e, index_t b) {
    return test::toy::linears(e.weights, b);
  }
  static void embed(engine& e, std::span<const token_id> tokens, matrix_view<float> hidden) {
    test::toy::embed(e.weights, tokens, hidden);
  }
  static void run_block(engine& e, index_t b, matrix_view<float> hidden, sequence_layout layout,
                        input_observer observer) {
    test::toy::run_block(e.weights, b, hidden, layout, observer);
  }
  static index_t vocab_size(const engine& e) { return e.weights.vocab; }
  static index_t context_length(const engine& e) { return e.weights.context; }
  static test::dense_matrix<float> prefill(engine& e, std::span<const token_id> tokens,
                                           sequence_layout layout) {
    return test::toy::final_hidden(e.weights, tokens, layout);
  }
  static void logits(engine& e, const test::dense_matrix<float>& x, row_range rows,
                     matrix_view<float> out) {
    test::toy::logits(e.weights, x, rows, out);
  }
};

template <>
struct pollard::model::model_traits<pollard::test::toy_model_with_traits> {
  using model_type = pollard::test::toy_model_with_traits;
  static index_t block_count(const model_type&) { return 1; }
  static index_t hidden_size(const model_type& m) { return m.hidden_size(); }
  static std::vector<block_input> block_inputs(const model_type& m, index_t b) {
    return m.block_inputs(b);
  }
  static std::vector<linear_ref> linears(model_type& m, index_t b) { return m.linears(b); }
  static void embed(model_type& m, std::span<const token_id> tokens, matrix_view<float> hidden) {
    m.embed(tokens, hidden);
  }
  static void run_block(model_type& m, index_t b, matrix_view<float> hidden, sequence_layout layout,
                        input_observer observer) {
    m.run_block(b, hidden, layout, observer);
  }
};

// pollard — the reference forward pass of a Llama-family decoder on the CPU (Eigen): batched
// prefill, one block at a time for block-sequential pruning, and incremental decoding.
//
// Per block, for activations x [tokens x dim]:
//   a = RMSNorm(x) * attn_norm                         -> hook(attn_in, a)
//   q = a wq^T, k = a wk^T, v = a wv^T (+ biases); RoPE on q and k (config.rope pairing,
//   frequencies from rope_inverse_frequencies)
//   o_h = softmax(q_h k_g^T / sqrt(hs) + causal mask) v_g   for query head h, g = h / kv_group
//   o = [o_0 .. o_{H-1}]                                -> hook(attn_out, o)
//   x += o wo^T (+ bias)
//   m = RMSNorm(x) * ffn_norm                          -> hook(mlp_in, m)
//   u = silu(m w1^T) * (m w3^T)                          -> hook(mlp_out, u)
//   x += u w2^T
// RMSNorm(x) = x / sqrt(mean(x^2) + eps). Linear layers run as one GEMM over all tokens.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "pollard/backends/cpu/parallel_for.hpp"
#include "pollard/backends/cpu/policy.hpp"
#include "pollard/core/checks.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/core/token_id.hpp"
#include "pollard/llm/kv_cache.hpp"
#include "pollard/llm/llama_weights.hpp"
#include "pollard/llm/rope_frequencies.hpp"
#include "pollard/model/sequence_layout.hpp"

namespace pollard::llm {

using model::sequence_layout;

/// Observes the input of a block's linears: called with the layer index, which input, and the
/// activations [tokens x d_in] (d_in = dim, or hidden_dim for mlp_out), valid only during the
/// call. Called in the order attn_in, attn_out, mlp_in, mlp_out.
using linear_input_hook =
    std::function<void(index_t layer, llama_linear_input input, matrix_view<const float>)>;

/// Runs a llama_weights model. Holds a pointer to the weights (they may be changed between
/// calls, e.g. pruned) and reusable workspaces, so one instance must not be shared by threads.
class llama_forward {
 public:
  /// `weights` must outlive the llama_forward (a temporary does not bind).
  explicit llama_forward(const llama_weights& weights) : w_(&weights) { weights.validate(); }
  explicit llama_forward(const llama_weights&&) = delete;

  const llama_weights& weights() const noexcept { return *w_; }
  const llama_config& config() const noexcept { return w_->config; }

  /// Rows of the embedding table: [tokens.size() x dim]. Throws option_error for an id outside
  /// the vocabulary.
  row_matrix embed(std::span<const token_id> tokens) const {
    const auto& c = config();
    row_matrix x(static_cast<index_t>(tokens.size()), c.dim);
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      if (tokens[i] < 0 || tokens[i] >= c.vocab_size)
        throw option_error("llama_forward: token " + std::to_string(tokens[i]) + " at index " +
                           std::to_string(i) + " is outside the vocabulary of " +
                           std::to_string(c.vocab_size));
      x.row(static_cast<index_t>(i)) = w_->token_embedding.row(tokens[i]);
    }
    return x;
  }

  /// Applies block `layer` in place to hidden [layout.tokens() x dim] (row-major contiguous),
  /// each sequence starting at position 0; `hook` sees the input of every linear.
  void run_block(index_t layer, matrix_view<float> hidden, sequence_layout layout,
                 const linear_input_hook& hook = {}) {
    check_block_args(layer, hidden, layout.tokens(), "run_block");
    if (layout.n_sequences <= 0 || layout.length <= 0)
      throw shape_error("llama_forward::run_block: the layout needs at least one token, got " +
                        std::to_string(layout.n_sequences) + " sequences of length " +
                        std::to_string(layout.length));
    block(layer, hidden, layout, nullptr, hook);
  }
  void run_block(index_t layer, row_matrix& hidden, sequence_layout layout,
                 const linear_input_hook& hook = {}) {
    run_block(layer, view_of(hidden), layout, hook);
  }

  /// RMSNorm with the final norm weight, in place on [tokens x dim].
  void final_norm(row_matrix& hidden) const {
    rms_norm(hidden, hidden, w_->final_norm, config().rms_norm_eps);
  }

  /// Logits [tokens x vocab] of final-normed hidden states.
  row_matrix classify(const row_matrix& normed) const {
    if (normed.cols() != config().dim)
      throw shape_error("llama_forward::classify: hidden states have " +
                        std::to_string(normed.cols()) + " columns but dim is " +
                        std::to_string(config().dim));
    row_matrix logits(normed.rows(), config().vocab_size);
    sequence_products{}.set(logits, normed, w_->output_classifier());
    return logits;
  }

  /// Logits [n_sequences*length x vocab] for every position of every sequence; tokens are
  /// stacked sequence after sequence as in sequence_layout.
  row_matrix prefill(std::span<const token_id> tokens, sequence_layout layout,
                     const linear_input_hook& hook = {}) {
    if (static_cast<index_t>(tokens.size()) != layout.tokens())
      throw shape_error("llama_forward::prefill: " + std::to_string(tokens.size()) +
                        " tokens but the layout holds " + std::to_string(layout.n_sequences) +
                        " x " + std::to_string(layout.length));
    row_matrix x = embed(tokens);
    for (index_t l = 0; l < config().n_layers; ++l) run_block(l, x, layout, hook);
    final_norm(x);
    return classify(x);
  }

  /// Appends `tokens` to the sequence held by `cache` (positions cache.length() onward) and
  /// returns their logits [tokens.size() x vocab]. One token at a time is incremental decoding;
  /// a whole prompt at once is its prefill.
  row_matrix extend(kv_cache& cache, std::span<const token_id> tokens,
                    const linear_input_hook& hook = {}) {
    const auto& c = config();
    if (cache.n_layers() != c.n_layers || cache.keys(0).cols() != c.kv_dim())
      throw shape_error("llama_forward::extend: the cache was made for another model shape");
    const auto n = static_cast<index_t>(tokens.size());
    if (cache.length() + n > cache.capacity())
      throw option_error("llama_forward::extend: " + std::to_string(cache.length()) + " + " +
                         std::to_string(n) + " positions exceed the cache capacity " +
                         std::to_string(cache.capacity()));
    row_matrix x = embed(tokens);
    if (n > 0) {
      for (index_t l = 0; l < c.n_layers; ++l)
        block(l, view_of(x), sequence_layout{1, n}, &cache, hook);
      cache.advance(n);
    }
    final_norm(x);
    return classify(x);
  }

  /// Appends tokens[i] to the sequence of caches[i] (distinct caches, each at its own length)
  /// and returns the logits [caches.size() x vocab], row i after tokens[i]: one decoding step of
  /// several sequences, their linears as matrix products over eight rows at a time (a smaller
  /// batch is padded). A row's values do not depend on which other sequences share the step, nor
  /// on the thread count (see tiled_products); they equal extend's up to rounding.
  row_matrix extend_each(std::span<kv_cache* const> caches, std::span<const token_id> tokens) {
    const auto& c = config();
    const auto n = static_cast<index_t>(caches.size());
    if (n == 0 || tokens.size() != caches.size())
      throw shape_error("llama_forward::extend_each: " + std::to_string(tokens.size()) +
                        " tokens for " + std::to_string(n) + " sequences (one each, at least one)");
    index_t longest = 0;
    for (std::size_t i = 0; i < caches.size(); ++i) {
      const kv_cache* cache = caches[i];
      if (cache == nullptr || cache->n_layers() != c.n_layers ||
          cache->keys(0).cols() != c.kv_dim())
        throw shape_error("llama_forward::extend_each: cache " + std::to_string(i) +
                          " was made for another model shape");
      if (cache->length() + 1 > cache->capacity())
        throw option_error("llama_forward::extend_each: cache " + std::to_string(i) +
                           " is full (capacity " + std::to_string(cache->capacity()) + ")");
      if (std::find(caches.begin(), caches.begin() + static_cast<std::ptrdiff_t>(i), cache) !=
          caches.begin() + static_cast<std::ptrdiff_t>(i))
        throw option_error("llama_forward::extend_each: cache " + std::to_string(i) +
                           " appears twice");
      longest = std::max(longest, cache->length() + 1);
    }
    const row_matrix embedded = embed(tokens);
    // Padded to whole products with copies of the last row.
    constexpr index_t group = decoding_products::rows_per_product;
    row_matrix x((n + group - 1) / group * group, c.dim);
    x.topRows(n) = embedded;
    for (index_t r = n; r < x.rows(); ++r) x.row(r) = embedded.row(n - 1);
    ensure_rope_table(longest);
    Eigen::Map<row_matrix> xm(x.data(), x.rows(), x.cols());
    for (index_t l = 0; l < c.n_layers; ++l) decode_block(l, xm, caches);
    for (kv_cache* cache : caches) cache->advance(1);
    final_norm(x);
    row_matrix logits(x.rows(), c.vocab_size);
    decoding_products{}.set(logits, x, w_->output_classifier());
    logits.conservativeResize(n, c.vocab_size);
    return logits;
  }

  /// Logits [vocab] of one more token (incremental decoding).
  Eigen::VectorXf decode_step(kv_cache& cache, token_id token) {
    row_matrix logits = extend(cache, std::span<const token_id>(&token, 1));
    return logits.row(0).transpose();
  }

 private:
  using map_t = Eigen::Map<row_matrix, 0, Eigen::OuterStride<>>;
  using cmap_t = Eigen::Map<const row_matrix, 0, Eigen::OuterStride<>>;

  void check_block_args(index_t layer, matrix_view<float> hidden, index_t tokens,
                        const char* who) const {
    if (layer < 0 || layer >= config().n_layers)
      throw option_error(std::string("llama_forward::") + who + ": layer " + std::to_string(layer) +
                         " is outside [0, " + std::to_string(config().n_layers) + ")");
    if (hidden.rows() != tokens || hidden.cols() != config().dim ||
        !hidden.is_row_major_contiguous())
      throw shape_error(std::string("llama_forward::") + who + ": hidden states are " +
                        shape_text(hidden.rows(), hidden.cols()) + " (row stride " +
                        std::to_string(hidden.row_stride()) + ") but a row-major contiguous " +
                        shape_text(tokens, config().dim) + " matrix is needed");
  }

  /// out = x / sqrt(mean(x^2) + eps) * weight, row by row (sums in float, as llama2.c).
  template <class In, class Out>
  static void rms_norm(const In& x, Out& out, const Eigen::VectorXf& weight, float eps) {
    const index_t d = x.cols();
    for (index_t r = 0; r < x.rows(); ++r) {
      float ss = 0.0f;
      for (index_t j = 0; j < d; ++j) ss += x(r, j) * x(r, j);
      ss /= static_cast<float>(d);
      ss += eps;
      ss = 1.0f / std::sqrt(ss);
      for (index_t j = 0; j < d; ++j) out(r, j) = weight[j] * (ss * x(r, j));
    }
  }

  /// cos/sin of pos * f[i] for positions [0, n), f = rope_inverse_frequencies (float, as
  /// llama2.c computes the angles).
  void ensure_rope_table(index_t n) {
    const auto& ff = w_->rope_freq_factors;
    std::vector<float> freq =
        rope_inverse_frequencies(config(), std::span<const float>(ff.data(), ff.size()));
    if (rope_positions_ >= n && freq == rope_freq_) return;
    if (freq != rope_freq_) rope_positions_ = 0;
    n = std::max(n, 2 * rope_positions_);  // grows geometrically during decoding
    const auto half = static_cast<index_t>(freq.size());
    rope_cos_.resize(n, half);
    rope_sin_.resize(n, half);
    for (index_t i = 0; i < half; ++i)
      for (index_t p = 0; p < n; ++p) {
        const float angle = static_cast<float>(p) * freq[static_cast<std::size_t>(i)];
        rope_cos_(p, i) = std::cos(angle);
        rope_sin_(p, i) = std::sin(angle);
      }
    rope_positions_ = n;
    rope_freq_ = std::move(freq);
  }

  /// Rotates every head of m [tokens x heads*hs]; row r is at position first + r % length.
  void apply_rope(row_matrix& m, index_t heads, index_t length, index_t first) const {
    for (index_t r = 0; r < m.rows(); ++r) rotate_row(m.row(r).data(), heads, first + r % length);
  }

  /// Rotates every head of one row [heads*hs] at position pos.
  void rotate_row(float* row, index_t heads, index_t pos) const {
    const auto& c = config();
    const index_t hs = c.head_size(), half = hs / 2;
    const bool interleaved = c.rope == rope_style::interleaved;
    const float* cs = rope_cos_.row(pos).data();
    const float* sn = rope_sin_.row(pos).data();
    for (index_t h = 0; h < heads; ++h) {
      float* v = row + h * hs;
      for (index_t i = 0; i < half; ++i) {
        const index_t a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
        const float v0 = v[a], v1 = v[b];
        v[a] = v0 * cs[i] - v1 * sn[i];
        v[b] = v0 * sn[i] + v1 * cs[i];
      }
    }
  }

  /// The policy the forward pass spreads its own loops over: Eigen's thread count, so that
  /// Eigen::setNbThreads sets both.
  static cpu::par_t threads() { return cpu::par.threads(Eigen::nbThreads()); }

  /// Causal attention of n queries at positions [first, first+n) over keys/values of positions
  /// [0, first+n) for `sequences` independent sequences laid one after the other: per sequence,
  /// q [n x dim] (stride), k, v [first+n x kv_dim] (stride), out [n x dim]. Every (sequence, head,
  /// chunk of query rows) is one task of the parallel loop, with its own products and softmax.
  void attend(const float* q, index_t q_stride, const float* k, const float* v, index_t kv_stride,
              float* out, index_t out_stride, index_t n, index_t first, index_t sequences) {
    const auto& c = config();
    const index_t hs = c.head_size(), group = c.kv_group();
    const float root = std::sqrt(static_cast<float>(hs));
    constexpr index_t chunk = 128;  // query rows per product: bounds the causal waste
    const index_t chunks = (n + chunk - 1) / chunk;
    const index_t tasks = sequences * c.n_heads * chunks;
    cpu::parallel_for(threads(), tasks, std::min(chunk, n) * (first + n) * hs * 4, [&](index_t t) {
      const index_t s = t / (c.n_heads * chunks);
      const index_t h = t / chunks % c.n_heads;
      const index_t r0 = t % chunks * chunk;
      const index_t g = h / group;
      const index_t rows = std::min(chunk, n - r0);
      const index_t keys = first + r0 + rows;
      const float* qs = q + s * n * q_stride;
      const float* ks = k + s * (first + n) * kv_stride;
      const float* vs = v + s * (first + n) * kv_stride;
      cmap_t qh(qs + r0 * q_stride + h * hs, rows, hs, Eigen::OuterStride<>(q_stride));
      cmap_t kh(ks + g * hs, keys, hs, Eigen::OuterStride<>(kv_stride));
      cmap_t vh(vs + g * hs, keys, hs, Eigen::OuterStride<>(kv_stride));
      row_matrix scores(rows, keys);
      scores.noalias() = qh * kh.transpose();
      for (index_t i = 0; i < rows; ++i) {
        const index_t visible = first + r0 + i + 1;
        Eigen::Map<Eigen::ArrayXf> sc(scores.row(i).data(), visible);
        sc /= root;
        sc = (sc - sc.maxCoeff()).exp();
        sc /= sc.sum();
        float* tail = scores.row(i).data();
        for (index_t j = visible; j < keys; ++j) tail[j] = 0.0f;
      }
      map_t oh(out + (s * n + r0) * out_stride + h * hs, rows, hs,
               Eigen::OuterStride<>(out_stride));
      oh.noalias() = scores * vh;
    });
  }

  /// The linears out = in·wᵀ (or out += in·wᵀ) as products over tiles fixed by the shapes:
  /// every product takes `Rows` rows (the last group may be shorter) and one column block of the
  /// output (`Width` wide), spread over the forward pass's threads, each an Eigen product on one
  /// thread. Eigen's own multi-threaded product splits the work by the thread count, and its
  /// kernels round a value differently depending on where the value falls in that split; fixing
  /// the tiles makes every value independent of the thread count (so a prune on 1 thread and on
  /// 16 gives the same masks), and with Rows rows per product in decoding, independent of which
  /// other sequences share the step.
  template <index_t Rows, index_t Width>
  struct tiled_products {
    static constexpr index_t rows_per_product = Rows;
    static constexpr index_t width = Width;
    template <class Out, class In, class W, class Op>
    static void run(Out& out, const In& in, const W& w, Op op) {
      const index_t n = w.rows(), blocks = (n + width - 1) / width;
      const index_t groups = (in.rows() + Rows - 1) / Rows;
      cpu::parallel_for(threads(), groups * blocks, Rows * in.cols() * width, [&](index_t t) {
        const index_t r0 = t / blocks * Rows, nr = std::min(Rows, in.rows() - r0);
        const index_t j0 = t % blocks * width, nj = std::min(width, n - j0);
        op(out.block(r0, j0, nr, nj), in.middleRows(r0, nr), w.middleRows(j0, nj));
      });
    }
    template <class Out, class In, class W>
    void set(Out&& out, const In& in, const W& w) const {
      run(out, in, w,
          [](auto o, const auto& a, const auto& b) { o.noalias() = a * b.transpose(); });
    }
    template <class Out, class In, class W>
    void add(Out&& out, const In& in, const W& w) const {
      run(out, in, w,
          [](auto o, const auto& a, const auto& b) { o.noalias() += a * b.transpose(); });
    }
  };
  /// Prefill and evaluation: 96 rows (a multiple of Eigen's register-block heights) by 192
  /// columns per product.
  using sequence_products = tiled_products<96, 192>;
  /// Batched decoding: eight rows (a smaller batch is padded to eight) by 128 columns.
  using decoding_products = tiled_products<8, 128>;

  /// xb_ = RMSNorm(x)·attn_norm (-> attn_in), then q_, k_, v_ with their biases (before RoPE).
  template <class Notify, class Products>
  void attention_inputs(const llama_layer_weights& lw, Eigen::Map<row_matrix>& x, Notify& notify,
                        const Products& products) {
    const auto& c = config();
    const index_t T = x.rows();
    xb_.resize(T, c.dim);
    rms_norm(x, xb_, lw.attn_norm, c.rms_norm_eps);
    notify(llama_linear_input::attn_in, xb_);
    q_.resize(T, c.dim);
    k_.resize(T, c.kv_dim());
    v_.resize(T, c.kv_dim());
    products.set(q_, xb_, lw.wq);
    products.set(k_, xb_, lw.wk);
    products.set(v_, xb_, lw.wv);
    add_bias(q_, lw.bias(llama_linear::q));
    add_bias(k_, lw.bias(llama_linear::k));
    add_bias(v_, lw.bias(llama_linear::v));
  }

  /// The rest of the block once att_ holds the attention output (-> attn_out): x += att_·woᵀ,
  /// then the SwiGLU MLP (-> mlp_in, mlp_out) added to x.
  template <class Notify, class Products>
  void block_outputs(const llama_layer_weights& lw, Eigen::Map<row_matrix>& x, Notify& notify,
                     const Products& products) {
    const auto& c = config();
    const index_t T = x.rows();
    notify(llama_linear_input::attn_out, att_);
    products.add(x, att_, lw.wo);
    add_bias(x, lw.bias(llama_linear::o));

    rms_norm(x, xb_, lw.ffn_norm, c.rms_norm_eps);
    notify(llama_linear_input::mlp_in, xb_);
    h1_.resize(T, c.hidden_dim);
    h3_.resize(T, c.hidden_dim);
    products.set(h1_, xb_, lw.w1);
    products.set(h3_, xb_, lw.w3);
    add_bias(h1_, lw.bias(llama_linear::gate));
    add_bias(h3_, lw.bias(llama_linear::up));
    // SwiGLU, rows spread over the threads.
    cpu::parallel_for(threads(), T, c.hidden_dim * 8, [&](index_t r) {
      float* gate = h1_.row(r).data();
      const float* up = h3_.row(r).data();
      for (index_t i = 0; i < c.hidden_dim; ++i) {
        const float g = gate[i];
        gate[i] = g * (1.0f / (1.0f + std::exp(-g))) * up[i];
      }
    });
    notify(llama_linear_input::mlp_out, h1_);
    products.add(x, h1_, lw.w2);
    add_bias(x, lw.bias(llama_linear::down));
  }

  void block(index_t layer, matrix_view<float> hidden, sequence_layout layout, kv_cache* cache,
             const linear_input_hook& hook) {
    const auto& c = config();
    const auto& lw = w_->layers[static_cast<std::size_t>(layer)];
    const index_t T = layout.tokens(), d = c.dim, kv = c.kv_dim();
    const index_t first = cache != nullptr ? cache->length() : 0;
    ensure_rope_table(first + layout.length);
    Eigen::Map<row_matrix> x(hidden.data(), T, d);
    auto notify = [&](llama_linear_input which, const row_matrix& m) {
      if (hook) hook(layer, which, matrix_view<const float>(m.data(), m.rows(), m.cols()));
    };

    attention_inputs(lw, x, notify, sequence_products{});
    apply_rope(q_, c.n_heads, layout.length, first);
    apply_rope(k_, c.n_kv_heads, layout.length, first);

    att_.resize(T, d);
    if (cache != nullptr) {
      auto& kc = cache->keys(layer);
      auto& vc = cache->values(layer);
      kc.middleRows(first, T) = k_;
      vc.middleRows(first, T) = v_;
      attend(q_.data(), d, kc.data(), vc.data(), kv, att_.data(), d, T, first, 1);
    } else {
      attend(q_.data(), d, k_.data(), v_.data(), kv, att_.data(), d, layout.length, 0,
             layout.n_sequences);
    }
    block_outputs(lw, x, notify, sequence_products{});
  }

  /// One decoding step of block `layer` for x [rows x dim], row r the next token of caches[r]
  /// (rows past caches.size() repeat the last sequence's row: padding that is never stored).
  void decode_block(index_t layer, Eigen::Map<row_matrix>& x, std::span<kv_cache* const> caches) {
    const auto& c = config();
    const auto& lw = w_->layers[static_cast<std::size_t>(layer)];
    const auto n = static_cast<index_t>(caches.size());
    const index_t d = c.dim, kv = c.kv_dim();
    auto ignore = [](llama_linear_input, const row_matrix&) {};
    attention_inputs(lw, x, ignore, decoding_products{});
    att_.resize(x.rows(), d);
    for (index_t r = 0; r < n; ++r) {
      kv_cache& cache = *caches[static_cast<std::size_t>(r)];
      const index_t position = cache.length();
      rotate_row(q_.row(r).data(), c.n_heads, position);
      rotate_row(k_.row(r).data(), c.n_kv_heads, position);
      cache.keys(layer).row(position) = k_.row(r);
      cache.values(layer).row(position) = v_.row(r);
    }
    // One task per sequence (its heads run inside on the same thread).
    cpu::parallel_for(threads(), n, d * (caches.front()->length() + 1) * 4, [&](index_t r) {
      kv_cache& cache = *caches[static_cast<std::size_t>(r)];
      attend(q_.row(r).data(), d, cache.keys(layer).data(), cache.values(layer).data(), kv,
             att_.row(r).data(), d, 1, cache.length(), 1);
    });
    for (index_t r = n; r < x.rows(); ++r) att_.row(r) = att_.row(n - 1);  // padding rows
    block_outputs(lw, x, ignore, decoding_products{});
  }

  /// m += b on every row (no-op for an empty bias).
  template <class M>
  static void add_bias(M& m, const Eigen::VectorXf& b) {
    if (b.size() > 0) m.rowwise() += b.transpose();
  }

  const llama_weights* w_;
  row_matrix xb_, q_, k_, v_, att_, h1_, h3_;
  row_matrix rope_cos_, rope_sin_;
  index_t rope_positions_ = 0;
  std::vector<float> rope_freq_;
};

}  // namespace pollard::llm

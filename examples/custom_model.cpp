// custom_model — a model of another engine pruned by pollard's whole-model driver. The engine
// implements the block_sequential_model concept with six members of its own class (no pollard
// base class, no Eigen), prune_model prunes every linear of every block to 2:4 with SparseGPT
// on calibration windows, and the program checks the result. The test suite runs it.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "pollard/pollard.hpp"

namespace {

using pollard::index_t;
using pollard::matrix_view;
using pollard::token_id;
namespace model = pollard::model;

/// A small language-model body: token embeddings, then blocks of a residual MLP,
/// h <- h + down · relu(up · h), with the weights in row-major buffers the engine owns.
class residual_mlp_lm {
 public:
  residual_mlp_lm(index_t vocab, index_t width, index_t mlp_width, index_t blocks)
      : vocab_(vocab), d_(width), h_(mlp_width), embedding_(random_weights(vocab * width, 0.5f)) {
    const float up_scale = 1.0f / std::sqrt(static_cast<float>(width));
    const float down_scale = 1.0f / std::sqrt(static_cast<float>(mlp_width));
    for (index_t b = 0; b < blocks; ++b)
      blocks_.push_back({random_weights(h_ * d_, up_scale), random_weights(d_ * h_, down_scale)});
  }

  // --- what block_sequential_model asks of a model ---
  index_t block_count() const { return static_cast<index_t>(blocks_.size()); }
  index_t hidden_size() const { return d_; }

  /// The distinct inputs of block b's linears, in the order run_block shows them.
  std::vector<model::block_input> block_inputs(index_t) const { return {{"x", d_}, {"mid", h_}}; }

  /// The linears of block b: weight views [d_out x d_in] into the engine's own buffers, each
  /// with the index of the input it reads.
  std::vector<model::linear_ref> linears(index_t b) {
    auto& blk = blocks_[static_cast<std::size_t>(b)];
    const std::string prefix = "blk." + std::to_string(b) + ".";
    return {{prefix + "up", matrix_view<float>(blk.up.data(), h_, d_), 0},
            {prefix + "down", matrix_view<float>(blk.down.data(), d_, h_), 1}};
  }

  /// hidden [tokens x d] = the embedding rows of the tokens.
  void embed(std::span<const token_id> tokens, matrix_view<float> hidden) {
    for (const token_id t : tokens)
      if (t < 0 || t >= vocab_)
        throw pollard::option_error("residual_mlp_lm: token " + std::to_string(t) +
                                    " is outside the vocabulary of " + std::to_string(vocab_));
    for (index_t r = 0; r < hidden.rows(); ++r)
      for (index_t j = 0; j < d_; ++j)
        hidden(r, j) =
            embedding_[static_cast<std::size_t>(tokens[static_cast<std::size_t>(r)] * d_ + j)];
  }

  /// Block b in place over hidden [layout.tokens() x d], showing the observer each input once,
  /// exactly as the linears reading it multiply it. This block mixes no positions (no
  /// attention), so the sequence layout only gives the row count.
  void run_block(index_t b, matrix_view<float> hidden, model::sequence_layout layout,
                 model::input_observer observer) {
    const auto& blk = blocks_[static_cast<std::size_t>(b)];
    const index_t n = layout.tokens();
    std::vector<float> mid(static_cast<std::size_t>(n * h_));
    observer(0, matrix_view<const float>(hidden));
    for (index_t r = 0; r < n; ++r)
      for (index_t i = 0; i < h_; ++i) {
        float s = 0.0f;
        for (index_t j = 0; j < d_; ++j)
          s += blk.up[static_cast<std::size_t>(i * d_ + j)] * hidden(r, j);
        mid[static_cast<std::size_t>(r * h_ + i)] = s > 0.0f ? s : 0.0f;
      }
    observer(1, matrix_view<const float>(mid.data(), n, h_));
    for (index_t r = 0; r < n; ++r)
      for (index_t j = 0; j < d_; ++j) {
        float s = 0.0f;
        for (index_t i = 0; i < h_; ++i)
          s += blk.down[static_cast<std::size_t>(j * h_ + i)] *
               mid[static_cast<std::size_t>(r * h_ + i)];
        hidden(r, j) += s;
      }
  }

 private:
  struct block {
    std::vector<float> up;    // [h x d]
    std::vector<float> down;  // [d x h]
  };

  /// Uniform values in [-scale, scale) from a fixed linear congruential sequence.
  std::vector<float> random_weights(index_t count, float scale) {
    std::vector<float> out(static_cast<std::size_t>(count));
    for (auto& v : out) {
      state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
      v = scale * (static_cast<float>(state_ >> 40) / static_cast<float>(1 << 24) * 2.0f - 1.0f);
    }
    return out;
  }

  index_t vocab_, d_, h_;
  std::uint64_t state_ = 42;
  std::vector<float> embedding_;  // [vocab x d]
  std::vector<block> blocks_;
};

static_assert(model::block_sequential_model<residual_mlp_lm>);

}  // namespace

int main() {
  residual_mlp_lm engine(/*vocab*/ 64, /*width*/ 32, /*mlp_width*/ 64, /*blocks*/ 3);

  // A token stream (here a fixed pattern; normally a tokenized corpus) and 16 calibration
  // windows of 24 tokens drawn from it as SparseGPT's and Wanda's WikiText-2 loaders draw them.
  std::vector<token_id> stream(2000);
  for (std::size_t k = 0; k < stream.size(); ++k)
    stream[k] = static_cast<token_id>((k * k + 7 * k) % 61);
  const pollard::calibration_batch batch =
      pollard::corpus_windows(stream, "pattern").draw(16, 24, /*seed*/ 0);

  model::prune_recipe recipe;
  recipe.method = model::pruning_method::sparsegpt;
  recipe.n_m_pruned = 2;  // 2:4: two zeros in every four consecutive input weights
  recipe.n_m_group = 4;
  const model::prune_report report = model::prune_model(engine, batch, recipe);
  std::printf("%s\n", model::to_json(report).c_str());

  // Check the engine's weights themselves, not only the report.
  int failures = 0;
  for (index_t b = 0; b < engine.block_count(); ++b)
    for (const auto& l : engine.linears(b)) {
      const matrix_view<const float> w(l.weight);
      const bool valid = pollard::satisfies_n_m(w, 2, 4) && pollard::sparsity(w) == 0.5;
      std::fprintf(stderr, "%-12s %3ld x %-3ld sparsity %.3f, 2:4 %s\n", l.name.c_str(),
                   static_cast<long>(w.rows()), static_cast<long>(w.cols()), pollard::sparsity(w),
                   valid ? "valid" : "INVALID");
      failures += valid ? 0 : 1;
    }
  if (report.linears.size() != 2 * static_cast<std::size_t>(engine.block_count())) ++failures;
  for (const auto& r : report.linears)
    if (!r.n_m_valid || !(r.loss >= 0.0)) ++failures;
  std::fprintf(stderr, "custom_model: %s\n", failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}

// pollard — a GGUF Llama model for the pruning driver that holds one block in float at a time:
// the file stays memory-mapped in its stored types, a block is dequantised when reached and
// handed back when done.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pollard/core/checks.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/core/token_id.hpp"
#include "pollard/io/gguf.hpp"
#include "pollard/llm/gguf_model.hpp"
#include "pollard/llm/llama_forward.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/llama_weights.hpp"
#include "pollard/model/block_input.hpp"
#include "pollard/model/block_sequential_model.hpp"
#include "pollard/model/linear_ref.hpp"

namespace pollard::llm {

/// block_sequential_model over a memory-mapped GGUF Llama file.
///
/// Memory: the mapped file (left in its stored types) + block b's linears and norms in float
/// between begin_block(b) and end_block(b) + the engine's workspace for the calibration
/// sequences of one run_block call. Token embeddings are dequantised row by row in embed(), so
/// the embedding table never exists in float. end_block(b) calls `on_block_done(b, layer)` with
/// the block as the caller left it, when the caller changed any of its linears (e.g. pruned it),
/// then frees it; a block given back unchanged is not handed on, so a caller that only looked
/// at it (or ran it) costs no re-quantisation.
class streaming_gguf_llama_model {
 public:
  using block_sink = std::function<void(index_t block, const llama_layer_weights& layer)>;

  explicit streaming_gguf_llama_model(std::shared_ptr<const io::gguf_file> file,
                                      block_sink on_block_done = {})
      : file_(std::move(file)),
        config_(llama_config_from_gguf(*file_)),
        on_block_done_(std::move(on_block_done)) {
    embedding_ = &file_->tensor("token_embd.weight");
    if (embedding_->dims.size() != 2 || static_cast<index_t>(embedding_->dims[0]) != config_.dim ||
        static_cast<index_t>(embedding_->dims[1]) != config_.vocab_size)
      throw format_error(file_->name() + ": token_embd.weight does not have the shape " +
                         shape_text(config_.vocab_size, config_.dim));
    if (embedding_->bytes % static_cast<std::uint64_t>(config_.vocab_size) != 0)
      throw format_error(file_->name() + ": token_embd.weight rows are not whole quant blocks");
    detail::check_llama_tensor_names(*file_, config_);
  }

  // The forward pass keeps a pointer to the block held here.
  streaming_gguf_llama_model(const streaming_gguf_llama_model&) = delete;
  streaming_gguf_llama_model& operator=(const streaming_gguf_llama_model&) = delete;

  const llama_config& config() const noexcept { return config_; }
  /// The block held in float, if any.
  std::optional<index_t> loaded_block() const noexcept { return loaded_; }

  index_t block_count() const { return config_.n_layers; }
  index_t hidden_size() const { return config_.dim; }
  std::vector<model::block_input> block_inputs(index_t) const {
    return llama_block_inputs(config_);
  }

  /// The linears of the loaded block b (option_error when b is not loaded).
  std::vector<model::linear_ref> linears(index_t b) {
    require_loaded(b, "linears");
    return llama_linear_refs(shell_.layers[0], b);
  }

  /// Rows of the embedding table, dequantised from the file one row at a time.
  void embed(std::span<const token_id> tokens, matrix_view<float> hidden) const {
    for (std::size_t i = 0; i < tokens.size(); ++i)
      if (tokens[i] < 0 || tokens[i] >= config_.vocab_size)
        throw option_error("streaming model: token " + std::to_string(tokens[i]) + " at index " +
                           std::to_string(i) + " is outside the vocabulary of " +
                           std::to_string(config_.vocab_size));
    const auto data = file_->tensor_data(*embedding_);
    const std::size_t row_bytes = data.size() / static_cast<std::size_t>(config_.vocab_size);
    std::vector<float> row(static_cast<std::size_t>(config_.dim));
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      io::dequantize(embedding_->type,
                     data.subspan(static_cast<std::size_t>(tokens[i]) * row_bytes, row_bytes), row);
      for (index_t j = 0; j < config_.dim; ++j)
        hidden(static_cast<index_t>(i), j) = row[static_cast<std::size_t>(j)];
    }
  }

  /// Runs the loaded block b (option_error when b is not loaded).
  void run_block(index_t b, matrix_view<float> hidden, model::sequence_layout layout,
                 model::input_observer observer) {
    require_loaded(b, "run_block");
    if (!observer) return forward_->run_block(0, hidden, layout);
    forward_->run_block(0, hidden, layout,
                        [&](index_t, llama_linear_input in, matrix_view<const float> x) {
                          observer(static_cast<index_t>(in), x);
                        });
  }

  /// Dequantizes block b (the one held before is handed back first).
  void begin_block(index_t b) {
    if (loaded_ == b) return;
    if (loaded_) end_block(*loaded_);
    // A one-block model: the forward pass of block 0 of it is block b of the file (positions
    // restart in every sequence, so nothing else of the model is needed).
    shell_ = llama_weights{};
    shell_.config = config_;
    shell_.config.n_layers = 1;
    shell_.config.vocab_size = 1;
    shell_.config.tied_classifier = true;
    shell_.token_embedding = row_matrix::Zero(1, config_.dim);
    shell_.final_norm = Eigen::VectorXf::Ones(config_.dim);
    shell_.layers.resize(1);
    auto& layer = shell_.layers[0];
    const auto vector = [&](const std::string& name) {
      return detail::read_gguf_vector(*file_, name);
    };
    layer.attn_norm = vector(detail::layer_tensor(b, "attn_norm"));
    layer.ffn_norm = vector(detail::layer_tensor(b, "ffn_norm"));
    for (const auto linear : all_llama_linears) {
      layer.linear(linear) =
          detail::read_gguf_row_matrix(*file_, detail::layer_tensor(b, gguf_name_of(linear)));
      const auto bias = detail::layer_tensor(b, gguf_name_of(linear), "bias");
      if (file_->find_tensor(bias) != nullptr) layer.bias(linear) = vector(bias);
    }
    if (file_->find_tensor("rope_freqs.weight") != nullptr)
      shell_.rope_freq_factors = vector("rope_freqs.weight");
    try {
      forward_.emplace(shell_);
    } catch (const error& e) {
      throw format_error(file_->name() + ": block " + std::to_string(b) + ": " + e.what());
    }
    loaded_ = b;
  }

  /// Hands block b to the sink when its linears changed, and frees it.
  void end_block(index_t b) {
    if (loaded_ != b) return;
    forward_.reset();
    if (on_block_done_ && block_changed(b)) on_block_done_(b, shell_.layers[0]);
    shell_.layers.clear();
    loaded_.reset();
  }

 private:
  bool block_changed(index_t b) const {
    const auto& layer = shell_.layers[0];
    for (const auto linear : all_llama_linears) {
      const row_matrix stored =
          detail::read_gguf_row_matrix(*file_, detail::layer_tensor(b, gguf_name_of(linear)));
      if (!(stored.array() == layer.linear(linear).array()).all()) return true;
    }
    return false;
  }

  void require_loaded(index_t b, const char* what) const {
    if (loaded_ != b)
      throw option_error(std::string("streaming model: ") + what + " of block " +
                         std::to_string(b) + " before begin_block(" + std::to_string(b) + ")");
  }

  std::shared_ptr<const io::gguf_file> file_;
  llama_config config_;
  block_sink on_block_done_;
  const io::gguf_tensor_info* embedding_ = nullptr;
  llama_weights shell_;
  std::optional<llama_forward> forward_;
  std::optional<index_t> loaded_;
};

static_assert(model::block_sequential_model<streaming_gguf_llama_model>);

}  // namespace pollard::llm

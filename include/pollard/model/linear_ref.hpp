// pollard — linear_ref: one named linear layer of a model block, as a mutable view of its weights.
#pragma once

#include <string>

#include "pollard/core/config.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::model {

/// A linear layer y = x W^T of one block, seen by the pruning code.
struct linear_ref {
  /// Unique in the model; for Llama-family engines the GGUF tensor base name ("blk.3.attn_q").
  std::string name;
  /// W [d_out x d_in] on the host, the engine's working float copy: writes through it are what
  /// the engine computes with afterwards.
  matrix_view<float> weight;
  /// Index into the block's inputs (block_input) of the activations this linear reads; linears
  /// with the same input share one calibration statistic (q/k/v share, gate/up share).
  index_t input = 0;
};

}  // namespace pollard::model

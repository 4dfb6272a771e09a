// pollard — block_input: one distinct activation that linear layers of a model block read.
#pragma once

#include <string>

#include "pollard/core/config.hpp"

namespace pollard::model {

/// An input of a block's linears ("attn_in", "mlp_out", ...) and its width (the d_in of every
/// linear that reads it).
struct block_input {
  std::string name;
  index_t width = 0;
};

}  // namespace pollard::model

// pollard — sequence_layout: how equal-length token sequences are stacked in one activation matrix.
#pragma once

#include "pollard/core/config.hpp"

namespace pollard::model {

/// Equal-length sequences stacked row-wise in a [tokens x width] activation matrix: row r belongs
/// to sequence r / length at position r % length. Attention never crosses sequences.
struct sequence_layout {
  index_t n_sequences = 1;
  index_t length = 0;
  index_t tokens() const noexcept { return n_sequences * length; }
};

}  // namespace pollard::model

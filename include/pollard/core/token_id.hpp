// pollard — token_id: the integer type of a token in a vocabulary, shared by tokenizers, models,
// samplers and metrics without any of them depending on a tokenizer.
#pragma once

#include <cstdint>

namespace pollard {

/// The index of a token in a model's vocabulary, in [0, vocabulary size).
using token_id = std::int32_t;

}  // namespace pollard

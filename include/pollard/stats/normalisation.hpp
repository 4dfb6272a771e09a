// pollard — how streaming statistics count N, the number of samples they normalise by.
#pragma once

namespace pollard {

/// The unit of N in Σx²/N and H = (2/N)·Σ x xᵀ. The reference implementations (SparseGPT, Wanda,
/// llm-compressor) count calibration sequences, so that is the default everywhere.
enum class normalisation {
  by_sequences,  ///< N = number of calibration sequences accumulated (reference behaviour)
  by_tokens,     ///< N = number of token rows accumulated
};

}  // namespace pollard

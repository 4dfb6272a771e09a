// pollard — the divergence metrics of one token position.
#pragma once

#include "pollard/core/config.hpp"

namespace pollard {

/// The metrics of one token position. P = softmax(logits_p), Q = softmax(logits_q) over the
/// vocabulary; all logarithms natural.
struct divergence_sample {
  double js_nats = 0.0;   // ½KL(P‖M) + ½KL(Q‖M), M = (P+Q)/2; in [0, ln 2]
  double kl = 0.0;        // KL(P‖Q) = Σ p (log p − log q), finite even where q underflows
  double delta_p = 0.0;   // q(correct) − p(correct)
  double nll_p = 0.0;     // −log p(correct)
  double nll_q = 0.0;     // −log q(correct)
  index_t top_p = 0;      // argmax of P (lowest index on ties)
  index_t top_q = 0;      // argmax of Q (lowest index on ties)
  bool same_top = false;  // top_p == top_q
};

}  // namespace pollard

// pollard — the pruning_criterion concept: what a weight-importance score must provide.
#pragma once

#include <cmath>
#include <concepts>
#include <span>
#include <string>
#include <type_traits>

#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/criteria/criterion_inputs.hpp"

namespace pollard {

/// A pruning criterion C scores every weight of W [d_out x d_in] (row i = output channel,
/// column j = input channel):
///
///   c.score(w, inputs, scores)   w: matrix_view<const W>, inputs: const criterion_inputs<T>&,
///                                scores: matrix_view<T> (compute type T), returns void.
///
/// Semantic contract (not checkable by the compiler):
/// - larger score = more important: mask policies keep the largest and prune the smallest;
/// - scores(i, j) depends on W and the inputs only (c is const; calls are repeatable and may run
///   concurrently on different outputs); w and scores may have any strides but do not overlap;
/// - scores is never NaN; +inf means "always keep";
/// - a weight that is exactly zero (either sign) scores no higher than any other weight of W
///   (0 for the criteria here, whose scores are all >= 0): pruning it costs nothing, so every
///   policy prunes the existing zeros before a live weight, and pruning a layer that is already
///   s sparse to sparsity s leaves it unchanged. Ties at that lowest score (e.g. a live weight
///   on an input channel that never fired, under Wanda) are broken by position, as every tie;
/// - before writing anything it throws shape_error when scores is not d_out x d_in or an input
///   span has a length other than d_in, option_error naming the missing input when one it needs
///   is empty ("wanda: needs sq_norm_per_sample (moment statistics)"), and non_finite_error
///   naming the element when W or an input holds NaN/Inf;
/// - optionally, `static constexpr criterion_needs needs` says which inputs it reads.
template <class C, class T = float, class W = T>
concept pruning_criterion = compute_type<T> && storage_type<W> &&
    requires(const C& c, matrix_view<const W> w, const criterion_inputs<T>& in,
             matrix_view<T> scores) {
  { c.score(w, in, scores) } -> std::same_as<void>;
};

namespace detail {

// The checks every criterion runs before it writes a score.
template <class W, class T>
void check_criterion_operands(const char* who, matrix_view<W> w, matrix_view<T> scores) {
  require_same_shape(who, "W", w, "scores", scores);
  require_finite(w, who, "W");
}

// Checks that a per-channel input is present, d_in long, finite and (if asked) >= 0 or > 0.
enum class input_sign { any, non_negative, positive };

template <class T>
void check_criterion_input(const char* who, std::span<const T> values, const char* field,
                           const char* source, index_t rows, index_t cols, input_sign sign) {
  if (values.empty())
    throw option_error(std::string(who) + ": needs " + field + " (" + source + ")");
  if (static_cast<index_t>(values.size()) != cols)
    throw shape_error(std::string(who) + ": W is " + shape_text(rows, cols) + " but " + field +
                      " has " + std::to_string(values.size()) + " channels");
  require_finite(values, who, field);
  for (std::size_t j = 0; j < values.size(); ++j) {
    const std::string what = std::string(field) + " at [" + std::to_string(j) + "]";
    if (sign == input_sign::non_negative) require_at_least(who, what, values[j], 0.0);
    if (sign == input_sign::positive) require_greater(who, what, values[j], 0.0);
  }
}

template <compute_type T, class W>
T abs_weight(W w) noexcept {
  return std::abs(to_compute<T>(static_cast<std::remove_const_t<W>>(w)));
}

}  // namespace detail

}  // namespace pollard

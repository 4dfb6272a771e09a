// pollard — the causal_lm concept (next-token logits for stacked token sequences, produced a chunk
// of rows at a time) and its refinement incremental_lm (decoding with a per-sequence state).
#pragma once

#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/core/token_id.hpp"
#include "pollard/model/callback_ref.hpp"
#include "pollard/model/model_traits.hpp"
#include "pollard/model/sequence_layout.hpp"

namespace pollard::model {

/// Rows [begin, end) of a stacked token matrix.
struct row_range {
  index_t begin = 0;
  index_t end = 0;
  index_t size() const noexcept { return end - begin; }
};

/// Receives one chunk of logits: consumer(first_row, logits [count x vocab_size]), the view valid
/// only during the call.
using logits_consumer = callback_ref<void(index_t first_row, matrix_view<const float> logits)>;

// The causal_lm concept — what a model type M must provide, for m an M& (const M& where marked),
// tokens a std::span<const token_id>, layout a sequence_layout, rows a row_range, chunk_rows an
// index_t and consumer a logits_consumer:
//
//   member tier (your own type)          traits tier (model_traits<M>, for types you cannot touch)
//   m.vocab_size()       const           model_traits<M>::vocab_size(const M&)      -> index_t
//   m.context_length()   const           model_traits<M>::context_length(const M&)  -> index_t
//   m.for_each_logits(tokens, layout, rows, chunk_rows, consumer)
//                                        model_traits<M>::for_each_logits(M&, tokens, layout, rows,
//                                                                         chunk_rows, consumer)
//
// The incremental_lm refinement adds, with S the model's sequence state type:
//   m.start_sequence(capacity)  -> S     model_traits<M>::start_sequence(M&, capacity) -> S
//   m.extend(s, tokens)         -> a std::span<const float> (or convertible)
//                                        model_traits<M>::extend(M&, S&, tokens)
//
// Callers use the function objects below, which check the arguments first. When
// model_traits<M> is specialised it is the only tier used for M.
//
// The semantic contract the compiler cannot check:
//   - tokens are stacked sequence after sequence as `layout` says (layout.tokens() of them, each
//     sequence starting at position 0, 1 <= layout.length <= context_length()); row r of the
//     logits is the model's next-token logits [vocab_size()] after the tokens of r's sequence up
//     to and including r; sequences never see each other;
//   - for_each_logits calls the consumer for consecutive chunks of rows, in order, covering
//     exactly [rows.begin, rows.end): the chunk starting at row f has min(chunk_rows, rows.end - f)
//     rows, so no more than chunk_rows x vocab_size logits need to exist at once; an empty range
//     calls nothing; the logits are deterministic and independent of chunk_rows up to rounding;
//   - a token outside [0, vocab_size()) is an option_error thrown before the consumer is called;
//   - start_sequence(capacity) returns the state of an empty sequence with room for `capacity`
//     positions; extend(s, tokens) appends tokens (non-empty) at the next positions and returns
//     the logits [vocab_size()] after the last of them, valid until the next extend on s or the
//     end of s; the logits equal for_each_logits's row for the same prefix up to rounding;
//     appending beyond the capacity is an option_error thrown before the state changes;
//   - all operations of one model object are used from one thread at a time.

namespace detail {

template <class M>
concept member_causal_lm = requires(M& m, const M& cm, std::span<const token_id> tokens,
                                    sequence_layout layout, row_range rows, index_t chunk_rows,
                                    logits_consumer consumer) {
  { cm.vocab_size() } -> std::convertible_to<index_t>;
  { cm.context_length() } -> std::convertible_to<index_t>;
  m.for_each_logits(tokens, layout, rows, chunk_rows, consumer);
};

template <class M>
concept traits_causal_lm = specialised_model_traits<M> &&
    requires(M& m, const M& cm, std::span<const token_id> tokens, sequence_layout layout,
             row_range rows, index_t chunk_rows, logits_consumer consumer) {
  { traits_of<M>::vocab_size(cm) } -> std::convertible_to<index_t>;
  { traits_of<M>::context_length(cm) } -> std::convertible_to<index_t>;
  traits_of<M>::for_each_logits(m, tokens, layout, rows, chunk_rows, consumer);
};

}  // namespace detail

/// A model giving next-token logits for stacked sequences, a chunk of rows at a time (see the
/// contract above).
template <class M>
concept causal_lm = detail::traits_causal_lm<M> ||
    (!detail::specialised_model_traits<M> && detail::member_causal_lm<M>);

namespace detail {

template <class M>
concept member_incremental = requires(M& m, index_t capacity) {
  { m.start_sequence(capacity) } -> std::move_constructible;
}
&&requires(M& m, decltype(std::declval<M&>().start_sequence(index_t{}))& s,
           std::span<const token_id> tokens) {
  { m.extend(s, tokens) } -> std::convertible_to<std::span<const float>>;
};

template <class M>
concept traits_incremental = requires(M& m, index_t capacity) {
  { traits_of<M>::start_sequence(m, capacity) } -> std::move_constructible;
}
&&requires(M& m, decltype(traits_of<M>::start_sequence(std::declval<M&>(), index_t{}))& s,
           std::span<const token_id> tokens) {
  { traits_of<M>::extend(m, s, tokens) } -> std::convertible_to<std::span<const float>>;
};

template <class M>
concept has_incremental = (specialised_model_traits<M> && traits_incremental<M>) ||
                          (!specialised_model_traits<M> && member_incremental<M>);

// Declared only, to name the state type start_sequence returns in either tier.
template <class M>
requires specialised_model_traits<M>
auto start_sequence_result(M& m) -> decltype(traits_of<M>::start_sequence(m, index_t{}));
template <class M>
requires(!specialised_model_traits<M>) auto start_sequence_result(M& m)
    -> decltype(m.start_sequence(index_t{}));

}  // namespace detail

/// A causal_lm that also decodes incrementally, keeping a state per sequence (e.g. a KV cache).
template <class M>
concept incremental_lm = causal_lm<M> && detail::has_incremental<M>;

/// The sequence state type of an incremental_lm.
template <incremental_lm M>
using sequence_state_t =
    std::remove_cvref_t<decltype(detail::start_sequence_result(std::declval<M&>()))>;

namespace detail {

struct vocab_size_fn {
  template <causal_lm M>
  index_t operator()(const M& m) const {
    if constexpr (specialised_model_traits<M>)
      return static_cast<index_t>(traits_of<M>::vocab_size(m));
    else
      return static_cast<index_t>(m.vocab_size());
  }
};

struct context_length_fn {
  template <causal_lm M>
  index_t operator()(const M& m) const {
    if constexpr (specialised_model_traits<M>)
      return static_cast<index_t>(traits_of<M>::context_length(m));
    else
      return static_cast<index_t>(m.context_length());
  }
};

struct for_each_logits_fn {
  /// The logits of rows [rows.begin, rows.end), chunk_rows at a time.
  template <causal_lm M>
  void operator()(M& m, std::span<const token_id> tokens, sequence_layout layout, row_range rows,
                  index_t chunk_rows, logits_consumer consumer) const {
    if (layout.n_sequences <= 0 || layout.length <= 0)
      throw shape_error("for_each_logits: the layout needs at least one token, got " +
                        std::to_string(layout.n_sequences) + " sequences of length " +
                        std::to_string(layout.length));
    if (static_cast<index_t>(tokens.size()) != layout.tokens())
      throw shape_error("for_each_logits: " + std::to_string(tokens.size()) +
                        " tokens but the layout holds " + std::to_string(layout.n_sequences) +
                        " x " + std::to_string(layout.length));
    const index_t context = context_length_fn{}(m);
    if (layout.length > context)
      throw option_error("for_each_logits: sequences of " + std::to_string(layout.length) +
                         " tokens exceed the model's context " + std::to_string(context));
    if (rows.begin < 0 || rows.end < rows.begin || rows.end > layout.tokens())
      throw option_error("for_each_logits: rows [" + std::to_string(rows.begin) + ", " +
                         std::to_string(rows.end) + ") are not inside [0, " +
                         std::to_string(layout.tokens()) + ")");
    if (chunk_rows <= 0)
      throw option_error("for_each_logits: chunk_rows must be positive, got " +
                         std::to_string(chunk_rows));
    if constexpr (specialised_model_traits<M>)
      traits_of<M>::for_each_logits(m, tokens, layout, rows, chunk_rows, consumer);
    else
      m.for_each_logits(tokens, layout, rows, chunk_rows, consumer);
  }
  /// The logits of every row, chunk_rows at a time.
  template <causal_lm M>
  void operator()(M& m, std::span<const token_id> tokens, sequence_layout layout,
                  index_t chunk_rows, logits_consumer consumer) const {
    (*this)(m, tokens, layout, row_range{0, layout.tokens()}, chunk_rows, consumer);
  }
};

struct start_sequence_fn {
  template <incremental_lm M>
  sequence_state_t<M> operator()(M& m, index_t capacity) const {
    if (capacity <= 0)
      throw option_error("start_sequence: capacity must be positive, got " +
                         std::to_string(capacity));
    if constexpr (specialised_model_traits<M>)
      return traits_of<M>::start_sequence(m, capacity);
    else
      return m.start_sequence(capacity);
  }
};

struct extend_fn {
  template <incremental_lm M>
  std::span<const float> operator()(M& m, sequence_state_t<M>& state,
                                    std::span<const token_id> tokens) const {
    if (tokens.empty()) throw option_error("extend: no tokens to append");
    std::span<const float> logits;
    if constexpr (specialised_model_traits<M>)
      logits = traits_of<M>::extend(m, state, tokens);
    else
      logits = m.extend(state, tokens);
    if (static_cast<index_t>(logits.size()) != vocab_size_fn{}(m))
      throw shape_error("extend: the model returned " + std::to_string(logits.size()) +
                        " logits for a vocabulary of " + std::to_string(vocab_size_fn{}(m)));
    return logits;
  }
};

}  // namespace detail

/// The number of tokens in the vocabulary (the width of a logits row).
inline constexpr detail::vocab_size_fn vocab_size{};
/// The most positions one sequence may have.
inline constexpr detail::context_length_fn context_length{};
/// Hands the consumer the logits of the chosen rows, a chunk of rows at a time.
inline constexpr detail::for_each_logits_fn for_each_logits{};
/// The state of a new, empty sequence with room for `capacity` positions.
inline constexpr detail::start_sequence_fn start_sequence{};
/// Appends tokens to a sequence; returns the logits after the last of them.
inline constexpr detail::extend_fn extend{};

}  // namespace pollard::model

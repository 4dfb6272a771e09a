// pollard — the causal_lm concept (next-token logits for stacked token sequences, taken a few rows
// at a time) and its refinement incremental_lm (decoding with a per-sequence state).
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

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
// tokens a std::span<const token_id>, layout a sequence_layout, rows a row_range and out a
// matrix_view<float>, with P the model's prefill state type:
//
//   member tier (your own type)          traits tier (model_traits<M>, for types you cannot touch)
//   m.vocab_size()       const           model_traits<M>::vocab_size(const M&)      -> index_t
//   m.context_length()   const           model_traits<M>::context_length(const M&)  -> index_t
//   m.prefill(tokens, layout)  -> P      model_traits<M>::prefill(M&, tokens, layout) -> P
//   m.logits(p, rows, out)               model_traits<M>::logits(M&, const P&, rows, out)
//
// The incremental_lm refinement adds, with S the model's sequence state type:
//   m.start_sequence(capacity)  -> S     model_traits<M>::start_sequence(M&, capacity) -> S
//   m.extend(s, tokens)         -> a std::span<const float> (or convertible)
//                                        model_traits<M>::extend(M&, S&, tokens)
//
// The batched_incremental_lm refinement adds, with states a std::span<S* const>:
//   m.extend_each(states, tokens, out)   model_traits<M>::extend_each(M&, states, tokens, out)
//
// Callers use the function objects below, which check the arguments first (prefill returns a
// prefilled<M> that remembers the layout, so logits can check the rows); for_each_logits is
// built on prefill and logits. When model_traits<M> is specialised it is the only tier used.
//
// The semantic contract the compiler cannot check:
//   - tokens are stacked sequence after sequence as `layout` says (layout.tokens() of them, each
//     sequence starting at position 0, 1 <= layout.length <= context_length()); row r of the
//     logits is the model's next-token logits [vocab_size()] after the tokens of r's sequence up
//     to and including r; sequences never see each other;
//   - prefill runs the model over the tokens and keeps what logits needs (e.g. the final hidden
//     states [tokens x hidden], not the [tokens x vocab] logits), so a caller can take the logits
//     a few rows at a time; it throws option_error for a token outside [0, vocab_size()) before
//     any other work; P stays usable while the model's weights do not change;
//   - logits(p, rows, out) writes rows [rows.begin, rows.end) of the logits into out
//     [rows.size() x vocab_size()] (row-major contiguous); the values are deterministic and do not
//     depend on how the rows are split into calls, up to rounding;
//   - start_sequence(capacity) returns the state of an empty sequence with room for `capacity`
//     positions; extend(s, tokens) appends tokens (non-empty) at the next positions and returns
//     the logits [vocab_size()] after the last of them, valid until the next extend on s or the
//     end of s; the logits equal the logits row for the same prefix up to rounding;
//     appending beyond the capacity is an option_error thrown before the state changes;
//   - extend_each(states, tokens, out) takes distinct sequences and one token for each: it appends
//     tokens[i] to *states[i] and writes the logits after it into row i of out [states.size() x
//     vocab_size()] (row-major contiguous), as one batch; a row equals extend's logits up to
//     rounding and does not depend on which other sequences share the call or how many there
//     are, so callers may group sequences as they like without changing any result;
//   - all operations of one model object are used from one thread at a time.

namespace detail {

template <class M>
concept member_causal_lm = requires(M& m, const M& cm, std::span<const token_id> tokens,
                                    sequence_layout layout) {
  { cm.vocab_size() } -> std::convertible_to<index_t>;
  { cm.context_length() } -> std::convertible_to<index_t>;
  { m.prefill(tokens, layout) } -> std::move_constructible;
}
&&requires(M& m,
           const decltype(std::declval<M&>().prefill(std::span<const token_id>(),
                                                     sequence_layout{}))& p,
           row_range rows, matrix_view<float> out) {
  m.logits(p, rows, out);
};

template <class M>
concept traits_causal_lm = specialised_model_traits<M> &&
    requires(M& m, const M& cm, std::span<const token_id> tokens, sequence_layout layout) {
  { traits_of<M>::vocab_size(cm) } -> std::convertible_to<index_t>;
  { traits_of<M>::context_length(cm) } -> std::convertible_to<index_t>;
  { traits_of<M>::prefill(m, tokens, layout) } -> std::move_constructible;
} && requires(M& m,
              const decltype(traits_of<M>::prefill(std::declval<M&>(), std::span<const token_id>(),
                                                   sequence_layout{}))& p,
              row_range rows, matrix_view<float> out) {
  traits_of<M>::logits(m, p, rows, out);
};

// Declared only, to name the state type prefill returns in either tier.
template <class M>
requires specialised_model_traits<M>
auto prefill_result(M& m)
    -> decltype(traits_of<M>::prefill(m, std::span<const token_id>(), sequence_layout{}));
template <class M>
requires(!specialised_model_traits<M>) auto prefill_result(M& m)
    -> decltype(m.prefill(std::span<const token_id>(), sequence_layout{}));

}  // namespace detail

/// A model giving next-token logits for stacked sequences, a few rows at a time (see the
/// contract above).
template <class M>
concept causal_lm = detail::traits_causal_lm<M> ||
    (!detail::specialised_model_traits<M> && detail::member_causal_lm<M>);

/// What prefill returns: the engine's state for the tokens and the layout they were run with.
template <causal_lm M>
struct prefilled {
  std::remove_cvref_t<decltype(detail::prefill_result(std::declval<M&>()))> state;
  sequence_layout layout;
};

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

/// An incremental_lm that also extends several sequences by one token each in one batch
/// (extend_each; see the contract above).
template <class M>
concept batched_incremental_lm = incremental_lm<M> &&(
    detail::specialised_model_traits<M>
        ? requires(
              M& m, std::span<sequence_state_t<M>* const> states, std::span<const token_id> tokens,
              matrix_view<float> out) { detail::traits_of<M>::extend_each(m, states, tokens, out); }
        : requires(M& m, std::span<sequence_state_t<M>* const> states,
                   std::span<const token_id> tokens,
                   matrix_view<float> out) { m.extend_each(states, tokens, out); });

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

struct prefill_fn {
  /// Runs the model over tokens stacked as `layout` says.
  template <causal_lm M>
  prefilled<M> operator()(M& m, std::span<const token_id> tokens, sequence_layout layout) const {
    if (layout.n_sequences <= 0 || layout.length <= 0)
      throw shape_error("prefill: the layout needs at least one token, got " +
                        std::to_string(layout.n_sequences) + " sequences of length " +
                        std::to_string(layout.length));
    if (static_cast<index_t>(tokens.size()) != layout.tokens())
      throw shape_error("prefill: " + std::to_string(tokens.size()) +
                        " tokens but the layout holds " + std::to_string(layout.n_sequences) +
                        " x " + std::to_string(layout.length));
    const index_t context = context_length_fn{}(m);
    if (layout.length > context)
      throw option_error("prefill: sequences of " + std::to_string(layout.length) +
                         " tokens exceed the model's context " + std::to_string(context));
    if constexpr (specialised_model_traits<M>)
      return {traits_of<M>::prefill(m, tokens, layout), layout};
    else
      return {m.prefill(tokens, layout), layout};
  }
};

struct logits_fn {
  /// Writes rows [rows.begin, rows.end) of the logits of a prefill into out [rows x vocab].
  template <causal_lm M>
  void operator()(M& m, const prefilled<M>& p, row_range rows, matrix_view<float> out) const {
    if (rows.begin < 0 || rows.end < rows.begin || rows.end > p.layout.tokens())
      throw option_error("logits: rows [" + std::to_string(rows.begin) + ", " +
                         std::to_string(rows.end) + ") are not inside [0, " +
                         std::to_string(p.layout.tokens()) + ")");
    check_activations("logits", "out", out, rows.size(), vocab_size_fn{}(m));
    if (rows.size() == 0) return;
    if constexpr (specialised_model_traits<M>)
      traits_of<M>::logits(m, p.state, rows, out);
    else
      m.logits(p.state, rows, out);
  }
};

struct for_each_logits_fn {
  /// Hands consumer(first_row, logits [count x vocab]) consecutive chunks of at most chunk_rows
  /// rows covering [rows.begin, rows.end), so no more than chunk_rows x vocab logits exist at once.
  template <causal_lm M>
  void operator()(M& m, std::span<const token_id> tokens, sequence_layout layout, row_range rows,
                  index_t chunk_rows, logits_consumer consumer) const {
    if (chunk_rows <= 0)
      throw option_error("for_each_logits: chunk_rows must be positive, got " +
                         std::to_string(chunk_rows));
    if (rows.begin < 0 || rows.end < rows.begin || rows.end > layout.tokens())
      throw option_error("for_each_logits: rows [" + std::to_string(rows.begin) + ", " +
                         std::to_string(rows.end) + ") are not inside [0, " +
                         std::to_string(layout.tokens()) + ")");
    const prefilled<M> p = prefill_fn{}(m, tokens, layout);
    const index_t vocab = vocab_size_fn{}(m);
    std::vector<float> buffer;
    for (index_t first = rows.begin; first < rows.end; first += chunk_rows) {
      const index_t count = std::min(chunk_rows, rows.end - first);
      buffer.resize(static_cast<std::size_t>(count * vocab));
      const matrix_view<float> out(buffer.data(), count, vocab);
      logits_fn{}(m, p, row_range{first, first + count}, out);
      consumer(first, out);
    }
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

struct extend_each_fn {
  template <batched_incremental_lm M>
  void operator()(M& m, std::span<sequence_state_t<M>* const> states,
                  std::span<const token_id> tokens, matrix_view<float> out) const {
    if (states.empty() || tokens.size() != states.size())
      throw option_error("extend_each: " + std::to_string(tokens.size()) + " tokens for " +
                         std::to_string(states.size()) +
                         " sequences (one each, at least one sequence)");
    check_activations("extend_each", "out", out, static_cast<index_t>(states.size()),
                      vocab_size_fn{}(m));
    if constexpr (specialised_model_traits<M>)
      traits_of<M>::extend_each(m, states, tokens, out);
    else
      m.extend_each(states, tokens, out);
  }
};

}  // namespace detail

/// The number of tokens in the vocabulary (the width of a logits row).
inline constexpr detail::vocab_size_fn vocab_size{};
/// The most positions one sequence may have.
inline constexpr detail::context_length_fn context_length{};
/// Runs the model over stacked sequences, keeping what the logits need.
inline constexpr detail::prefill_fn prefill{};
/// Writes chosen rows of a prefill's logits into a caller's buffer.
inline constexpr detail::logits_fn logits{};
/// Hands a consumer the logits of chosen rows, a chunk of rows at a time.
inline constexpr detail::for_each_logits_fn for_each_logits{};
/// The state of a new, empty sequence with room for `capacity` positions.
inline constexpr detail::start_sequence_fn start_sequence{};
/// Appends tokens to a sequence; returns the logits after the last of them.
inline constexpr detail::extend_fn extend{};
/// Appends one token to each of several sequences in one batch; writes their logits.
inline constexpr detail::extend_each_fn extend_each{};

}  // namespace pollard::model

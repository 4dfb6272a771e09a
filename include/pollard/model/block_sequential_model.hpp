// pollard — the block_sequential_model concept: a model that a pruning driver can run one block
// at a time, seeing the input of every linear layer and writing the linears' weights in place.
#pragma once

#include <concepts>
#include <cstddef>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/core/token_id.hpp"
#include "pollard/model/block_input.hpp"
#include "pollard/model/callback_ref.hpp"
#include "pollard/model/linear_ref.hpp"
#include "pollard/model/model_traits.hpp"
#include "pollard/model/sequence_layout.hpp"

namespace pollard::model {

/// Sees one input of a block's linears: observer(input, x) with input an index into
/// block_inputs(m, b) and x [tokens x width] the activations, valid only during the call.
using input_observer = callback_ref<void(index_t input, matrix_view<const float> x)>;

// The block_sequential_model concept — what a model type M must provide, for m an M& (const M&
// where marked), b a block index, tokens a std::span<const token_id>, hidden a
// matrix_view<float>, layout a sequence_layout and observer an input_observer:
//
//   - block count:   m.block_count() const, or model_traits<M>::block_count(const M&);
//                    returns index_t
//   - hidden size:   m.hidden_size() const, or model_traits<M>::hidden_size(const M&);
//                    returns index_t
//   - block inputs:  m.block_inputs(b) const, or model_traits<M>::block_inputs(const M&, b);
//                    returns std::vector<block_input>
//   - linears:       m.linears(b), or model_traits<M>::linears(M&, b);
//                    returns std::vector<linear_ref>
//   - embed:         m.embed(tokens, hidden), or model_traits<M>::embed(M&, tokens, hidden)
//   - run a block:   m.run_block(b, hidden, layout, observer), or
//                    model_traits<M>::run_block(M&, b, hidden, layout, observer)
//   - optional:      m.begin_block(b) and m.end_block(b), or
//                    model_traits<M>::begin_block(M&, b) and end_block(M&, b)
// The first spelling is the member tier (your own type), the second the traits tier (types you
// cannot touch).
//
// Callers use the function objects below (pollard::model::run_block(m, ...)), which check the
// arguments, dispatch to the tier, and make the optional hooks no-ops when absent. When
// model_traits<M> is specialised it is the only tier used for M.
//
// The semantic contract the compiler cannot check:
//   - embed writes the input of block 0 for `tokens` into hidden [tokens.size() x hidden_size()];
//     it throws option_error for a token outside the vocabulary before writing anything;
//   - run_block(b, ...) replaces hidden [layout.tokens() x hidden_size()] in place by the output
//     of block b, each sequence of the layout starting at position 0; sequences never attend
//     across each other, so a row's result depends only on its own sequence's rows up to it;
//   - run_block is deterministic: the same weights and hidden give the same output;
//   - the observer is called once per input of the block, in the order of block_inputs(b), with
//     x [layout.tokens() x block_inputs(b)[i].width] exactly the activations the linears reading
//     input i multiply in this call (after any normalisation, before the product); a view of
//     engine workspace, valid only during the call;
//   - linears(b) lists every linear of block b the pruning code may change, each name unique in
//     the model, weight [d_out x d_in] with d_in the width of its input; writing through the
//     views changes what later run_block and logits calls compute;
//   - begin_block(b) / end_block(b) bracket the use of block b's weights by a caller (linears and
//     run_block of block b): an engine may materialise a block's working copy in begin_block and
//     write it back (e.g. requantise) and release it in end_block, so that only one block is
//     held at a time. The views of linears(b) stay valid from begin_block(b) until end_block(b);
//     engines without such a copy keep them valid as long as the model, and omit both hooks;
//   - all operations of one model object are used from one thread at a time.

namespace detail {

template <class M>
concept member_block_sequential = requires(M& m, const M& cm, index_t b,
                                           std::span<const token_id> tokens,
                                           matrix_view<float> hidden, sequence_layout layout,
                                           input_observer observer) {
  { cm.block_count() } -> std::convertible_to<index_t>;
  { cm.hidden_size() } -> std::convertible_to<index_t>;
  { cm.block_inputs(b) } -> std::convertible_to<std::vector<block_input>>;
  { m.linears(b) } -> std::convertible_to<std::vector<linear_ref>>;
  m.embed(tokens, hidden);
  m.run_block(b, hidden, layout, observer);
};

template <class M>
concept traits_block_sequential = specialised_model_traits<M> &&
    requires(M& m, const M& cm, index_t b, std::span<const token_id> tokens,
             matrix_view<float> hidden, sequence_layout layout, input_observer observer) {
  { traits_of<M>::block_count(cm) } -> std::convertible_to<index_t>;
  { traits_of<M>::hidden_size(cm) } -> std::convertible_to<index_t>;
  { traits_of<M>::block_inputs(cm, b) } -> std::convertible_to<std::vector<block_input>>;
  { traits_of<M>::linears(m, b) } -> std::convertible_to<std::vector<linear_ref>>;
  traits_of<M>::embed(m, tokens, hidden);
  traits_of<M>::run_block(m, b, hidden, layout, observer);
};

}  // namespace detail

/// A model a pruning driver can run block by block (see the contract above).
template <class M>
concept block_sequential_model = detail::traits_block_sequential<M> ||
    (!detail::specialised_model_traits<M> && detail::member_block_sequential<M>);

namespace detail {

struct block_count_fn {
  template <block_sequential_model M>
  index_t operator()(const M& m) const {
    if constexpr (specialised_model_traits<M>)
      return static_cast<index_t>(traits_of<M>::block_count(m));
    else
      return static_cast<index_t>(m.block_count());
  }
};

struct hidden_size_fn {
  template <block_sequential_model M>
  index_t operator()(const M& m) const {
    if constexpr (specialised_model_traits<M>)
      return static_cast<index_t>(traits_of<M>::hidden_size(m));
    else
      return static_cast<index_t>(m.hidden_size());
  }
};

template <block_sequential_model M>
void check_block_index(const char* who, const M& m, index_t b) {
  const index_t n = block_count_fn{}(m);
  if (b < 0 || b >= n)
    throw option_error(std::string(who) + ": block " + std::to_string(b) + " is outside [0, " +
                       std::to_string(n) + ")");
}

struct block_inputs_fn {
  template <block_sequential_model M>
  std::vector<block_input> operator()(const M& m, index_t b) const {
    check_block_index("block_inputs", m, b);
    if constexpr (specialised_model_traits<M>)
      return traits_of<M>::block_inputs(m, b);
    else
      return m.block_inputs(b);
  }
};

struct linears_fn {
  /// The linears of block b, checked against the block's inputs (input index in range, d_in equal
  /// to the input's width, names unique in the block).
  template <block_sequential_model M>
  std::vector<linear_ref> operator()(M& m, index_t b) const {
    const std::vector<block_input> inputs = block_inputs_fn{}(m, b);
    std::vector<linear_ref> out;
    if constexpr (specialised_model_traits<M>)
      out = traits_of<M>::linears(m, b);
    else
      out = m.linears(b);
    std::set<std::string> names;
    for (const auto& l : out) {
      if (l.input < 0 || l.input >= static_cast<index_t>(inputs.size()))
        throw shape_error("linears: " + l.name + " reads input " + std::to_string(l.input) +
                          " but block " + std::to_string(b) + " has " +
                          std::to_string(inputs.size()) + " inputs");
      const auto& in = inputs[static_cast<std::size_t>(l.input)];
      if (l.weight.cols() != in.width)
        throw shape_error("linears: " + l.name + " is " + pollard::shape_text(l.weight) +
                          " but its input " + in.name + " has width " + std::to_string(in.width));
      if (!names.insert(l.name).second)
        throw shape_error("linears: block " + std::to_string(b) + " names two linears " + l.name);
    }
    return out;
  }
};

struct embed_fn {
  template <block_sequential_model M>
  void operator()(M& m, std::span<const token_id> tokens, matrix_view<float> hidden) const {
    check_activations("embed", "hidden", hidden, static_cast<index_t>(tokens.size()),
                      hidden_size_fn{}(m));
    if constexpr (specialised_model_traits<M>)
      traits_of<M>::embed(m, tokens, hidden);
    else
      m.embed(tokens, hidden);
  }
};

struct run_block_fn {
  template <block_sequential_model M>
  void operator()(M& m, index_t b, matrix_view<float> hidden, sequence_layout layout,
                  input_observer observer = {}) const {
    check_block_index("run_block", m, b);
    if (layout.n_sequences <= 0 || layout.length <= 0)
      throw shape_error("run_block: the layout needs at least one token, got " +
                        std::to_string(layout.n_sequences) + " sequences of length " +
                        std::to_string(layout.length));
    check_activations("run_block", "hidden", hidden, layout.tokens(), hidden_size_fn{}(m));
    if constexpr (specialised_model_traits<M>)
      traits_of<M>::run_block(m, b, hidden, layout, observer);
    else
      m.run_block(b, hidden, layout, observer);
  }
};

struct begin_block_fn {
  template <block_sequential_model M>
  void operator()(M& m, index_t b) const {
    check_block_index("begin_block", m, b);
    if constexpr (specialised_model_traits<M>) {
      if constexpr (requires { traits_of<M>::begin_block(m, b); }) traits_of<M>::begin_block(m, b);
    } else if constexpr (requires { m.begin_block(b); }) {
      m.begin_block(b);
    }
  }
};

struct end_block_fn {
  template <block_sequential_model M>
  void operator()(M& m, index_t b) const {
    check_block_index("end_block", m, b);
    if constexpr (specialised_model_traits<M>) {
      if constexpr (requires { traits_of<M>::end_block(m, b); }) traits_of<M>::end_block(m, b);
    } else if constexpr (requires { m.end_block(b); }) {
      m.end_block(b);
    }
  }
};

}  // namespace detail

/// The number of blocks.
inline constexpr detail::block_count_fn block_count{};
/// The width of the hidden states between blocks.
inline constexpr detail::hidden_size_fn hidden_size{};
/// The distinct inputs of block b's linears, in the order the observer sees them.
inline constexpr detail::block_inputs_fn block_inputs{};
/// The linears of block b as named mutable weight views, each with the input it reads.
inline constexpr detail::linears_fn linears{};
/// Writes the block-0 input of `tokens` into hidden [tokens x hidden_size].
inline constexpr detail::embed_fn embed{};
/// Applies block b in place to hidden [layout.tokens() x hidden_size], showing the observer each
/// input of the block's linears.
inline constexpr detail::run_block_fn run_block{};
/// Tells the model that block b's weights are about to be used (a no-op unless it has the hook).
inline constexpr detail::begin_block_fn begin_block{};
/// Tells the model that block b's weights are no longer used (a no-op unless it has the hook).
inline constexpr detail::end_block_fn end_block{};

}  // namespace pollard::model

// pollard — model_traits<M>: the customisation point through which an engine type you cannot
// modify implements the model concepts (block_sequential_model, causal_lm, incremental_lm).
#pragma once

#include <string>
#include <type_traits>

#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"

namespace pollard::model {

/// Specialise for an engine type M to implement the model concepts without touching M; the
/// static functions each concept names take the model as their first argument (M& or const M&).
/// When model_traits<M> is specialised, every model operation on M is taken from it and members
/// of M are ignored. The primary template adapts nothing.
template <class M>
struct model_traits {
  /// Marks the primary template, so detection can tell "not specialised" from "ill-formed".
  using pollard_unspecialised = void;
};

namespace detail {

template <class M>
concept specialised_model_traits = !requires {
  typename model_traits<std::remove_cv_t<M>>::pollard_unspecialised;
};

template <class M>
using traits_of = model_traits<std::remove_cv_t<M>>;

/// Throws shape_error unless v is a row-major contiguous rows x cols matrix.
template <class T>
void check_activations(const char* who, const char* what, matrix_view<T> v, index_t rows,
                       index_t cols) {
  if (v.rows() != rows || v.cols() != cols || !v.is_row_major_contiguous())
    throw shape_error(std::string(who) + ": " + what + " is " + pollard::shape_text(v) +
                      " (row stride " + std::to_string(v.row_stride()) + ", column stride " +
                      std::to_string(v.col_stride()) + ") but a row-major contiguous " +
                      pollard::shape_text(rows, cols) + " matrix is needed");
}

}  // namespace detail

}  // namespace pollard::model

// pollard — pollard::view(x) and pollard::view_as<T>(x): the one entry point from a caller's
// tensor type to a matrix_view, with its two customisation tiers.
#pragma once

#include <concepts>
#include <type_traits>
#include <utility>

#include "pollard/core/matrix_view.hpp"
#include "pollard/core/memory_space.hpp"

namespace pollard {

// The viewable concept — what a tensor type X must provide so that pollard::view(x) works.
//
// Statically typed tensors (element type known at compile time: matrix_view, adapted matrix
// libraries, your own):
//   either (a) a free function found by argument-dependent lookup, for types you own,
//                  pollard_view(X& x) -> matrix_view<T, Space>
//   or     (b) a specialisation, for types you cannot touch,
//                  template <> struct pollard::view_traits<X> { static auto make(X& x); };
//              whose make returns a matrix_view<T, Space>.
//   When both exist the view_traits specialisation wins.
// Runtime-typed tensors (DLTensor, torch::Tensor) cannot name T by themselves: they provide
//   pollard_view(X& x, view_tag<T, Space>) or view_traits<X>::make(X& x, view_tag<T, Space>)
//   returning matrix_view<T, Space>, and are reached through pollard::view_as<T, Space>(x),
//   which checks the tensor at run time and throws adapter_error naming what was expected and
//   what was found. Such types satisfy viewable_as<X, T, Space>, not viewable<X>.
//
// The semantic contract the compiler cannot check:
//   - the returned view does not own anything: it stays valid exactly as long as the storage of
//     x does, and writes through it modify x;
//   - element (i, j) of the view is element (i, j) of x (rows are the first index), strides are
//     in elements and never negative;
//   - make/pollard_view called with a const X& of a type that owns its elements (a container)
//     returns a view of const elements; a handle type (matrix_view, a map over foreign memory,
//     DLTensor) may keep its elements' constness independent of its own;
//   - a host_space view is addressable by the CPU; device memory gives a device_space view;
//   - making a view is cheap (no copy, no allocation) and may throw only on a malformed tensor.
// pollard::view accepts lvalues, and rvalues only of types that do not own their elements,
// marked by specialising enable_borrowed_view<X> to true: `pollard::view(m.block(0, 0, 2, 2))`
// compiles, a view of a dying temporary matrix does not.

/// Names the element type and memory space asked of a runtime-typed tensor.
template <class T, class Space = host_space>
struct view_tag {
  using element_type = T;
  using memory_space = Space;
};

/// True for types whose rvalues may be viewed because the view does not depend on their lifetime.
template <class X>
inline constexpr bool enable_borrowed_view = false;

namespace detail {

template <class>
inline constexpr bool dependent_false = false;

}  // namespace detail

/// Customisation point for tensor types you cannot modify; the primary template adapts nothing.
template <class X>
struct view_traits {
  /// Marks the primary template, so detection can tell "not specialised" from "ill-formed".
  using pollard_unspecialised = void;

  template <class Arg>
  static void make(Arg&) {
    static_assert(detail::dependent_false<Arg>,
                  "pollard::view_traits<X> is not specialised for this type: specialise it with "
                  "`static auto make(X& x)` returning a pollard::matrix_view, or declare a free "
                  "function `pollard_view(X&)` next to X (see pollard/core/view.hpp)");
  }
  template <class Arg, class Tag>
  static void make(Arg&, Tag) {
    static_assert(detail::dependent_false<Arg>,
                  "pollard::view_traits<X> is not specialised for this runtime-typed tensor: "
                  "specialise it with `template <class T, class Space> static "
                  "matrix_view<T, Space> make(X& x, view_tag<T, Space>)` (see "
                  "pollard/core/view.hpp)");
  }
};

template <class T, class Space>
struct view_traits<matrix_view<T, Space>> {
  static constexpr matrix_view<T, Space> make(const matrix_view<T, Space>& v) noexcept { return v; }
};

template <class T, class Space>
inline constexpr bool enable_borrowed_view<matrix_view<T, Space>> = true;

namespace detail {

template <class V>
struct is_matrix_view : std::false_type {};
template <class T, class Space>
struct is_matrix_view<matrix_view<T, Space>> : std::true_type {};

template <class V>
concept some_matrix_view = is_matrix_view<std::remove_cvref_t<V>>::value;

template <class X>
concept specialised_view_traits = !requires {
  typename view_traits<std::remove_cv_t<X>>::pollard_unspecialised;
};

// X is the (possibly const) type of the lvalue being viewed.
template <class X>
concept traits_viewable = specialised_view_traits<X> && requires(X& x) {
  { view_traits<std::remove_cv_t<X>>::make(x) } -> some_matrix_view;
};

template <class X, class T, class Space>
concept traits_viewable_as = specialised_view_traits<X> && requires(X& x) {
  {
    view_traits<std::remove_cv_t<X>>::make(x, view_tag<T, Space>{})
    } -> std::same_as<matrix_view<T, Space>>;
};

namespace view_adl {

// Stops unqualified lookup here, so only argument-dependent lookup finds pollard_view.
void pollard_view() = delete;

template <class X>
concept adl_viewable = requires(X& x) {
  { pollard_view(x) } -> some_matrix_view;
};

template <class X, class T, class Space>
concept adl_viewable_as = requires(X& x) {
  { pollard_view(x, view_tag<T, Space>{}) } -> std::same_as<matrix_view<T, Space>>;
};

template <class X>
constexpr auto call(X& x) {
  return pollard_view(x);
}

template <class T, class Space, class X>
constexpr matrix_view<T, Space> call_as(X& x) {
  return pollard_view(x, view_tag<T, Space>{});
}

}  // namespace view_adl

template <class X>
concept lvalue_or_borrowed =
    std::is_lvalue_reference_v<X> || enable_borrowed_view<std::remove_cvref_t<X>>;

template <class X>
concept statically_viewable = traits_viewable<std::remove_reference_t<X>> ||
    view_adl::adl_viewable<std::remove_reference_t<X>>;

/// The function object behind pollard::view.
struct view_fn {
  template <class X>
  requires lvalue_or_borrowed<X> && statically_viewable<X>
  constexpr auto operator()(X&& x) const {
    using lvalue = std::remove_reference_t<X>;
    if constexpr (traits_viewable<lvalue>) {
      return view_traits<std::remove_cv_t<lvalue>>::make(x);
    } else {
      return view_adl::call(x);
    }
  }
};

}  // namespace detail

/// Turns a tensor into a matrix_view without copying: pollard::view(eigen_matrix),
/// pollard::view(my_tensor). A function object, so argument-dependent lookup cannot replace it.
inline constexpr detail::view_fn view{};

/// A type whose lvalues pollard::view accepts (see the contract above).
template <class X>
concept viewable = requires(X& x) {
  { pollard::view(x) } -> detail::some_matrix_view;
};

/// The element type and memory space of pollard::view(x) for an lvalue of type X.
template <viewable X>
using view_t = decltype(pollard::view(std::declval<X&>()));

namespace detail {

template <class X, class T, class Space>
concept dynamically_viewable_as = traits_viewable_as<std::remove_reference_t<X>, T, Space> ||
    view_adl::adl_viewable_as<std::remove_reference_t<X>, T, Space>;

template <class X, class T, class Space>
concept statically_viewable_as = statically_viewable<X> &&
    std::is_convertible_v<decltype(pollard::view(std::declval<std::remove_reference_t<X>&>())),
                          matrix_view<T, Space>>;

/// The function object behind pollard::view_as<T, Space>.
template <class T, class Space>
struct view_as_fn {
  template <class X>
  requires lvalue_or_borrowed<X> &&
      (dynamically_viewable_as<X, T, Space> ||
       statically_viewable_as<X, T, Space>)constexpr matrix_view<T, Space>
      operator()(X&& x) const {
    using lvalue = std::remove_reference_t<X>;
    if constexpr (traits_viewable_as<lvalue, T, Space>) {
      return view_traits<std::remove_cv_t<lvalue>>::make(x, view_tag<T, Space>{});
    } else if constexpr (view_adl::adl_viewable_as<lvalue, T, Space>) {
      return view_adl::call_as<T, Space>(x);
    } else {
      return pollard::view(x);
    }
  }
};

}  // namespace detail

/// Views x as matrix_view<T, Space>: checks a runtime-typed tensor (DLTensor, torch::Tensor)
/// and throws adapter_error on a mismatch; for a statically typed one, converts pollard::view(x)
/// (e.g. adding const) and does not compile when the types differ.
template <class T, class Space = host_space>
inline constexpr detail::view_as_fn<T, Space> view_as{};

/// A type whose lvalues pollard::view_as<T, Space> accepts.
template <class X, class T, class Space = host_space>
concept viewable_as = requires(X& x) {
  { pollard::view_as<T, Space>(x) } -> std::same_as<matrix_view<T, Space>>;
};

}  // namespace pollard

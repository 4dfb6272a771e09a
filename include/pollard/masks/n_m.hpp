// pollard — N:M semi-structured mask policy: in every window of M consecutive input columns of
// each row, N weights are pruned (N counts zeros; see n_m below).
#pragma once

#include <string>
#include <type_traits>

#include "pollard/backends/cpu/policy.hpp"
#include "pollard/backends/cpu/rank_n_m.hpp"
#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/execution_policy.hpp"
#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/masks/mask_policy.hpp"

namespace pollard {

namespace detail {

template <class Exec, class T>
mask select_n_m(const Exec& exec, matrix_view<const T, host_space> s, index_t pruned,
                index_t group_size) {
  constexpr const char* who = "n_m";
  require_n_m(who, pruned, group_size, s.cols());
  mask out(s.rows(), s.cols());
  rank_n_m(exec, who, s, pruned, group_size, out);
  return out;
}

/// select() of the N:M policies, for a Derived with pruned() and group_size(): throws
/// option_error when group_size() does not divide d_in, non_finite_error on a NaN or -inf score
/// (+inf is "always keep": pruned only when a window holds more than kept() of them, then the
/// lower columns first).
template <class Derived>
struct n_m_selection : default_execution<Derived> {
  using default_execution<Derived>::select;
  template <execution_policy Exec, class T>
  requires storage_type<std::remove_cv_t<T>> mask select(const Exec& exec,
                                                         matrix_view<T, host_space> scores)
  const {
    using value_type = std::remove_cv_t<T>;
    const auto& self = static_cast<const Derived&>(*this);
    return select_n_m(exec, matrix_view<const value_type, host_space>(scores), self.pruned(),
                      self.group_size());
  }
};

}  // namespace detail

/// N:M semi-structured sparsity with counts chosen at run time, named so that they cannot be
/// mixed up: in each row, in each window of group_size() consecutive input columns starting at a
/// multiple of it, the pruned() lowest scores are pruned (ties: the lower column first) and
/// kept() = group_size() − pruned() weights survive.
///
/// "N:M" in pollard (its command line, `--n-m 2:4`, included) counts ZEROS, as the SparseGPT and
/// Wanda code do: "2:4" is 2 pruned out of every 4. NVIDIA's sparse tensor cores and much of the
/// literature count KEPT weights ("2:4" = 2 kept of 4); the two readings agree only when
/// N = M/2. Build the policy with the constructor that names your reading:
///
///   pollard::n_m::pruned_of(2, 4)  // 2 zeros in every 4 (50 %)
///   pollard::n_m::kept_of(1, 4)    // 1 weight kept in every 4 (75 % pruned)
class n_m : public detail::n_m_selection<n_m> {
 public:
  /// `pruned` zeros in every window of `group_size`; option_error unless 0 < pruned < group_size.
  static n_m pruned_of(index_t pruned, index_t group_size) { return n_m(pruned, group_size); }
  /// `kept` weights kept in every window of `group_size`; option_error unless
  /// 0 < kept < group_size.
  static n_m kept_of(index_t kept, index_t group_size) {
    require_n_m("n_m::kept_of", kept, group_size);
    return n_m(group_size - kept, group_size);
  }

  /// N: weights pruned in every window.
  index_t pruned() const noexcept { return pruned_; }
  /// M − N: weights kept in every window.
  index_t kept() const noexcept { return group_size_ - pruned_; }
  /// M: the window width.
  index_t group_size() const noexcept { return group_size_; }

 private:
  n_m(index_t pruned, index_t group_size) : pruned_(pruned), group_size_(group_size) {
    require_n_m("n_m", pruned, group_size);
  }

  index_t pruned_;
  index_t group_size_;
};

/// N:M with the counts fixed at compile time, in the same convention: `pruned_of<2, 4>` prunes
/// 2 of every 4 consecutive weights of a row; an invalid pattern (Pruned >= GroupSize,
/// Pruned <= 0) does not compile.
template <index_t Pruned, index_t GroupSize>
struct pruned_of : detail::n_m_selection<pruned_of<Pruned, GroupSize>> {
  static_assert(0 < Pruned && Pruned < GroupSize,
                "pruned_of<N, M>: N pruned out of every M needs 0 < N < M");

  static constexpr index_t pruned() noexcept { return Pruned; }
  static constexpr index_t kept() noexcept { return GroupSize - Pruned; }
  static constexpr index_t group_size() noexcept { return GroupSize; }
};

namespace detail {

/// The N:M policies: n_m and every pruned_of<N, M>.
template <class P>
concept n_m_policy = std::is_base_of_v<n_m_selection<P>, P>;

}  // namespace detail

}  // namespace pollard

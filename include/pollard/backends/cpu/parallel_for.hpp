// pollard — the CPU backend's one parallel loop (OpenMP), used by every row- or tile-parallel
// kernel.
#pragma once

#include <algorithm>
#include <exception>
#include <limits>

#include "pollard/backends/cpu/policy.hpp"
#include "pollard/core/config.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace pollard::cpu {

/// Work (in rough element operations) below which a thread is not worth waking.
inline constexpr index_t parallel_grain = index_t{1} << 16;

/// Calls body(i) for every i in [0, count) on up to policy.threads() threads (static schedule),
/// fewer when count · work_per_item is small (one thread per parallel_grain of work). The pieces
/// are the caller's (fixed by the shapes), so results never depend on the thread count. Eigen
/// products called inside run single-threaded: Eigen starts threads of its own (rounding
/// differently) unless it runs inside a team of several threads, so whenever the policy allows
/// two threads the team has at least two, even for a single piece; with a policy of one thread,
/// Eigen's own thread count (Eigen::setNbThreads, default: OpenMP's) applies. Called from inside
/// a body (a team of several threads already), the loop runs on the calling thread. An exception
/// thrown by a body is rethrown after the loop: the one of the lowest i.
template <class Body>
void parallel_for(const par_t& policy, index_t count, index_t work_per_item, Body&& body) {
  if (count <= 0) return;
#if defined(_OPENMP)
  if (omp_get_num_threads() > 1) {
    for (index_t i = 0; i < count; ++i) body(i);
    return;
  }
  const index_t work = count * std::max<index_t>(work_per_item, 1);
  const int threads =
      std::max(static_cast<int>(std::clamp<index_t>(std::min<index_t>(work / parallel_grain, count),
                                                    1, policy.threads())),
               std::min(policy.threads(), 2));
  std::exception_ptr error;
  index_t error_at = std::numeric_limits<index_t>::max();
#pragma omp parallel num_threads(threads)
  {
    omp_set_num_threads(1);
#pragma omp for schedule(static)
    for (index_t i = 0; i < count; ++i) {
      try {
        body(i);
      } catch (...) {
#pragma omp critical(pollard_parallel_for_error)
        if (i < error_at) {
          error_at = i;
          error = std::current_exception();
        }
      }
    }
  }
  if (error) std::rethrow_exception(error);
#else
  (void)policy;
  for (index_t i = 0; i < count; ++i) body(i);
#endif
}

}  // namespace pollard::cpu

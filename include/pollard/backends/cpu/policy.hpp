// pollard — the CPU execution policy: `pollard::cpu::par` runs on all hardware threads,
// `pollard::cpu::par.threads(n)` on n.
#pragma once

#include <algorithm>
#include <thread>

#include "pollard/core/execution_policy.hpp"
#include "pollard/core/memory_space.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace pollard::cpu {

/// Host execution with a thread count; 0 means all hardware threads (OpenMP's default team
/// size, which OMP_NUM_THREADS sets). Without OpenMP everything runs on the calling thread.
class par_t {
 public:
  using memory_space = host_space;

  constexpr par_t() = default;
  constexpr explicit par_t(int threads) : threads_(std::max(threads, 0)) {}

  /// The same policy with n threads (n <= 0: all hardware threads).
  constexpr par_t threads(int n) const noexcept { return par_t(n); }

  /// The number of threads work is spread over (>= 1).
  int threads() const noexcept {
#if defined(_OPENMP)
    return threads_ > 0 ? threads_ : std::max(omp_get_max_threads(), 1);
#else
    return 1;
#endif
  }

 private:
  int threads_ = 0;
};

/// All hardware threads; `par.threads(n)` for n.
inline constexpr par_t par{};

static_assert(execution_policy<par_t>);

}  // namespace pollard::cpu

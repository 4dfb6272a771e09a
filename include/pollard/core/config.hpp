// pollard — configuration macros and the index type.
#pragma once

#include <cstddef>

#if defined(__CUDACC__)
#define POLLARD_HOST_DEVICE __host__ __device__
#else
#define POLLARD_HOST_DEVICE
#endif

namespace pollard {

/// Signed index used for every extent and stride (in elements).
using index_t = std::ptrdiff_t;

}  // namespace pollard

// pollard — memory spaces carried in view types, so a device view cannot reach a CPU routine.
#pragma once

#include <type_traits>

namespace pollard {

/// Memory addressable by the CPU.
struct host_space {};
/// Memory of a CUDA device; dereferenced only by device code.
struct device_space {};

template <class Space>
inline constexpr bool is_memory_space_v =
    std::is_same_v<Space, host_space> || std::is_same_v<Space, device_space>;

}  // namespace pollard

// pollard — DLPack tensors on the GPU: a device view of a kDLCUDA tensor on the current device,
// for the CUDA routines (PyTorch, CuPy, JAX hand these out through __dlpack__). Not in the
// pollard/cuda.cuh umbrella: it needs <dlpack/dlpack.h>.
#pragma once

#if !defined(__CUDACC__)
#error \
    "pollard/backends/cuda/dlpack_view.cuh is CUDA code: include it from a .cu file compiled by nvcc"
#endif

#include <cuda_runtime.h>
#include <dlpack/dlpack.h>

#include <string>

#include "pollard/adapters/dlpack.hpp"
#include "pollard/backends/cuda/checked_call.cuh"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/core/view.hpp"

namespace pollard::cuda {

/// The device view (matrix_view<T, device_space>) of a DLPack tensor: the adapter's rules
/// (pollard/adapters/dlpack.hpp: kDLCUDA, dtype, ndim 1 or 2, strides, alignment), plus the
/// tensor's device id must be the current CUDA device, since every CUDA routine runs there.
/// Throws adapter_error naming what was expected and what was found (a kDLCPU tensor: "expected
/// device kDLCUDA for a device view, got kDLCPU"). The memory stays the producer's. A host
/// routine given this view does not compile; the host view of a kDLCUDA tensor
/// (pollard::view_as<T>(t)) throws adapter_error.
template <class T>
device_view<T> view_dlpack(const DLTensor& t) {
  if (t.device.device_type == kDLCUDA) {
    int current = 0;
    POLLARD_CUDA_CHECK(cudaGetDevice(&current));
    if (t.device.device_id != current)
      throw adapter_error("DLTensor: on CUDA device " + std::to_string(t.device.device_id) +
                          " but the current device is " + std::to_string(current) +
                          " (select it with cudaSetDevice first)");
  }
  return view_as<T, device_space>(t);
}

/// The same for a DLManagedTensor (ownership stays with the producer).
template <class T>
device_view<T> view_dlpack(const DLManagedTensor& t) {
  return view_dlpack<T>(t.dl_tensor);
}

}  // namespace pollard::cuda

// A kDLCUDA DLPack tensor's device view handed to a host routine (apply_mask on the host) does
// not compile; the device routine takes it.
// POLLARD_FAILTEST_EXPECT: no instance of .*"pollard::apply_mask"
#include <dlpack/dlpack.h>

#include "pollard/backends/cuda/dlpack_view.cuh"
#include "pollard/cuda.cuh"

void prune(const DLTensor& weights, const pollard::cuda::device_mask& device_flags,
           const pollard::mask& host_flags) {
  const auto w = pollard::cuda::view_dlpack<float>(weights);
#ifdef POLLARD_FAILTEST_CONTROL
  pollard::cuda::apply_mask(pollard::cuda::par, device_flags, w);
  (void)host_flags;
#else
  pollard::apply_mask(host_flags, w);
  (void)device_flags;
#endif
}

// A host view handed to a CUDA routine (apply_mask on the device) does not compile.
// POLLARD_FAILTEST_EXPECT: no instance of function template "pollard::cuda::apply_mask"
#include "pollard/cuda.cuh"

void prune_on_device(float* weights, const pollard::cuda::device_mask& m) {
#ifdef POLLARD_FAILTEST_CONTROL
  pollard::device_view<float> w(weights, 2, 3);
#else
  pollard::host_view<float> w(weights, 2, 3);
#endif
  pollard::cuda::apply_mask(pollard::cuda::par, m, w);
}

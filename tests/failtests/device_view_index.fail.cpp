// Indexing a device view from host code does not compile.
#include "pollard/core/matrix_view.hpp"

float read_on_host(float* weights) {
#ifdef POLLARD_FAILTEST_CONTROL
  const pollard::host_view<float> w(weights, 2, 3);
#else
  const pollard::device_view<float> w(weights, 2, 3);
#endif
  return w(1, 2);
}

// A device view handed to a host-only routine (apply_mask) does not compile.
#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"

void prune_on_host(float* weights) {
  const pollard::mask m(2, 3);
#ifdef POLLARD_FAILTEST_CONTROL
  pollard::host_view<float> w(weights, 2, 3);
#else
  pollard::device_view<float> w(weights, 2, 3);
#endif
  pollard::apply_mask(m, w);
}

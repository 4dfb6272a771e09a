// Must not compile: pruned_of<N, M> rejects N >= M (N pruned out of every M leaves nothing kept).
// With POLLARD_FAILTEST_CONTROL defined, the valid 2:4 pattern compiles.
// POLLARD_FAILTEST_EXPECT: N pruned out of every M needs 0 < N < M
#include "pollard/masks/n_m.hpp"

#ifdef POLLARD_FAILTEST_CONTROL
using pattern = pollard::pruned_of<2, 4>;
#else
using pattern = pollard::pruned_of<4, 4>;
#endif

int main() {
  float scores[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  const pollard::matrix_view<const float> view(scores, 1, 8);
  return static_cast<int>(pattern{}.select(view).pruned_count()) == 4 ? 0 : 1;
}

// pollard::view of something that is not a tensor (an int) does not compile.
#include "pollard/core/matrix_view.hpp"
#include "pollard/core/view.hpp"

pollard::index_t rows_of(float* weights) {
#ifdef POLLARD_FAILTEST_CONTROL
  auto v = pollard::view(pollard::matrix_view<float>(weights, 2, 3));
#else
  (void)weights;
  int answer = 42;  // an lvalue, so the failure is "not a tensor", not "a temporary"
  auto v = pollard::view(answer);
#endif
  return v.rows();
}

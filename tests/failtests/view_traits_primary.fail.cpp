// Calling the unspecialised view_traits directly stops with a readable static_assert.
// POLLARD_FAILTEST_EXPECT: view_traits<X> is not specialised for this type
#include <vector>

#include "pollard/core/matrix_view.hpp"
#include "pollard/core/view.hpp"

pollard::index_t rows_of(std::vector<float>& values, pollard::matrix_view<float>& v) {
#ifdef POLLARD_FAILTEST_CONTROL
  (void)values;
  return pollard::view_traits<pollard::matrix_view<float>>::make(v).rows();
#else
  (void)v;
  pollard::view_traits<std::vector<float>>::make(values);
  return 0;
#endif
}

// pollard::view of a temporary that owns its elements (the view would dangle) does not compile.
#include <Eigen/Core>

#include "pollard/adapters/eigen.hpp"
#include "pollard/core/view.hpp"

pollard::index_t rows_of(Eigen::MatrixXf& m) {
#ifdef POLLARD_FAILTEST_CONTROL
  auto v = pollard::view(m);
#else
  auto v = pollard::view(Eigen::MatrixXf(m));
#endif
  return v.rows();
}

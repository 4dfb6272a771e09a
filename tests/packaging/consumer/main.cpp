// Uses pollard's headers from an installed or embedded copy; exits non-zero when a check fails.
#include <pollard/adapters/eigen.hpp>
#include <pollard/core/mask.hpp>
#include <pollard/core/view.hpp>

#include <Eigen/Core>
#include <cstdio>

int main() {
  Eigen::MatrixXf w(3, 4);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) w(i, j) = static_cast<float>(1 + 4 * i + j);

  pollard::mask m(3, 4);
  m.prune(1, 2);
  m.prune(2, 0);
  pollard::apply_mask(m, pollard::view(w));

  int failures = 0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) {
      const float expected = m.pruned(i, j) ? 0.0f : static_cast<float>(1 + 4 * i + j);
      if (w(i, j) != expected) {
        std::printf("w(%d, %d) = %g, expected %g\n", i, j, static_cast<double>(w(i, j)),
                    static_cast<double>(expected));
        ++failures;
      }
    }
  if (pollard::as_eigen(pollard::view(w)).sum() != w.sum()) {
    std::printf("as_eigen(view(w)) differs from w\n");
    ++failures;
  }
  std::printf("pollard consumer: %s\n", failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}

// eigen_in_ten_lines — prune an Eigen weight matrix with Wanda in about ten lines of user code.
#include <Eigen/Dense>
#include <cstdio>
#include <utility>

#include "pollard/adapters/eigen.hpp"
#include "pollard/core/mask.hpp"
#include "pollard/criteria/criterion_inputs.hpp"
#include "pollard/criteria/wanda.hpp"
#include "pollard/masks/unstructured.hpp"
#include "pollard/metrics/sparsity.hpp"
#include "pollard/stats/moment_statistics.hpp"

int main() {
  // A layer (d_out x d_in, the PyTorch Linear layout) and calibration activations (tokens x d_in).
  Eigen::MatrixXf W = Eigen::MatrixXf::Random(64, 128);
  Eigen::MatrixXf X = Eigen::MatrixXf::Random(256, 128);

  // --- the ten lines ---
  pollard::moment_statistics<> stats(W.cols());  // per-channel Σx² of the activations
  stats.accumulate(pollard::view(std::as_const(X)));
  pollard::criterion_input_buffers<float> inputs;
  inputs.set_moments(stats);
  Eigen::MatrixXf scores(W.rows(), W.cols());  // Wanda: |W_ij| · ||x_j|| / sqrt(N)
  pollard::wanda{}.score(pollard::view(std::as_const(W)), inputs.inputs(), pollard::view(scores));
  const pollard::mask pruned =
      pollard::unstructured{0.5}.select(pollard::view(std::as_const(scores)));  // 50 % per row
  pollard::apply_mask(pruned, pollard::view(W));
  // --- end ---

  const double reached = pollard::sparsity(pollard::view(std::as_const(W)));
  std::printf("pruned %ld of %ld weights: sparsity %.3f\n",
              static_cast<long>(pruned.pruned_count()), static_cast<long>(W.size()), reached);
  return reached == 0.5 ? 0 : 1;
}

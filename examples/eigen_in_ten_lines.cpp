// eigen_in_ten_lines — prune Eigen matrices with Wanda and with SparseGPT; the README shows the
// lines between the markers, and the test suite runs this program.
#include <cstdio>
#include <utility>

#include <Eigen/Dense>

#include "pollard/pollard.hpp"

int main() {
  // A layer (d_out x d_in, the PyTorch Linear layout) and calibration activations (tokens x d_in).
  Eigen::MatrixXf W = Eigen::MatrixXf::Random(64, 256), W2 = W;
  const Eigen::MatrixXf X = Eigen::MatrixXf::Random(512, 256);

  // --- README: begin ---
  pollard::moment_statistics<> moments(X.cols());  // Σx, Σx² per input channel
  pollard::gram_accumulator<> gram(X.cols());      // H = 2/N · XᵀX, one triangle
  moments.accumulate(pollard::view(X));
  gram.accumulate(pollard::view(X));
  pollard::criterion_input_buffers<float> inputs;
  inputs.set_moments(moments);
  // Wanda, 50 % per row: score |W|·sqrt(Σx²/N), keep the largest half of each row.
  pollard::mask wanda = pollard::prune(pollard::view(W), pollard::wanda{}, inputs.inputs(),
                                       pollard::unstructured{0.5});
  // SparseGPT, 2:4: choose the mask column by column while updating the kept weights.
  const pollard::matrix<float> H = gram.hessian();
  pollard::sparsegpt_result sgpt =
      pollard::sparsegpt(pollard::view(W2), pollard::view(H), pollard::n_m::pruned_of(2, 4));
  // --- README: end ---

  std::printf("wanda: %ld of %ld weights pruned (sparsity %.3f)\n",
              static_cast<long>(wanda.pruned_count()), static_cast<long>(W.size()),
              pollard::sparsity(pollard::view(std::as_const(W))));
  std::printf("sparsegpt 2:4: valid %s, loss %.4f, damping %.3g\n",
              pollard::satisfies_n_m(pollard::view(std::as_const(W2)), 2, 4) ? "yes" : "no",
              sgpt.loss, sgpt.damping_used);
  return wanda.sparsity() == 0.5 && pollard::satisfies_n_m(sgpt.mask, 2, 4) ? 0 : 1;
}

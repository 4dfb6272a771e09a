#include <doctest/doctest.h>

#include "pollard/pollard.hpp"

// The umbrella is self-sufficient and the library's pieces compose through it alone.
TEST_CASE("the umbrella header gives a whole one-shot pruning flow") {
  Eigen::MatrixXf w = Eigen::MatrixXf::Random(8, 16);
  Eigen::MatrixXf x = Eigen::MatrixXf::Random(32, 16);
  pollard::moment_statistics<> stats(16);
  stats.accumulate(pollard::view(std::as_const(x)));
  pollard::criterion_input_buffers<float> in;
  in.set_moments(stats);
  const auto m = pollard::prune(pollard::view(w), pollard::wanda{}, in.inputs(),
                                pollard::n_m::pruned_of(2, 4));
  CHECK(pollard::satisfies_n_m(m, 2, 4));
  CHECK(pollard::satisfies_n_m(pollard::view(std::as_const(w)), 2, 4));
  CHECK(pollard::sparsity(pollard::view(std::as_const(w))) == 0.5);
}

// A foreign engine prunes itself with this header alone: the driver, its recipe, its report as
// JSON and the calibration sources (examples/custom_model.cpp does it end to end).
TEST_CASE("the umbrella header names the whole-model driver, its JSON report and calibration") {
  pollard::model::prune_report report;
  report.method = "sparsegpt";
  CHECK(pollard::model::to_json(report).find("sparsegpt") != std::string::npos);
  static_assert(pollard::calibration_source<pollard::corpus_windows>);
  static_assert(!pollard::model::block_sequential_model<int>);
  CHECK(pollard::model::pruning_method_from_name("ria") == pollard::model::pruning_method::ria);
}

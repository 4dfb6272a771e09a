// pollard — a zero-shot suite: several multiple-choice tasks evaluated in turn, each optionally
// cut to its first items, with the per-task results and their averages.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/evaluation/multiple_choice.hpp"

namespace pollard::evaluation {

struct zero_shot_suite_result {
  std::vector<multiple_choice_result> tasks;
  /// The unweighted mean over tasks of acc.
  double average_acc = 0.0;
  /// The unweighted mean over tasks of the metric papers tabulate for each: acc_norm where the
  /// harness reports it, acc otherwise (WinoGrande, BoolQ).
  double average_reported = 0.0;
};

/// Evaluates each task with `options` (options.limit applies to every task; options.progress is
/// called per item of each task).
template <model::causal_lm Model, text_encoder Encoder>
zero_shot_suite_result evaluate_zero_shot_suite(Model& model, const Encoder& encoder,
                                                std::span<const multiple_choice_task> tasks,
                                                const multiple_choice_options& options = {}) {
  if (tasks.empty()) throw option_error("evaluate_zero_shot_suite: no tasks");
  zero_shot_suite_result out;
  for (const auto& task : tasks) {
    out.tasks.push_back(evaluate_multiple_choice(model, encoder, task, options));
    const auto& r = out.tasks.back();
    out.average_acc += r.acc.mean;
    out.average_reported += r.reports_acc_norm ? r.acc_norm.mean : r.acc.mean;
  }
  out.average_acc /= static_cast<double>(tasks.size());
  out.average_reported /= static_cast<double>(tasks.size());
  return out;
}

}  // namespace pollard::evaluation

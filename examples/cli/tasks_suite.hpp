// pollard CLI — the zero-shot part of `pollard tasks` (--suite): multiple-choice tasks scored by
// lm-evaluation-harness's log-likelihood protocol, acc and acc_norm ± standard error per task.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "pollard/evaluation/multiple_choice.hpp"
#include "pollard/evaluation/zero_shot_suite.hpp"
#include "pollard/evaluation/zero_shot_tasks.hpp"
#include "pollard/io/json_writer.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/model_file.hpp"
#include "pollard/llm/progress.hpp"

namespace pollard::cli {

/// The zero-shot suite as the command line gives it, checked before the model is read.
struct zero_shot_request {
  std::vector<std::string> tasks;  ///< harness task names, in the order given
  std::filesystem::path tasks_dir;
  index_t limit = 0;  ///< first items of each task; 0 = all
};

/// The folder of the task files: --tasks-dir, else $POLLARD_DATA_DIR/tasks. Throws `error` (an
/// option error type) naming what is missing.
template <class Error>
std::filesystem::path zero_shot_tasks_dir(const std::string& option_value) {
  std::filesystem::path dir = option_value;
  if (dir.empty()) {
    const char* data = std::getenv("POLLARD_DATA_DIR");
    if (data == nullptr || *data == '\0')
      throw Error(
          "--suite needs --tasks-dir DIR (or POLLARD_DATA_DIR naming a folder with tasks/)");
    dir = std::filesystem::path(data) / "tasks";
  }
  if (!std::filesystem::is_directory(dir))
    throw Error("--tasks-dir: " + dir.string() + " is not a folder");
  return dir;
}

/// Reads every task of the request (so a missing or malformed file fails before any scoring).
inline std::vector<evaluation::multiple_choice_task> load_zero_shot_tasks(
    const zero_shot_request& r) {
  std::vector<evaluation::multiple_choice_task> tasks;
  for (const auto& name : r.tasks)
    tasks.push_back(evaluation::load_zero_shot_task(name, r.tasks_dir));
  return tasks;
}

/// Scores the tasks with the model of `file`, BOS first when its tokenizer adds one (what the
/// harness's Hugging Face backend does by default).
inline evaluation::zero_shot_suite_result evaluate_zero_shot_tasks(
    llm::model_file& file, const std::vector<evaluation::multiple_choice_task>& tasks,
    index_t limit) {
  llm::llama_model model(file.weights);
  evaluation::multiple_choice_options o;
  o.limit = limit;
  o.add_bos = file.tokenizer->adds_bos();
  o.progress = llm::progress_bar("zero-shot", "items");
  return evaluation::evaluate_zero_shot_suite(model, *file.tokenizer, tasks, o);
}

inline void print_zero_shot(const evaluation::zero_shot_suite_result& r, bool add_bos) {
  std::printf("zero-shot   : lm-evaluation-harness log-likelihood protocol, BOS %s\n",
              add_bos ? "first" : "not added");
  std::printf("%-14s %6s  %-17s  %-17s\n", "task", "items", "acc", "acc_norm");
  for (const auto& t : r.tasks)
    std::printf("%-14s %6lld  %.4f ± %.4f  %.4f ± %.4f%s\n", t.task.c_str(),
                static_cast<long long>(t.items), t.acc.mean, t.acc.standard_error, t.acc_norm.mean,
                t.acc_norm.standard_error, t.reports_acc_norm ? "" : "  (the harness reports acc)");
  std::printf("average acc : %.4f\n", r.average_acc);
  std::printf("average as reported (acc_norm where the harness reports it, else acc): %.4f\n",
              r.average_reported);
}

/// {"tasks_dir", "limit", "add_bos", "tasks": [{task, items, acc: {mean, standard_error},
/// acc_norm: {...}, reports_acc_norm}], "average_acc", "average_reported"}.
inline std::string zero_shot_json(const evaluation::zero_shot_suite_result& r,
                                  const zero_shot_request& request, bool add_bos) {
  io::json_writer w;
  w.begin_object();
  w.key("tasks_dir").value(request.tasks_dir.string());
  w.key("limit").value(static_cast<std::int64_t>(request.limit));
  w.key("add_bos").value(add_bos);
  w.key("tasks").begin_array();
  for (const auto& t : r.tasks) {
    w.begin_object().key("task").value(t.task).key("items").value(
        static_cast<std::int64_t>(t.items));
    w.key("acc").begin_object().key("mean").value(t.acc.mean);
    w.key("standard_error").value(t.acc.standard_error).end_object();
    w.key("acc_norm").begin_object().key("mean").value(t.acc_norm.mean);
    w.key("standard_error").value(t.acc_norm.standard_error).end_object();
    w.key("reports_acc_norm").value(t.reports_acc_norm).end_object();
  }
  w.end_array();
  w.key("average_acc").value(r.average_acc);
  w.key("average_reported").value(r.average_reported);
  w.end_object();
  return w.str();
}

}  // namespace pollard::cli

// pollard CLI — the zero-shot part of `pollard tasks` (--suite): multiple-choice tasks scored by
// lm-evaluation-harness's log-likelihood protocol, acc and acc_norm ± standard error per task.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "pollard/evaluation/item_sample.hpp"
#include "pollard/evaluation/multiple_choice.hpp"
#include "pollard/evaluation/zero_shot_suite.hpp"
#include "pollard/evaluation/zero_shot_tasks.hpp"
#include "pollard/io/json_writer.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/model_file.hpp"
#include "pollard/llm/progress.hpp"

namespace pollard::cli {

/// Which items of each task are scored when --limit N is given.
enum class item_selection {
  all,     ///< no --limit: every item
  random,  ///< N items drawn with --limit-seed: sorted(random.Random(seed).sample(range(n), N))
  first,   ///< the first N items (--limit-first; the harness's --limit)
};

/// Where BOS comes from (--bos): the tokenizer's own default, always, or never.
enum class bos_choice { tokenizer, yes, no };

/// The zero-shot suite as the command line gives it, checked before the model is read.
struct zero_shot_request {
  std::vector<std::string> tasks;  ///< harness task names, in the order given, each once
  std::filesystem::path tasks_dir;
  index_t limit = 0;  ///< items scored per task; 0 = all
  item_selection selection = item_selection::all;
  std::uint64_t limit_seed = 0;
  bos_choice bos = bos_choice::tokenizer;
};

/// A task as read, cut to the items the request selects.
struct selected_task {
  evaluation::multiple_choice_task task;  ///< the selected items only
  std::vector<std::size_t> item_indices;  ///< their positions in the file, 0-based, ascending
  std::size_t items_available = 0;        ///< the items the file has
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

/// Reads every task of the request (so a missing or malformed file fails before any scoring)
/// and keeps the items it selects.
inline std::vector<selected_task> load_zero_shot_tasks(const zero_shot_request& r) {
  std::vector<selected_task> out;
  for (const auto& name : r.tasks) {
    selected_task s;
    auto whole = evaluation::load_zero_shot_task(name, r.tasks_dir);
    s.items_available = whole.items.size();
    const auto n = s.items_available;
    const auto k = r.limit > 0 ? std::min(n, static_cast<std::size_t>(r.limit)) : n;
    if (r.selection == item_selection::random && k < n) {
      s.item_indices = evaluation::sample_item_indices(n, k, r.limit_seed);
    } else {
      s.item_indices.resize(k);
      for (std::size_t i = 0; i < k; ++i) s.item_indices[i] = i;
    }
    s.task = k == n ? std::move(whole) : evaluation::task_items_at(whole, s.item_indices);
    out.push_back(std::move(s));
  }
  return out;
}

/// Whether BOS starts every encoding: the tokenizer's default unless --bos says yes or no.
inline bool adds_bos(bos_choice bos, const llm::text_tokenizer& tokenizer) {
  if (bos == bos_choice::tokenizer) return tokenizer.adds_bos();
  return bos == bos_choice::yes;
}

/// Scores the selected items of each task with the model of `file`, BOS first when `add_bos`.
inline evaluation::zero_shot_suite_result evaluate_zero_shot_tasks(
    llm::model_file& file, const std::vector<selected_task>& selected, bool add_bos) {
  llm::llama_model model(file.weights);
  std::vector<evaluation::multiple_choice_task> tasks;
  for (const auto& s : selected) tasks.push_back(s.task);
  evaluation::multiple_choice_options o;
  o.add_bos = add_bos;
  o.progress = llm::progress_bar("zero-shot", "items");
  return evaluation::evaluate_zero_shot_suite(model, *file.tokenizer, tasks, o);
}

/// The BOS convention in words, with the lm-evaluation-harness version that follows it: until
/// v0.4.9.1 the harness encoded causal-LM requests with add_special_tokens=False (no BOS) unless
/// add_bos_token=True; since v0.4.9.2 (PR #3347) an unset add_bos_token defers to the tokenizer.
inline std::string bos_convention(bos_choice bos, bool add_bos) {
  switch (bos) {
    case bos_choice::tokenizer:
      return std::string(add_bos ? "BOS first" : "no BOS") +
             " (--bos tokenizer: the tokenizer's default, as lm-evaluation-harness v0.4.9.2 and "
             "later with add_bos_token unset)";
    case bos_choice::yes:
      return "BOS first (--bos yes: lm-evaluation-harness with add_bos_token=True)";
    case bos_choice::no:
      break;
  }
  return "no BOS (--bos no: lm-evaluation-harness before v0.4.9.2, v0.3 and v0.4.0 to v0.4.9.1, "
         "with add_bos_token unset)";
}

/// Which items were scored, in words.
inline std::string selection_text(const zero_shot_request& r) {
  switch (r.selection) {
    case item_selection::all:
      return "every item of each task";
    case item_selection::first:
      return "the first " + std::to_string(r.limit) +
             " items of each task (--limit-first, as the harness's --limit), every item of a "
             "task with fewer";
    case item_selection::random:
      break;
  }
  // A task of n <= N items is scored whole (Python's sample(range(n), N) would raise there).
  return "a random " + std::to_string(r.limit) + " items of each task, --limit-seed " +
         std::to_string(r.limit_seed) + " (Python: sorted(random.Random(" +
         std::to_string(r.limit_seed) + ").sample(range(n), " + std::to_string(r.limit) +
         "))), every item of a task with " + std::to_string(r.limit) + " or fewer";
}

inline void print_zero_shot(const evaluation::zero_shot_suite_result& r,
                            const zero_shot_request& request, bool add_bos) {
  std::printf("zero-shot   : lm-evaluation-harness log-likelihood protocol, %s\n",
              bos_convention(request.bos, add_bos).c_str());
  std::printf("items       : %s\n", selection_text(request).c_str());
  std::printf("%-14s %6s  %-17s  %-17s\n", "task", "items", "acc", "acc_norm");
  for (const auto& t : r.tasks)
    std::printf("%-14s %6lld  %.4f ± %.4f  %.4f ± %.4f%s\n", t.task.c_str(),
                static_cast<long long>(t.items), t.acc.mean, t.acc.standard_error, t.acc_norm.mean,
                t.acc_norm.standard_error, t.reports_acc_norm ? "" : "  (the harness reports acc)");
  std::printf("average acc : %.4f\n", r.average_acc);
  std::printf("average as reported (acc_norm where the harness reports it, else acc): %.4f\n",
              r.average_reported);
}

/// {"tasks_dir", "limit", "item_selection" ("all", "random" or "first"), "limit_seed" (random
/// only), "bos" ("tokenizer", "yes" or "no"), "add_bos", "tasks": [{task, items, items_available,
/// item_indices (0-based positions in the file), acc: {mean, standard_error}, acc_norm: {...},
/// reports_acc_norm}], "average_acc", "average_reported"}.
inline std::string zero_shot_json(const evaluation::zero_shot_suite_result& r,
                                  const std::vector<selected_task>& selected,
                                  const zero_shot_request& request, bool add_bos) {
  io::json_writer w;
  w.begin_object();
  w.key("tasks_dir").value(request.tasks_dir.string());
  w.key("limit").value(static_cast<std::int64_t>(request.limit));
  const char* selection = request.selection == item_selection::random  ? "random"
                          : request.selection == item_selection::first ? "first"
                                                                       : "all";
  w.key("item_selection").value(selection);
  if (request.selection == item_selection::random) w.key("limit_seed").value(request.limit_seed);
  const char* bos = request.bos == bos_choice::tokenizer ? "tokenizer"
                    : request.bos == bos_choice::yes     ? "yes"
                                                         : "no";
  w.key("bos").value(bos);
  w.key("add_bos").value(add_bos);
  w.key("tasks").begin_array();
  for (std::size_t k = 0; k < r.tasks.size(); ++k) {
    const auto& t = r.tasks[k];
    w.begin_object().key("task").value(t.task).key("items").value(
        static_cast<std::int64_t>(t.items));
    w.key("items_available").value(static_cast<std::int64_t>(selected[k].items_available));
    w.key("item_indices").begin_array();
    for (const std::size_t i : selected[k].item_indices) w.value(static_cast<std::int64_t>(i));
    w.end_array();
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

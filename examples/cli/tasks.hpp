// pollard CLI — `pollard tasks`: greedy answers to instruction data scored by exact match, token
// F1 and ROUGE-1 against the reference outputs, and zero-shot multiple-choice tasks (--suite).
#pragma once

#include <algorithm>
#include <cstdio>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "command_line.hpp"
#include "common.hpp"
#include "pollard/evaluation/tasks.hpp"
#include "pollard/io/text_datasets.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/progress.hpp"
#include "tasks_suite.hpp"

namespace pollard::cli {

struct tasks_options {
  std::string model;
  std::string instructions;
  index_t max_examples = 100;
  index_t max_new_tokens = 64;
  bool show = false;
  std::string json;
  std::string suite;  // comma-separated task names
  std::string tasks_dir;
  index_t limit = 0;
  std::uint64_t limit_seed = 0;
  bool limit_first = false;
  std::string bos = "tokenizer";
  std::string tokenizer;
  text_reading_choice special_tokens;
  int threads = 0;
  given_options given;
};

inline CLI::App* add_tasks_command(CLI::App& app, tasks_options& o) {
  CLI::App* c = app.add_subcommand(
      "tasks",
      "instruction data scored by exact match, token F1, ROUGE-1; zero-shot multiple choice");
  c->footer(
      "Task metrics on instruction data (Alpaca's JSON list of {instruction, input, output}): the\n"
      "model answers the prompt \"{instruction} {input}\" greedily until its end-of-text token or\n"
      "N new tokens; the answer is scored against the reference output by exact match and token\n"
      "F1 (after SQuAD normalisation: lower case, no punctuation, no a/an/the, single spaces) and\n"
      "by ROUGE-1 F. Each is reported as mean ± standard error over the examples.\n"
      "\n"
      "Zero-shot tasks (--suite) follow lm-evaluation-harness's log-likelihood protocol: each\n"
      "choice is scored by the summed log-probability of \" \" + choice after the task's prompt\n"
      "(ARC, PIQA: \"Question: ...\\nAnswer:\"; HellaSwag: \"{activity}: {context}\"; WinoGrande:\n"
      "partial evaluation; BoolQ: \"{passage}\\nQuestion: {question}?\\nAnswer:\" with no/yes),\n"
      "all choices of an item in one forward pass; acc takes the highest score, acc_norm the\n"
      "highest score per character of the choice (Python's len(), as the harness's acc_norm;\n"
      "its acc_bytes divides by UTF-8 bytes). Each is mean ± standard error over the items.\n"
      "The harness reports acc_norm for ARC, PIQA and HellaSwag and acc for WinoGrande and BoolQ.\n"
      "HellaSwag's staged copy (llama.cpp's layout) has ctx_a and ctx_b joined, so the harness's\n"
      "capitalisation of ctx_b's first letter is not applied. --limit N scores a random N\n"
      "items of each task (--limit-seed S, default 0: Python's\n"
      "sorted(random.Random(S).sample(range(n), N))), or the first N with --limit-first (the\n"
      "harness's --limit; first items are not a random sample: HellaSwag's first ones all come\n"
      "from ActivityNet). The output names the items and the BOS convention used.\n"
      "Give --instructions, --suite or both.");
  c->add_option("MODEL", o.model, "a GGUF file, a llama2.c checkpoint or a Hugging Face folder")
      ->required();
  c->add_option("--instructions", o.instructions,
                std::string("the instruction data: {instruction, input, output} records, the\n"
                            "layout told from the name as every command tells it: ") +
                    data_file_rule)
      ->type_name("FILE");
  c->add_option("--max-examples", o.max_examples, "use the first N examples")
      ->type_name("N")
      ->transform(integer_in(1, INT32_MAX));
  c->add_option("--max-new-tokens", o.max_new_tokens, "longest answer in tokens")
      ->type_name("N")
      ->transform(integer_in(1, INT32_MAX));
  c->add_flag("--show", o.show, "print every answer with its reference");
  c->add_option("--suite", o.suite, "zero-shot tasks, comma-separated")
      ->type_name("TASK[,TASK...]")
      ->check(comma_list_text([](const std::string& task) -> std::string {
        const auto names = evaluation::zero_shot_task_names();
        if (std::find(names.begin(), names.end(), task) != names.end()) return {};
        std::string known;
        for (const auto& n : names) known += (known.empty() ? "" : ", ") + std::string(n);
        return "unknown task '" + task + "' (the tasks: " + known + ")";
      }));
  c->add_option("--tasks-dir", o.tasks_dir, "the folder of the zero-shot task files")
      ->type_name("DIR")
      ->default_str("$POLLARD_DATA_DIR/tasks");
  c->add_option("--limit", o.limit,
                "score N items of each zero-shot task, drawn at random (0: all)")
      ->type_name("N")
      ->transform(integer_in(0, INT32_MAX));
  c->add_option("--limit-seed", o.limit_seed, "the seed of the random items of --limit")
      ->type_name("S")
      ->transform(unsigned_integer());
  c->add_flag("--limit-first", o.limit_first,
              "score the first N items instead (the harness's --limit)");
  c->add_option("--bos", o.bos,
                "tokenizer: BOS first when the tokenizer adds one (lm-evaluation-harness\n"
                "v0.4.9.2 and later); no: never (the harness before v0.4.9.2); yes: always")
      ->type_name("B")
      ->check(CLI::IsMember({"tokenizer", "yes", "no"}));
  c->add_option("--json", o.json, "also write the result as JSON (written whole or not at all)")
      ->type_name("OUT.json");
  add_tokenizer_option(*c, o.tokenizer);
  add_text_reading_options(*c, o.special_tokens);
  add_threads_option(*c, o.threads);
  record_given_options(*c, o.given);
  return c;
}

inline int run_tasks(const tasks_options& o) {
  use_threads(o.threads);
  if (o.instructions.empty() && o.suite.empty())
    throw usage_error("'pollard tasks' needs --instructions FILE, --suite TASKS or both");
  const index_t max_examples = o.max_examples;
  const index_t max_new_tokens = o.max_new_tokens;
  const auto json = optional_path(o.json);
  for (const char* option : {"--limit", "--tasks-dir", "--bos"})
    refuse_if_given(o.given, option, o.suite.empty(), "applies to --suite, which is not given");
  for (const char* option : {"--limit-seed", "--limit-first"})
    refuse_if_given(o.given, option, o.limit == 0, "applies to --limit N, which is not given");
  refuse_if_given(o.given, "--limit-seed", o.limit_first,
                  "draws the random items, and --limit-first takes the first ones");
  for (const char* option : {"--max-examples", "--max-new-tokens", "--show"})
    refuse_if_given(o.given, option, o.instructions.empty(),
                    "applies to --instructions, which is not given");
  check_inputs(model_inputs("MODEL", o.model,
                            {{"--instructions", o.instructions},
                             {"--tokenizer", o.tokenizer},
                             {"--tasks-dir", o.tasks_dir, input_kind::folder}}));
  check_output_name("--json", o.json, "JSON", {".json"});
  check_outputs(
      {{"MODEL", o.model}, {"--instructions", o.instructions}, {"--tokenizer", o.tokenizer}},
      {{"--json", o.json}});
  refuse_tokenizer_for_gguf(o.tokenizer, {{"MODEL", o.model}});
  zero_shot_request zero_shot;
  if (!o.suite.empty()) {
    zero_shot.tasks = comma_list(o.suite);
    std::set<std::string> named;
    for (const auto& task : zero_shot.tasks)
      if (!named.insert(task).second)
        throw usage_error("--suite: task '" + task +
                          "' is given twice (each task is scored once and counted once in the "
                          "averages)");
    zero_shot.tasks_dir = zero_shot_tasks_dir<usage_error>(o.tasks_dir);
    zero_shot.limit = o.limit;
    zero_shot.selection = o.limit == 0    ? item_selection::all
                          : o.limit_first ? item_selection::first
                                          : item_selection::random;
    zero_shot.limit_seed = o.limit_seed;
    zero_shot.bos = o.bos == "yes"  ? bos_choice::yes
                    : o.bos == "no" ? bos_choice::no
                                    : bos_choice::tokenizer;
    // The files of the chosen tasks are inputs (compared by identity, so a link to one is
    // refused too); nothing else in the folder is looked at.
    std::vector<io::named_path> task_files;
    std::vector<input_path> inputs;
    for (const auto& task : zero_shot.tasks)
      for (const auto& file : evaluation::zero_shot_task_files(task, zero_shot.tasks_dir)) {
        task_files.push_back({"the task file", file});
        inputs.push_back({"the task file", file});
      }
    check_inputs(inputs);  // missing, a folder, a FIFO or a device: refused before any work
    check_distinct_outputs(task_files, {{"--json", o.json}});
  }
  // Every input is read before the model runs, so a bad file fails at once.
  const std::vector<selected_task> zero_shot_tasks = load_zero_shot_tasks(zero_shot);
  std::vector<io::instruction_example> examples;
  if (!o.instructions.empty()) {
    examples = io::read_instruction_examples(o.instructions);
    if (static_cast<index_t>(examples.size()) > max_examples)
      examples.resize(static_cast<std::size_t>(max_examples));
  }

  const fs::path model_path = o.model;
  llm::model_file m = open_model_with_tokenizer(model_path, optional_path(o.tokenizer));
  apply_text_reading_options(m.tokenizer, o.special_tokens);
  require_finite_weights(m);
  // The files read beside MODEL (its llama2.c tokenizer, a Hugging Face folder's) are inputs too.
  check_distinct_outputs(files_read_with({{"MODEL", &m}}, {{"--instructions", o.instructions},
                                                           {"--tokenizer", o.tokenizer}}),
                         {{"--json", o.json}});
  m.gguf.reset();
  if (zero_shot.bos == bos_choice::yes && !m.tokenizer->bos())
    throw usage_error("--bos yes: the tokenizer of " + model_path.string() +
                      " has no BOS token to add");
  std::printf("model       : %s\n", printable(model_path.string()).c_str());
  std::string out = "{\"model\":" + json_string(model_path.string());
  if (!o.instructions.empty()) {
    llm::llama_forward model(m.weights);
    evaluation::task_options task;
    task.max_new_tokens = max_new_tokens;
    task.progress = llm::progress_bar("tasks", "examples");
    if (o.show)
      task.on_answer = [](const io::instruction_example& e, const std::string& answer) {
        std::printf("prompt    : %s\nanswer    : %s\nreference : %s\n\n",
                    evaluation::instruction_prompt(e).c_str(), answer.c_str(), e.output.c_str());
      };
    const evaluation::task_evaluation r =
        evaluation::evaluate_instruction_tasks(model, *m.tokenizer, examples, task);
    std::printf("examples    : %lld from %s\n", static_cast<long long>(r.examples),
                o.instructions.c_str());
    std::printf("exact match : %.4f ± %.4f\n", r.exact_match.mean, r.exact_match.standard_error);
    std::printf("token F1    : %.4f ± %.4f\n", r.token_f1.mean, r.token_f1.standard_error);
    std::printf("ROUGE-1 F   : %.4f ± %.4f\n", r.rouge1.mean, r.rouge1.standard_error);
    const auto metric = [](const evaluation::task_metric_summary& s) {
      return "{\"mean\":" + json_number(s.mean) +
             ",\"standard_error\":" + json_number(s.standard_error) + "}";
    };
    out += ",\"instructions\":" + json_string(o.instructions) +
           ",\"examples\":" + std::to_string(r.examples) +
           ",\"exact_match\":" + metric(r.exact_match) + ",\"token_f1\":" + metric(r.token_f1) +
           ",\"rouge1\":" + metric(r.rouge1);
  }
  if (!zero_shot_tasks.empty()) {
    const bool add_bos = adds_bos(zero_shot.bos, *m.tokenizer);
    const auto r = evaluate_zero_shot_tasks(m, zero_shot_tasks, add_bos);
    print_zero_shot(r, zero_shot, add_bos);
    out += ",\"zero_shot\":" + zero_shot_json(r, zero_shot_tasks, zero_shot, add_bos);
  }
  if (json) write_output_file(*json, out + "}\n");
  return 0;
}

}  // namespace pollard::cli

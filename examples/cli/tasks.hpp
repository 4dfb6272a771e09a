// pollard CLI — `pollard tasks`: greedy answers to instruction data scored by exact match, token
// F1 and ROUGE-1 against the reference outputs.
#pragma once

#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "command_line.hpp"
#include "common.hpp"
#include "pollard/evaluation/tasks.hpp"
#include "pollard/io/text_datasets.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/progress.hpp"

namespace pollard::cli {

struct tasks_options {
  std::string model;
  std::string instructions;
  index_t max_examples = 100;
  index_t max_new_tokens = 64;
  bool show = false;
  std::string json;
  std::string tokenizer;
  int threads = 0;
};

inline CLI::App* add_tasks_command(CLI::App& app, tasks_options& o) {
  CLI::App* c = app.add_subcommand(
      "tasks", "greedy answers to instruction data scored by exact match, token F1, ROUGE-1");
  c->footer(
      "Task metrics on instruction data (Alpaca's JSON list of {instruction, input, output}): the\n"
      "model answers the prompt \"{instruction} {input}\" greedily until its end-of-text token or\n"
      "N new tokens; the answer is scored against the reference output by exact match and token\n"
      "F1 (after SQuAD normalisation: lower case, no punctuation, no a/an/the, single spaces) and\n"
      "by ROUGE-1 F. Each is reported as mean ± standard error over the examples.");
  c->add_option("MODEL", o.model, "a GGUF file, a llama2.c checkpoint or a Hugging Face folder")
      ->required();
  c->add_option("--instructions", o.instructions, "the instruction data")
      ->type_name("FILE")
      ->required();
  c->add_option("--max-examples", o.max_examples, "use the first N examples")
      ->type_name("N")
      ->check(integer_in(1, INT32_MAX));
  c->add_option("--max-new-tokens", o.max_new_tokens, "longest answer in tokens")
      ->type_name("N")
      ->check(integer_in(1, INT32_MAX));
  c->add_flag("--show", o.show, "print every answer with its reference");
  c->add_option("--json", o.json, "also write the result as JSON (written whole or not at all)")
      ->type_name("OUT.json");
  add_tokenizer_option(*c, o.tokenizer);
  add_threads_option(*c, o.threads);
  return c;
}

inline int run_tasks(const tasks_options& o) {
  use_threads(o.threads);
  const fs::path instructions = o.instructions;
  const index_t max_examples = o.max_examples;
  const index_t max_new_tokens = o.max_new_tokens;
  const auto json = optional_path(o.json);
  check_distinct_outputs(
      {{"MODEL", o.model}, {"--instructions", o.instructions}, {"--tokenizer", o.tokenizer}},
      {{"--json", o.json}});
  if (json) check_output_path(*json, "--json");

  const fs::path model_path = o.model;
  llm::model_file m = open_model_with_tokenizer(model_path, optional_path(o.tokenizer));
  m.gguf.reset();
  std::vector<io::instruction_example> examples = io::read_instruction_examples(instructions);
  if (static_cast<index_t>(examples.size()) > max_examples)
    examples.resize(static_cast<std::size_t>(max_examples));

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

  std::printf("model       : %s\n", model_path.string().c_str());
  std::printf("examples    : %lld from %s\n", static_cast<long long>(r.examples),
              instructions.string().c_str());
  std::printf("exact match : %.4f ± %.4f\n", r.exact_match.mean, r.exact_match.standard_error);
  std::printf("token F1    : %.4f ± %.4f\n", r.token_f1.mean, r.token_f1.standard_error);
  std::printf("ROUGE-1 F   : %.4f ± %.4f\n", r.rouge1.mean, r.rouge1.standard_error);
  if (json) {
    const auto metric = [](const evaluation::task_metric_summary& s) {
      return "{\"mean\":" + json_number(s.mean) +
             ",\"standard_error\":" + json_number(s.standard_error) + "}";
    };
    write_file_atomically(*json, "{\"model\":" + json_string(model_path.string()) +
                                     ",\"instructions\":" + json_string(instructions.string()) +
                                     ",\"examples\":" + std::to_string(r.examples) +
                                     ",\"exact_match\":" + metric(r.exact_match) +
                                     ",\"token_f1\":" + metric(r.token_f1) +
                                     ",\"rouge1\":" + metric(r.rouge1) + "}\n");
  }
  return 0;
}

}  // namespace pollard::cli

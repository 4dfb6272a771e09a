// pollard CLI — `pollard tasks`: greedy answers to instruction data scored by exact match, token
// F1 and ROUGE-1 against the reference outputs.
#pragma once

#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "arguments.hpp"
#include "common.hpp"
#include "pollard/evaluation/tasks.hpp"
#include "pollard/io/text_datasets.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/progress.hpp"

namespace pollard::cli {

inline const char* const tasks_help =
    "usage: pollard tasks MODEL --instructions FILE [--max-examples N] [--max-new-tokens N]\n"
    "                     [--show] [--json OUT.json] [--tokenizer FILE]\n"
    "\n"
    "Task metrics on instruction data (Alpaca's JSON list of {instruction, input, output}): the\n"
    "model answers the prompt \"{instruction} {input}\" greedily until its end-of-text token or\n"
    "N new tokens; the answer is scored against the reference output by exact match and token F1\n"
    "(after SQuAD normalisation: lower case, no punctuation, no a/an/the, single spaces) and by\n"
    "ROUGE-1 F. Each is reported as mean ± standard error over the examples.\n"
    "\n"
    "  --instructions FILE  the instruction data\n"
    "  --max-examples N     use the first N examples (default: 100)\n"
    "  --max-new-tokens N   longest answer in tokens (default: 64)\n"
    "  --show               print every answer with its reference\n"
    "  --json OUT.json      also write the result as JSON (written whole or not at all)\n"
    "  --tokenizer FILE     llama2.c tokenizer.bin or Hugging Face tokenizer.json (default:\n"
    "                       beside the model; not for a GGUF, which carries its own)\n";

inline int run_tasks(std::span<char* const> args) {
  option_spec spec;
  spec.valued.insert(
      {"--instructions", "--max-examples", "--max-new-tokens", "--json", "--tokenizer"});
  spec.flags.insert("--show");
  const arguments a("tasks", args, spec);
  if (a.help()) {
    std::fputs(tasks_help, stdout);
    return 0;
  }
  a.expect_positional(1, "a MODEL file");
  const auto instructions = a.path("--instructions");
  if (!instructions) throw usage_error("'pollard tasks' needs --instructions FILE");
  const auto max_examples = a.integer("--max-examples", 100, 1, INT32_MAX);
  const auto max_new_tokens = a.integer("--max-new-tokens", 64, 1, INT32_MAX);
  const auto json = a.path("--json");
  if (json) check_output_path(*json, "--json");

  const fs::path model_path = a.positional()[0];
  llm::model_file m = open_model_with_tokenizer(model_path, a.path("--tokenizer"));
  m.gguf.reset();
  std::vector<io::instruction_example> examples = io::read_instruction_examples(*instructions);
  if (static_cast<index_t>(examples.size()) > max_examples)
    examples.resize(static_cast<std::size_t>(max_examples));

  llm::llama_forward model(m.weights);
  evaluation::task_options o;
  o.max_new_tokens = max_new_tokens;
  o.progress = llm::progress_bar("tasks", "examples");
  if (a.has("--show"))
    o.on_answer = [](const io::instruction_example& e, const std::string& answer) {
      std::printf("prompt    : %s\nanswer    : %s\nreference : %s\n\n",
                  evaluation::instruction_prompt(e).c_str(), answer.c_str(), e.output.c_str());
    };
  const evaluation::task_evaluation r =
      evaluation::evaluate_instruction_tasks(model, *m.tokenizer, examples, o);

  std::printf("model       : %s\n", model_path.string().c_str());
  std::printf("examples    : %lld from %s\n", static_cast<long long>(r.examples),
              instructions->string().c_str());
  std::printf("exact match : %.4f ± %.4f\n", r.exact_match.mean, r.exact_match.standard_error);
  std::printf("token F1    : %.4f ± %.4f\n", r.token_f1.mean, r.token_f1.standard_error);
  std::printf("ROUGE-1 F   : %.4f ± %.4f\n", r.rouge1.mean, r.rouge1.standard_error);
  if (json) {
    const auto metric = [](const evaluation::task_metric_summary& s) {
      return "{\"mean\":" + json_number(s.mean) +
             ",\"standard_error\":" + json_number(s.standard_error) + "}";
    };
    write_file_atomically(*json, "{\"model\":" + json_string(model_path.string()) +
                                     ",\"instructions\":" + json_string(instructions->string()) +
                                     ",\"examples\":" + std::to_string(r.examples) +
                                     ",\"exact_match\":" + metric(r.exact_match) +
                                     ",\"token_f1\":" + metric(r.token_f1) +
                                     ",\"rouge1\":" + metric(r.rouge1) + "}\n");
  }
  return 0;
}

}  // namespace pollard::cli

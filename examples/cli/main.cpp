// pollard — the command-line tool: inspect a checkpoint, generate text, measure perplexity,
// compare a pruned model with its dense original, score instruction tasks, convert a checkpoint,
// prune a whole model or one layer.
//
// Every error is one line on stderr ("pollard: error: ...") with a non-zero exit status (2 for a
// command-line mistake, 1 otherwise); output files are written whole or not at all.
#include <cstring>
#include <string>
#include <vector>

#include "command_line.hpp"
#include "layer.hpp"
#include "passive_openmp_wait.hpp"

#if POLLARD_HAS_LLM
#include "capture.hpp"
#include "compare.hpp"
#include "convert.hpp"
#include "eval.hpp"
#include "export.hpp"
#include "generate.hpp"
#include "info.hpp"
#include "prune.hpp"
#include "tasks.hpp"
#endif

int main(int argc, char** argv) {
  using namespace pollard::cli;
  restart_with_passive_openmp_wait(argv);
  CLI::App app(
      "Post-training pruning of large language models: inspect, run, evaluate and "
      "compare Llama-family checkpoints; prune a whole model or one linear layer.",
      "pollard");
  configure(app);
  app.require_subcommand(0, 1);
  app.footer(
#if POLLARD_HAS_LLM
      "MODEL is a GGUF file (Llama architecture), a llama2.c checkpoint (its tokenizer beside\n"
      "it) or a Hugging Face Llama folder. "
#else
      "This build lacks the LLM layer (zlib and PCRE2): only 'layer' is available. "
#endif
      "'pollard COMMAND --help' describes each command.\n"
      "Errors are one line on stderr and a non-zero exit status; output files are written\n"
      "through a temporary and renamed, so they are whole or absent.\n"
      "Threads: --threads N (default: every hardware thread). Threads waiting for work sleep\n"
      "(OMP_WAIT_POLICY=passive) unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set: spinning\n"
      "threads slow every command many times over when other processes hold cores.");

#if POLLARD_HAS_LLM
  info_options info;
  generate_options generate;
  eval_options eval;
  compare_options compare;
  tasks_options tasks;
  convert_options convert;
  export_options export_;
  capture_options capture;
  prune_options prune;
  CLI::App* info_command = add_info_command(app, info);
  CLI::App* generate_command = add_generate_command(app, generate);
  CLI::App* eval_command = add_eval_command(app, eval);
  CLI::App* compare_command = add_compare_command(app, compare);
  CLI::App* tasks_command = add_tasks_command(app, tasks);
  CLI::App* convert_command = add_convert_command(app, convert);
  CLI::App* export_command = add_export_command(app, export_);
  CLI::App* capture_command = add_capture_command(app, capture);
  CLI::App* prune_command = add_prune_command(app, prune);
#endif
  layer_options layer;
  CLI::App* layer_command =
      app.add_subcommand("layer", "prune one linear layer stored as .npy (as prune_layer)");
  layer_command->footer(layer_description);
  add_layer_options(*layer_command, layer);

  // `pollard help` is `pollard --help`.
  std::vector<char*> args(argv, argv + argc);
  std::string help_flag = "--help";
  if (argc == 2 && std::strcmp(argv[1], "help") == 0) args[1] = help_flag.data();

  const error_style style{"pollard: error: ", [&app] {
                            const auto chosen = app.get_subcommands();
                            return " (see 'pollard " +
                                   (chosen.empty() ? std::string() : chosen[0]->get_name() + " ") +
                                   "--help')";
                          }};
  return run_tool(app, static_cast<int>(args.size()), args.data(), style, [&]() -> int {
#if POLLARD_HAS_LLM
    if (*info_command) return run_info(info);
    if (*generate_command) return run_generate(generate);
    if (*eval_command) return run_eval(eval);
    if (*compare_command) return run_compare(compare);
    if (*tasks_command) return run_tasks(tasks);
    if (*convert_command) return run_convert(convert);
    if (*export_command) return run_export(export_);
    if (*capture_command) return run_capture(capture);
    if (*prune_command) return run_prune(prune);
#endif
    if (*layer_command) return run_layer(layer, "pollard");
    std::fputs(app.help().c_str(), stdout);
    return 0;
  });
}

// pollard — the command-line tool: inspect a checkpoint, generate text, measure perplexity,
// compare a pruned model with its dense original, prune one layer.
//
//   pollard info MODEL                     pollard eval MODEL --text FILE
//   pollard generate MODEL [--prompt T]    pollard compare BASE OTHER --text FILE
//   pollard layer [prune_layer options]
//
// Every error is one line on stderr ("pollard: error: ...") with a non-zero exit status (2 for a
// command-line mistake, 1 otherwise); output files are written whole or not at all.
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <span>
#include <string>

#ifdef PCRE2_CODE_UNIT_WIDTH  // defined by pollard::llm, which the subcommands need
#include "cli/arguments.hpp"
#include "cli/compare.hpp"
#include "cli/convert.hpp"
#include "cli/eval.hpp"
#include "cli/generate.hpp"
#include "cli/info.hpp"
#include "cli/layer.hpp"
#include "cli/prune.hpp"
#include "cli/tasks.hpp"
#define POLLARD_CLI_HAVE_LLM 1
#endif

namespace {

const char* const help =
    "usage: pollard COMMAND [options]    (pollard COMMAND --help for each)\n"
    "\n"
    "  info MODEL                     format, architecture, tensors, parameters, tokenizer\n"
    "  generate MODEL [--prompt T]    continue a prompt (greedy by default, or sampled)\n"
    "  eval MODEL --text FILE         perplexity ± standard error over non-overlapping windows\n"
    "  compare BASE OTHER --text FILE divergence of OTHER from BASE per token (JS, KL, top-1,\n"
    "          [--instructions FILE]  delta-p, percentiles), on corpus windows or instructions\n"
    "  tasks MODEL --instructions F   greedy answers scored by exact match, token F1, ROUGE-1\n"
    "  convert MODEL OUT [--type T]   write MODEL back in its format with float tensors\n"
    "  prune MODEL OUT [options]      prune every linear block by block on calibration data\n"
    "  layer [options]                prune one linear layer stored as .npy (runs prune_layer)\n"
    "\n"
    "MODEL is a GGUF file (Llama architecture) or a llama2.c checkpoint (its tokenizer beside "
    "it).\n"
    "Errors are one line on stderr and a non-zero exit status; output files are written through\n"
    "a temporary and renamed, so they are whole or absent.\n";

/// The message on one line.
std::string one_line(const char* what) {
  std::string s = what;
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

int fail(const std::string& message, int status) {
  std::fprintf(stderr, "pollard: error: %s\n", message.c_str());
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    std::fputs(help, stdout);
    return 0;
  }
  const std::string command = argv[1];
  const std::span<char* const> args(argv + 2, static_cast<std::size_t>(argc - 2));
#ifdef POLLARD_CLI_HAVE_LLM
  using namespace pollard::cli;
  try {
    if (command == "info") return run_info(args);
    if (command == "generate") return run_generate(args);
    if (command == "eval") return run_eval(args);
    if (command == "compare") return run_compare(args);
    if (command == "tasks") return run_tasks(args);
    if (command == "convert") return run_convert(args);
    if (command == "prune") return run_prune(args);
    if (command == "layer") return run_layer(argv[0], args);
    throw usage_error("unknown command '" + command + "'");
  } catch (const usage_error& e) {
    const bool known = command == "info" || command == "generate" || command == "eval" ||
                       command == "compare" || command == "tasks" || command == "prune";
    return fail(one_line(e.what()) + " (see 'pollard " + (known ? command + " " : "") + "--help')",
                2);
  } catch (const std::bad_alloc&) {
    return fail("out of memory", 1);
  } catch (const std::exception& e) {
    return fail(one_line(e.what()), 1);
  }
#else
  (void)args;
  return fail("'" + command + "' needs the LLM layer (zlib and PCRE2), which this build lacks", 1);
#endif
}

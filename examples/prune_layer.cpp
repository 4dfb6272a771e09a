// prune_layer — prunes one linear layer stored as .npy files, for unit-level pruning research
// (the same command as `pollard layer`; `prune_layer --help` lists the options).
//
//   prune_layer --weights W.npy [--activations X.npy] [--hessian H.npy]
//               --method magnitude|wanda|ria|sparsegpt [--sparsity S | --n-m N:M]
//               [--group row|matrix|block:B] [--dsnot] [--reconstruct] [--ria-exponent A]
//               [--percdamp P] [--dtype f16|f32|f64] [--sequences N] [--threads N]
//               --out W_pruned.npy [--mask-out mask.npy]
#include "cli/command_line.hpp"
#include "cli/layer.hpp"
#include "cli/passive_openmp_wait.hpp"

int main(int argc, char** argv) {
  using namespace pollard::cli;
  restart_with_passive_openmp_wait(argv);
  CLI::App app(layer_description, "prune_layer");
  configure(app);
  layer_options options;
  add_layer_options(app, options);
  return run_tool(app, argc, argv, {"prune_layer: ", [] { return std::string(" (see --help)"); }},
                  [&] { return run_layer(options, "prune_layer"); });
}

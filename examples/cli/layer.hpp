// pollard CLI — `pollard layer`: the layer-level tool, run as the prune_layer executable built
// beside pollard.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "pollard/core/error.hpp"

namespace pollard::cli {

inline const char* const layer_help =
    "usage: pollard layer [prune_layer options]\n"
    "\n"
    "Prunes one linear layer stored as .npy files (weights, activations or Hessian). This runs\n"
    "the prune_layer executable found in the same folder as pollard, with the arguments passed\n"
    "through unchanged; its exit status is pollard's. prune_layer's own help follows.\n"
    "\n";

namespace detail {

/// The folder of the running executable (/proc/self/exe, else argv[0]).
inline std::filesystem::path own_folder(const char* argv0) {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) return self.parent_path();
  return std::filesystem::absolute(std::filesystem::path(argv0)).parent_path();
}

}  // namespace detail

/// Replaces this process with prune_layer; returns only by throwing.
inline int run_layer(const char* argv0, std::span<char* const> args) {
  bool help = false;
  for (const char* a : args)
    help = help || std::strcmp(a, "--help") == 0 || std::strcmp(a, "-h") == 0;
  const auto tool = detail::own_folder(argv0) / "prune_layer";
  if (!std::filesystem::is_regular_file(tool))
    throw io_error("'pollard layer' runs prune_layer, which is not beside pollard (looked for " +
                   tool.string() + "); build the prune_layer example");
  if (help) {
    std::fputs(layer_help, stdout);
    std::fflush(stdout);
  }
  std::vector<char*> argv;
  std::string name = "prune_layer";
  argv.push_back(name.data());
  for (char* a : args) argv.push_back(a);
  argv.push_back(nullptr);
  std::fflush(nullptr);
  ::execv(tool.c_str(), argv.data());
  throw io_error("cannot run " + tool.string() + ": " + std::strerror(errno));
}

}  // namespace pollard::cli

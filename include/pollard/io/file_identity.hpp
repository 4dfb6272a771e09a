// pollard — whether two paths name the same file, and the check that a command's outputs name
// neither one of its inputs nor each other.
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <span>
#include <string>
#include <system_error>

#include "pollard/core/error.hpp"

namespace pollard::io {

/// Whether `a` and `b` name the same file. When both exist: the same device and inode (the same
/// file through symbolic links, hard links or different spellings). Otherwise: the same path once
/// every symbolic link in its existing part is resolved (a file about to be created, named
/// through a linked folder).
inline bool same_file(const std::filesystem::path& a, const std::filesystem::path& b) {
  struct stat sa {};
  struct stat sb {};
  if (::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0)
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  std::error_code ea, eb;
  const auto ca = std::filesystem::weakly_canonical(std::filesystem::absolute(a), ea);
  const auto cb = std::filesystem::weakly_canonical(std::filesystem::absolute(b), eb);
  if (ea || eb)
    return std::filesystem::absolute(a).lexically_normal() ==
           std::filesystem::absolute(b).lexically_normal();
  return ca == cb;
}

/// A path a command reads or writes, with the name the user gave it (an option or argument).
struct named_path {
  std::string name;
  std::filesystem::path path;
};

/// Throws option_error, naming both, when an output is the same file as an input (writing it
/// would destroy what is being read) or as another output (one would replace the other). Empty
/// paths (options not given) are skipped.
inline void check_distinct_outputs(std::span<const named_path> inputs,
                                   std::span<const named_path> outputs) {
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    const auto& out = outputs[o];
    if (out.path.empty()) continue;
    for (const auto& in : inputs)
      if (!in.path.empty() && same_file(out.path, in.path))
        throw option_error(out.name + " " + out.path.string() + " is the same file as " + in.name +
                           " " + in.path.string() + ": an output may not replace an input");
    for (std::size_t p = 0; p < o; ++p)
      if (!outputs[p].path.empty() && same_file(out.path, outputs[p].path))
        throw option_error(out.name + " " + out.path.string() + " is the same file as " +
                           outputs[p].name + " " + outputs[p].path.string() +
                           ": two outputs may not share a file");
  }
}

}  // namespace pollard::io

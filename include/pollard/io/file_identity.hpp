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

/// The path a write to `p` lands on: symbolic links followed, also when the last one dangles
/// (a link to a file not created yet), then every link in the existing part resolved. At most 40
/// links are followed, as the kernel does.
inline std::filesystem::path written_path(const std::filesystem::path& p) {
  namespace fs = std::filesystem;
  fs::path at = fs::absolute(p);
  for (int hop = 0; hop < 40; ++hop) {
    std::error_code ec;
    if (!fs::is_symlink(fs::symlink_status(at, ec)) || ec) break;
    const fs::path target = fs::read_symlink(at, ec);
    if (ec) break;
    at = target.is_absolute() ? target : at.parent_path() / target;
  }
  std::error_code ec;
  const fs::path resolved = fs::weakly_canonical(at, ec);
  return ec ? at.lexically_normal() : resolved;
}

/// Whether `a` and `b` name the same file. When both exist: the same device and inode (the same
/// file through symbolic links, hard links or different spellings). Otherwise: the same
/// written_path (a file about to be created, named directly, through a linked folder or through
/// a link that does not resolve yet).
inline bool same_file(const std::filesystem::path& a, const std::filesystem::path& b) {
  struct stat sa {};
  struct stat sb {};
  if (::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0)
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  return written_path(a) == written_path(b);
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

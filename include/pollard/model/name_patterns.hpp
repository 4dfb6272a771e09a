// pollard — shell-style patterns over linear names ("blk.*.ffn_*"), for choosing which linears
// a recipe prunes and which sparsity a table gives them.
#pragma once

#include <fnmatch.h>

#include <string>
#include <vector>

namespace pollard::model {

/// Whether `name` matches the shell pattern (POSIX fnmatch: `*`, `?`, `[...]`; `*` also matches
/// dots, so "blk.*.attn_q" selects the query projection of every block).
inline bool name_matches(const std::string& pattern, const std::string& name) {
  return ::fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

/// Linears to prune: those matching any `include` pattern and no `exclude` pattern. An empty
/// include list means every linear the model offers.
struct name_filter {
  std::vector<std::string> include;
  std::vector<std::string> exclude;

  bool selects(const std::string& name) const {
    bool in = include.empty();
    for (const auto& p : include) in = in || name_matches(p, name);
    if (!in) return false;
    for (const auto& p : exclude)
      if (name_matches(p, name)) return false;
    return true;
  }
};

}  // namespace pollard::model

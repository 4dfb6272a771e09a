// Test support: locating the real data folder (POLLARD_DATA_DIR) and skipping cleanly without it.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

namespace pollard::test {

/// The file `relative` inside POLLARD_DATA_DIR, or nothing (with the reason printed) when absent.
/// Tests that need real data live in files of their own: CTest marks the executable skipped
/// when it prints "SKIPPED:".
inline std::optional<std::filesystem::path> data_file(const std::string& relative) {
  const char* root = std::getenv("POLLARD_DATA_DIR");
  if (root == nullptr || *root == '\0') {
    std::printf("SKIPPED: POLLARD_DATA_DIR is not set, so %s cannot be found\n", relative.c_str());
    return std::nullopt;
  }
  std::filesystem::path path = std::filesystem::path(root) / relative;
  if (!std::filesystem::exists(path)) {
    std::printf("SKIPPED: %s does not exist\n", path.string().c_str());
    return std::nullopt;
  }
  return path;
}

}  // namespace pollard::test

// Test support: locating the SmolLM2-135M-Instruct Q4_1 GGUF that cmake/fetch_smollm2.sh caches.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

namespace pollard::test {

/// Where fetch_smollm2.sh puts the model: $POLLARD_MODEL_CACHE, else
/// ${XDG_CACHE_HOME:-$HOME/.cache}/pollard, file SmolLM2-135M-Instruct.Q4_1.gguf.
inline std::filesystem::path smollm2_default_path() {
  std::filesystem::path cache;
  if (const char* c = std::getenv("POLLARD_MODEL_CACHE"); c != nullptr && *c != '\0') {
    cache = c;
  } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x != '\0') {
    cache = std::filesystem::path(x) / "pollard";
  } else if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') {
    cache = std::filesystem::path(h) / ".cache" / "pollard";
  } else {
    return {};
  }
  return cache / "SmolLM2-135M-Instruct.Q4_1.gguf";
}

/// The SmolLM2 GGUF ($POLLARD_SMOLLM2_GGUF, else the cache path), or nothing with "SKIPPED: ..."
/// printed, so CTest marks the test skipped. Tests that need it live in files of their own.
inline std::optional<std::filesystem::path> smollm2_gguf() {
  std::filesystem::path path;
  if (const char* p = std::getenv("POLLARD_SMOLLM2_GGUF"); p != nullptr && *p != '\0')
    path = p;
  else
    path = smollm2_default_path();
  if (path.empty() || !std::filesystem::is_regular_file(path)) {
    std::printf(
        "SKIPPED: the SmolLM2 GGUF is not at '%s' (run cmake/fetch_smollm2.sh, or set "
        "POLLARD_SMOLLM2_GGUF)\n",
        path.string().c_str());
    return std::nullopt;
  }
  return path;
}

}  // namespace pollard::test

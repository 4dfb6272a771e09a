// Format detection of open_model: a .gguf that is empty or lacks the magic is reported as a GGUF
// without its magic, not as a truncated llama2.c checkpoint.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "pollard/llm/model_file.hpp"

namespace fs = std::filesystem;

TEST_CASE("an empty .gguf or one without the magic says that the GGUF magic is missing") {
  const auto dir = fs::temp_directory_path() / "pollard-model-file-format-test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto empty = dir / "empty.gguf";
  std::ofstream(empty, std::ios::binary).close();
  CHECK_THROWS_WITH_AS(pollard::llm::open_model(empty),
                       doctest::Contains("the 4-byte magic \"GGUF\" is missing (the file has 0 "
                                         "bytes)"),
                       pollard::format_error);
  const auto wrong = dir / "wrong.gguf";
  std::ofstream(wrong, std::ios::binary) << std::string(64, 'x');
  CHECK_THROWS_WITH_AS(pollard::llm::open_model(wrong),
                       doctest::Contains("the magic \"GGUF\" is missing"), pollard::format_error);
}

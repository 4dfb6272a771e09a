#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "pollard/io/safetensors.hpp"

namespace io = pollard::io;

static const std::filesystem::path fixtures =
    std::filesystem::path(__FILE__).parent_path() / "fixtures" / "safetensors";

TEST_CASE("safetensors reads a file written by the reference implementation") {
  io::safetensors_file f(fixtures / "reference.safetensors");
  CHECK(f.metadata().at("format") == "pt");
  const auto e = f.read_float("model.embed_tokens.weight");
  CHECK(f.at("model.embed_tokens.weight").shape == std::vector<std::uint64_t>{3, 4});
  for (int k = 0; k < 12; ++k)
    CHECK(e[static_cast<std::size_t>(k)] == static_cast<float>(k) / 8 - 0.5f);
  const auto q = f.read_float("model.layers.0.self_attn.q_proj.weight");
  CHECK(f.at("model.layers.0.self_attn.q_proj.weight").dtype == pollard::dtype::f16);
  for (int k = 0; k < 8; ++k)
    CHECK(q[static_cast<std::size_t>(k)] == static_cast<float>(k) / 4 - 1);
  const auto n = f.read_float("model.norm.weight");
  CHECK(n.front() == -1.0f);
  CHECK(n[2] == 0.0f);
  CHECK(f.at("scalar").shape.empty());
  CHECK(f.read_float("scalar") == std::vector<float>{3.25f});
}

TEST_CASE("the reference implementation reads a file written by pollard") {
  const auto path =
      std::filesystem::temp_directory_path() / "pollard-safetensors-check.safetensors";
  const std::vector<float> w = {-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f};
  const std::vector<float> h = {0.5f, -1.0f};
  io::write_safetensors(path,
                        {{"w", pollard::dtype::f32, {2, 3}, w}, {"h", pollard::dtype::f16, {2}, h}},
                        {{"format", "pt"}, {"source", "pollard"}});
  const std::string command = "python3 " + (fixtures / "check_written.py").string() + " " +
                              path.string() + " > /dev/null 2>&1";
  const int status = std::system(command.c_str());
  std::filesystem::remove(path);
  if (WEXITSTATUS(status) == 3) {
    MESSAGE("python3 with safetensors and numpy is not available: cross-check not run");
    return;
  }
  CHECK(WEXITSTATUS(status) == 0);
}

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "pollard/io/safetensors.hpp"

namespace io = pollard::io;

namespace {

// A safetensors file assembled by hand from a header string and raw data bytes.
std::vector<std::byte> assemble(const std::string& header, std::size_t data_bytes,
                                std::uint64_t claimed_header_size = 0) {
  std::vector<std::byte> out(8 + header.size() + data_bytes);
  const std::uint64_t n = claimed_header_size ? claimed_header_size : header.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  for (std::size_t k = 0; k < data_bytes; ++k)
    out[8 + header.size() + k] = static_cast<std::byte>(k);
  return out;
}

}  // namespace

TEST_CASE("safetensors reads a hand-assembled file: dtypes, shapes, offsets, metadata") {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},)"
      R"("a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}})";
  auto bytes = assemble(header, 12);
  const float a[2] = {1.5f, -2.0f};
  std::memcpy(bytes.data() + 8 + header.size(), a, 8);
  const std::uint16_t b[2] = {0x3c00, 0xc000};  // 1.0, -2.0 in binary16
  std::memcpy(bytes.data() + 8 + header.size() + 8, b, 4);
  io::safetensors_file f(bytes, "hand.safetensors");
  CHECK(f.metadata().at("format") == "pt");
  REQUIRE(f.tensors().size() == 2);
  CHECK(f.at("a").shape == std::vector<std::uint64_t>{1, 2});
  CHECK(f.read_float("a") == std::vector<float>{1.5f, -2.0f});
  CHECK(f.read_float("b") == std::vector<float>{1.0f, -2.0f});
  CHECK_THROWS_WITH_AS(f.at("c"), "hand.safetensors: no tensor named 'c'", pollard::format_error);
}

TEST_CASE("safetensors rejects hostile headers before touching data") {
  const auto t = [](const std::string& body, std::size_t data) { return assemble(body, data); };
  CHECK_THROWS_WITH_AS(io::safetensors_file(assemble("{}", 0, 1ull << 40), "x"),
                       "x: header length 1099511627776 exceeds the format's limit (at byte 8)",
                       pollard::format_error);
  CHECK_THROWS_AS(io::safetensors_file(assemble("{}", 0, 50), "x"), pollard::format_error);
  CHECK_THROWS_WITH_AS(
      io::safetensors_file(t(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", 8), "x"),
      "x: tensor 'a' data_offsets [0, 16) fall outside the 8 bytes of data", pollard::format_error);
  CHECK_THROWS_WITH_AS(
      io::safetensors_file(t(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8), "x"),
      "x: tensor 'a' holds 8 bytes but its shape and dtype need 12", pollard::format_error);
  CHECK_THROWS_WITH_AS(
      io::safetensors_file(t(R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8), "x"),
      "x: tensor 'a': unsupported dtype 'Q4'", pollard::format_error);
  CHECK_THROWS_AS(io::safetensors_file(t(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                         R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                         8),
                                       "x"),
                  pollard::format_error);  // overlap
  CHECK_THROWS_WITH_AS(
      io::safetensors_file(t(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8), "x"),
      "x: 4 bytes of data belong to no tensor", pollard::format_error);
  CHECK_THROWS_AS(
      io::safetensors_file(
          t(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", 8),
          "x"),
      pollard::format_error);  // element count overflows
  CHECK_THROWS_AS(
      io::safetensors_file(t(R"({"a":{"dtype":"I8","shape":[8],"data_offsets":[0,8]}})", 8), "x")
          .read_float("a"),
      pollard::format_error);
}

TEST_CASE("safetensors written by pollard reads back with the same values, dtypes and metadata") {
  const auto path = std::filesystem::temp_directory_path() / "pollard-safetensors-test.safetensors";
  const std::vector<float> w = {0.5f, -1.25f, 3.0f, 1e-3f, 0.0f, 7.0f};
  const std::vector<float> n = {1.0f, 2.0f};
  io::write_safetensors(path,
                        {{"model.layers.0.mlp.down_proj.weight", pollard::dtype::f32, {2, 3}, w},
                         {"model.norm.weight", pollard::dtype::bf16, {2}, n},
                         {"h", pollard::dtype::f16, {3, 2}, w}},
                        {{"format", "pt"}, {"note", "quote\" and \\ and \n"}});
  io::safetensors_file f(path);
  CHECK(f.metadata().at("note") == "quote\" and \\ and \n");
  CHECK(f.read_float("model.layers.0.mlp.down_proj.weight") == w);
  CHECK(f.at("model.norm.weight").dtype == pollard::dtype::bf16);
  CHECK(f.read_float("model.norm.weight") == n);
  const auto h = f.read_float("h");
  for (std::size_t k = 0; k < w.size(); ++k) CHECK(h[k] == static_cast<float>(pollard::half(w[k])));
  CHECK(f.at("h").shape == std::vector<std::uint64_t>{3, 2});
  std::filesystem::remove(path);
  CHECK_THROWS_AS(io::write_safetensors(path, {{"bad", pollard::dtype::f32, {4}, w}}),
                  pollard::shape_error);
  CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("writing F16 or BF16 refuses a value beyond the type's range, naming the tensor") {
  const auto dir = std::filesystem::temp_directory_path() / "pollard-safetensors-overflow-test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::vector<float> w{1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 7e4f};
  const auto path = dir / "o.safetensors";
  CHECK_THROWS_WITH_AS(
      io::write_safetensors(path, {{"w", pollard::dtype::f16, {2, 3}, w}}),
      "write_safetensors: float32 value 70000 of tensor 'w' at (1, 2) overflows float16 (largest "
      "finite 65504)",
      pollard::narrowing_error);
  CHECK_FALSE(std::filesystem::exists(path));
  std::vector<io::safetensors_output> saturated{{"w", pollard::dtype::f16, {2, 3}, w}};
  saturated[0].on_overflow = pollard::overflow::saturate;
  io::write_safetensors(path, saturated);
  const io::safetensors_file f(path);
  CHECK(f.read_float("w").back() == 65504.0f);
}

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>

#include "pollard/io/atomic_file.hpp"
#include "pollard/io/byte_reader.hpp"
#include "pollard/io/mapped_file.hpp"

using pollard::io::byte_reader;

TEST_CASE("byte_reader reads little-endian values and refuses to read past the end") {
  const std::array<std::byte, 7> bytes{std::byte{0x01}, std::byte{0x02}, std::byte{0x03},
                                       std::byte{0x04}, std::byte{'a'},  std::byte{'b'},
                                       std::byte{0xff}};
  byte_reader r(bytes, "sample.bin");
  CHECK(r.read<std::uint32_t>("magic") == 0x04030201u);
  CHECK(r.read_string(2, "name") == "ab");
  CHECK(r.remaining() == 1);
  CHECK_THROWS_WITH_AS(
      r.read<std::uint16_t>("count"),
      "sample.bin: count needs 2 bytes but only 1 remain (truncated file?) (at byte 6)",
      pollard::format_error);
  CHECK(r.offset() == 6);  // a failed read consumes nothing
  CHECK_THROWS_AS(r.seek(8, "tensor data"), pollard::format_error);
}

TEST_CASE("checked arithmetic rejects sizes that overflow") {
  CHECK(pollard::io::checked_multiply(1u << 20, 1u << 20, "x") == (std::size_t{1} << 40));
  CHECK_THROWS_AS(pollard::io::checked_multiply(SIZE_MAX / 2, 3, "tensor"), pollard::format_error);
  CHECK_THROWS_AS(pollard::io::checked_add(SIZE_MAX, 1, "offset"), pollard::format_error);
}

TEST_CASE("atomic_file leaves no file behind unless committed, and mapped_file reads it back") {
  const auto dir = std::filesystem::temp_directory_path() / "pollard-atomic-file-test";
  std::filesystem::create_directories(dir);
  const auto path = dir / "out.bin";
  std::filesystem::remove(path);
  {
    pollard::io::atomic_file f(path);
    f.write("abc", 3);
  }
  CHECK_FALSE(std::filesystem::exists(path));
  CHECK(std::distance(std::filesystem::directory_iterator(dir), {}) == 0);
  {
    pollard::io::atomic_file f(path);
    f.write("abcd", 4);
    f.commit();
  }
  pollard::io::mapped_file m(path);
  REQUIRE(m.bytes().size() == 4);
  CHECK(static_cast<char>(m.bytes()[3]) == 'd');
  CHECK_THROWS_AS(pollard::io::mapped_file(dir / "missing.bin"), pollard::io_error);
  std::filesystem::remove_all(dir);
}

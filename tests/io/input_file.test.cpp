#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "pollard/io/input_file.hpp"
#include "pollard/io/mapped_file.hpp"

namespace {
namespace fs = std::filesystem;

/// A fresh folder under the temporary folder, removed with the object.
struct scratch_folder {
  fs::path path = fs::temp_directory_path() / ("pollard-input-file-" + std::to_string(::getpid()));
  scratch_folder() {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~scratch_folder() { fs::remove_all(path); }
};
}  // namespace

TEST_CASE("a FIFO, a device or a folder is refused before anything is read, naming it") {
  const scratch_folder scratch;
  const fs::path fifo = scratch.path / "pipe";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // Without O_NONBLOCK the open would wait for a writer that never comes.
  CHECK_THROWS_WITH_AS(
      pollard::io::require_regular_file(fifo),
      ("cannot read " + fifo.string() + ": it is a FIFO (named pipe), not a regular file").c_str(),
      pollard::io_error);
  CHECK_THROWS_WITH_AS(pollard::io::mapped_file{fifo},
                       doctest::Contains("it is a FIFO (named pipe)"), pollard::io_error);
  // /dev/zero would never end.
  CHECK_THROWS_WITH_AS(pollard::io::require_regular_file("/dev/zero"),
                       "cannot read /dev/zero: it is a character device, not a regular file",
                       pollard::io_error);
  CHECK_THROWS_WITH_AS(
      pollard::io::require_regular_file(scratch.path),
      ("cannot read " + scratch.path.string() + ": it is a folder, not a regular file").c_str(),
      pollard::io_error);
  // A missing file: the reason, as the system gives it.
  CHECK_THROWS_WITH_AS(
      pollard::io::require_regular_file(scratch.path / "missing"),
      ("cannot open " + (scratch.path / "missing").string() + ": No such file or directory")
          .c_str(),
      pollard::io_error);
}

TEST_CASE("a regular file opens for blocking reads, also through a link") {
  const scratch_folder scratch;
  const fs::path file = scratch.path / "data.bin", link = scratch.path / "link.bin";
  std::ofstream(file, std::ios::binary) << "abc";
  fs::create_symlink(file, link);
  for (const auto& p : {file, link}) {
    const int fd = pollard::io::open_regular_file(p);
    char bytes[4] = {};
    CHECK(::read(fd, bytes, sizeof bytes) == 3);
    CHECK(std::string(bytes) == "abc");
    CHECK((::fcntl(fd, F_GETFL) & O_NONBLOCK) == 0);
    ::close(fd);
  }
  CHECK(pollard::io::mapped_file(link).bytes().size() == 3);
}

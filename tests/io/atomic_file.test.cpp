// Tests for io/atomic_file.hpp: unique temporaries, nothing half-written, and no temporary left
// by an exception, std::exit, SIGINT or SIGTERM.
#include <doctest/doctest.h>

#include <sys/resource.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "pollard/io/atomic_file.hpp"

namespace {

namespace fs = std::filesystem;

/// A fresh, empty folder for one test case.
fs::path fresh_folder(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() /
                       ("pollard-atomic-file-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  return out;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

/// Runs `body` in a child process and returns its wait status.
template <class Body>
int in_child(Body body) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    body();
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return status;
}

}  // namespace

TEST_CASE("two atomic_files for one path write through different temporaries") {
  const fs::path dir = fresh_folder("unique");
  const fs::path path = dir / "out.json";
  std::optional<pollard::io::atomic_file> a(std::in_place, path), b(std::in_place, path);
  CHECK(a->temporary() != b->temporary());
  CHECK(a->temporary().parent_path() == dir);  // beside the target: rename stays on one disk
  a->write("first", 5);
  b->write("second", 6);
  b->commit();
  b.reset();
  CHECK(slurp(path) == "second");
  a.reset();  // abandoned: its temporary goes, the committed file stays
  CHECK(names_in(dir) == std::vector<std::string>{"out.json"});
  CHECK(slurp(path) == "second");
  fs::remove_all(dir);
}

TEST_CASE("an abandoned atomic_file leaves the old file as it was and no temporary") {
  const fs::path dir = fresh_folder("abandon");
  const fs::path path = dir / "out.bin";
  std::ofstream(path) << "old content";
  try {
    pollard::io::atomic_file f(path);
    f.write(std::string(3 << 20, 'x').data(), 3 << 20);  // past the buffer: bytes on disk
    throw std::runtime_error("failure half-way");
  } catch (const std::runtime_error&) {
  }
  CHECK(slurp(path) == "old content");
  CHECK(names_in(dir) == std::vector<std::string>{"out.bin"});
  fs::remove_all(dir);
}

TEST_CASE("commit writes every byte, in order, across the buffer boundary") {
  const fs::path dir = fresh_folder("commit");
  const fs::path path = dir / "out.bin";
  std::string expected;
  {
    pollard::io::atomic_file f(path);
    for (int k = 0; k < 5; ++k) {
      const std::string piece(static_cast<std::size_t>(k) * 700000 + 1, static_cast<char>('a' + k));
      f.write(piece.data(), piece.size());
      expected += piece;
    }
    CHECK(f.position() == expected.size());
    f.commit();
  }
  CHECK(slurp(path) == expected);
  CHECK(names_in(dir).size() == 1);
  fs::remove_all(dir);
}

TEST_CASE("a temporary cannot be created in a missing folder: io_error naming it") {
  const fs::path dir = fresh_folder("missing");
  try {
    pollard::io::atomic_file f(dir / "no" / "out.bin");
    FAIL("no io_error");
  } catch (const pollard::io_error& e) {
    CHECK(std::string(e.what()).find((dir / "no").string()) != std::string::npos);
  }
  fs::remove_all(dir);
}

TEST_CASE("terminating signals remove the temporaries and still end the process as signalled") {
  for (const int signal_number : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT, SIGXFSZ, SIGALRM}) {
    CAPTURE(signal_number);
    const fs::path dir = fresh_folder("signal");
    const int status = in_child([&] {
      const rlimit no_core{0, 0};  // SIGQUIT and SIGXFSZ would dump core
      ::setrlimit(RLIMIT_CORE, &no_core);
      // As a program starts (the test runner has its own handlers, which a child inherits).
      std::signal(signal_number, SIG_DFL);
      pollard::io::remove_temporaries_on_signal();
      pollard::io::atomic_file a(dir / "a.bin"), b(dir / "b.bin");
      a.write("partial", 7);
      b.write(std::string(2 << 20, 'y').data(), 2 << 20);
      ::raise(signal_number);
      ::_exit(3);  // not reached: the default action ends the process
    });
    CHECK(WIFSIGNALED(status));
    if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == signal_number);
    CHECK(names_in(dir).empty());
    fs::remove_all(dir);
  }
}

TEST_CASE("std::exit in the middle of a write removes the temporary") {
  const fs::path dir = fresh_folder("exit");
  const int status = in_child([&] {
    pollard::io::remove_temporaries_on_signal();
    pollard::io::atomic_file a(dir / "a.bin");
    a.write("partial", 7);
    std::exit(3);
  });
  CHECK(WIFEXITED(status));
  if (WIFEXITED(status)) CHECK(WEXITSTATUS(status) == 3);
  CHECK(names_in(dir).empty());
  fs::remove_all(dir);
}

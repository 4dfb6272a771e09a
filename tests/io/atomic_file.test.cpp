// Tests for io/atomic_file.hpp: unique temporaries, nothing half-written, and no temporary left
// by an exception, std::exit, SIGINT or SIGTERM.
#include <doctest/doctest.h>

#include <sys/resource.h>
#include <sys/stat.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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

TEST_CASE("an atomic_file_set renames all its files or none, and puts replaced files back") {
  const fs::path dir = fresh_folder("set");
  std::ofstream(dir / "old.bin") << "old content";
  SUBCASE("committed: every file in place, no temporary") {
    {
      pollard::io::atomic_file_set set;
      pollard::io::atomic_file a(dir / "old.bin"), b(dir / "new.bin");
      a.write("A", 1);
      b.write("B", 1);
      a.commit();  // handed to the set: nothing renamed yet
      b.commit();
      CHECK(slurp(dir / "old.bin") == "old content");
      CHECK(!fs::exists(dir / "new.bin"));
      CHECK(slurp(set.pending(dir / "new.bin")) == "B");
      set.commit();
    }
    CHECK(slurp(dir / "old.bin") == "A");
    CHECK(slurp(dir / "new.bin") == "B");
    CHECK(names_in(dir).size() == 2);
  }
  SUBCASE("the last rename fails: the first file is restored, the new one absent") {
    fs::create_directories(dir / "folder" / "inside");  // a file cannot be renamed over it
    {
      pollard::io::atomic_file_set set;
      pollard::io::atomic_file a(dir / "old.bin"), b(dir / "new.bin"), c(dir / "folder");
      a.write("A", 1);
      b.write("B", 1);
      c.write("C", 1);
      a.commit();
      b.commit();
      c.commit();
      CHECK_THROWS_AS(set.commit(), pollard::io_error);
    }
    CHECK(slurp(dir / "old.bin") == "old content");
    CHECK(!fs::exists(dir / "new.bin"));
    std::vector<std::string> names = names_in(dir);
    std::sort(names.begin(), names.end());
    CHECK(names == std::vector<std::string>{"folder", "old.bin"});
  }
  SUBCASE("abandoned: no temporary, no created folder, the old file as it was") {
    {
      pollard::io::atomic_file_set set;
      set.create_folder(dir / "made" / "deeper");
      pollard::io::atomic_file a(dir / "old.bin"), b(dir / "made" / "deeper" / "x.bin");
      a.write("A", 1);
      a.commit();
      b.write("B", 1);
      b.commit();
    }
    CHECK(slurp(dir / "old.bin") == "old content");
    CHECK(names_in(dir) == std::vector<std::string>{"old.bin"});
  }
  fs::remove_all(dir);
}

TEST_CASE("a file removed on commit goes with the renames, and comes back when they fail") {
  const fs::path dir = fresh_folder("remove");
  std::ofstream(dir / "stale.json") << "stale";
  SUBCASE("committed: the new file in place, the stale one gone, nothing else left") {
    {
      pollard::io::atomic_file_set set;
      pollard::io::atomic_file a(dir / "new.bin");
      a.write("A", 1);
      a.commit();
      set.remove_on_commit(dir / "stale.json");
      CHECK(slurp(dir / "stale.json") == "stale");  // nothing happens before the commit
      set.commit();
    }
    CHECK(names_in(dir) == std::vector<std::string>{"new.bin"});
  }
  SUBCASE("a later rename fails: the removed file is back with its content") {
    fs::create_directories(dir / "folder" / "inside");
    {
      pollard::io::atomic_file_set set;
      set.remove_on_commit(dir / "stale.json");
      pollard::io::atomic_file c(dir / "folder");
      c.write("C", 1);
      c.commit();
      CHECK_THROWS_AS(set.commit(), pollard::io_error);
    }
    CHECK(slurp(dir / "stale.json") == "stale");
    std::vector<std::string> names = names_in(dir);
    std::sort(names.begin(), names.end());
    CHECK(names == std::vector<std::string>{"folder", "stale.json"});
  }
  SUBCASE("abandoned: the file stays") {
    {
      pollard::io::atomic_file_set set;
      set.remove_on_commit(dir / "stale.json");
    }
    CHECK(names_in(dir) == std::vector<std::string>{"stale.json"});
  }
  SUBCASE("a file already gone is no error") {
    pollard::io::atomic_file_set set;
    set.remove_on_commit(dir / "absent.json");
    set.commit();
    CHECK(names_in(dir) == std::vector<std::string>{"stale.json"});
  }
  fs::remove_all(dir);
}

TEST_CASE("an output named through a symbolic link replaces the link's target, as cp does") {
  const fs::path dir = fresh_folder("link");
  fs::create_directories(dir / "real");
  std::ofstream(dir / "real" / "target.bin") << "old";
  fs::create_symlink("real/target.bin", dir / "link.bin");  // relative to the link's folder
  CHECK(pollard::io::write_target(dir / "link.bin") == dir / "real" / "target.bin");
  {
    pollard::io::atomic_file f(dir / "link.bin");
    CHECK(f.temporary().parent_path() == dir / "real");  // beside the target: one disk
    f.write("new", 3);
    f.commit();
  }
  CHECK(fs::is_symlink(dir / "link.bin"));
  CHECK(slurp(dir / "real" / "target.bin") == "new");
  CHECK(names_in(dir / "real") == std::vector<std::string>{"target.bin"});
  fs::remove_all(dir);
}

TEST_CASE("check_output_location names the output whose folder is missing or not writable") {
  const fs::path dir = fresh_folder("location");
  const auto message = [](const fs::path& p) -> std::string {
    try {
      pollard::io::check_output_location("--json", p);
    } catch (const pollard::io_error& e) {
      return e.what();
    }
    return "";
  };
  CHECK(message(dir / "ok.json").empty());
  CHECK(message(dir / "x" / "y.json") ==
        "--json: output folder of '" + (dir / "x" / "y.json").string() + "' does not exist");
  CHECK(message(dir) == "--json: output '" + dir.string() + "' is a folder, not a file");
  if (::geteuid() != 0) {  // root writes anywhere
    fs::create_directories(dir / "locked");
    fs::permissions(dir / "locked", fs::perms::owner_read | fs::perms::owner_exec);
    CHECK(message(dir / "locked" / "y.json").find("is not writable") != std::string::npos);
    fs::permissions(dir / "locked", fs::perms::owner_all);
  }
  fs::remove_all(dir);
}

TEST_CASE("a signal during or after a set's commit ends nothing; released, it takes its course") {
  for (const int signal_number : {SIGINT, SIGTERM}) {
    CAPTURE(signal_number);
    const fs::path dir = fresh_folder("held");
    std::ofstream(dir / "a.bin") << "old a";
    std::ofstream(dir / "b.bin") << "old b";
    const auto commit_two = [&] {
      std::signal(signal_number, SIG_DFL);
      pollard::io::remove_temporaries_on_signal();
      pollard::io::atomic_file_set set;
      pollard::io::atomic_file a(dir / "a.bin"), b(dir / "b.bin");
      a.write("new a", 5);
      b.write("new b", 5);
      a.commit();
      b.commit();
      set.commit();
      ::raise(signal_number);  // after the outputs are in place: held
    };
    SUBCASE("the program finishes and exits 0, every output in place") {
      const int status = in_child([&] {
        commit_two();
        ::_exit(0);
      });
      CHECK(WIFEXITED(status));
      if (WIFEXITED(status)) CHECK(WEXITSTATUS(status) == 0);
      CHECK(slurp(dir / "a.bin") == "new a");
      CHECK(slurp(dir / "b.bin") == "new b");
    }
    SUBCASE("released, the held signal ends the process as signalled") {
      const int status = in_child([&] {
        commit_two();
        pollard::io::release_held_signals();
        ::_exit(3);  // not reached
      });
      CHECK(WIFSIGNALED(status));
      if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == signal_number);
    }
    CHECK(names_in(dir).size() == 2);  // no temporary, no backup
    fs::remove_all(dir);
  }
}

TEST_CASE("a signal removes the folders a set made for its outputs") {
  const fs::path dir = fresh_folder("signal-folder");
  const int status = in_child([&] {
    std::signal(SIGTERM, SIG_DFL);
    pollard::io::remove_temporaries_on_signal();
    pollard::io::atomic_file_set set;
    set.create_folder(dir / "made" / "deeper");
    pollard::io::atomic_file a(dir / "made" / "deeper" / "x.bin");
    a.write("partial", 7);
    ::raise(SIGTERM);
    ::_exit(3);
  });
  CHECK(WIFSIGNALED(status));
  CHECK(names_in(dir).empty());
  fs::remove_all(dir);
}

TEST_CASE("an output that is a FIFO or a device is refused before anything is written") {
  const fs::path dir = fresh_folder("special");
  const fs::path fifo = dir / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  fs::create_symlink("fifo", dir / "link");
  for (const fs::path& p : {fifo, dir / "link"}) {
    CAPTURE(p);
    CHECK_THROWS_AS(pollard::io::check_output_location("--out", p), pollard::io_error);
    CHECK_THROWS_AS(pollard::io::atomic_file{p}, pollard::io_error);
  }
  CHECK(fs::is_fifo(fifo));
  CHECK(names_in(dir).size() == 2);  // no temporary left beside them
  // Only the check runs on /dev/null: nothing is ever opened for writing there.
  CHECK_THROWS_WITH_AS(pollard::io::check_output_location("--json", "/dev/null"),
                       "--json: output '/dev/null' is not a regular file but a device, FIFO or "
                       "socket (/dev/null): pollard writes a temporary and renames it over the "
                       "output, which would replace it; name a regular file",
                       pollard::io_error);
  // A regular file and a path that does not exist yet are fine.
  std::ofstream(dir / "plain") << "x";
  CHECK_NOTHROW(pollard::io::check_output_location("--out", dir / "plain"));
  CHECK_NOTHROW(pollard::io::check_output_location("--out", dir / "new"));
  fs::remove_all(dir);
}

// Tests of io/file_identity.hpp: whether two paths name one file, and outputs that name an input
// or another output.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "pollard/io/file_identity.hpp"

namespace fs = std::filesystem;

namespace {

// A scratch folder, removed at the end.
struct scratch {
  fs::path dir = fs::temp_directory_path() /
                 ("pollard-file-identity-" + std::to_string(static_cast<long>(::getpid())));
  scratch() {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  scratch(const scratch&) = delete;
  scratch& operator=(const scratch&) = delete;
  ~scratch() { fs::remove_all(dir); }
};

}  // namespace

TEST_CASE("same_file follows symbolic links, hard links and other spellings") {
  const scratch s;
  const auto file = s.dir / "data.npy";
  std::ofstream(file) << "data";
  fs::create_symlink(file, s.dir / "link.npy");
  fs::create_hard_link(file, s.dir / "hard.npy");
  fs::create_directory(s.dir / "sub");
  fs::create_directory_symlink(s.dir / "sub", s.dir / "sublink");
  using pollard::io::same_file;
  CHECK(same_file(file, s.dir / "link.npy"));
  CHECK(same_file(file, s.dir / "hard.npy"));
  CHECK(same_file(file, s.dir / "sub" / ".." / "data.npy"));
  CHECK_FALSE(same_file(file, s.dir / "other.npy"));
  // Files not yet created: the same path once the linked folder is resolved.
  CHECK(same_file(s.dir / "sublink" / "new.json", s.dir / "sub" / "new.json"));
  CHECK_FALSE(same_file(s.dir / "sub" / "new.json", s.dir / "sub" / "new.md"));
}

TEST_CASE("check_distinct_outputs names the output and the input or output it collides with") {
  const scratch s;
  const auto w = s.dir / "W.npy";
  std::ofstream(w) << "W";
  fs::create_symlink(w, s.dir / "W_link.npy");
  using pollard::io::named_path;
  const std::vector<named_path> inputs = {{"--weights", w}, {"--hessian", ""}};
  const std::vector<named_path> ok = {{"--out", s.dir / "out.npy"}, {"--mask-out", ""}};
  CHECK_NOTHROW(pollard::io::check_distinct_outputs(inputs, ok));
  const std::vector<named_path> onto_input = {{"--out", s.dir / "W_link.npy"}};
  CHECK_THROWS_WITH_AS(pollard::io::check_distinct_outputs(inputs, onto_input),
                       ("--out " + (s.dir / "W_link.npy").string() + " is the same file as " +
                        "--weights " + w.string() + ": an output may not replace an input")
                           .c_str(),
                       pollard::option_error);
  const std::vector<named_path> twice = {{"--out", s.dir / "x.npy"},
                                         {"--mask-out", s.dir / "x.npy"}};
  CHECK_THROWS_WITH_AS(
      pollard::io::check_distinct_outputs(inputs, twice),
      ("--mask-out " + (s.dir / "x.npy").string() + " is the same file as " + "--out " +
       (s.dir / "x.npy").string() + ": two outputs may not share a file")
          .c_str(),
      pollard::option_error);
}

TEST_CASE("same_file follows links that do not resolve yet: where the write would land") {
  const scratch s;
  // Two links to one file that does not exist yet: writing both would leave one of them.
  fs::create_symlink("same.npy", s.dir / "a");
  fs::create_symlink("same.npy", s.dir / "b");
  fs::create_symlink("other.npy", s.dir / "c");
  fs::create_directory(s.dir / "sub");
  fs::create_symlink("../same.npy", s.dir / "sub" / "up");
  fs::create_symlink(s.dir / "a", s.dir / "chain");  // a link to a dangling link
  using pollard::io::same_file;
  CHECK(same_file(s.dir / "a", s.dir / "b"));
  CHECK(same_file(s.dir / "a", s.dir / "same.npy"));
  CHECK(same_file(s.dir / "sub" / "up", s.dir / "b"));
  CHECK(same_file(s.dir / "chain", s.dir / "same.npy"));
  CHECK_FALSE(same_file(s.dir / "a", s.dir / "c"));
  CHECK_FALSE(same_file(s.dir / "a", s.dir / "a.npy"));
  // A loop of links is no file; it equals only itself.
  fs::create_symlink("loop2", s.dir / "loop1");
  fs::create_symlink("loop1", s.dir / "loop2");
  CHECK_FALSE(same_file(s.dir / "loop1", s.dir / "same.npy"));
  using pollard::io::named_path;
  const std::vector<named_path> outputs = {{"--out", s.dir / "a"}, {"--mask-out", s.dir / "b"}};
  CHECK_THROWS_WITH_AS(pollard::io::check_distinct_outputs({}, outputs),
                       doctest::Contains("two outputs may not share a file"),
                       pollard::option_error);
}

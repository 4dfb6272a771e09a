// numpy itself loads what pollard writes (skipped when no python3 with numpy is available).
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "pollard/io/npy.hpp"
#include "support/random.hpp"

namespace fs = std::filesystem;
using pollard::dtype;
using pollard::index_t;

namespace {

// A python interpreter that can import numpy: $POLLARD_PYTHON, python3 on the PATH, or the
// system one (a PATH python3 may be a virtual environment without numpy).
std::optional<std::string> python_with_numpy() {
  std::vector<std::string> candidates;
  if (const char* p = std::getenv("POLLARD_PYTHON"); p != nullptr && *p != '\0')
    candidates.emplace_back(p);
  candidates.emplace_back("python3");
  candidates.emplace_back("/usr/bin/python3");
  for (const auto& python : candidates) {
    const std::string probe = python + " -c \"import numpy\" > /dev/null 2>&1";
    if (std::system(probe.c_str()) == 0) return python;
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("numpy loads every dtype and order pollard writes, with the same values") {
  const auto python = python_with_numpy();
  if (!python) {
    std::printf("SKIPPED: no python3 with numpy found\n");
    return;
  }
  const auto dir = fs::temp_directory_path() / "pollard-npy-numpy-test";
  fs::remove_all(dir);
  fs::create_directories(dir);

  // Each file holds value(i, j) = (i * cols + j) * 0.25 - 1.5, exact in every float dtype; a
  // strided source (a transposed view) checks that the writer follows the strides.
  const index_t rows = 5, cols = 7;
  pollard::test::dense_matrix<double> transposed(cols, rows);
  for (index_t i = 0; i < rows; ++i)
    for (index_t j = 0; j < cols; ++j)
      transposed(j, i) = static_cast<double>(i * cols + j) * 0.25 - 1.5;
  const auto view = transposed.view().transposed();
  for (const auto dtype : {pollard::dtype::f16, pollard::dtype::f32, pollard::dtype::f64})
    for (const bool fortran : {false, true}) {
      const std::string name =
          std::string(pollard::io::npy_descr(dtype)).substr(1) + (fortran ? "_f" : "_c") + ".npy";
      pollard::io::write_npy(dir / name, view, {dtype, fortran, false});
    }
  pollard::mask keep(2, 4);
  keep.prune(0, 0);
  keep.prune(1, 3);
  pollard::io::write_npy(dir / "mask.npy", keep);

  const fs::path script = dir / "check.py";
  std::ofstream(script) << R"(import sys, os
import numpy as np
d = sys.argv[1]
i, j = np.meshgrid(np.arange(5), np.arange(7), indexing="ij")
expected = (i * 7 + j) * 0.25 - 1.5
for kind in ("f2", "f4", "f8"):
    for order in ("c", "f"):
        a = np.load(os.path.join(d, kind + "_" + order + ".npy"), allow_pickle=False)
        assert a.dtype == np.dtype("<" + kind), (kind, a.dtype)
        assert a.shape == (5, 7), a.shape
        assert a.flags["F_CONTIGUOUS" if order == "f" else "C_CONTIGUOUS"]
        assert np.array_equal(a.astype(np.float64), expected), (kind, order)
m = np.load(os.path.join(d, "mask.npy"))
assert m.dtype == np.uint8 and m.tolist() == [[1, 0, 0, 0], [0, 0, 0, 1]], m
print("numpy agrees")
)";
  const std::string command = *python + " " + script.string() + " " + dir.string();
  CHECK(std::system(command.c_str()) == 0);
  fs::remove_all(dir);
}

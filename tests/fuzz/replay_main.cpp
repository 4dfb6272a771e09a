// Replays a fuzz harness over its seed corpus plus deterministic mutations of every seed, so any
// compiler (and the sanitizer suite) exercises what libFuzzer would start from.
//
// Usage: fuzz-replay-<reader> <file or folder>...
// Mutations of each seed: every truncation, every single-bit flip and a few "interesting" byte
// values in the first 1 KiB, 32-bit size fields overwritten at every aligned offset, and a fixed
// number of seeded random multi-byte edits. The harness swallows pollard::error; anything else
// escaping it (or a sanitizer report) is a bug and fails the run with the mutation named.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

struct replay {
  std::size_t inputs = 0;
  int failures = 0;

  void run(const std::vector<std::uint8_t>& bytes, const std::string& description) {
    ++inputs;
    try {
      // A copy of exactly the input's size, so ASan catches any read past its end.
      std::vector<std::uint8_t> copy(bytes);
      LLVMFuzzerTestOneInput(copy.empty() ? nullptr : copy.data(), copy.size());
    } catch (const std::exception& e) {
      ++failures;
      std::fprintf(stderr, "BUG: %s: escaped with a non-pollard exception: %s\n",
                   description.c_str(), e.what());
    } catch (...) {
      ++failures;
      std::fprintf(stderr, "BUG: %s: escaped with an unknown exception\n", description.c_str());
    }
  }

  void mutate(const std::vector<std::uint8_t>& seed, const std::string& name) {
    run(seed, name);
    const std::size_t n = seed.size();
    const std::size_t head = std::min<std::size_t>(n, 1024);
    const std::size_t truncation_step = n <= 65536 ? 1 : n / 65536;
    for (std::size_t k = 0; k < n; k += truncation_step)
      run(std::vector<std::uint8_t>(seed.begin(), seed.begin() + static_cast<std::ptrdiff_t>(k)),
          name + " truncated to " + std::to_string(k) + " bytes");
    std::vector<std::uint8_t> m;
    for (std::size_t k = 0; k < head; ++k) {
      for (int bit = 0; bit < 8; ++bit) {
        m = seed;
        m[k] = static_cast<std::uint8_t>(m[k] ^ (1u << bit));
        run(m, name + " with bit " + std::to_string(bit) + " of byte " + std::to_string(k) +
                   " flipped");
      }
      for (const unsigned value : {0x00u, 0x20u, 0x7fu, 0x80u, 0xffu}) {
        m = seed;
        m[k] = static_cast<std::uint8_t>(value);
        run(m, name + " with byte " + std::to_string(k) + " set to " + std::to_string(value));
      }
    }
    for (std::size_t k = 0; k + 4 <= head; k += 4)
      for (const std::uint32_t value : {0x7fffffffu, 0xffffffffu, 0x80000000u, 0x00010000u}) {
        m = seed;
        for (int b = 0; b < 4; ++b)
          m[k + static_cast<std::size_t>(b)] = static_cast<std::uint8_t>(value >> (8 * b));
        run(m, name + " with the 32-bit word at " + std::to_string(k) + " set to " +
                   std::to_string(value));
      }
    std::mt19937_64 rng(0x5eed + n);
    for (int round = 0; round < 256; ++round) {
      m = seed;
      const int edits = 1 + static_cast<int>(rng() % 8);
      for (int e = 0; e < edits && !m.empty(); ++e)
        m[rng() % m.size()] = static_cast<std::uint8_t>(rng());
      if (rng() % 4 == 0) m.resize(rng() % (n + 64), static_cast<std::uint8_t>(rng()));
      run(m, name + " with seeded random edit round " + std::to_string(round));
    }
  }
};

std::vector<std::uint8_t> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <corpus file or folder>...\n", argv[0]);
    return 2;
  }
  std::vector<fs::path> seeds;
  for (int a = 1; a < argc; ++a) {
    const fs::path path = argv[a];
    if (fs::is_directory(path)) {
      for (const auto& entry : fs::directory_iterator(path))
        if (entry.is_regular_file()) seeds.push_back(entry.path());
    } else if (fs::is_regular_file(path)) {
      seeds.push_back(path);
    } else {
      std::fprintf(stderr, "%s: no such file or folder\n", path.string().c_str());
      return 2;
    }
  }
  if (seeds.empty()) {
    std::fprintf(stderr, "no seed files found\n");
    return 2;
  }
  std::sort(seeds.begin(), seeds.end());
  replay r;
  for (const auto& seed : seeds) r.mutate(read_file(seed), seed.filename().string());
  std::printf("replayed %zu inputs from %zu seed files: %d failures\n", r.inputs, seeds.size(),
              r.failures);
  return r.failures == 0 ? 0 : 1;
}
